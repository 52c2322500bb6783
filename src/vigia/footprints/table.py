"""The footprints table: one row per telemetry row, its schema, and how it is computed.

This module owns the footprint schema (:data:`FOOTPRINT_FIELDS`); every later stage reads the
column names from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import shapely

from vigia.geo import Dem, compare_with_platform, footprint_polygons, footprints

#: Telemetry columns carried over into the footprints table.
CARRIED = ("source_offset", "pts_90k", "image_source_sensor")

#: Corner latitude and longitude column names, corners 1..4 (degrees, WGS84).
CORNER_LAT = tuple(f"corner{k}_lat" for k in range(1, 5))
CORNER_LON = tuple(f"corner{k}_lon" for k in range(1, 5))

FOOTPRINT_FIELDS = [
    pa.field("time", pa.timestamp("us", tz="UTC")),
    *[pa.field(c, pa.float64()) for c in ("center_lat", "center_lon", "center_h")],
    *[pa.field(f"corner{k}_{ax}", pa.float64()) for k in range(1, 5) for ax in ("lat", "lon")],
    pa.field("slant_range_m", pa.float64()),
    pa.field("gsd_m", pa.float64()),
    pa.field("valid", pa.bool_()),
    pa.field("reason", pa.string()),
    pa.field("source_offset", pa.int64()),
    pa.field("pts_90k", pa.int64()),
    pa.field("image_source_sensor", pa.string()),
    pa.field("footprint", pa.binary()),
]
FOOTPRINT_SCHEMA = pa.schema(FOOTPRINT_FIELDS)


@dataclass(frozen=True)
class TerrainOptions:
    """Which terrain the lines of sight meet: a constant height, a DEM, or the stream's own."""

    terrain_height_m: float | None = None
    dem_path: str | None = None
    use_stream_elevation: bool = False
    frame_width_px: int = 1280
    frame_height_px: int = 720


def compute_footprints(
    telemetry: pa.Table, dem: Dem | None, opts: TerrainOptions
) -> dict[str, np.ndarray]:
    """The sensor model's per-row results (see :func:`vigia.geo.footprints`) for a chunk."""
    return footprints(
        telemetry,
        terrain_height_m=opts.terrain_height_m,
        dem=dem,
        use_stream_elevation=opts.use_stream_elevation,
        frame_width_px=opts.frame_width_px,
        frame_height_px=opts.frame_height_px,
    )


def footprints_table(telemetry: pa.Table, res: dict[str, np.ndarray]) -> pa.Table:
    """One footprint row per telemetry row (schema :data:`FOOTPRINT_SCHEMA`) from ``res``."""
    polys = footprint_polygons(res)
    wkb = shapely.to_wkb(polys)
    arrays: dict[str, Any] = {"time": telemetry["precision_time_stamp"]}
    for f in FOOTPRINT_FIELDS[1:14]:
        arrays[f.name] = pa.array(res[f.name], type=pa.float64(), from_pandas=True)
    arrays["valid"] = pa.array(res["valid"], type=pa.bool_())
    arrays["reason"] = pa.array(res["reason"].astype(str), type=pa.string())
    for c in CARRIED:
        arrays[c] = telemetry[c]
    arrays["footprint"] = pa.array(wkb, type=pa.binary())
    return pa.Table.from_pydict(arrays, schema=FOOTPRINT_SCHEMA)


@dataclass
class GeoAccuracy:
    """Our frame centre and corners against the platform's own, accumulated over chunks."""

    centre_m: list[np.ndarray] = field(default_factory=list)
    corner_m: list[np.ndarray] = field(default_factory=list)

    def update(self, telemetry: pa.Table, res: dict[str, np.ndarray]) -> None:
        """Add one chunk's per-row differences."""
        cmp = compare_with_platform(telemetry, res)
        self.centre_m.append(np.asarray(cmp["center_horizontal_m"], dtype=float))
        self.corner_m.append(np.asarray(cmp["corner_horizontal_m"], dtype=float).reshape(-1))

    def as_dict(self) -> dict[str, Any]:
        """Median and p95 horizontal differences (m) where both sides exist."""

        def stats(parts: list[np.ndarray]) -> dict[str, Any]:
            v = np.concatenate(parts) if parts else np.zeros(0)
            v = v[np.isfinite(v)]
            if v.size == 0:
                return {"n": 0, "median_m": None, "p95_m": None}
            return {
                "n": int(v.size),
                "median_m": float(np.median(v)),
                "p95_m": float(np.percentile(v, 95)),
            }

        return {"frame_center": stats(self.centre_m), "corners": stats(self.corner_m)}
