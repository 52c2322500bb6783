// One site: its fields, chips, score explanation and evidence (staff), its actions, and the
// forms that act on it (draft a product for staff; acknowledge and record an action for partners).

import { actionForm, actionsTable } from "./action.js";
import { api } from "./api.js";
import { fieldTable, fmtLatLon, fmtNum, fmtPct, fmtTime, h, message } from "./dom.js";
import { enumValues, indicatorLabel, lang, t, tEnum } from "./i18n.js";
import { chipImage } from "./map.js";
import { productLinks, siteIdsOf } from "./products.js";

/** The explanation of a site's score as a list of {term, detail, log_lr}. */
export function explanationOf(site) {
  const raw = site.explanation;
  if (Array.isArray(raw)) return raw;
  if (typeof raw === "string" && raw.trim()) {
    try {
      const parsed = JSON.parse(raw);
      return Array.isArray(parsed) ? parsed : [];
    } catch {
      return [];
    }
  }
  return [];
}

/** A score term: "indicator:<code>" shows the indicator's label; others are enumerated. */
function termLabel(term) {
  const s = String(term ?? "");
  return s.startsWith("indicator:") ? indicatorLabel(s.slice("indicator:".length)) : tEnum("term", s);
}

function explanationTable(site) {
  const terms = explanationOf(site);
  if (!terms.length) return h("p", { class: "muted" }, t("none"));
  const max = Math.max(...terms.map((x) => Math.abs(Number(x.log_lr) || 0)), 1e-9);
  return h("div", {},
    h("table", { class: "list explanation", dataset: { testid: "explanation" } },
      h("thead", {}, h("tr", {}, ["col.term", "col.detail", "col.log_lr"].map((k) => h("th", {}, t(k))))),
      h("tbody", {}, terms.map((x) => {
        const v = Number(x.log_lr) || 0;
        return h("tr", {},
          h("td", {}, termLabel(x.term)),
          h("td", {}, x.detail ?? ""),
          h("td", { class: "num bar-cell" },
            h("span", {
              class: `bar ${v >= 0 ? "bar-pos" : "bar-neg"}`,
              style: { width: `${(40 * Math.abs(v)) / max}px` },
            }),
            fmtNum(v, 2)));
      }))),
    h("p", { class: "muted" }, t("site.explanation.total", {
      lo: fmtNum(site.log_odds, 2), p: fmtPct(site.probability),
    })));
}

/** The chip of an evidence row, if it has one: a URL, or {obs_id} for /api/chips/{obs_id}. */
function evidenceChip(o) {
  if (typeof o.chip_url === "string") return o.chip_url;
  if (typeof o.chip === "string") return o.chip;
  return o.has_chip || o.chip === true ? { obs_id: o.obs_id } : null;
}

function evidenceTable(rows) {
  if (!rows.length) return h("p", { class: "muted" }, t("site.evidence.none"));
  return h("table", { class: "list evidence", dataset: { testid: "evidence" } },
    h("thead", {}, h("tr", {},
      ["col.time", "col.indicators", "col.confidence", "col.chip"].map((k) => h("th", {}, t(k))))),
    h("tbody", {}, rows.map((o) => {
      const chip = evidenceChip(o);
      const origin = [tEnum("source", o.source), o.sensor, o.sortie].filter(Boolean).join(" · ");
      return h("tr", { dataset: { obsId: o.obs_id } },
        h("td", { class: "nowrap" }, fmtTime(o.time)),
        h("td", {}, indicatorLabel(o.indicator), h("div", { class: "muted" }, origin)),
        h("td", { class: "num" }, o.confidence === null || o.confidence === undefined ? t("none") : fmtNum(o.confidence, 2)),
        h("td", {}, chip ? chipImage(chip, "chip chip-small") : t("none")));
    })));
}

/** "usa, mex" or "FOUO//LES" -> ["USA", "MEX"] / ["FOUO", "LES"]. */
function codes(text) {
  return text.split(/[\s,/]+/).filter(Boolean).map((c) => c.toUpperCase());
}

function draftForm(app, site) {
  const out = h("div", {});
  const assessment = h("textarea", { name: "assessment", rows: 3, maxlength: 8000 });
  assessment.value = site.assessment ?? "";
  const classification = h("select", { name: "classification" },
    enumValues("classification").map((c) => h("option", { value: c }, tEnum("classification", c))));
  const caveats = h("input", { name: "caveats", type: "text", value: "FOUO" });
  const rel = h("input", { name: "releasable_to", type: "text", value: "USA, MEX" });
  const form = h("form", {
    class: "form", id: "draft-form",
    onsubmit: async (e) => {
      e.preventDefault();
      const body = {
        kind: "site_report",
        site_id: site.site_id,
        assessment: assessment.value.trim() || null,
        classification: classification.value,
        caveats: codes(caveats.value),
        releasable_to: codes(rel.value),
        lang: lang(),
      };
      try {
        const product = await api("/api/products", { method: "POST", body });
        app.flash(message("ok", t("draft.saved", { id: product.product_id })));
        await app.reloadProducts();
      } catch (err) {
        out.replaceChildren(message("error", t("error", { detail: err.message })));
      }
    },
  },
  h("label", {}, t("draft.assessment"), assessment),
  h("div", { class: "row" },
    h("label", {}, t("draft.classification"), classification),
    h("label", {}, t("draft.caveats"), caveats),
    h("label", {}, t("draft.releasable_to"), rel)),
  h("button", { type: "submit" }, t("draft.submit")));
  return h("div", {}, form, out);
}

function staffFields(site) {
  const sorties = site.sorties ?? [];
  return fieldTable([
    [t("site.location"), fmtLatLon(site.lat, site.lon), "location"],
    [t("site.ce90"), t("site.m", { v: fmtNum(site.ce90_m) }), "ce90_m"],
    site.h_m !== undefined ? [t("site.height"), t("site.m", { v: fmtNum(site.h_m) }), "h_m"] : null,
    [t("site.probability"), fmtPct(site.probability), "probability"],
    [t("site.status"), tEnum("status", site.status), "status"],
    [t("site.new"), site.new_since_previous_pass ? t("yes") : t("no"), "new_since_previous_pass"],
    [t("site.previous_pass"), fmtTime(site.previous_pass_time), "previous_pass_time"],
    [t("site.first_seen"), fmtTime(site.first_seen), "first_seen"],
    [t("site.last_seen"), fmtTime(site.last_seen), "last_seen"],
    [t("site.observations"), fmtNum(site.n_observations), "n_observations"],
    [t("site.passes"), `${fmtNum(site.n_passes)} (${fmtNum(site.night_passes)} / ${fmtNum(site.empty_passes)})`, "n_passes"],
    [t("site.sorties"), sorties.length ? sorties.join(", ") : fmtNum(site.n_sorties), "sorties"],
    [t("site.aoi"), site.aoi ?? t("none"), "aoi"],
    [t("site.partner_status"), tEnum("partner_status", site.partner_status), "partner_status"],
    [t("site.indicators"), (site.indicators ?? []).map(indicatorLabel).join(", ") || t("none"), "indicators"],
    [t("site.assessment"), site.assessment ?? t("none"), "assessment"],
    [t("site.vocabulary"), site.vocabulary ?? t("none"), "vocabulary"],
  ], { dataset: { testid: "site-fields" } });
}

function partnerFields(site) {
  return fieldTable([
    [t("site.location"), fmtLatLon(site.lat, site.lon), "location"],
    [t("site.ce90"), t("site.m", { v: fmtNum(site.ce90_m) }), "ce90_m"],
    [t("site.status"), tEnum("status", site.status), "status"],
    [t("site.partner_status"), tEnum("partner_status", site.partner_status ?? "released"), "partner_status"],
    [t("site.first_seen"), fmtTime(site.first_seen), "first_seen"],
    [t("site.last_seen"), fmtTime(site.last_seen), "last_seen"],
    [t("site.indicators"), (site.indicators ?? []).map(indicatorLabel).join(", ") || t("none"), "indicators"],
    [t("site.assessment"), site.assessment ?? t("none"), "assessment"],
  ], { dataset: { testid: "site-fields" } });
}

function chipsGallery(chips) {
  if (!chips?.length) return null;
  return h("div", {},
    h("h3", {}, t("site.chips")),
    h("div", { class: "chips", dataset: { testid: "chips" } }, chips.map((c) => chipImage(c))));
}

/** Render the detail of `siteId` into a section (filled once the data arrives). */
export function renderSite(app, siteId) {
  const body = h("div", {}, h("p", { class: "muted" }, t("loading")));
  const section = h("section", { class: "view", dataset: { testid: "site-view", siteId } },
    h("button", { type: "button", class: "link", onclick: () => app.show("sites") }, t("back")),
    h("h2", {}, t("site.title", { id: siteId })),
    body);
  fill(app, siteId, body)
    .then(() => { section.dataset.loaded = "true"; })
    .catch((err) => body.replaceChildren(message("error", t("error", { detail: err.message }))));
  return section;
}

async function fill(app, siteId, body) {
  const id = encodeURIComponent(siteId);
  const site = await api(`/api/sites/${id}?lang=${lang()}`);
  const actions = await api(`/api/sites/${id}/actions`);
  const products = app.products.filter((p) => siteIdsOf(p).includes(siteId)
    || (site.product_ids ?? []).includes(p.product_id));
  const parts = [];
  if (app.isPartner) {
    parts.push(partnerFields(site), chipsGallery(site.chips));
    if (products.length) parts.push(h("h3", {}, t("site.products")), productLinks(products));
    parts.push(h("h3", {}, t("site.actions")), actionsTable(actions));
    const ackOut = h("div", {});
    if (!site.partner_status) parts.push(h("div", { class: "toolbar" },
      h("button", {
        type: "button", id: "ack-button",
        onclick: async () => {
          try {
            await api(`/api/sites/${id}/ack`, { method: "POST" });
            app.flash(message("ok", t("ack.done")));
            await app.afterAction(siteId);
          } catch (err) {
            ackOut.replaceChildren(message("error", t("error", { detail: err.message })));
          }
        },
      }, t("ack.button"))), ackOut);
    parts.push(h("h3", {}, t("action.title")), actionForm(app, site));
  } else {
    const evidence = await api(`/api/sites/${id}/evidence`);
    const chips = evidence.map(evidenceChip).filter(Boolean);
    parts.push(staffFields(site), chipsGallery(site.chips?.length ? site.chips : chips.slice(0, 6)));
    parts.push(h("h3", {}, t("site.explanation")), explanationTable(site));
    parts.push(h("h3", {}, t("site.evidence")), evidenceTable(evidence));
    if (products.length) parts.push(h("h3", {}, t("site.products")), productLinks(products));
    parts.push(h("h3", {}, t("site.actions")), actionsTable(actions));
    if (app.user.role === "analyst" || app.user.role === "supervisor") {
      parts.push(h("h3", {}, t("draft.title")), draftForm(app, site));
    }
  }
  body.replaceChildren(...parts.filter(Boolean));
}
