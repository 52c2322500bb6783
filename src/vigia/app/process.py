"""The process stage, end to end: telemetry → footprints, streamed to GeoParquet or GeoJSON.

Shared by the CLI and the demo. Everything streams chunk by chunk as Arrow tables, so a
24-hour sortie never has to be in memory at once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import shapely

from vigia.footprints import (
    FOOTPRINT_SCHEMA,
    GeoAccuracy,
    TerrainOptions,
    compute_footprints,
    footprints_table,
)
from vigia.geo import Dem
from vigia.telemetry.source import TelemetryReader
from vigia.telemetry.table import geo_metadata

__all__ = ["iter_footprints", "write_footprints"]


def iter_footprints(
    reader: TelemetryReader, opts: TerrainOptions, accuracy: GeoAccuracy | None = None
) -> Iterator[pa.Table]:
    """Footprint tables for every telemetry chunk of ``reader``."""
    dem = Dem(opts.dem_path) if opts.dem_path else None
    try:
        for telemetry in reader:
            res = compute_footprints(telemetry, dem, opts)
            if accuracy is not None:
                accuracy.update(telemetry, res)
            yield footprints_table(telemetry, res)
    finally:
        if dem is not None:
            dem.close()


def write_footprints(tables: Iterable[pa.Table], path: Path) -> int:
    """Write footprints to GeoParquet (``.parquet``) or GeoJSON (``.geojson``); return rows."""
    if path.suffix.lower() in (".geojson", ".json"):
        return _write_geojson(tables, path)
    meta = {b"geo": geo_metadata("footprint", ("Polygon",))}
    rows = 0
    with pq.ParquetWriter(path, FOOTPRINT_SCHEMA.with_metadata(meta), compression="zstd") as w:
        for t in tables:
            w.write_table(t)
            rows += t.num_rows
    return rows


def _write_geojson(tables: Iterable[pa.Table], path: Path) -> int:
    """GeoJSON FeatureCollection of the valid footprints (streamed, one feature per frame)."""
    rows = 0
    with path.open("w", encoding="utf-8") as fh:
        fh.write('{"type": "FeatureCollection", "features": [\n')
        first = True
        for t in tables:
            valid = t.filter(pc.fill_null(t["valid"], False))
            geoms = shapely.from_wkb(valid["footprint"].to_numpy(zero_copy_only=False))
            times = pc.strftime(valid["time"], format="%Y-%m-%dT%H:%M:%SZ").to_pylist()
            gsd = valid["gsd_m"].to_pylist()
            slant = valid["slant_range_m"].to_pylist()
            for g, tm, gs, sr in zip(geoms, times, gsd, slant, strict=True):
                feat = {
                    "type": "Feature",
                    "geometry": shapely.geometry.mapping(g),
                    "properties": {"time": tm, "gsd_m": gs, "slant_range_m": sr},
                }
                fh.write(("" if first else ",\n") + json.dumps(feat))
                first = False
            rows += t.num_rows
        fh.write("\n]}\n")
    return rows
