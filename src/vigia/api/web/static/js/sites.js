// The site list: ranked candidates for analysts, released sites for the partner.

import { fmtDate, fmtPct, h } from "./dom.js";
import { indicatorLabel, t, tEnum } from "./i18n.js";
import { PARTNER_COLORS, STATUS_COLORS } from "./map.js";

let candidatesOnly = false;

/** Sites in the order the list shows them: by probability (staff) or last seen (partner). */
export function ordered(sites, partner) {
  const copy = [...sites];
  if (partner) copy.sort((a, b) => String(b.last_seen ?? "").localeCompare(String(a.last_seen ?? "")));
  else copy.sort((a, b) => (b.probability ?? 0) - (a.probability ?? 0) || a.site_id.localeCompare(b.site_id));
  return copy;
}

function swatch(color) {
  return h("span", { class: "swatch", style: { background: color } });
}

export function renderSites(app) {
  const partner = app.isPartner;
  let sites = ordered(app.sites, partner);
  if (!partner && candidatesOnly) sites = sites.filter((s) => s.candidate);
  const head = partner
    ? ["col.site", "col.partner_status", "col.indicators", "col.last_seen"]
    : ["col.rank", "col.site", "col.probability", "col.status", "col.indicators", "col.last_seen"];
  const rows = sites.map((s, i) => {
    const labels = (s.indicators ?? []).map(indicatorLabel);
    const cells = partner
      ? [
        h("td", {}, s.site_id),
        h("td", {}, swatch(PARTNER_COLORS[s.partner_status ?? "released"]), tEnum("partner_status", s.partner_status ?? "released")),
        h("td", { title: labels.join(", ") }, labels.join(", ")),
        h("td", { class: "nowrap" }, fmtDate(s.last_seen)),
      ]
      : [
        h("td", { class: "num" }, i + 1),
        h("td", {}, s.site_id),
        h("td", { class: "num" }, fmtPct(s.probability)),
        h("td", { class: "nowrap" }, swatch(STATUS_COLORS[s.status] ?? "#4a5568"), tEnum("status", s.status)),
        h("td", { class: "num", title: labels.join(", ") }, labels.length),
        h("td", { class: "nowrap" }, fmtDate(s.last_seen)),
      ];
    return h("tr", {
      class: "clickable",
      tabindex: 0,
      dataset: { siteId: s.site_id },
      onclick: () => app.openSite(s.site_id),
      onkeydown: (e) => { if (e.key === "Enter") app.openSite(s.site_id); },
    }, cells);
  });
  return h("section", { class: "view", dataset: { testid: "sites-view" } },
    h("h2", {}, partner ? t("sites.title.partner", { agency: app.user.agency }) : t("sites.title.staff")),
    h("div", { class: "toolbar" },
      h("span", { class: "muted" }, t("sites.count", { n: sites.length })),
      partner ? null : h("label", {},
        h("input", {
          type: "checkbox",
          checked: candidatesOnly,
          onchange: (e) => { candidatesOnly = e.target.checked; app.render(); },
        }),
        ` ${t("sites.candidates_only")}`)),
    rows.length
      ? h("table", { class: "list", id: "sites-table" },
        h("thead", {}, h("tr", {}, head.map((k) => h("th", { scope: "col" }, t(k))))),
        h("tbody", {}, rows))
      : h("p", { class: "muted" }, t("sites.empty")),
  );
}
