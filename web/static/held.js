// Second review on the queue page: polls /api/held, judges through POST /api/held/verdict.
// Ticket text, labels and messages are written with textContent only.
"use strict";
(() => {
  const HELD_POLL_MS = 5000;
  const token = document.querySelector('meta[name="csrf-token"]').content;
  const section = document.getElementById("held-section");
  const list = document.getElementById("held");
  const status = document.getElementById("status");

  function node(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = String(text);
    return e;
  }

  function draw(held) {
    section.hidden = held.length === 0;
    list.replaceChildren();
    for (const h of held) {
      const li = node("li", "item");
      const head = node("div", "head");
      head.appendChild(node("span", "ticket", h.ticket_id));
      head.appendChild(node("span", "pred", `${h.reviewer} said ${h.label}`));
      const objection = h.hold_label == null
        ? "held: this reviewer is flagged"
        : `model said ${h.hold_label}, ${(h.hold_against * 100).toFixed(1)}% against ${h.label}`;
      head.appendChild(node("span", "muted", objection));
      li.appendChild(head);
      li.appendChild(node("p", "text", h.text));
      const actions = node("div", "actions");
      const confirm = node("button", "confirm", `Confirm ${h.label}`);
      confirm.addEventListener("click", () => judge(h, "confirm"));
      const overturn = node("button", "override", "Overturn");
      overturn.addEventListener("click", () => judge(h, "overturn"));
      actions.append(confirm, overturn);
      li.appendChild(actions);
      list.appendChild(li);
    }
  }

  async function refresh() {
    try {
      const r = await fetch("/api/held?n=50", { credentials: "same-origin" });
      if (r.ok) draw(await r.json());
    } catch (e) {
      status.textContent = `second review refresh failed: ${e}`;
    }
  }

  async function judge(h, verdict) {
    const r = await fetch("/api/held/verdict", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": token },
      body: JSON.stringify({ correction_id: h.correction_id, verdict }),
    });
    let body = {};
    try { body = await r.json(); } catch (e) { body = {}; }
    if (r.ok) {
      const flagged = body.reviewer_flagged ? `; ${body.reviewer} is now flagged` : "";
      status.textContent = `${verdict === "confirm" ? "Confirmed" : "Overturned"} ${h.reviewer}'s ${h.label} on ${h.ticket_id}${flagged}`;
      status.className = "ok";
    } else {
      status.textContent = `${h.ticket_id}: ${typeof body.message === "string" ? body.message : "HTTP " + r.status}`;
      status.className = "error";
    }
    refresh();
  }

  refresh();
  setInterval(refresh, HELD_POLL_MS);
})();
