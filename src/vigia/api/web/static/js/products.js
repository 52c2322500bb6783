// Products: the list, their renderings, the two-person release (a supervisor who is not the
// author approves or rejects a draft) and its withdrawal (a supervisor, with the reason).

import { api, objectUrl } from "./api.js";
import { fmtTime, h, message } from "./dom.js";
import { lang, t, tEnum } from "./i18n.js";

const FORMATS = ["html", "pdf", "json", "geojson", "kml", "cot"];

/** The marking line of a product, e.g. "UNCLASSIFIED//FOUO//REL TO USA, MEX". */
export function markingOf(p) {
  const m = p.marking;
  if (typeof m === "string") return m;
  if (m && typeof m === "object" && (m.banner || m.banner_es)) {
    return (lang() === "es" ? m.banner_es : m.banner) ?? m.banner ?? "";
  }
  const caveats = Array.isArray(p.caveats) ? p.caveats : String(p.caveats ?? "").split("//");
  const parts = [tEnum("classification", p.classification), ...caveats.filter(Boolean)];
  if (p.releasable_to?.length) {
    parts.push(`${lang() === "es" ? "REL A" : "REL TO"} ${p.releasable_to.join(", ")}`);
  }
  return parts.join("//");
}

/** Site ids a product is about (staff view: site_id; partner view: its tearline's sites). */
export function siteIdsOf(p) {
  const ids = (p.sites ?? []).map((s) => s.site_id);
  return p.site_id ? [p.site_id, ...ids.filter((x) => x !== p.site_id)] : ids;
}

function titleOf(p) {
  if (p.title && typeof p.title === "object") return p.title[lang()] ?? p.title.en ?? "";
  return p.title ?? "";
}

function authorOf(p) {
  return p.author ?? null;
}

function releasedTo(p) {
  const r = p.released_to ?? [];
  return r.map((x) => (typeof x === "string" ? x : x.agency ?? x.code)).filter(Boolean);
}

/** Open a rendering of a product (authenticated fetch, then an object URL in a new tab). */
async function openRendering(p, format, out) {
  try {
    const path = `/api/products/${encodeURIComponent(p.product_id)}/render?format=${format}&lang=${lang()}`;
    const url = await objectUrl(path);
    const a = h("a", { href: url, target: "_blank", rel: "noopener", download: `${p.product_id}.${format}` });
    document.body.append(a);
    a.click();
    a.remove();
  } catch (err) {
    out.replaceChildren(message("error", t("error", { detail: err.message })));
  }
}

/** Buttons opening each rendering of a product; errors go to `out`. */
function formatButtons(p, out) {
  return h("span", { class: "formats" }, FORMATS.map((f) => h("button", {
    type: "button", class: "link", onclick: () => openRendering(p, f, out),
  }, f.toUpperCase())));
}

/** A list of products with their marking and renderings (site detail). */
export function productLinks(products) {
  const out = h("div", {});
  return h("div", {},
    h("ul", { class: "products" }, products.map((p) => h("li", { dataset: { productId: p.product_id } },
      h("strong", {}, p.product_id), " ", tEnum("product_kind", p.kind), " · ",
      h("span", { class: "marking" }, markingOf(p)), " ", formatButtons(p, out)))),
    out);
}

function reviewControls(app, p) {
  const out = h("div", {});
  if (authorOf(p) === app.user.username) return h("p", { class: "muted" }, t("products.own"));
  // No agency is chosen for the supervisor: they name each one, and confirm them.
  const agencies = h("input", { name: "agencies", type: "text", value: "", placeholder: app.agencies.join(", "), "aria-label": t("products.agencies") });
  const reason = h("input", { name: "reason", type: "text", "aria-label": t("products.reason"), placeholder: t("products.reason") });
  const act = async (what) => {
    try {
      if (what === "approve") {
        const list = agencies.value.split(/[\s,]+/).filter(Boolean).map((x) => x.toUpperCase());
        if (!list.length) {
          out.replaceChildren(message("error", t("products.name_agencies")));
          return;
        }
        if (!window.confirm(t("products.confirm_release", { id: p.product_id, agencies: list.join(", ") }))) return;
        await api(`/api/products/${encodeURIComponent(p.product_id)}/approve`, { method: "POST", body: { agencies: list } });
        app.flash(message("ok", t("products.approved", { id: p.product_id, agencies: list.join(", ") })));
      } else {
        await api(`/api/products/${encodeURIComponent(p.product_id)}/reject`, { method: "POST", body: { reason: reason.value.trim() } });
        app.flash(message("ok", t("products.rejected", { id: p.product_id })));
      }
      await app.reloadProducts();
    } catch (err) {
      out.replaceChildren(message("error", t("error", { detail: err.message })));
    }
  };
  return h("div", { class: "review" },
    h("label", {}, t("products.agencies"), agencies),
    h("button", { type: "button", class: "approve", onclick: () => act("approve") }, t("products.approve")),
    reason,
    h("button", { type: "button", class: "reject", onclick: () => act("reject") }, t("products.reject")),
    out);
}

function withdrawControls(app, p) {
  const out = h("div", {});
  // Withdrawing only ever takes information back: any supervisor may, with the reason.
  const agencies = h("input", { name: "withdraw-agencies", type: "text", value: "", placeholder: releasedTo(p).join(", "), "aria-label": t("products.withdraw_agencies") });
  const reason = h("input", { name: "withdraw-reason", type: "text", "aria-label": t("products.withdraw_reason"), placeholder: t("products.withdraw_reason") });
  const act = async () => {
    const why = reason.value.trim();
    if (!why) {
      out.replaceChildren(message("error", t("products.give_reason")));
      return;
    }
    const named = agencies.value.split(/[\s,]+/).filter(Boolean).map((x) => x.toUpperCase());
    const list = named.length ? named : releasedTo(p);
    if (!window.confirm(t("products.confirm_withdraw", { id: p.product_id, agencies: list.join(", ") }))) return;
    try {
      const body = named.length ? { reason: why, agencies: named } : { reason: why };
      await api(`/api/products/${encodeURIComponent(p.product_id)}/withdraw`, { method: "POST", body });
      app.flash(message("ok", t("products.withdrawn_msg", { id: p.product_id, agencies: list.join(", ") })));
      await app.reloadProducts();
    } catch (err) {
      out.replaceChildren(message("error", t("error", { detail: err.message })));
    }
  };
  return h("div", { class: "withdraw" },
    h("label", {}, t("products.withdraw_agencies"), agencies),
    reason,
    h("button", { type: "button", class: "withdraw", onclick: act }, t("products.withdraw")),
    out);
}

/** "Withdrawn from SEMAR (2026-11-05 09:30, sofia): reason" lines of a staff view. */
function withdrawals(p) {
  return (p.withdrawn_from ?? []).map((w) => h("div", { class: "muted withdrawn" },
    `${t("products.withdrawn_from", { agency: w.agency })} (${fmtTime(w.at)}${w.by ? `, ${w.by}` : ""}): ${w.reason ?? ""}`));
}

export function renderProducts(app) {
  const products = [...app.products].sort((a, b) =>
    String(b.created_at ?? b.created ?? "").localeCompare(String(a.created_at ?? a.created ?? "")));
  const supervisor = app.user.role === "supervisor";
  const out = h("div", {});
  const cards = products.map((p) => {
    const facts = [
      authorOf(p) ? `${t("col.author")}: ${authorOf(p)}` : null,
      `${t("col.created")}: ${fmtTime(p.created_at ?? p.created)}`,
      p.approved_at ?? p.released ? `${t("col.released")}: ${fmtTime(p.approved_at ?? p.released)}` : null,
      releasedTo(p).length ? `${t("col.released_to")}: ${releasedTo(p).join(", ")}` : null,
    ].filter(Boolean);
    return h("article", { class: `product state-${p.state}`, dataset: { productId: p.product_id, state: p.state } },
      h("div", { class: "marking" }, markingOf(p)),
      h("div", {},
        h("strong", {}, p.product_id), " · ", tEnum("product_kind", p.kind), " · ",
        h("span", { class: "state" }, tEnum("product_state", p.state)),
        " · ", siteIdsOf(p).map((id) => h("button", {
          type: "button", class: "link", onclick: () => app.openSite(id),
        }, id))),
      titleOf(p) ? h("div", {}, titleOf(p)) : null,
      h("div", { class: "muted" }, facts.join(" · ")),
      p.rejection_reason ? h("div", { class: "muted" }, `${t("products.reason")}: ${p.rejection_reason}`) : null,
      p.state === "withdrawn"
        ? h("div", { class: "muted withdrawn" }, `${t("products.withdrawn_on", { when: fmtTime(p.withdrawn) })}: ${p.withdrawal_reason ?? ""}`)
        : h("div", {}, formatButtons(p, out)),
      ...withdrawals(p),
      supervisor && p.state === "draft" ? reviewControls(app, p) : null,
      supervisor && p.state === "released" && releasedTo(p).length ? withdrawControls(app, p) : null);
  });
  return h("section", { class: "view", dataset: { testid: "products-view" } },
    h("h2", {}, t("products.title")),
    out,
    cards.length ? h("div", { id: "products-list" }, cards) : h("p", { class: "muted" }, t("products.empty")));
}
