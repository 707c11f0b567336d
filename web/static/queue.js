// The review queue: polls /api/queue, decides through POST /api/decisions.
// Ticket text, labels and messages are written with textContent only.
"use strict";
const POLL_MS = 3000;
const CSRF = document.querySelector('meta[name="csrf-token"]').content;
let labels = [];
let items = [];
let selected = 0;

const list = document.getElementById("queue");
const status = document.getElementById("status");

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = String(text);
  return e;
}

function say(text, kind) {
  status.textContent = text;
  status.className = kind || "";
}

function filters() {
  const p = new URLSearchParams({ n: "50" });
  const band = document.getElementById("f-band").value;
  const label = document.getElementById("f-label").value;
  const version = document.getElementById("f-version").value.trim();
  if (band) p.set("band", band);
  if (label) p.set("label", label);
  if (version) p.set("model_version", version);
  return p;
}

function render() {
  list.replaceChildren();
  document.getElementById("empty").hidden = items.length > 0;
  selected = Math.min(selected, Math.max(0, items.length - 1));
  items.forEach((item, i) => {
    const li = el("li", "item" + (i === selected ? " selected" : ""));
    li.dataset.ticketId = item.ticket_id;
    const head = el("div", "head");
    head.appendChild(el("span", `band band-${item.band}`, item.band));
    head.appendChild(el("span", "ticket", item.ticket_id));
    head.appendChild(el("span", "pred", `${item.label} · ${(item.confidence * 100).toFixed(1)}%`));
    head.appendChild(el("span", "muted", `margin ${item.margin.toFixed(3)} · ${item.model_version}`));
    li.appendChild(head);
    li.appendChild(el("p", "text", item.text));
    const top = el("ul", "top3");
    for (const s of item.top3) top.appendChild(el("li", "", `${s.label} ${(s.probability * 100).toFixed(1)}%`));
    li.appendChild(top);
    const actions = el("div", "actions");
    const confirm = el("button", "confirm", `Confirm ${item.label} (c)`);
    confirm.addEventListener("click", () => decide(item, item.label));
    actions.appendChild(confirm);
    labels.forEach((label, n) => {
      if (label === item.label) return;
      const b = el("button", "override", n < 9 ? `${n + 1} ${label}` : label);
      b.dataset.label = label;
      b.addEventListener("click", () => decide(item, label));
      actions.appendChild(b);
    });
    li.appendChild(actions);
    li.addEventListener("click", () => { selected = i; highlight(); });
    list.appendChild(li);
  });
}

function highlight() {
  [...list.children].forEach((li, i) => li.classList.toggle("selected", i === selected));
  const cur = list.children[selected];
  if (cur) cur.scrollIntoView({ block: "nearest" });
}

async function refresh() {
  try {
    const r = await fetch("/api/queue?" + filters(), { credentials: "same-origin" });
    if (r.status === 401) { window.location.assign("/login"); return; }
    if (!r.ok) { say(`refresh failed: HTTP ${r.status}`, "error"); return; }
    const fresh = await r.json();
    const current = items[selected] && items[selected].ticket_id;
    items = fresh;
    const keep = items.findIndex((x) => x.ticket_id === current);
    if (keep >= 0) selected = keep;
    render();
  } catch (e) {
    say(`refresh failed: ${e}`, "error");
  }
}

async function decide(item, label) {
  const r = await fetch("/api/decisions", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": CSRF },
    body: JSON.stringify({ ticket_id: item.ticket_id, label }),
  });
  let body = {};
  try { body = await r.json(); } catch (e) { body = {}; }
  if (r.ok) {
    say(`${body.action === "confirm" ? "Confirmed" : "Overrode to"} ${label} on ${item.ticket_id}`, "ok");
  } else if (r.status === 409) {
    say(`${item.ticket_id}: ${body.message}`, "error");
  } else {
    say(`${item.ticket_id}: ${typeof body.message === "string" ? body.message : "HTTP " + r.status}`, "error");
  }
  items = items.filter((x) => x.ticket_id !== item.ticket_id);
  render();
  refresh();
}

document.addEventListener("keydown", (ev) => {
  if (ev.target instanceof HTMLInputElement || ev.target instanceof HTMLSelectElement) return;
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const item = items[selected];
  if (ev.key === "j") { selected = Math.min(items.length - 1, selected + 1); highlight(); }
  else if (ev.key === "k") { selected = Math.max(0, selected - 1); highlight(); }
  else if (ev.key === "c" && item) decide(item, item.label);
  else if (/^[1-9]$/.test(ev.key) && item) {
    const label = labels[Number(ev.key) - 1];
    if (label) decide(item, label);
  }
});

for (const id of ["f-band", "f-label", "f-version"]) {
  document.getElementById(id).addEventListener("change", refresh);
}

async function start() {
  const r = await fetch("/api/labels", { credentials: "same-origin" });
  if (r.ok) labels = await r.json();
  const sel = document.getElementById("f-label");
  for (const l of labels) sel.appendChild(el("option", "", l));
  await refresh();
  setInterval(refresh, POLL_MS);
}
start();
