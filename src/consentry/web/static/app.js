// consentry: keyboard review on the gallery; no inline script anywhere (CSP script-src 'self').
(function () {
  "use strict";
  function csrf() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.getAttribute("content") : "";
  }
  function tiles() { return Array.prototype.slice.call(document.querySelectorAll("a.tile[data-sha]")); }
  var current = -1;
  function focusTile(i) {
    var all = tiles();
    if (!all.length) { return; }
    i = Math.max(0, Math.min(all.length - 1, i));
    all.forEach(function (t) { t.removeAttribute("aria-current"); });
    current = i;
    all[i].setAttribute("aria-current", "true");
    all[i].focus();
  }
  function currentTile() {
    var all = tiles();
    var active = document.activeElement;
    var idx = all.indexOf(active);
    if (idx >= 0) { current = idx; }
    return current >= 0 ? all[current] : null;
  }
  function toggleTag(tile, tag) {
    var box = document.getElementById("tiles");
    if (!tile || !box || box.getAttribute("data-can-tag") !== "1") { return; }
    var tagsEl = tile.querySelector(".tags");
    var have = (tagsEl.getAttribute("data-tags") || "").split(" ").filter(Boolean);
    var on = have.indexOf(tag) < 0;
    var body = new URLSearchParams();
    body.set("tag", tag); body.set("on", on ? "1" : "0"); body.set("csrf_token", csrf());
    fetch("/images/" + tile.getAttribute("data-sha") + "/tags", {
      method: "POST", credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf(), "HX-Request": "true" }, body: body
    }).then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var tmp = document.createElement("div");
        tmp.innerHTML = html;
        var fresh = tmp.querySelector(".tags");
        if (fresh) { fresh.removeAttribute("id"); tagsEl.replaceWith(fresh); }
        var status = document.querySelector("#tiles .total");
        if (status) { status.textContent = "Tag " + tag + (on ? " added." : " removed."); }
      }).catch(function () {
        var status = document.querySelector("#tiles .total");
        if (status) { status.textContent = "The tag could not be changed."; }
      });
  }
  function reveal(tile) {
    var box = document.getElementById("tiles");
    if (!tile || !box || box.getAttribute("data-can-reveal") !== "1") { return; }
    var dlg = document.getElementById("reveal-dialog");
    var sha = tile.getAttribute("data-sha");
    if (dlg && typeof dlg.showModal === "function") {
      document.getElementById("reveal-dialog-form").setAttribute("action", "/images/" + sha + "/reveal");
      dlg.showModal();
      document.getElementById("reveal-dialog-reason").focus();
    } else {
      window.location.href = "/images/" + sha + "#reveal";
    }
  }
  function typing(el) {
    if (!el) { return false; }
    var tag = el.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
  }
  function toggleGrey() {
    document.body.classList.toggle("grey");
    var box = document.getElementById("f-grey");
    if (box) { box.checked = document.body.classList.contains("grey"); }
  }
  document.addEventListener("keydown", function (ev) {
    if (!document.getElementById("tiles")) { return; }
    if (ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
    var dlg = document.getElementById("reveal-dialog");
    if (dlg && dlg.open) { return; }
    if (typing(ev.target)) { return; }
    var k = ev.key;
    if (k === "j" || k === "ArrowRight") { ev.preventDefault(); focusTile(currentTile() ? current + 1 : 0); }
    else if (k === "k" || k === "ArrowLeft") { ev.preventDefault(); focusTile(currentTile() ? current - 1 : 0); }
    else if (k === "Enter") { var t = currentTile(); if (t) { ev.preventDefault(); window.location.href = t.getAttribute("href"); } }
    else if (k === "t") { ev.preventDefault(); toggleTag(currentTile(), "reviewed"); }
    else if (k === "x") { ev.preventDefault(); toggleTag(currentTile(), "relevant"); }
    else if (k === "r") { ev.preventDefault(); reveal(currentTile()); }
    else if (k === "g") { ev.preventDefault(); toggleGrey(); }
  });
  document.addEventListener("focusin", function (ev) {
    var all = tiles();
    var i = all.indexOf(ev.target);
    if (i >= 0) {
      all.forEach(function (t) { t.removeAttribute("aria-current"); });
      current = i;
      ev.target.setAttribute("aria-current", "true");
    }
  });
  document.addEventListener("click", function (ev) {
    if (ev.target && ev.target.id === "reveal-dialog-cancel") {
      document.getElementById("reveal-dialog").close();
    }
  });
  document.addEventListener("htmx:afterSwap", function () { current = -1; });
})();
