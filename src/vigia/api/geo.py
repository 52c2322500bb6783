"""GeoJSON of the data directory for the map: coverage cells and consented AOIs.

Both are read from files of the data directory and kept, serialised, until the file changes.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import h3
import numpy as np
import pyarrow.parquet as pq

from vigia.store.catalog import Catalog
from vigia.times import iso_time

__all__ = ["FileCache", "aois_geojson", "coverage_geojson"]

#: Most coverage cells sent in one response.
MAX_CELLS = 200_000
_EMPTY = b'{"type":"FeatureCollection","features":[]}'


def coverage_geojson(path: Path, max_cells: int = MAX_CELLS) -> bytes:
    """``coverage.parquet`` (one row per H3 cell) as a GeoJSON FeatureCollection of hexagons.

    Properties: cell (hex id), passes, frames, first/last seen (UTC), best GSD (m), and whether
    the cell was seen by EO/IR, by day/night.
    """
    if not path.exists():
        return _EMPTY
    t = pq.read_table(path)
    if t.num_rows > max_cells:
        t = t.slice(0, max_cells)
    cols = {c: t.column(c).to_pylist() for c in t.column_names if c != "cell"}
    cells = t.column("cell").to_numpy(zero_copy_only=False).astype(np.uint64)
    feats: list[dict[str, Any]] = []
    for i, c in enumerate(cells.tolist()):
        cell = h3.int_to_str(int(c))
        ring = [[round(lon, 7), round(lat, 7)] for lat, lon in h3.cell_to_boundary(cell)]
        ring.append(ring[0])
        props: dict[str, Any] = {"cell": cell}
        for k in (
            "passes",
            "n_frames",
            "best_gsd_m",
            "seen_eo",
            "seen_ir",
            "seen_day",
            "seen_night",
        ):
            if k in cols:
                v = cols[k][i]
                props[k] = None if isinstance(v, float) and not np.isfinite(v) else v
        for k in ("first_seen", "last_seen"):
            if k in cols:
                v = cols[k][i]
                props[k] = None if v is None else iso_time(v)
        feats.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": props,
            }
        )
    return json.dumps(
        {"type": "FeatureCollection", "features": feats}, separators=(",", ":")
    ).encode("utf-8")


def aois_geojson(path: Path) -> bytes:
    """The consented AOIs the data was ingested under (``aois.geojson``), or an empty
    collection."""
    if not path.exists():
        return _EMPTY
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        return _EMPTY
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class FileCache:
    """The coverage and AOI GeoJSON of a data directory, rebuilt when their file changes."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._cache: dict[str, tuple[int, bytes]] = {}
        self._lock = threading.Lock()

    def _get(self, name: str, path: Path, build: Any) -> bytes:
        try:
            key = os.stat(path).st_mtime_ns
        except OSError:
            key = 0
        hit = self._cache.get(name)
        if hit is not None and hit[0] == key:
            return hit[1]
        with self._lock:
            hit = self._cache.get(name)
            if hit is not None and hit[0] == key:
                return hit[1]
            data: bytes = build(path)
            self._cache[name] = (key, data)
            return data

    def coverage(self) -> bytes:
        """Coverage cells as GeoJSON."""
        return self._get("coverage", self.catalog.path("coverage"), coverage_geojson)

    def aois(self) -> bytes:
        """Consented AOIs as GeoJSON."""
        return self._get("aois", self.catalog.aois_path, aois_geojson)
