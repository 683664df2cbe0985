// The overview's table kept current without a reload. Every few seconds the page asks for the rows
// changed since its last answer (its cursor) and the keys of every shown row in order; it keeps the
// rows it holds, swaps in the changed ones and reorders, so the filter and sort still hold. A "full"
// answer (the first ask, a cursor too old or unknown) replaces the whole body. A key the page does
// not hold (a row newly in "my allocation") makes the next ask a full one.
(function () {
  "use strict";

  function parseRows(html) {
    const box = document.createElement("template");
    box.innerHTML = html;
    return Array.from(box.content.querySelectorAll("tr[data-student]"));
  }

  // True when the body now shows the answer; false when the page lacks a row to show it.
  function apply(body, answer) {
    if (answer.full) { body.innerHTML = answer.html; return true; }
    const held = new Map();
    body.querySelectorAll("tr[data-student]").forEach((tr) => held.set(tr.dataset.student, tr));
    const changed = parseRows(answer.html);
    changed.forEach((tr) => held.set(tr.dataset.student, tr));
    const next = [];
    for (const key of answer.order) {
      const tr = held.get(key);
      if (!tr) { return false; }
      next.push(tr);
    }
    const now = Array.from(body.children);
    const same = changed.length === 0 && now.length === next.length && now.every((tr, n) => tr === next[n]);
    if (!same) { body.replaceChildren(...next); }
    return true;
  }

  function poll(body) {
    const every = Number(body.dataset.pollMs || 4000);
    const tick = () => {
      const url = body.dataset.rows + (body.dataset.rows.includes("?") ? "&" : "?") +
        "since=" + encodeURIComponent(body.dataset.cursor || "");
      window.grader.fetch(url).then((r) => r.ok ? r.json() : null).then((answer) => {
        if (!answer) { setTimeout(tick, every * 2); return; }
        body.dataset.cursor = apply(body, answer) ? answer.cursor : "";
        setTimeout(tick, every);
      }).catch(() => setTimeout(tick, every * 2));
    };
    setTimeout(tick, every);
  }

  document.addEventListener("DOMContentLoaded", () => document.querySelectorAll("tbody[data-rows]").forEach(poll));
})();
