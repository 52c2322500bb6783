// The metrics panel: the site funnel, median delays, seizure totals and seizures by month.

import { barChart, hBarChart } from "./charts.js";
import { fieldTable, fmtNum, h } from "./dom.js";
import { t, tEnum } from "./i18n.js";

/**
 * One shape for the metrics, whichever the server sends: the store's nested form
 * ({sites: {detected...}, median_hours: {...}, seizures: {totals, by_month}}) or the flat form
 * of the API contract (sites_detected, median_hours_detection_to_release, seizures_by_month...).
 */
export function normaliseMetrics(m) {
  const sites = typeof m.sites === "object" && m.sites !== null ? m.sites : {};
  const med = m.median_hours ?? {};
  const seizures = m.seizures ?? {};
  const list = (x) => {
    if (Array.isArray(x)) return x;
    if (x && typeof x === "object") {
      return Object.entries(x).map(([substance, v]) => (typeof v === "object" ? { substance, ...v } : { substance, amount: v }));
    }
    return [];
  };
  return {
    agency: m.agency ?? null,
    detected: sites.detected ?? m.sites_detected ?? null, // null: not disclosed to partners
    released: sites.released ?? m.sites_released ?? 0,
    actedOn: sites.acted_on ?? m.sites_acted_on ?? 0,
    medDetRel: med.detection_to_release ?? m.median_hours_detection_to_release ?? null,
    medRelAct: med.release_to_action ?? m.median_hours_release_to_action ?? null,
    actions: m.actions ?? {},
    totals: list(seizures.totals ?? m.seizures_by_substance),
    byMonth: list(seizures.by_month ?? m.seizures_by_month),
  };
}

function monthCharts(byMonth) {
  const groups = new Map();
  for (const r of byMonth) {
    const key = `${r.substance}|${r.unit}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(r);
  }
  return [...groups.entries()].map(([key, rows]) => {
    const [substance, unit] = key.split("|");
    rows.sort((a, b) => String(a.month).localeCompare(String(b.month)));
    return barChart({
      title: t("metrics.by_month", { substance: tEnum("substance", substance), unit: tEnum("unit", unit) }),
      data: rows.map((r) => ({ label: r.month, value: Number(r.amount) })),
      digits: unit === "count" ? 0 : 1,
      testid: `chart-${substance}`,
    });
  });
}

export function renderMetrics(app) {
  const m = normaliseMetrics(app.metrics ?? {});
  const actionRows = Object.entries(m.actions).filter(([, n]) => n > 0);
  return h("section", { class: "view", dataset: { testid: "metrics-view" } },
    h("h2", {}, t("metrics.title")),
    h("p", { class: "muted" }, m.agency ? t("metrics.scope.agency", { agency: m.agency }) : t("metrics.scope.all")),
    hBarChart({
      title: t("metrics.funnel"),
      testid: "chart-funnel",
      data: [
        m.detected === null ? null : { label: t("metrics.detected"), value: m.detected, color: "#d7301f", key: "detected" },
        { label: t("metrics.released"), value: m.released, color: "#f08c2e", key: "released" },
        { label: t("metrics.acted_on"), value: m.actedOn, color: "#2f855a", key: "acted_on" },
      ].filter(Boolean),
    }),
    fieldTable([
      [t("metrics.median_det_rel"), fmtNum(m.medDetRel, 1), "median_detection_to_release"],
      [t("metrics.median_rel_act"), fmtNum(m.medRelAct, 1), "median_release_to_action"],
    ]),
    actionRows.length
      ? h("div", {}, h("h3", {}, t("metrics.actions")),
        fieldTable(actionRows.map(([k, n]) => [tEnum("action", k), fmtNum(n), `actions-${k}`])))
      : null,
    h("h3", {}, t("metrics.seizures")),
    m.totals.length
      ? h("table", { class: "list", dataset: { testid: "seizure-totals" } },
        h("thead", {}, h("tr", {}, ["col.substance", "col.amount", "col.unit"].map((k) => h("th", {}, t(k))))),
        h("tbody", {}, m.totals.map((r) => h("tr", { dataset: { substance: r.substance } },
          h("td", {}, tEnum("substance", r.substance)),
          h("td", { class: "num" }, fmtNum(r.amount, r.unit === "count" ? 0 : 2)),
          h("td", {}, tEnum("unit", r.unit))))))
      : h("p", { class: "muted" }, t("metrics.no_seizures")),
    monthCharts(m.byMonth),
  );
}
