// The dashboard's only script (no inline scripts: the pages' CSP forbids them).
// grader.fetch: fetch with the session's CSRF token, for every unsafe request a page makes.
// [data-poll]: an element refreshed from its URL (JSON {html, done}) until done.
// [data-shortcuts]: the checkbox that turns the pages' single-key shortcuts on and off.
(function () {
  "use strict";
  const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  function graderFetch(url, options) {
    const opts = Object.assign({credentials: "same-origin"}, options || {});
    opts.headers = Object.assign({"X-CSRF-Token": csrf(), "X-Requested-With": "fetch",
                                  "Accept": "application/json"}, opts.headers || {});
    return fetch(url, opts).then((response) => {
      if (response.status === 401) { window.location.assign("/login?next=" + encodeURIComponent(location.pathname)); }
      return response;
    });
  }
  // Single-key shortcuts (the marking pages' n, j, k) can be turned off (WCAG 2.1.4) with the page's
  // [data-shortcuts] checkbox; the choice is kept in this browser for every page.
  const SHORTCUTS = "grader.shortcuts";
  function shortcutsOn() {
    try { return window.localStorage.getItem(SHORTCUTS) !== "off"; } catch (err) { return true; }
  }
  window.grader = {fetch: graderFetch, csrf: csrf, shortcutsOn: shortcutsOn};

  // htmx, if a page vendors it, sends the token too.
  document.addEventListener("htmx:configRequest", (event) => { event.detail.headers["X-CSRF-Token"] = csrf(); });

  function poll(el) {
    const every = Number(el.dataset.pollMs || 2000);
    let shown = null;  // the last HTML put in: unchanged HTML is not put in again, nor read out again (aria-live)
    const tick = () => graderFetch(el.dataset.poll).then((r) => r.ok ? r.json() : null).then((body) => {
      if (!body) { setTimeout(tick, every * 2); return; }
      if (body.html !== shown) { el.innerHTML = body.html; shown = body.html; }
      if (!body.done) { setTimeout(tick, every); } else { el.dataset.done = "true"; }
    }).catch(() => setTimeout(tick, every * 2));
    setTimeout(tick, every);
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-poll]").forEach(poll);
    document.querySelectorAll("input[data-shortcuts]").forEach((box) => {
      box.checked = shortcutsOn();
      box.addEventListener("change", () => {
        try { window.localStorage.setItem(SHORTCUTS, box.checked ? "on" : "off"); } catch (err) { /* blocked */ }
      });
    });
    document.querySelectorAll("button[data-print]").forEach((b) => b.addEventListener("click", () => window.print()));
    document.querySelectorAll("form[data-confirm]").forEach((f) => f.addEventListener("submit", (e) => {
      if (!window.confirm(f.dataset.confirm)) { e.preventDefault(); }
    }));
  });
})();
