// The ops dashboard: polls /api/dashboard and redraws; all text goes through textContent.
"use strict";
const POLL_MS = 3000;
const BANDS = ["routed", "shadow", "manual"];

function setText(id, text) { document.getElementById(id).textContent = text; }
function seconds(v) { return v == null ? "n/a" : v < 1 ? `${Math.round(v * 1000)} ms` : `${v.toFixed(2)} s`; }
function pct(v) { return `${(v * 100).toFixed(1)}%`; }

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text == null ? "" : String(text);
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function draw(d) {
  setText("updated", `updated ${new Date().toLocaleTimeString()}`);
  setText("t-lag", String(d.lag.total));
  setText("t-rate", d.recent.tickets_per_s.toFixed(2));
  setText("t-p50", seconds(d.recent.latency_p50_s));
  setText("t-p95", seconds(d.recent.latency_p95_s));
  setText("t-model", d.models.current_version || "none deployed");
  setText("t-dead", String(d.dead_letters.total));
  setText("lag-topic", d.lag.topic);

  barChart(document.getElementById("p-lag"),
    d.lag.partitions.map((p) => ({ label: `partition ${p.partition}`, value: p.lag, color: "#3182ce",
      note: ` (hw ${p.high_watermark}, committed ${p.committed == null ? "none" : p.committed})` })));
  stackedColumns(document.getElementById("p-shares"), d.band_shares, BANDS);
  barChart(document.getElementById("p-precision"),
    BANDS.map((b) => ({ label: b, value: d.precision.bands[b].precision, color: BAND_COLORS[b],
      note: ` of ${d.precision.bands[b].reviewed}` })),
    { max: 1, format: pct, target: d.precision.target });
  const classes = [];
  for (const b of BANDS) {
    for (const [label, p] of Object.entries(d.precision.per_class[b] || {})) {
      classes.push({ label: `${b} · ${label}`, value: p.precision, color: BAND_COLORS[b], note: ` of ${p.reviewed}` });
    }
  }
  barChart(document.getElementById("p-classes"), classes, { max: 1, format: pct, labelWidth: 230 });

  const runs = document.querySelector("#runs tbody");
  runs.replaceChildren();
  for (const r of d.models.runs) {
    const tr = document.createElement("tr");
    cell(tr, r.run_id);
    cell(tr, r.started_at.slice(0, 19).replace("T", " "));
    cell(tr, r.candidate_version || "");
    cell(tr, r.outcome || "running", `outcome-${r.outcome || "running"}`);
    const gates = cell(tr, r.gates.map((g) => `${g.name}: ${g.passed ? "pass" : "FAIL"}${g.detail ? " (" + g.detail + ")" : ""}`).join("; "));
    for (const g of r.gates) {
      for (const line of g.figures || []) {
        const small = document.createElement("div");
        small.className = "muted";
        small.textContent = `${g.name} ${line}`;
        gates.appendChild(small);
      }
    }
    runs.appendChild(tr);
  }
  if (!d.models.runs.length) {
    const tr = document.createElement("tr");
    cell(tr, "no training runs yet", "muted").colSpan = 5;
    runs.appendChild(tr);
  }
  drawReviewers(d.reviewers, d.held_waiting);
  drawThresholds(d.thresholds);
  drawClusters(d.models.failure_clusters || []);
  drawDrift(d.drift, d.thresholds);
  const dead = document.querySelector("#dead tbody");
  dead.replaceChildren();
  for (const x of d.dead_letters.latest) {
    const tr = document.createElement("tr");
    cell(tr, `${x.topic}[${x.partition}]@${x.offset}`);
    cell(tr, x.stage);
    cell(tr, x.reason, "reason");
    dead.appendChild(tr);
  }
}

// Reviewers a second review ever held; a flagged one (mostly overturned) is held from then on.
function drawReviewers(reviewers, waiting) {
  setText("held-waiting", `${waiting} waiting`);
  const body = document.querySelector("#reviewers tbody");
  body.replaceChildren();
  for (const r of reviewers) {
    const tr = document.createElement("tr");
    cell(tr, r.reviewer);
    for (const n of [r.held, r.confirmed, r.overturned, r.pending]) cell(tr, n);
    cell(tr, r.flagged ? "FLAGGED: mostly overturned" : "", r.flagged ? "outcome-rejected" : "");
    body.appendChild(tr);
  }
  if (!reviewers.length) {
    const tr = document.createElement("tr");
    cell(tr, "no correction held yet", "muted").colSpan = 6;
    body.appendChild(tr);
  }
}

function emptyRow(body, text, span) {
  const tr = document.createElement("tr");
  cell(tr, text, "muted").colSpan = span;
  body.appendChild(tr);
}

// Per class: would-route precision on its reviews and how far it is from switching on.
function drawThresholds(t) {
  const body = document.querySelector("#thresholds tbody");
  body.replaceChildren();
  if (!t) {
    setText("thresholds-meta", "");
    setText("thresholds-stale", "");
    emptyRow(body, "no model is deployed", 6);
    return;
  }
  setText("thresholds-meta", `target ${t.target.toFixed(2)}, at least ${t.min_reviews} reviews; in force: ${t.in_force || "none"}`);
  setText("thresholds-stale", t.stale ? `STALE: drift past the limit on ${t.drifted_workers.join(", ")}` : "");
  for (const c of t.classes) {
    const tr = document.createElement("tr");
    cell(tr, c.label);
    cell(tr, c.reviewed);
    cell(tr, c.would_route_precision == null ? "-" : pct(c.would_route_precision));
    cell(tr, c.lower_bound.toFixed(3));
    cell(tr, c.threshold == null ? "default" : c.threshold.toFixed(2));
    cell(tr, c.status, c.state === "on" ? "outcome-deployed" : c.state === "held_back" ? "outcome-rejected" : "");
    body.appendChild(tr);
  }
  if (!t.classes.length) emptyRow(body, "no reviewed decisions yet: every class is on the default threshold", 6);
}

// The deployed model's misclassified test tickets, grouped (models/clusters.py), largest first.
function drawClusters(clusters) {
  const body = document.querySelector("#clusters tbody");
  body.replaceChildren();
  for (const c of clusters) {
    const tr = document.createElement("tr");
    cell(tr, c.id);
    cell(tr, c.size);
    cell(tr, c.mix.map((m) => `${m.true} \u2192 ${m.predicted}: ${m.count}`).join("; "));
    cell(tr, `${c.representative.text} (${c.representative.true} \u2192 ${c.representative.predicted})`);
    body.appendChild(tr);
  }
  if (!clusters.length) emptyRow(body, "no failure clusters in the deployed model's report", 4);
}

// Each live worker's drift window (the board in redis); a worker gone for 30 s drops off.
function drawDrift(workers, t) {
  const body = document.querySelector("#drift tbody");
  body.replaceChildren();
  for (const w of workers) {
    const tr = document.createElement("tr");
    cell(tr, w.worker);
    cell(tr, w.model_version + (t && w.model_version !== t.model_version ? " (not deployed)" : ""));
    cell(tr, w.state, w.state === "drifted" ? "outcome-rejected" : "");
    cell(tr, `${w.decisions}/${w.window}`);
    for (const signal of ["label", "novelty", "confidence"]) {
      const v = w.psi[signal];
      cell(tr, v == null ? "-" : `${v.toFixed(3)}${v > w.limit ? " > " + w.limit : ""}`);
    }
    body.appendChild(tr);
  }
  if (!workers.length) emptyRow(body, "no worker reported a drift window", 7);
}

async function poll() {
  try {
    const r = await fetch("/api/dashboard", { credentials: "same-origin" });
    if (r.status === 401) { window.location.assign("/login"); return; }
    if (r.ok) draw(await r.json());
    else setText("updated", `refresh failed: HTTP ${r.status}`);
  } catch (e) {
    setText("updated", `refresh failed: ${e}`);
  }
  setTimeout(poll, POLL_MS);
}
poll();
