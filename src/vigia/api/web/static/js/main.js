// The Vigía web UI: sign-in, then a map and a side panel with the views of the user's role.
// Analysts and supervisors: ranked sites, site detail with evidence and explanation, products
// (drafting; release by a supervisor who is not the author), metrics. Partner users: the sites
// released to their agency (tearline only), acknowledgement and actions, products, metrics.

import { api, onUnauthorized, releaseObjectUrls, setToken, token } from "./api.js";
import { h, message, replace } from "./dom.js";
import { LANGS, lang, learnIndicators, onLangChange, setLang, t, tEnum, translateStatic } from "./i18n.js";
import { SiteMap } from "./map.js";
import { renderMetrics } from "./metrics.js";
import { renderProducts } from "./products.js";
import { renderSite } from "./site.js";
import { renderSites } from "./sites.js";

const LANG_KEY = "vigia.lang";
const $ = (id) => document.getElementById(id);

const app = {
  user: null,
  isPartner: false,
  sites: [],
  products: [],
  metrics: null,
  agencies: [],
  view: "sites",
  siteId: null,
  map: null,
  pending: null,

  /** Switch the panel to a view: "sites", "products", "metrics" or "site". */
  show(view) {
    this.view = view;
    this.pending = null;
    this.render();
  },

  openSite(siteId) {
    this.siteId = siteId;
    this.show("site");
    this.map?.focus(siteId);
  },

  /** Show `el` (a message) at the top of the panel until the user moves to another view. */
  flash(el) {
    this.pending = el;
  },

  render() {
    if (!this.user) return;
    for (const b of document.querySelectorAll("#tabs button")) {
      b.classList.toggle("active", b.dataset.view === this.view || (this.view === "site" && b.dataset.view === "sites"));
    }
    const views = {
      sites: () => renderSites(this),
      site: () => renderSite(this, this.siteId),
      products: () => renderProducts(this),
      metrics: () => renderMetrics(this),
    };
    replace($("panel-body"), this.pending, (views[this.view] ?? views.sites)());
  },

  /** Sites (indicator labels in the UI's language). */
  async reloadSites() {
    this.sites = await api(`/api/sites?lang=${lang()}`);
    learnIndicators(this.sites);
    this.map.setSites(this.sites, { partner: this.isPartner });
  },

  async reloadProducts() {
    this.products = await api("/api/products");
    this.render();
  },

  async reloadMetrics() {
    this.metrics = await api("/api/metrics");
  },

  /** After an acknowledgement or an action: the site's status and the metrics change. */
  async afterAction(siteId) {
    await Promise.all([this.reloadSites(), this.reloadMetrics()]);
    this.siteId = siteId;
    this.view = "site";
    this.render();
  },
};

function showLogin(note) {
  app.user = null;
  app.view = "sites";
  app.siteId = null;
  app.sites = [];
  app.products = [];
  app.metrics = null;
  app.map?.setSites([], { partner: false });
  app.map?.setCoverage(null);
  replace($("panel-body"));
  $("app-view").hidden = true;
  $("user-bar").hidden = true;
  $("login-view").hidden = false;
  replace($("login-message"), note ? message("error", note) : null);
  $("username").focus();
}

async function start(user) {
  app.user = user;
  app.isPartner = String(user.role).startsWith("partner");
  document.body.dataset.role = user.role;
  const chosen = sessionStorage.getItem(LANG_KEY);
  setLang(chosen ?? user.language ?? (app.isPartner ? "es" : "en"));
  $("login-view").hidden = true;
  $("app-view").hidden = false;
  $("user-bar").hidden = false;
  renderUser();
  if (!app.map) {
    app.map = new SiteMap($("map"), { onSelect: (id) => app.openSite(id) });
    await app.map.loadBasemap();
  }
  app.map.invalidate();
  app.view = "sites";
  replace($("panel-body"), h("p", { class: "muted" }, t("loading")));
  try {
    const [products, aois, metrics] = await Promise.all([
      api("/api/products"), api("/api/aois"), api("/api/metrics"), app.reloadSites(),
    ]);
    app.products = products;
    app.metrics = metrics;
    app.map.setAois(aois);
    if (!app.isPartner) {
      app.map.setCoverage(await api("/api/coverage"));
      app.agencies = await api("/api/agencies")
        .then((list) => list.map((a) => (typeof a === "string" ? a : a.code)))
        .catch(() => []);
    } else {
      app.map.setCoverage(null);
    }
    app.map.fit();
    app.render();
    document.body.dataset.ready = "true";
  } catch (err) {
    replace($("panel-body"), message("error", t("error", { detail: err.message })));
  }
}

function renderUser() {
  const u = app.user;
  if (!u) return;
  $("user-name").textContent = t("user.as", {
    name: u.display_name ?? u.username, role: tEnum("role", u.role), agency: u.agency ?? "",
  });
}

async function onLogin(e) {
  e.preventDefault();
  const body = { username: $("username").value.trim(), password: $("password").value };
  try {
    const res = await api("/api/auth/login", { method: "POST", body });
    setToken(res.token);
    $("password").value = "";
    sessionStorage.removeItem(LANG_KEY);
    await start(res.user);
  } catch (err) {
    replace($("login-message"), message("error", t("login.failed", { detail: err.message })));
  }
}

async function onLogout() {
  try {
    await api("/api/auth/logout", { method: "POST" });
  } catch {
    // The session is dropped here whatever the server says.
  }
  setToken(null);
  releaseObjectUrls();
  delete document.body.dataset.ready;
  delete document.body.dataset.role;
  showLogin();
}

function initLanguage() {
  const select = $("lang");
  select.replaceChildren(...LANGS.map((l) => h("option", { value: l }, l.toUpperCase())));
  select.addEventListener("change", () => {
    sessionStorage.setItem(LANG_KEY, select.value);
    setLang(select.value);
  });
  onLangChange(async (l) => {
    select.value = l;
    translateStatic();
    renderUser();
    app.map?.relabel();
    if (!app.user || !document.body.dataset.ready) return; // start() renders once loaded
    delete document.body.dataset.ready;
    await app.reloadSites().catch(() => {});
    document.body.dataset.ready = "true";
    app.render();
  });
  const initial = sessionStorage.getItem(LANG_KEY) ?? (navigator.language?.startsWith("es") ? "es" : "en");
  setLang(initial);
  select.value = lang();
  translateStatic();
}

function init() {
  initLanguage();
  $("login-form").addEventListener("submit", onLogin);
  $("logout").addEventListener("click", onLogout);
  for (const b of document.querySelectorAll("#tabs button")) {
    b.addEventListener("click", () => app.show(b.dataset.view));
  }
  onUnauthorized(() => {
    setToken(null);
    showLogin(t("session.expired"));
  });
  if (token()) {
    api("/api/me").then(start).catch(() => showLogin());
  } else {
    showLogin();
  }
}

init();
