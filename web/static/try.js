// The Try page: POST /api/predict with the typed ticket, then draw the decision, every
// probability, the words that moved it, and what other thresholds would do. Every band shown
// comes from the server (the worker's rule); this file only looks figures up. All text is set
// with textContent. The address bar keeps version, route and shadow, never the ticket.
"use strict";
const CSRF = document.querySelector('meta[name="csrf-token"]').content;
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(window.location.search);
let result = null; // the last /api/predict answer
let bandAsked = 0; // the newest slider request; older answers are dropped

function say(text, kind) {
  $("status").textContent = text;
  $("status").className = kind || "";
}

function fmt(p) { return p.toFixed(4); }

function setBand(el, band) {
  el.textContent = band;
  el.className = `band band-${band}`;
  el.dataset.band = band;
}

function keepInUrl() {
  const p = new URLSearchParams();
  if ($("f-version").value) p.set("version", $("f-version").value);
  if (result) {
    p.set("route", $("s-route").value);
    p.set("shadow", $("s-shadow").value);
  } else {
    for (const k of ["route", "shadow"]) if (params.get(k)) p.set(k, params.get(k));
  }
  window.history.replaceState(null, "", `${window.location.pathname}?${p}`);
}

async function loadVersions() {
  const r = await fetch("/api/predict/versions", { credentials: "same-origin" });
  if (r.status === 401) { window.location.assign("/login"); return; }
  if (!r.ok) { say(`could not list model versions: HTTP ${r.status}`, "error"); return; }
  const select = $("f-version");
  for (const v of await r.json()) {
    const option = document.createElement("option");
    option.value = v.version;
    option.textContent = `${v.version} (${v.status})`;
    select.appendChild(option);
  }
  const wanted = params.get("version");
  if (wanted && [...select.options].some((o) => o.value === wanted)) select.value = wanted;
}

function threshold(name) {
  const v = Number(params.get(name));
  return v > 0 && v <= 1 ? v : null;
}

async function decide(event) {
  if (event) event.preventDefault();
  const body = $("f-body").value;
  if (!body.trim()) { say("type a ticket first", "error"); return; }
  const ask = { body, subject: $("f-subject").value || null, model_version: $("f-version").value || null };
  const route = result ? Number($("s-route").value) : threshold("route");
  const shadow = result ? Number($("s-shadow").value) : threshold("shadow");
  if (route !== null) ask.route = route;
  if (shadow !== null) ask.shadow = shadow;
  say("deciding…");
  const r = await fetch("/api/predict", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": CSRF },
    body: JSON.stringify(ask),
  });
  if (r.status === 401) { window.location.assign("/login"); return; }
  const answer = await r.json().catch(() => ({}));
  if (!r.ok) {
    const detail = typeof answer.message === "string" ? answer.message : JSON.stringify(answer);
    say(`HTTP ${r.status}: ${detail}`, "error");
    return;
  }
  result = answer;
  draw(ask.route ?? result.thresholds.route, ask.shadow ?? result.thresholds.shadow);
  say(`decided by ${result.model_version}`, "ok");
  keepInUrl();
}

function draw(route, shadow) {
  const d = result;
  $("result").hidden = false;
  $("r-label").textContent = d.label;
  $("r-confidence").textContent = fmt(d.confidence);
  $("r-confidence").dataset.value = String(d.confidence);
  setBand($("r-band"), d.band);
  $("r-in-force").textContent = `(route ≥ ${d.thresholds.route}, shadow ≥ ${d.thresholds.shadow})`;
  $("r-novelty").textContent = fmt(d.novelty) + (d.novel ? " novel" : "");
  $("r-novelty").dataset.value = String(d.novelty);
  $("r-novelty-threshold").textContent = d.novelty_threshold === null
    ? "(no detector in this model)" : `(novel above ${fmt(d.novelty_threshold)})`;
  $("r-version").textContent = d.model_version;
  drawHeads(d);
  barChart($("p-proba"), d.probabilities.map((p) => ({ label: p.label, value: p.probability, color: p.label === d.label ? "#2b6cb0" : "#90cdf4" })),
    { max: 1, format: (v) => fmt(v), labelWidth: 170 });
  $("s-route").value = String(route);
  $("s-shadow").value = String(shadow);
  drawWhy(d);
  // the server banded the ticket at these thresholds, unless a slider had to round them
  const exact = Number($("s-route").value) === route && Number($("s-shadow").value) === shadow;
  thresholdsMoved(exact ? (d.tried || d).band : null);
}

// every head beyond the primary one (a sub-team, a task head), and the escalation rule if it fired
function drawHeads(d) {
  const names = Object.keys(d.heads);
  $("r-heads-tile").hidden = names.length === 0;
  $("r-escalated").textContent = d.escalated ? `(escalated: ${d.escalated})` : "";
  $("r-heads").replaceChildren(...names.map((name) => {
    const h = d.heads[name];
    const el = document.createElement("div");
    el.className = "head";
    Object.assign(el.dataset, { head: name, label: h.label, confidence: String(h.confidence), band: h.band });
    el.textContent = `${name}: ${h.label} ${fmt(h.confidence)} (${h.band})`;
    return el;
  }));
}

function drawWhy(d) {
  const text = $("why-text");
  text.replaceChildren();
  const top = Math.max(1e-9, ...d.words.map((w) => Math.abs(w.drop)));
  let at = 0;
  for (const w of d.words) {
    text.appendChild(document.createTextNode(d.text.slice(at, w.start)));
    const span = document.createElement("span");
    const level = Math.min(4, Math.ceil((4 * Math.abs(w.drop)) / top));
    span.className = level && Math.abs(w.drop) >= 0.001 ? `w ${w.drop > 0 ? "up" : "down"}-${level}` : "w";
    span.textContent = d.text.slice(w.start, w.end);
    span.dataset.drop = String(w.drop);
    span.title = `without it ${d.label} ${w.drop >= 0 ? "falls" : "rises"} by ${fmt(Math.abs(w.drop))}`;
    text.appendChild(span);
    at = w.end;
  }
  text.appendChild(document.createTextNode(d.text.slice(at)));
  const list = $("why-top");
  list.replaceChildren();
  for (const w of [...d.words].sort((a, b) => b.drop - a.drop).slice(0, 5).filter((w) => w.drop > 0)) {
    const li = document.createElement("li");
    li.textContent = `without ${w.word}: −${fmt(w.drop)}`;
    list.appendChild(li);
  }
  $("r-words-note").textContent = d.words.length < d.words_total
    ? `(the first ${d.words.length} of ${d.words_total} words)` : "";
}

function precisionText(rows, thresholds, at) {
  const i = thresholds.findIndex((t) => Math.abs(t - at) < 1e-9);
  if (i < 0) return "n/a";
  const p = rows[i];
  return p.reviewed ? `${p.precision.toFixed(3)} (${p.correct} of ${p.reviewed} reviewed)` : "none reviewed";
}

// A slider moved (or the answer arrived): show the values, keep them in the URL, count the
// precision at the route threshold, and ask the server which band the ticket would get.
async function thresholdsMoved(known) {
  if (!result) return;
  let route = Number($("s-route").value), shadow = Number($("s-shadow").value);
  if (shadow > route) { // the rule needs shadow <= route: the other slider follows
    if (document.activeElement === $("s-shadow")) route = shadow; else shadow = route;
    $("s-route").value = String(route);
    $("s-shadow").value = String(shadow);
  }
  $("o-route").textContent = route.toFixed(2);
  $("o-shadow").textContent = shadow.toFixed(2);
  $("r-at").textContent = route.toFixed(2);
  const pr = result.precision;
  $("r-precision-label-name").textContent = result.label;
  $("r-precision-label").textContent = precisionText(pr.label, pr.thresholds, route);
  $("r-precision-all").textContent = precisionText(pr.overall, pr.thresholds, route);
  if (known) { setBand($("r-tried-band"), known); return; }
  keepInUrl();
  const asked = ++bandAsked;
  const q = new URLSearchParams({ confidence: String(result.confidence), novel: String(result.novel), route: String(route), shadow: String(shadow) });
  const r = await fetch(`/api/predict/band?${q}`, { credentials: "same-origin" });
  if (asked !== bandAsked) return;
  if (!r.ok) { say(`band: HTTP ${r.status}`, "error"); return; }
  setBand($("r-tried-band"), (await r.json()).band);
}

$("try").addEventListener("submit", decide);
$("s-route").addEventListener("input", () => thresholdsMoved(null));
$("s-shadow").addEventListener("input", () => thresholdsMoved(null));
$("f-version").addEventListener("change", () => { keepInUrl(); if (result) decide(); });
loadVersions().then(keepInUrl);
