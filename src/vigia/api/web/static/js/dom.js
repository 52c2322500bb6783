// Small DOM helpers. Text always goes in as text nodes (never as HTML), so values from the
// server cannot inject markup.

import { lang, t } from "./i18n.js";

/**
 * Create an element: h("td", {class: "num", dataset: {siteId: "S1"}, onclick: fn}, "text", el).
 * Attributes whose value is null/undefined/false are skipped; children may be nested arrays.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "style") Object.assign(el.style, v); // an object: no inline style attribute
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "value") el.value = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replace the children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const locale = () => (lang() === "es" ? "es-MX" : "en-GB");

/** A UTC time as 'YYYY-MM-DD HH:MM UTC' (ISO text or null in). */
export function fmtTime(value) {
  if (!value) return t("none");
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  return `${d.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/** A UTC date as 'YYYY-MM-DD'. */
export function fmtDate(value) {
  if (!value) return t("none");
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? String(value) : d.toISOString().slice(0, 10);
}

/** A number with `digits` decimals in the UI's locale (null -> dash). */
export function fmtNum(value, digits = 0) {
  if (value === null || value === undefined || Number.isNaN(Number(value))) return t("none");
  return Number(value).toLocaleString(locale(), {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

/** A probability 0..1 as a percentage. */
export function fmtPct(p) {
  if (p === null || p === undefined) return t("none");
  return `${fmtNum(100 * Number(p), 1)} %`;
}

/** Degrees lat, lon with 5 decimals (about 1 m). */
export function fmtLatLon(lat, lon) {
  return `${Number(lat).toFixed(5)}, ${Number(lon).toFixed(5)}`;
}

/** A two-column definition table from [label, value] pairs (value: text or Node). */
export function fieldTable(rows, attrs = {}) {
  return h(
    "table",
    { class: "fields", ...attrs },
    h("tbody", {}, rows.filter(Boolean).map(([k, v, key]) =>
      h("tr", key ? { dataset: { field: key } } : {}, h("th", { scope: "row" }, k), h("td", {}, v)),
    )),
  );
}

/** A status message element: kind is 'ok' or 'error'. */
export function message(kind, text) {
  return h("p", { class: `msg msg-${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}
