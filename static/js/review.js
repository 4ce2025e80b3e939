// The review screen, keyboard first. No inline scripts (CSP): data lives in data-*.
// Digits grade, Space reveals, j/k move through this session, g opens the group,
// n adds a note, u undoes. Every reveal is timed and reported when the item is
// re-blurred or left; a video play is reported when it pauses or ends.
(function () {
  "use strict";

  const root = () => document.getElementById("review-root");
  const current = () => document.getElementById("review-item");
  const thumb = () => {
    const item = current();
    return item ? item.querySelector("[data-testid=review-thumb]") : null;
  };
  let revealedAt = null;
  let revealedItem = null;

  function say(text, kind) {
    const line = document.getElementById("review-status");
    if (!line) return;
    line.textContent = text;
    line.className = "status-line status-" + (kind || "info");
  }

  function csrf() {
    const r = root();
    return r ? r.dataset.csrf : "";
  }

  function updateMeter(data) {
    const set = (sel, value) => {
      const el = document.querySelector(sel);
      if (el) {
        if (el.tagName === "PROGRESS") el.value = value; else el.textContent = value;
      }
    };
    set("[data-meter=reveals]", data.reveals);
    set("[data-meter=reveal-bar]", data.reveal_percent);
    set("[data-meter=video]", data.video_minutes);
    set("[data-meter=video-bar]", data.video_percent);
    const meter = document.getElementById("exposure-meter");
    if (meter) meter.classList.toggle("meter-over", !!data.over);
    const reminder = document.querySelector("[data-testid=break-reminder]");
    if (reminder && data.break_due) {
      reminder.textContent = "You have revealed " + data.reveals +
        " items today. A short break away from the screen helps.";
      reminder.hidden = false;
    }
  }

  function report(url, kind, ms) {
    if (!url) return;
    const body = new FormData();
    body.append("kind", kind);
    body.append("duration_ms", String(Math.max(0, Math.round(ms))));
    body.append("csrfmiddlewaretoken", csrf());
    fetch(url, {
      method: "POST", body: body, keepalive: true, credentials: "same-origin",
      headers: { "X-CSRFToken": csrf() },
    }).then((r) => (r.ok ? r.json() : null)).then((data) => {
      if (data) updateMeter(data);
    }).catch(() => {});
  }

  function isRevealed() {
    return revealedAt !== null;
  }

  function reveal() {
    const img = thumb();
    const item = current();
    if (!img || !item) return;
    if (img.dataset.blur !== "1") {
      say("This item is not blurred (your viewing preference).");
      return;
    }
    img.classList.remove("blur");
    const button = item.querySelector("[data-reveal]");
    if (button) button.setAttribute("aria-pressed", "true");
    revealedAt = performance.now();
    revealedItem = item.dataset.exposureUrl;
    say("Revealed. Space blurs it again; the time is counted.");
  }

  function reblur(quiet) {
    const img = thumb();
    if (img && img.dataset.blur === "1") img.classList.add("blur");
    const item = current();
    const button = item ? item.querySelector("[data-reveal]") : null;
    if (button) button.setAttribute("aria-pressed", "false");
    if (revealedAt !== null) {
      report(revealedItem, "reveal", performance.now() - revealedAt);
      revealedAt = null;
      revealedItem = null;
      if (!quiet) say("Blurred again.");
    }
  }

  function toggleReveal() {
    if (isRevealed()) reblur(false); else reveal();
  }

  function grade(key) {
    const item = current();
    if (!item) return false;
    const button = item.querySelector("[data-grade-form] button[data-key='" + key + "']");
    if (!button) return false;
    say("Saving grade " + button.textContent.trim() + "…");
    button.click();
    return true;
  }

  function go(which) {
    const item = current();
    if (!item) return;
    const url = which === "next" ? item.dataset.nextUrl : item.dataset.prevUrl;
    if (!url) {
      say(which === "next" ? "This is the newest item: grade it to move on." : "No earlier item in this session.");
      return;
    }
    reblur(true);
    window.htmx.ajax("GET", url, { target: "#review-panel", swap: "innerHTML" });
  }

  function openGroup() {
    const item = current();
    if (!item) return;
    const slot = item.querySelector("[data-group-slot]");
    if (!item.dataset.groupUrl || !slot) {
      say("This item is not part of a group.");
      return;
    }
    if (!slot.hidden) {
      slot.hidden = true;
      say("Group closed.");
      return;
    }
    window.htmx.ajax("GET", item.dataset.groupUrl, { target: slot, swap: "innerHTML" }).then(() => {
      slot.hidden = false;
      say("Group opened: one grade covers every member shown.");
    });
  }

  function openNote() {
    const item = current();
    const box = item ? item.querySelector("[data-note]") : null;
    if (!box) return;
    box.hidden = false;
    box.querySelector("textarea").focus();
    say("Type a note, then grade with the mouse or press Esc and a digit.");
  }

  function undo() {
    const form = document.querySelector("[data-undo-form]");
    if (!form) {
      say("Nothing to undo (decisions can be undone for a short time only).");
      return;
    }
    reblur(true);
    say("Undoing…");
    form.querySelector("button").click();
  }

  document.addEventListener("keydown", (event) => {
    if (!root()) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    const typing = target && (target.tagName === "TEXTAREA" || target.tagName === "INPUT" || target.tagName === "SELECT");
    if (typing) {
      if (event.key === "Escape") target.blur();
      return;
    }
    const key = event.key;
    let handled = true;
    if (/^[0-9]$/.test(key)) {
      handled = grade(key);
      if (!handled) say("No category on key " + key + ".", "error");
      handled = true;
    } else if (key === " " || key === "Spacebar") {
      toggleReveal();
    } else if (key === "j") {
      go("next");
    } else if (key === "k") {
      go("prev");
    } else if (key === "g") {
      openGroup();
    } else if (key === "n") {
      openNote();
    } else if (key === "u") {
      undo();
    } else {
      handled = false;
    }
    if (handled) event.preventDefault();
  });

  document.addEventListener("click", (event) => {
    const t = event.target.closest ? event.target : null;
    if (!t) return;
    if (t.closest("[data-reveal]")) { event.preventDefault(); toggleReveal(); return; }
    if (t.closest("[data-open-group]")) { openGroup(); return; }
    if (t.closest("[data-open-note]")) { openNote(); return; }
    const play = t.closest("[data-video-src]");
    if (play) {
      const slot = document.querySelector("[data-video-slot]");
      if (!slot || slot.querySelector("video")) return;
      const video = document.createElement("video");
      video.muted = true;
      video.controls = true;
      video.className = "evidence-video";
      video.src = play.dataset.videoSrc;
      let started = null;
      const url = current() ? current().dataset.exposureUrl : "";
      video.addEventListener("play", () => { started = performance.now(); });
      const stop = () => {
        if (started !== null) { report(url, "video", performance.now() - started); started = null; }
      };
      video.addEventListener("pause", stop);
      video.addEventListener("ended", stop);
      slot.appendChild(video);
      video.play().catch(() => {});
      say("Playing muted. The time is counted.");
    }
  });

  // Leaving an item re-blurs it and reports the reveal time.
  document.addEventListener("htmx:beforeRequest", (event) => {
    const elt = event.detail && event.detail.elt;
    if (elt && elt.closest && elt.closest("[data-group-slot]")) return;
    reblur(true);
  });
  document.addEventListener("htmx:afterSwap", (event) => {
    if (!event.detail || event.detail.target.id !== "review-panel") return;
    revealedAt = null;
    const panel = document.getElementById("review-panel");
    if (panel) panel.focus({ preventScroll: true });
  });
  document.addEventListener("htmx:responseError", (event) => {
    const xhr = event.detail && event.detail.xhr;
    if (xhr && xhr.status === 409 && event.detail.target) {
      event.detail.target.innerHTML = xhr.responseText;
      return;
    }
    say("That did not work (" + (xhr ? xhr.status : "network") + "). Try again.", "error");
  });
  window.addEventListener("pagehide", () => reblur(true));
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") reblur(true);
  });
})();
