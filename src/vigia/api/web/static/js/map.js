// The map: Leaflet (vendored, global L) over an offline basemap of Natural Earth boundaries,
// with layers of consented areas, coverage cells, sites and their CE90 circles.

import { objectUrl } from "./api.js";
import { fmtLatLon, fmtNum, fmtPct, fmtTime, h } from "./dom.js";
import { indicatorLabel, t, tEnum } from "./i18n.js";

const L = window.L;
const MEXICO = [[14.5, -118.4], [32.7, -86.7]];

export const STATUS_COLORS = { new: "#d7301f", active: "#f08c2e", dormant: "#8c8c8c" };
export const PARTNER_COLORS = {
  released: "#d7301f",
  acknowledged: "#f08c2e",
  inspected: "#2b6cb0",
  operation: "#6b46c1",
  dismantled: "#2f855a",
  nothing_found: "#8c8c8c",
};

/** URL of a chip given as a URL string or an object {url} / {obs_id}. */
export function chipUrl(chip) {
  if (typeof chip === "string") return chip;
  return chip?.url ?? (chip?.obs_id ? `/api/chips/${encodeURIComponent(chip.obs_id)}` : null);
}

/** An <img> filled asynchronously from an authenticated chip URL. */
export function chipImage(chip, cls = "chip") {
  const url = chipUrl(chip);
  const img = h("img", { class: cls, alt: t("col.chip"), loading: "lazy" });
  if (url) {
    objectUrl(url).then((u) => { img.src = u; }).catch(() => img.classList.add("chip-missing"));
  }
  return img;
}

export class SiteMap {
  /** `onSelect(siteId)` is called when the user asks for a site's details. */
  constructor(el, { onSelect }) {
    this.onSelect = onSelect;
    this.map = L.map(el, { preferCanvas: true, zoomSnap: 0.5, worldCopyJump: false });
    // One pane (and canvas) per layer, stacked: basemap < coverage < AOIs < CE90 < sites.
    for (const [pane, z] of [["basemap", 250], ["coverage", 410], ["aois", 420], ["ce90", 430], ["sites", 440]]) {
      this.map.createPane(pane).style.zIndex = String(z);
    }
    this.map.fitBounds(MEXICO);
    L.control.scale({ imperial: false }).addTo(this.map);
    this.layers = {
      basemap: L.layerGroup().addTo(this.map),
      aois: L.layerGroup().addTo(this.map),
      coverage: L.layerGroup(),
      ce90: L.layerGroup().addTo(this.map),
      sites: L.layerGroup().addTo(this.map),
    };
    this.markers = new Map();
    this.partner = false;
    this.sites = [];
    this.control = null;
    this.legend = null;
  }

  /** Load the basemap GeoJSON served with the UI (no network beyond this server). */
  async loadBasemap() {
    const res = await fetch("/static/basemap/basemap.geojson");
    const fc = await res.json();
    const layer = L.geoJSON(fc, {
      interactive: false,
      pane: "basemap",
      attribution: "Natural Earth",
      style: (f) => (f.properties.kind === "state"
        ? { color: "#a79f8a", weight: 0.8, fillColor: f.properties.code.startsWith("MX.") ? "#f6f2e6" : "#ece8dc", fillOpacity: 1 }
        : { color: "#8f8a7c", weight: 1, fillColor: "#e4e0d4", fillOpacity: 1 }),
    });
    this.layers.basemap.clearLayers().addLayer(layer);
  }

  setAois(fc) {
    this.layers.aois.clearLayers();
    if (!fc?.features?.length) return;
    this.layers.aois.addLayer(L.geoJSON(fc, {
      pane: "aois",
      interactive: false,
      style: (f) => (["consented", undefined].includes(f.properties?.state)
        ? { color: "#2f855a", weight: 2, dashArray: "6 4", fillColor: "#68d391", fillOpacity: 0.08 }
        : { color: "#a0aec0", weight: 1, dashArray: "2 4", fill: false }),
    }));
  }

  setCoverage(fc) {
    this.layers.coverage.clearLayers();
    if (!fc?.features?.length) return;
    const count = (f) => Number(f.properties?.passes ?? f.properties?.n_passes ?? f.properties?.count ?? 1);
    const max = Math.max(1, ...fc.features.map(count));
    this.layers.coverage.addLayer(L.geoJSON(fc, {
      interactive: false,
      pane: "coverage",
      style: (f) => ({
        stroke: false, fillColor: "#3182bd", fillOpacity: 0.12 + (0.4 * Math.min(count(f), max)) / max,
      }),
    }));
    if (!this.map.hasLayer(this.layers.coverage)) this.layers.coverage.addTo(this.map);
  }

  /** Show sites; `partner` colours them by partner status instead of detection status. */
  setSites(sites, { partner }) {
    this.partner = partner;
    this.sites = sites;
    this.layers.sites.clearLayers();
    this.layers.ce90.clearLayers();
    this.markers.clear();
    for (const site of sites) {
      const color = this.colorOf(site);
      const p = Number(site.probability ?? 0.5);
      const marker = L.circleMarker([site.lat, site.lon], {
        pane: "sites",
        radius: partner ? 8 : 5 + 6 * p, color: "#1a202c", weight: 1, fillColor: color, fillOpacity: 0.9,
      });
      marker.bindPopup(() => this.popup(site), { maxWidth: 320, minWidth: 220 });
      marker.bindTooltip(site.site_id, { direction: "top", offset: [0, -6] });
      this.layers.sites.addLayer(marker);
      this.markers.set(site.site_id, marker);
      if (Number(site.ce90_m) > 0) {
        this.layers.ce90.addLayer(L.circle([site.lat, site.lon], {
          pane: "ce90",
          radius: Number(site.ce90_m), color, weight: 1, fillOpacity: 0.08, interactive: false,
        }));
      }
    }
    this.relabel();
  }

  colorOf(site) {
    return this.partner
      ? PARTNER_COLORS[site.partner_status ?? "released"] ?? "#d7301f"
      : STATUS_COLORS[site.status] ?? "#4a5568";
  }

  popup(site) {
    const indicators = (site.indicators ?? []).map(indicatorLabel);
    const chips = (site.chips ?? []).slice(0, 3);
    return h(
      "div",
      { class: "popup", dataset: { siteId: site.site_id } },
      h("strong", {}, t("site.title", { id: site.site_id })),
      h("dl", {},
        this.partner
          ? [h("dt", {}, t("site.partner_status")), h("dd", {}, tEnum("partner_status", site.partner_status ?? "released"))]
          : [h("dt", {}, t("site.probability")), h("dd", {}, fmtPct(site.probability)),
            h("dt", {}, t("site.status")), h("dd", {}, tEnum("status", site.status))],
        h("dt", {}, t("site.location")), h("dd", {}, fmtLatLon(site.lat, site.lon)),
        h("dt", {}, t("site.ce90")), h("dd", {}, t("site.m", { v: fmtNum(site.ce90_m) })),
        h("dt", {}, t("site.first_seen")), h("dd", {}, fmtTime(site.first_seen)),
        h("dt", {}, t("site.last_seen")), h("dd", {}, fmtTime(site.last_seen)),
        h("dt", {}, t("site.indicators")), h("dd", {}, indicators.join(", ") || t("none")),
      ),
      chips.length ? h("div", { class: "chips" }, chips.map((c) => chipImage(c, "chip chip-small"))) : null,
      h("button", { type: "button", class: "link", onclick: () => this.onSelect(site.site_id) }, t("map.details")),
    );
  }

  /** Centre on a site and open its popup. */
  focus(siteId) {
    const m = this.markers.get(siteId);
    if (!m) return;
    this.map.setView(m.getLatLng(), Math.max(this.map.getZoom(), 10), { animate: false });
    m.openPopup();
  }

  /** Fit the view to the sites (else the consented areas, else Mexico). */
  fit() {
    const pts = this.sites.map((s) => [s.lat, s.lon]);
    if (pts.length === 1) {
      this.map.setView(pts[0], 11, { animate: false });
      return;
    }
    if (pts.length) {
      this.map.fitBounds(L.latLngBounds(pts).pad(0.3), { maxZoom: 13, animate: false });
      return;
    }
    const aoiBounds = this.layers.aois.getLayers()[0]?.getBounds?.();
    this.map.fitBounds(aoiBounds?.isValid() ? aoiBounds : MEXICO, { animate: false });
  }

  /** Rebuild the language-dependent controls (layer switcher, legend). */
  relabel() {
    this.control?.remove();
    const overlays = {
      [t("map.basemap")]: this.layers.basemap,
      [t("map.aois")]: this.layers.aois,
      [t("map.sites")]: this.layers.sites,
      [t("map.ce90")]: this.layers.ce90,
    };
    if (!this.partner) overlays[t("map.coverage")] = this.layers.coverage;
    this.control = L.control.layers(null, overlays, { collapsed: true }).addTo(this.map);
    this.legend?.remove();
    const entries = this.partner
      ? Object.entries(PARTNER_COLORS).map(([k, c]) => [tEnum("partner_status", k), c])
      : Object.entries(STATUS_COLORS).map(([k, c]) => [tEnum("status", k), c]);
    const legend = L.control({ position: "bottomright" });
    legend.onAdd = () => h("div", { class: "legend" },
      h("strong", {}, t("map.legend")),
      entries.map(([label, c]) => h("div", {}, h("span", { class: "swatch", style: { background: c } }), label)));
    this.legend = legend.addTo(this.map);
  }

  invalidate() {
    this.map.invalidateSize();
  }
}
