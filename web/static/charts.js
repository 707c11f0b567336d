// Plots drawn as SVG with DOM calls only: every label is set with textContent, never parsed as
// markup, so a hostile label or reason cannot inject anything.
"use strict";
const SVG_NS = "http://www.w3.org/2000/svg";
const BAND_COLORS = { routed: "#2f855a", shadow: "#d69e2e", manual: "#c53030" };

function svgEl(name, attrs, text) {
  const el = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = String(text);
  return el;
}

// Horizontal bars: items = [{label, value, color, note}]; max defaults to the largest value.
function barChart(container, items, opts) {
  const o = Object.assign({ max: null, format: (v) => String(v), width: 460, labelWidth: 150 }, opts || {});
  const rowH = 22, labelW = o.labelWidth, valueW = 70;
  const h = Math.max(1, items.length) * rowH + 8;
  const svg = svgEl("svg", { width: o.width, height: h, viewBox: `0 0 ${o.width} ${h}`, role: "img" });
  const max = o.max || Math.max(1, ...items.map((i) => i.value || 0));
  const barW = o.width - labelW - valueW;
  items.forEach((item, i) => {
    const y = 4 + i * rowH;
    svg.appendChild(svgEl("text", { x: labelW - 6, y: y + 15, "text-anchor": "end", class: "lbl" }, item.label));
    const w = item.value == null ? 0 : Math.max(1, (barW * item.value) / max);
    const bar = svgEl("rect", { x: labelW, y: y + 3, width: w, height: rowH - 6, fill: item.color || "#3182ce", class: "bar" });
    bar.setAttribute("data-value", item.value == null ? "" : String(item.value));
    bar.appendChild(svgEl("title", {}, `${item.label}: ${item.value == null ? "n/a" : o.format(item.value)}`));
    svg.appendChild(bar);
    svg.appendChild(svgEl("text", { x: labelW + w + 4, y: y + 15, class: "val" }, item.value == null ? "n/a" : o.format(item.value) + (item.note || "")));
  });
  if (o.target != null) {
    const x = labelW + (barW * o.target) / max;
    svg.appendChild(svgEl("line", { x1: x, x2: x, y1: 0, y2: h, class: "target" }));
  }
  container.replaceChildren(svg);
}

// Stacked columns over time: rows = [{minute, routed, shadow, manual}].
function stackedColumns(container, rows, keys) {
  const width = 460, height = 180, pad = 24;
  const svg = svgEl("svg", { width, height: height + 40, viewBox: `0 0 ${width} ${height + 40}`, role: "img" });
  const totals = rows.map((r) => keys.reduce((s, k) => s + (r[k] || 0), 0));
  const max = Math.max(1, ...totals);
  const colW = (width - pad) / Math.max(1, rows.length);
  rows.forEach((row, i) => {
    let y = height;
    for (const key of keys) {
      const v = row[key] || 0;
      if (!v) continue;
      const hgt = (height - 10) * v / max;
      y -= hgt;
      const rect = svgEl("rect", { x: pad + i * colW + 1, y, width: Math.max(1, colW - 2), height: hgt, fill: BAND_COLORS[key], class: "bar" });
      rect.setAttribute("data-value", String(v));
      rect.appendChild(svgEl("title", {}, `${row.minute} ${key}: ${v}`));
      svg.appendChild(rect);
    }
  });
  svg.appendChild(svgEl("text", { x: 0, y: 12, class: "val" }, String(max)));
  svg.appendChild(svgEl("line", { x1: pad, x2: width, y1: height, y2: height, class: "axis" }));
  if (rows.length) {
    svg.appendChild(svgEl("text", { x: pad, y: height + 14, class: "lbl" }, rows[0].minute.slice(11)));
    svg.appendChild(svgEl("text", { x: width, y: height + 14, "text-anchor": "end", class: "lbl" }, rows[rows.length - 1].minute.slice(11)));
  }
  keys.forEach((key, i) => {
    svg.appendChild(svgEl("rect", { x: pad + i * 90, y: height + 24, width: 10, height: 10, fill: BAND_COLORS[key] }));
    svg.appendChild(svgEl("text", { x: pad + i * 90 + 14, y: height + 33, class: "lbl" }, key));
  });
  container.replaceChildren(svg);
}
