// The marking page: every score, comment and penalty saves as the marker changes it (PUT with the
// version it read; a 409 shows the other marker's value and nothing is overwritten), the total
// follows, and "n" opens the next submission still to mark (unless the marker turned it off).
(function () {
  "use strict";
  const fmt = (x) => (x === null || x === undefined) ? "" : String(Math.round(x * 100) / 100);

  function showTotal(total) {
    const box = document.querySelector('[data-testid="total"]');
    if (box) { box.textContent = fmt(total.total); }
    const detail = document.querySelector('[data-testid="total-detail"]');
    if (detail) {
      detail.textContent = "(items " + fmt(total.items_score) + ", penalties −" + fmt(total.penalty_points) +
        (total.late_minutes ? ", late ×" + total.late_factor : "") + ")";
    }
    const complete = document.querySelector('[data-testid="complete"]');
    if (complete) {
      complete.textContent = total.complete ? "complete" : "items still to mark";
      complete.className = total.complete ? "ok" : "warn";
    }
    (total.parts || []).forEach((p) => {
      const el = document.querySelector('[data-part="' + CSS.escape(p.id) + '"]');
      if (el) { el.textContent = fmt(p.score) + " / " + fmt(p.max_score); }
    });
  }

  function state(box, cls, text) {
    const el = box.querySelector(".save-state");
    el.className = "save-state " + cls;
    el.textContent = text;
  }

  // One save at a time per box, each naming the version the previous one left: a comment and a
  // score changed in quick succession must not race each other into a 409.
  function save(box, body, onConflict) {
    box.pending = (box.pending || Promise.resolve()).then(() => send(box, body, onConflict));
    return box.pending;
  }

  function send(box, body, onConflict) {
    const version = box.dataset.version;
    body.expected_version = version === "" ? null : Number(version);
    state(box, "saving", "saving…");
    const conflict = box.querySelector(".conflict");
    return window.grader.fetch(box.dataset.url, {
      method: "PUT", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body),
    }).then((r) => r.json().then((data) => ({status: r.status, data: data}))).then(({status, data}) => {
      if (status === 200) {
        const saved = data.mark || data.penalty;
        box.dataset.version = String(saved.version);
        conflict.hidden = true;
        state(box, "saved", "saved");
        showTotal(data.total);
      } else if (status === 409) {
        box.dataset.version = data.current && data.current.version ? String(data.current.version) : "";
        conflict.textContent = onConflict(data.current) + " Your change was not saved; change it again to save over it.";
        conflict.hidden = false;
        state(box, "failed", "conflict");
      } else {
        state(box, "failed", data.detail || ("error " + status));
      }
    }).catch(() => state(box, "failed", "not saved (network)"));
  }

  function saveMark(box) {
    const raw = box.querySelector("input.score").value.trim();
    const score = raw === "" ? null : Number(raw);
    if (score !== null && Number.isNaN(score)) { state(box, "failed", "not a number"); return; }
    save(box, {score: score, comment: box.querySelector("textarea.comment").value}, (current) => current
      ? "Saved meanwhile by " + current.updated_by + ": " + (current.score === null ? "no score" : fmt(current.score)) +
        (current.comment ? " — “" + current.comment + "”." : ".")
      : "The mark was cleared meanwhile.");
  }

  function savePenalty(box) {
    save(box, {applied: box.querySelector("input.applied").checked}, (current) => {
      const d = current.decision;
      return "Decided meanwhile" + (d ? " by " + d.decided_by : "") + ": " + (current.applied ? "applied." : "not applied.");
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll(".item[data-url]").forEach((box) => {
      box.querySelector("input.score").addEventListener("change", () => saveMark(box));
      box.querySelector("textarea.comment").addEventListener("change", () => saveMark(box));
    });
    document.querySelectorAll(".penalty[data-url]").forEach((box) => {
      box.querySelector("input.applied").addEventListener("change", () => savePenalty(box));
    });
    document.addEventListener("keydown", (e) => {
      const t = e.target;
      if (!window.grader.shortcutsOn()) { return; }
      if (e.ctrlKey || e.metaKey || e.altKey || (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName)))) {
        return;
      }
      if (e.key === "n") {
        const next = document.querySelector('[data-testid="next-unmarked"]');
        if (next) { window.location.assign(next.href); }
      }
    });
  });
})();
