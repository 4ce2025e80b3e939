// Evidence upload: drop zone, folder selection, in-browser SHA-256 and upload progress.
// Progressive enhancement of a plain multipart form (which still works without it).
// No inline scripts: the CSP is script-src 'self'.
(function () {
  "use strict";

  const HASH_LIMIT = 200 * 1024 * 1024; // crypto.subtle.digest needs the whole file in memory
  const LIST_LIMIT = 200; // files listed by name; the rest are counted

  function humanSize(bytes) {
    const units = ["bytes", "KB", "MB", "GB", "TB"];
    let i = 0;
    let n = bytes;
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024;
      i += 1;
    }
    return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
  }

  function hex(buffer) {
    return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  async function sha256(file) {
    if (!window.crypto || !window.crypto.subtle || file.size > HASH_LIMIT) return "";
    try {
      return hex(await window.crypto.subtle.digest("SHA-256", await file.arrayBuffer()));
    } catch (err) {
      return ""; // the server hashes anyway; the client hash is an extra check
    }
  }

  // Walk a dropped folder (webkitGetAsEntry), keeping each file's path as provenance.
  function readEntry(entry, out) {
    return new Promise((resolve) => {
      if (entry.isFile) {
        entry.file(
          (file) => {
            out.push({ file: file, path: entry.fullPath.replace(/^\/+/, "") });
            resolve();
          },
          () => resolve()
        );
      } else if (entry.isDirectory) {
        const reader = entry.createReader();
        const batch = () =>
          reader.readEntries(
            async (entries) => {
              if (!entries.length) return resolve();
              for (const child of entries) await readEntry(child, out);
              batch(); // readEntries returns at most ~100 entries per call
            },
            () => resolve()
          );
        batch();
      } else {
        resolve();
      }
    });
  }

  function setup(form) {
    const maxBytes = Number(form.dataset.maxBytes || 0);
    const maxFiles = Number(form.dataset.maxFiles || 0);
    const zone = form.querySelector("[data-dropzone]");
    const errors = form.querySelector("[data-upload-errors]");
    const selection = form.querySelector("[data-selection]");
    const list = form.querySelector("[data-file-list]");
    const countEl = form.querySelector("[data-selection-count]");
    const sizeEl = form.querySelector("[data-selection-size]");
    const progress = form.querySelector("[data-progress]");
    const bar = form.querySelector("[data-progress-bar]");
    const label = form.querySelector("[data-progress-label]");
    const submit = form.querySelector("[data-submit]");
    const inputs = form.querySelectorAll("input[type=file]");
    let selected = [];

    function showErrors(messages) {
      errors.replaceChildren();
      if (!messages.length) return;
      const ul = document.createElement("ul");
      ul.className = "errorlist";
      for (const m of messages) {
        const li = document.createElement("li");
        li.textContent = m;
        ul.appendChild(li);
      }
      errors.appendChild(ul);
    }

    function totalSize() {
      return selected.reduce((sum, s) => sum + s.file.size, 0);
    }

    function validate() {
      const problems = [];
      if (maxBytes && totalSize() > maxBytes) {
        problems.push(
          "This selection is " + humanSize(totalSize()) + "; your agency allows " +
          humanSize(maxBytes) + " per upload. Split it into several uploads."
        );
      }
      if (maxFiles && selected.length > maxFiles) {
        problems.push(
          "Too many files (" + selected.length + "; the limit is " + maxFiles +
          "). Upload a zip or tar archive instead."
        );
      }
      return problems;
    }

    function render() {
      list.replaceChildren();
      selected.slice(0, LIST_LIMIT).forEach((s) => {
        const li = document.createElement("li");
        const name = document.createElement("span");
        name.className = "path";
        name.textContent = s.path || s.file.name;
        const size = document.createElement("span");
        size.className = "muted";
        size.textContent = humanSize(s.file.size);
        li.append(name, size);
        list.appendChild(li);
      });
      if (selected.length > LIST_LIMIT) {
        const li = document.createElement("li");
        li.className = "muted";
        li.textContent = "… and " + (selected.length - LIST_LIMIT) + " more";
        list.appendChild(li);
      }
      countEl.textContent = selected.length + (selected.length === 1 ? " file" : " files");
      sizeEl.textContent = humanSize(totalSize());
      selection.hidden = selected.length === 0;
      showErrors(validate());
    }

    function add(entries) {
      const seen = new Set(selected.map((s) => (s.path || s.file.name) + ":" + s.file.size));
      for (const e of entries) {
        const key = (e.path || e.file.name) + ":" + e.file.size;
        if (!seen.has(key)) {
          seen.add(key);
          selected.push(e);
        }
      }
      render();
    }

    inputs.forEach((input) => {
      input.addEventListener("change", () => {
        add(Array.from(input.files, (f) => ({ file: f, path: f.webkitRelativePath || "" })));
        input.value = ""; // the JS list is the source of truth from here on
      });
    });

    form.querySelector("[data-clear]").addEventListener("click", () => {
      selected = [];
      render();
    });

    ["dragenter", "dragover"].forEach((type) =>
      zone.addEventListener(type, (event) => {
        event.preventDefault();
        zone.classList.add("dragging");
      })
    );
    ["dragleave", "dragend"].forEach((type) =>
      zone.addEventListener(type, () => zone.classList.remove("dragging"))
    );
    zone.addEventListener("drop", async (event) => {
      event.preventDefault();
      zone.classList.remove("dragging");
      const items = event.dataTransfer.items;
      const found = [];
      if (items && items.length && items[0].webkitGetAsEntry) {
        const entries = Array.from(items, (i) => i.webkitGetAsEntry()).filter(Boolean);
        for (const entry of entries) await readEntry(entry, found);
      } else {
        for (const f of event.dataTransfer.files) found.push({ file: f, path: "" });
      }
      add(found);
    });

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!selected.length) {
        showErrors(["Choose at least one file, folder or archive to upload."]);
        return;
      }
      const problems = validate();
      if (problems.length) {
        showErrors(problems);
        return;
      }
      showErrors([]);
      submit.disabled = true;
      progress.hidden = false;

      const data = new FormData();
      data.append("csrfmiddlewaretoken", form.querySelector("[name=csrfmiddlewaretoken]").value);
      data.append("exhibit_ref", form.querySelector("[name=exhibit_ref]").value);
      data.append("note", form.querySelector("[name=note]").value);
      // One JSON field for every file's path and hash (not two fields per file, which
      // would run into the server's limit on the number of form fields).
      const manifest = [];
      for (let i = 0; i < selected.length; i += 1) {
        const s = selected[i];
        label.textContent = "Checking file " + (i + 1) + " of " + selected.length + " (SHA-256)…";
        bar.value = Math.round((100 * i) / selected.length);
        manifest.push({ path: s.path || "", sha256: await sha256(s.file) });
      }
      data.append("manifest", JSON.stringify(manifest));
      selected.forEach((s) => data.append("files", s.file, s.file.name));

      const xhr = new XMLHttpRequest();
      xhr.open("POST", form.getAttribute("action") || window.location.href);
      xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
      xhr.setRequestHeader("X-CSRFToken", form.querySelector("[name=csrfmiddlewaretoken]").value);
      xhr.responseType = "json";
      bar.value = 0;
      label.textContent = "Uploading…";
      xhr.upload.addEventListener("progress", (e) => {
        if (!e.lengthComputable) return;
        bar.value = Math.round((100 * e.loaded) / e.total);
        label.textContent =
          "Uploading " + humanSize(e.loaded) + " of " + humanSize(e.total) + " (" + bar.value + "%)";
      });
      xhr.upload.addEventListener("load", () => {
        bar.value = 100;
        label.textContent = "Upload finished; storing the files…";
      });
      xhr.addEventListener("load", () => {
        const body = xhr.response || {};
        if (xhr.status >= 200 && xhr.status < 300 && body.redirect) {
          window.location.assign(body.redirect);
          return;
        }
        showErrors(body.errors || ["The upload failed (HTTP " + xhr.status + ")."]);
        progress.hidden = true;
        submit.disabled = false;
      });
      xhr.addEventListener("error", () => {
        showErrors(["The connection was lost during the upload. Nothing was submitted; try again."]);
        progress.hidden = true;
        submit.disabled = false;
      });
      xhr.send(data);
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("form[data-upload]").forEach(setup);
  });
})();
