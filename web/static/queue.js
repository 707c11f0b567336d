// The review queue: polls /api/queue, decides through POST /api/decisions.
// Ticket text, labels and messages are written with textContent only.
// Heads: every head of a ticket is shown with its confidence; one is active (h moves to the
// next), and c / 1-9 / the buttons decide the active head. The primary head ("label") is active
// first, so the keys work as before on a one-head model. A multi-label head is reviewed as a
// set: its digits toggle labels on and off, and c sends the set (unchanged: a confirm).
"use strict";
const POLL_MS = 3000;
const PRIMARY = "label";
const CSRF = document.querySelector('meta[name="csrf-token"]').content;
let labels = [];
let heads = {};
let items = [];
let selected = 0;
let activeHead = PRIMARY;
let pending = null; // a multi-label head's set being edited: { ticket, head, set }

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

function headsOf(item) {
  // the primary head first, then the others in the order the model names them
  const rest = Object.keys(item.heads || {}).filter((h) => !(item.reviewed_heads || []).includes(h));
  return [PRIMARY, ...rest];
}

function isMulti(head) {
  return head !== PRIMARY && Boolean(heads[head] && heads[head].multilabel);
}

function pendingSet(item, head) {
  if (!pending || pending.ticket !== item.ticket_id || pending.head !== head) {
    pending = { ticket: item.ticket_id, head, set: new Set(item.heads[head].labels || []) };
  }
  return pending.set;
}

function toggle(item, head, label) {
  const set = pendingSet(item, head);
  if (set.has(label)) set.delete(label); else set.add(label);
  render();
}

function shown(a) {
  return Array.isArray(a.labels) ? (a.labels.join(", ") || "none") : a.label;
}

function answerOf(item, head) {
  if (head === PRIMARY) return { label: item.label, confidence: item.confidence };
  return item.heads[head];
}

function offered(item, head) {
  // what the digits pick: the primary's labels as /api/labels orders them; a child head's
  // labels inside the decided parent (a hierarchy never shows a child outside its parent)
  if (head === PRIMARY) return labels;
  const info = heads[head];
  if (!info) return [];
  const parentOf = info.parent_of;
  return parentOf ? info.labels.filter((l) => parentOf[l] === item.label) : info.labels;
}

function headRow(item, i) {
  const row = el("div", "heads");
  for (const h of headsOf(item)) {
    const a = answerOf(item, h);
    const active = i === selected && h === activeHead;
    const chip = el("span", "head-chip" + (active ? " active" : ""),
      `${h}: ${shown(a)} · ${(a.confidence * 100).toFixed(1)}%`);
    chip.dataset.head = h;
    if (h === item.least_certain_head) chip.title = "least certain head";
    row.appendChild(chip);
  }
  for (const h of item.reviewed_heads || []) row.appendChild(el("span", "head-chip done", `${h}: reviewed`));
  return row;
}

function setActions(item, head, actions) {
  const set = pendingSet(item, head);
  const send = el("button", "confirm", `Send ${[...set].sort().join(", ") || "none"} (c)`);
  send.addEventListener("click", () => decide(item, null, head, [...set]));
  actions.appendChild(send);
  offered(item, head).forEach((label, n) => {
    const b = el("button", "toggle" + (set.has(label) ? " on" : ""), n < 9 ? `${n + 1} ${label}` : label);
    b.dataset.label = label;
    b.setAttribute("aria-pressed", String(set.has(label)));
    b.addEventListener("click", () => toggle(item, head, label));
    actions.appendChild(b);
  });
  return actions;
}

function actionsOf(item, i) {
  const head = i === selected ? activeHead : PRIMARY;
  const mine = answerOf(item, head);
  const actions = el("div", "actions");
  actions.dataset.head = head;
  if (isMulti(head)) return setActions(item, head, actions);
  const confirm = el("button", "confirm", `Confirm ${mine.label} (c)`);
  confirm.addEventListener("click", () => decide(item, mine.label, head));
  actions.appendChild(confirm);
  offered(item, head).forEach((label, n) => {
    if (label === mine.label) return;
    const b = el("button", "override", n < 9 ? `${n + 1} ${label}` : label);
    b.dataset.label = label;
    b.addEventListener("click", () => decide(item, label, head));
    actions.appendChild(b);
  });
  return actions;
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
    if (Object.keys(item.heads || {}).length) li.appendChild(headRow(item, i));
    li.appendChild(actionsOf(item, i));
    li.addEventListener("click", () => { if (selected !== i) { selected = i; activeHead = PRIMARY; render(); } });
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
    else activeHead = PRIMARY;
    const now = items[selected];
    if (now && !headsOf(now).includes(activeHead)) activeHead = PRIMARY;
    render();
  } catch (e) {
    say(`refresh failed: ${e}`, "error");
  }
}

async function decide(item, label, head, set) {
  head = head || PRIMARY;
  const answer = set ? { labels: set } : { label };
  const r = await fetch("/api/decisions", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": CSRF },
    body: JSON.stringify({ ticket_id: item.ticket_id, ...answer, head }),
  });
  let body = {};
  try { body = await r.json(); } catch (e) { body = {}; }
  const of = head === PRIMARY ? "" : ` (${head})`;
  if (r.ok) {
    const what = set ? (set.join(", ") || "none") : label;
    say(`${body.action === "confirm" ? "Confirmed" : "Overrode to"} ${what}${of} on ${item.ticket_id}`, "ok");
  } else if (r.status === 409) {
    say(`${item.ticket_id}: ${body.message}`, "error");
  } else {
    say(`${item.ticket_id}: ${typeof body.message === "string" ? body.message : "HTTP " + r.status}`, "error");
  }
  activeHead = PRIMARY;
  pending = null;
  if (head === PRIMARY) {
    items = items.filter((x) => x.ticket_id !== item.ticket_id);
  } else {
    // the ticket stays until its primary head is reviewed; this head is done either way
    item.reviewed_heads = [...(item.reviewed_heads || []), head];
  }
  render();
  refresh();
}

document.addEventListener("keydown", (ev) => {
  if (ev.target instanceof HTMLInputElement || ev.target instanceof HTMLSelectElement) return;
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const item = items[selected];
  const move = (to) => { if (to !== selected) { selected = to; activeHead = PRIMARY; render(); } highlight(); };
  if (ev.key === "j") move(Math.min(items.length - 1, selected + 1));
  else if (ev.key === "k") move(Math.max(0, selected - 1));
  else if (ev.key === "h" && item) {
    const all = headsOf(item);
    activeHead = all[(all.indexOf(activeHead) + 1) % all.length];
    render();
  }
  else if (ev.key === "c" && item && isMulti(activeHead)) {
    decide(item, null, activeHead, [...pendingSet(item, activeHead)]);
  }
  else if (ev.key === "c" && item) decide(item, answerOf(item, activeHead).label, activeHead);
  else if (/^[1-9]$/.test(ev.key) && item) {
    const label = offered(item, activeHead)[Number(ev.key) - 1];
    if (label && isMulti(activeHead)) toggle(item, activeHead, label);
    else if (label) decide(item, label, activeHead);
  }
});

for (const id of ["f-band", "f-label", "f-version"]) {
  document.getElementById(id).addEventListener("change", refresh);
}

async function start() {
  const r = await fetch("/api/labels", { credentials: "same-origin" });
  if (r.ok) labels = await r.json();
  const h = await fetch("/api/heads", { credentials: "same-origin" });
  if (h.ok) heads = await h.json();
  const sel = document.getElementById("f-label");
  for (const l of labels) sel.appendChild(el("option", "", l));
  await refresh();
  setInterval(refresh, POLL_MS);
}
start();
