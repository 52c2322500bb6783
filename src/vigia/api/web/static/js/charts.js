// Tiny inline-SVG charts (no chart library): vertical bars over categories and horizontal bars.

import { fmtNum } from "./dom.js";
import { t } from "./i18n.js";

const SVG = "http://www.w3.org/2000/svg";

function s(tag, attrs = {}, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

function emptyChart(title) {
  const fig = document.createElement("figure");
  fig.className = "chart";
  const cap = document.createElement("figcaption");
  cap.textContent = title;
  const p = document.createElement("p");
  p.className = "muted";
  p.textContent = t("chart.empty");
  fig.append(cap, p);
  return fig;
}

/**
 * Vertical bars: data is [{label, value}] in display order; `digits` decimals on the value
 * labels. Returns a <figure> with a caption and an <svg role="img">.
 */
export function barChart({ title, data, digits = 0, color = "#2b6cb0", testid }) {
  if (!data.length) return emptyChart(title);
  const width = 320;
  const height = 150;
  const pad = { top: 18, right: 8, bottom: 28, left: 8 };
  const max = Math.max(...data.map((d) => d.value), 0) || 1;
  const slot = (width - pad.left - pad.right) / data.length;
  const barW = Math.min(42, slot * 0.7);
  const plotH = height - pad.top - pad.bottom;
  const svg = s("svg", {
    viewBox: `0 0 ${width} ${height}`,
    width: "100%",
    role: "img",
    "aria-label": title,
  });
  svg.append(s("line", {
    x1: pad.left, x2: width - pad.right, y1: pad.top + plotH, y2: pad.top + plotH,
    stroke: "#888", "stroke-width": 1,
  }));
  data.forEach((d, i) => {
    const bh = (d.value / max) * plotH;
    const x = pad.left + i * slot + (slot - barW) / 2;
    const y = pad.top + plotH - bh;
    const g = s("g", { "data-label": d.label, "data-value": d.value });
    const rect = s("rect", { x, y, width: barW, height: Math.max(bh, 0.5), fill: color, rx: 2 });
    rect.append(s("title", {}, `${d.label}: ${fmtNum(d.value, digits)}`));
    g.append(
      rect,
      s("text", { x: x + barW / 2, y: y - 4, "text-anchor": "middle", class: "chart-value" },
        fmtNum(d.value, digits)),
      s("text", { x: x + barW / 2, y: height - 10, "text-anchor": "middle", class: "chart-label" },
        d.label),
    );
    svg.append(g);
  });
  const fig = document.createElement("figure");
  fig.className = "chart";
  if (testid) fig.dataset.testid = testid;
  const cap = document.createElement("figcaption");
  cap.textContent = title;
  fig.append(cap, svg);
  return fig;
}

/** Horizontal bars: data is [{label, value, color?}], e.g. the site funnel. */
export function hBarChart({ title, data, testid }) {
  if (!data.length) return emptyChart(title);
  const width = 320;
  const row = 24;
  const labelW = 110;
  const height = data.length * row + 8;
  const max = Math.max(...data.map((d) => d.value), 0) || 1;
  const svg = s("svg", {
    viewBox: `0 0 ${width} ${height}`, width: "100%", role: "img", "aria-label": title,
  });
  data.forEach((d, i) => {
    const y = 4 + i * row;
    const w = ((width - labelW - 44) * d.value) / max;
    const g = s("g", { "data-key": d.key ?? d.label, "data-value": d.value });
    g.append(
      s("text", { x: labelW - 6, y: y + 15, "text-anchor": "end", class: "chart-label" }, d.label),
      s("rect", { x: labelW, y: y + 3, width: Math.max(w, 0.5), height: row - 8,
        fill: d.color ?? "#2b6cb0", rx: 2 }),
      s("text", { x: labelW + w + 4, y: y + 15, class: "chart-value" }, fmtNum(d.value)),
    );
    svg.append(g);
  });
  const fig = document.createElement("figure");
  fig.className = "chart";
  if (testid) fig.dataset.testid = testid;
  const cap = document.createElement("figcaption");
  cap.textContent = title;
  fig.append(cap, svg);
  return fig;
}
