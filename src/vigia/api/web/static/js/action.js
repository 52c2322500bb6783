// Partner feedback: the form that records an action (kind, date, place, seizures) and the table
// of actions already recorded on a site.

import { api } from "./api.js";
import { fmtDate, fmtNum, h, message } from "./dom.js";
import { t, tEnum } from "./i18n.js";

export const ACTION_KINDS = ["inspection", "operation", "lab_dismantled", "nothing_found"];
/** Kinds that can come with seizures. */
const SEIZING = new Set(["inspection", "operation", "lab_dismantled"]);
/** Units the API accepts for each substance (pills by count; powders by mass; precursors both). */
export const UNITS = {
  fentanyl_pills: ["count"],
  fentanyl_powder: ["kg", "g", "lb"],
  methamphetamine: ["kg", "g", "lb"],
  precursor_chemical: ["kg", "g", "lb", "L", "gal"],
};

function seizureRow(onRemove) {
  const unit = h("select", { name: "unit", "aria-label": t("col.unit") });
  const fillUnits = (substance) => unit.replaceChildren(
    ...UNITS[substance].map((u) => h("option", { value: u }, tEnum("unit", u))));
  const substance = h("select", {
    name: "substance", "aria-label": t("col.substance"),
    onchange: (e) => fillUnits(e.target.value),
  }, Object.keys(UNITS).map((s) => h("option", { value: s }, tEnum("substance", s))));
  fillUnits(substance.value);
  const amount = h("input", {
    name: "amount", type: "number", min: "0", step: "any", required: true, "aria-label": t("col.amount"),
  });
  const row = h("div", { class: "seizure row" },
    substance, amount, unit,
    h("button", { type: "button", class: "link", onclick: () => onRemove(row) }, t("action.remove")));
  return row;
}

/** The action form of a released site; on success the app refreshes the site and metrics. */
export function actionForm(app, site) {
  const out = h("div", {});
  const kind = h("select", { name: "kind" },
    ACTION_KINDS.map((k) => h("option", { value: k }, tEnum("action", k))));
  // The UTC calendar date: the API refuses dates in the future.
  const date = h("input", { name: "date", type: "date", required: true, value: new Date().toISOString().slice(0, 10) });
  const lat = h("input", { name: "lat", type: "number", step: "any", min: "-90", max: "90", value: site.lat });
  const lon = h("input", { name: "lon", type: "number", step: "any", min: "-180", max: "180", value: site.lon });
  const notes = h("textarea", { name: "notes", rows: 2, maxlength: 10000 });
  const seizures = h("div", { class: "seizures" });
  const noSeizures = h("p", { class: "muted", hidden: true }, t("action.no_seizures"));
  const addButton = h("button", {
    type: "button", class: "link", id: "add-seizure",
    onclick: () => seizures.append(seizureRow((row) => row.remove())),
  }, t("action.add_seizure"));
  const syncKind = () => {
    const can = SEIZING.has(kind.value);
    seizures.hidden = !can;
    addButton.hidden = !can;
    noSeizures.hidden = can;
  };
  kind.addEventListener("change", syncKind);

  const form = h("form", {
    class: "form", id: "action-form",
    onsubmit: async (e) => {
      e.preventDefault();
      const rows = SEIZING.has(kind.value) ? [...seizures.querySelectorAll(".seizure")] : [];
      const body = {
        kind: kind.value,
        date: date.value,
        lat: lat.value === "" ? null : Number(lat.value),
        lon: lon.value === "" ? null : Number(lon.value),
        notes: notes.value.trim() || null,
        seizures: rows.map((r) => ({
          substance: r.querySelector("[name=substance]").value,
          amount: Number(r.querySelector("[name=amount]").value),
          unit: r.querySelector("[name=unit]").value,
        })),
      };
      try {
        await api(`/api/sites/${encodeURIComponent(site.site_id)}/actions`, { method: "POST", body });
        app.flash(message("ok", t("action.recorded")));
        await app.afterAction(site.site_id);
      } catch (err) {
        out.replaceChildren(message("error", t("error", { detail: err.message })));
      }
    },
  },
  h("div", { class: "row" },
    h("label", {}, t("action.kind"), kind),
    h("label", {}, t("action.date"), date)),
  h("div", { class: "row" },
    h("label", {}, t("action.lat"), lat),
    h("label", {}, t("action.lon"), lon)),
  h("label", {}, t("action.notes"), notes),
  h("fieldset", {}, h("legend", {}, t("action.seizures")), seizures, addButton, noSeizures),
  h("button", { type: "submit" }, t("action.submit")));
  return h("div", {}, form, out);
}

function seizureText(s) {
  const unit = s.original_unit ?? s.unit;
  const amount = s.original_amount ?? s.amount;
  return `${tEnum("substance", s.substance)}: ${fmtNum(amount, unit === "count" ? 0 : 2)} ${tEnum("unit", unit)}`;
}

/** Actions on a site, oldest first. */
export function actionsTable(actions) {
  if (!actions?.length) return h("p", { class: "muted" }, t("site.actions.none"));
  return h("table", { class: "list", dataset: { testid: "actions" } },
    h("thead", {}, h("tr", {}, ["col.date", "col.kind", "col.agency", "col.seizures"]
      .map((k) => h("th", {}, t(k))))),
    h("tbody", {}, actions.map((a) => h("tr", { dataset: { actionKind: a.kind } },
      h("td", { class: "nowrap" }, fmtDate(a.occurred_at)),
      h("td", {}, tEnum("action", a.kind)),
      h("td", {}, a.agency ?? t("none")),
      h("td", {},
        (a.seizures ?? []).map(seizureText).join("; ") || t("none"),
        a.notes ? h("div", { class: "muted" }, a.notes) : null)))));
}
