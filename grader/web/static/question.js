// The question view: one answer is "active" (outlined); j/k (or Alt+Down/Alt+Up while typing) move
// to the next/previous answer's score box (j and k only while the page's shortcuts are on), and a click on a bank comment adds it to the active
// answer's comment, which saves it (marking.js listens for the change).
(function () {
  "use strict";
  let active = null;

  function activate(answer, focus) {
    if (!answer) { return; }
    if (active) { active.classList.remove("active"); }
    active = answer;
    answer.classList.add("active");
    if (focus) {
      answer.querySelector("input.score").focus();
      answer.scrollIntoView({block: "center"});
    }
  }

  function move(step) {
    const all = Array.from(document.querySelectorAll("article.answer"));
    const at = active ? all.indexOf(active) : -1;
    activate(all[Math.min(Math.max(at + step, 0), all.length - 1)], true);
  }

  function use(text) {
    const answer = active || document.querySelector("article.answer");
    if (!answer) { return; }
    activate(answer, false);
    const box = answer.querySelector("textarea.comment");
    box.value = box.value.trim() ? box.value.trimEnd() + "\n" + text : text;
    box.dispatchEvent(new Event("change"));
  }

  function bankError(text) {
    const el = document.querySelector(".bank-error");
    el.textContent = text || "";
    el.hidden = !text;
  }

  function bankEntry(entry) {
    const li = document.createElement("li");
    li.dataset.entry = String(entry.id);
    const button = document.createElement("button");
    button.type = "button";
    button.className = "use secondary";
    button.textContent = entry.text;
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "remove link";
    remove.setAttribute("aria-label", "remove from the bank: " + entry.text);
    remove.textContent = "remove";
    li.append(button, remove);
    return li;
  }

  function keep(text) {
    const bank = document.querySelector(".bank");
    return window.grader.fetch(bank.dataset.url, {
      method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({text: text}),
    }).then((r) => r.json().then((data) => ({ok: r.ok, data: data}))).then(({ok, data}) => {
      if (!ok) { bankError(data.detail || "not kept"); return; }
      bankError("");
      const list = bank.querySelector(".bank-list");
      if (!list.querySelector('[data-entry="' + data.id + '"]')) { list.append(bankEntry(data)); }
    }).catch(() => bankError("not kept (network)"));
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("article.answer").forEach((answer) => {
      answer.addEventListener("focusin", () => activate(answer, false));
    });
    const bank = document.querySelector(".bank");
    if (bank) {
      bank.addEventListener("click", (e) => {
        const button = e.target.closest("button");
        if (!button) { return; }
        const li = button.closest("li");
        if (button.classList.contains("use")) {
          use(button.textContent);
        } else if (button.classList.contains("keep")) {
          keep(li.querySelector("button.use").textContent);
        } else if (button.classList.contains("remove")) {
          window.grader.fetch(bank.dataset.url + "/" + li.dataset.entry, {method: "DELETE"}).then((r) => {
            if (r.ok) { li.remove(); bankError(""); } else { bankError("not removed (error " + r.status + ")"); }
          });
        }
      });
      bank.querySelector("form.bank-add").addEventListener("submit", (e) => {
        e.preventDefault();
        const box = e.target.querySelector("textarea");
        if (box.value.trim()) { keep(box.value.trim()).then(() => { box.value = ""; }); }
      });
    }
    document.addEventListener("keydown", (e) => {
      const t = e.target;
      const typing = t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName));
      if (e.altKey && (e.key === "ArrowDown" || e.key === "ArrowUp")) {
        e.preventDefault();
        move(e.key === "ArrowDown" ? 1 : -1);
      } else if (!typing && window.grader.shortcutsOn() && !e.ctrlKey && !e.metaKey && !e.altKey && (e.key === "j" || e.key === "k")) {
        e.preventDefault();
        move(e.key === "j" ? 1 : -1);
      }
    });
  });
})();
