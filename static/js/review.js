// The review screen, keyboard first. No inline scripts (CSP): data lives in data-*.
// Digits grade, Space reveals, j/k move through this session, g opens the group,
// n adds a note, u undoes, p plays or pauses a video (muted). Every reveal is timed and
// reported when the item is re-blurred or left; a video play is reported when it
// pauses, ends or the item is left. A blurred item shows the server-blurred derivative;
// a reveal loads the sharp one (data-reveal-src) beside it and a re-blur removes it
// again, so sharp pixels are on the page only while a counted reveal lasts. For a
// reviewer who turned blurring off, the time an item is on screen is the reveal.
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
    set("[data-meter=video]", data.video_time);
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

  // The meter counts a reveal when it starts; the report at its end brings the figure
  // from the server.
  function bumpMeter() {
    const el = document.querySelector("[data-meter=reveals]");
    const n = el ? parseInt(el.textContent, 10) : NaN;
    if (!isNaN(n)) el.textContent = String(n + 1);
  }

  // The sharp derivative, requested now (the server checks and audits it), shown in place
  // of the blurred one; an item without one only loses the CSS blur.
  function showSharp(img, testid) {
    if (!img) return;
    const holder = img.closest("[data-reveal-src]"); // the image, or a tile's button
    const src = holder ? holder.dataset.revealSrc : "";
    if (!src) {
      img.classList.remove("blur");
      return;
    }
    const sharp = document.createElement("img");
    sharp.className = img.className.replace(/\bblur\b/, "").trim();
    sharp.alt = img.alt.replace("blurred", "revealed");
    sharp.draggable = false;
    sharp.dataset.testid = testid;
    sharp.src = src;
    img.hidden = true;
    img.after(sharp);
  }

  function hideSharp(img, testid) {
    if (!img) return;
    const sharp = img.parentNode ? img.parentNode.querySelector("[data-testid=" + testid + "]") : null;
    if (sharp) sharp.remove();
    img.hidden = false;
    if (img.dataset.blur === "1" || img.closest("[data-tile-reveal]")) img.classList.add("blur");
  }

  function reveal() {
    const img = thumb();
    const item = current();
    if (!img || !item) return;
    if (img.dataset.blur !== "1") {
      say("This item is not blurred (your viewing preference); its time on screen is counted.");
      return;
    }
    showSharp(img, "review-revealed");
    if (video && video.isConnected) video.classList.remove("blur");
    const button = item.querySelector("[data-reveal]");
    if (button) button.setAttribute("aria-pressed", "true");
    revealedAt = performance.now();
    revealedItem = item.dataset.exposureUrl;
    bumpMeter();
    say("Revealed. Space blurs it again; the time is counted.");
  }

  // Not blurred by the reviewer's choice: the item is seen from the moment it is shown.
  function watchUnblurred() {
    const img = thumb();
    const item = current();
    if (!img || !item || img.dataset.blur !== "0" || revealedAt !== null) return;
    if (document.visibilityState === "hidden") return;
    revealedAt = performance.now();
    revealedItem = item.dataset.exposureUrl;
    bumpMeter();
  }

  function reblur(quiet) {
    const img = thumb();
    if (img && img.dataset.blur === "1") {
      hideSharp(img, "review-revealed");
      if (video && video.isConnected) video.classList.add("blur");
    }
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

  // Video: played on request only, muted by default, through the authorised no-store
  // view (which supports seeking). Every play is timed and reported when it pauses, ends
  // or the item is left.
  let video = null;
  let playStarted = null;
  let playUrl = "";

  function finishPlay() {
    if (playStarted === null) return;
    report(playUrl, "video", performance.now() - playStarted);
    playStarted = null;
  }

  function stopVideo() {
    if (video && !video.paused) video.pause();
    finishPlay();
  }

  function makeVideo(button) {
    const item = current();
    const slot = item ? item.querySelector("[data-video-slot]") : null;
    if (!slot) return null;
    const el = document.createElement("video");
    el.muted = true;
    el.defaultMuted = true;
    el.setAttribute("muted", "");
    el.setAttribute("playsinline", "");
    el.controls = true;
    el.preload = "metadata";
    el.className = "evidence-video";
    el.dataset.testid = "review-video";
    const img = thumb();
    if (img && img.classList.contains("gray")) el.classList.add("gray");
    if (img && img.dataset.blur === "1" && !isRevealed()) el.classList.add("blur");
    el.src = button.dataset.videoSrc;
    playUrl = item.dataset.exposureUrl;
    el.addEventListener("play", () => {
      playStarted = performance.now();
      say("Playing" + (el.muted ? " muted" : "") + ". The time is counted; p pauses.");
    });
    el.addEventListener("pause", () => { finishPlay(); say("Paused."); });
    el.addEventListener("ended", () => { finishPlay(); say("Finished."); });
    el.addEventListener("volumechange", () => {
      if (!el.muted) say("Sound on (you unmuted it).");
    });
    el.addEventListener("error", () => {
      finishPlay();
      say("This video cannot be played in the browser; the contact sheet shows its keyframes.", "error");
    });
    // The video takes the contact sheet's place: one view of the item at a time.
    const sheet = item.querySelector("[data-reveal]");
    if (sheet) sheet.hidden = true;
    slot.appendChild(el);
    return el;
  }

  function toggleVideo() {
    const item = current();
    const button = item ? item.querySelector("[data-video-src]") : null;
    if (!button) {
      say("This item is not a video.");
      return;
    }
    if (!video || !video.isConnected) video = makeVideo(button);
    if (!video) return;
    if (video.paused) {
      video.play().catch(() => say("The video could not start.", "error"));
    } else {
      video.pause();
    }
  }

  function toggleReveal() {
    const img = thumb();
    if (img && img.dataset.blur !== "1") {
      reveal(); // says why nothing changes
      return;
    }
    if (isRevealed()) reblur(false); else reveal();
  }

  // Group tiles: one revealed at a time, each reveal counted for its own item.
  let tileOpen = null;

  function closeTile(quiet) {
    if (!tileOpen) return;
    const open = tileOpen;
    tileOpen = null;
    if (open.button.isConnected) {
      hideSharp(open.button.querySelector("img:not([data-testid=tile-revealed])"), "tile-revealed");
      open.button.setAttribute("aria-pressed", "false");
    }
    report(open.url, "reveal", performance.now() - open.at);
    if (!quiet) say("Blurred again.");
  }

  function toggleTile(button) {
    const same = tileOpen && tileOpen.button === button;
    closeTile(true);
    if (same) {
      say("Blurred again.");
      return;
    }
    showSharp(button.querySelector("img"), "tile-revealed");
    button.setAttribute("aria-pressed", "true");
    tileOpen = { button: button, at: performance.now(), url: button.dataset.exposureUrl };
    bumpMeter();
    say("Group member revealed. Click it again to blur it; the time is counted.");
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
      closeTile(true);
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
    // Space on a focused control (a button, a link, the help's summary) is that control's.
    const control = target && target.closest && target.closest("button, a, summary, [role=button]");
    if ((key === " " || key === "Spacebar") && control) return;
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
    } else if (key === "p") {
      toggleVideo();
    } else {
      handled = false;
    }
    if (handled) event.preventDefault();
  });

  document.addEventListener("click", (event) => {
    const t = event.target.closest ? event.target : null;
    if (!t) return;
    const tile = t.closest("[data-tile-reveal]");
    if (tile) { event.preventDefault(); toggleTile(tile); return; }
    if (t.closest("[data-reveal]")) { event.preventDefault(); toggleReveal(); return; }
    if (t.closest("[data-open-group]")) { openGroup(); return; }
    if (t.closest("[data-open-note]")) { openNote(); return; }
    if (t.closest("[data-video-src]")) toggleVideo();
  });

  // Leaving an item re-blurs it and reports the reveal time.
  document.addEventListener("htmx:beforeRequest", (event) => {
    closeTile(true);
    const elt = event.detail && event.detail.elt;
    if (elt && elt.closest && elt.closest("[data-group-slot]")) return;
    reblur(true);
    stopVideo();
  });
  document.addEventListener("htmx:afterSwap", (event) => {
    if (!event.detail || event.detail.target.id !== "review-panel") return;
    revealedAt = null;
    video = null;
    tileOpen = null;
    const panel = document.getElementById("review-panel");
    if (panel) panel.focus({ preventScroll: true });
    watchUnblurred();
  });
  document.addEventListener("htmx:responseError", (event) => {
    const xhr = event.detail && event.detail.xhr;
    if (xhr && xhr.status === 409 && event.detail.target) {
      event.detail.target.innerHTML = xhr.responseText;
      return;
    }
    say("That did not work (" + (xhr ? xhr.status : "network") + "). Try again.", "error");
  });
  window.addEventListener("pagehide", () => { closeTile(true); reblur(true); stopVideo(); });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") {
      closeTile(true);
      reblur(true);
      stopVideo();
    } else {
      watchUnblurred();
    }
  });
  watchUnblurred();
})();
