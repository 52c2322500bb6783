"""Footprint tables as NumPy columns: the input contract of `vigia.coverage`.

A footprints table (pyarrow Table, or a mapping of column name -> array) holds one row per video
frame with ``time`` (Arrow timestamp, or int64 microseconds since the Unix epoch, UTC),
``center_lat``/``center_lon``, ``corner1_lat``/``corner1_lon`` ... ``corner4_lat``/``corner4_lon``
(degrees, WGS84), ``slant_range_m``, ``gsd_m`` (metres), ``valid`` (bool), ``reason`` (str) and
optionally ``image_source_sensor`` (MISB ST 0601 item 11) and ``sortie`` (str); the columns
are those of :data:`vigia.footprints.FOOTPRINT_FIELDS`.

This module turns such a table into plain arrays once and checks each quadrilateral; the sensor
name is classified by :func:`vigia.telemetry.sensors.sensor_kinds`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from vigia.errors import GeoError
from vigia.footprints import CORNER_LAT, CORNER_LON
from vigia.telemetry.sensors import sensor_kinds
from vigia.times import time_us_column

FootprintsLike: TypeAlias = "pa.Table | Mapping[str, Any]"

REQUIRED = ("time", *CORNER_LAT, *CORNER_LON)


def _column(table: FootprintsLike, name: str) -> Any:
    if isinstance(table, pa.Table):
        return table.column(name) if name in table.column_names else None
    return table.get(name)


def float_column(col: Any, n: int) -> npt.NDArray[np.float64]:
    if col is None:
        return np.full(n, np.nan)
    if isinstance(col, pa.ChunkedArray | pa.Array):
        return np.asarray(col.cast(pa.float64()).fill_null(np.nan).to_numpy(), np.float64)
    return np.asarray(col, np.float64)


@dataclass(frozen=True)
class Frames:
    """One chunk of footprints as arrays; ``ok`` marks frames usable as ground geometry."""

    time_us: npt.NDArray[np.int64]
    lon: npt.NDArray[np.float64]  # (n, 4) corner longitudes, degrees
    lat: npt.NDArray[np.float64]  # (n, 4) corner latitudes, degrees
    center_lon: npt.NDArray[np.float64]
    center_lat: npt.NDArray[np.float64]
    gsd_m: npt.NDArray[np.float64]
    sensor: npt.NDArray[np.uint8]
    sortie: npt.NDArray[np.int64]  # codes, local to this chunk
    ok: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return int(self.time_us.shape[0])


def _num_rows(table: FootprintsLike) -> int:
    if isinstance(table, pa.Table):
        return table.num_rows
    return len(np.asarray(table["time"]))


def read_frames(table: FootprintsLike) -> Frames:
    """Read a footprints table into `Frames`; raise GeoError naming a missing column."""
    for name in REQUIRED:
        if _column(table, name) is None:
            raise GeoError(f"footprints table has no column {name!r}")
    n = _num_rows(table)
    time_us, has_time = time_us_column(_column(table, "time"))
    lat = np.stack([float_column(_column(table, c), n) for c in CORNER_LAT], axis=1)
    lon = np.stack([float_column(_column(table, c), n) for c in CORNER_LON], axis=1)
    clat = float_column(_column(table, "center_lat"), n)
    clon = float_column(_column(table, "center_lon"), n)
    gsd = float_column(_column(table, "gsd_m"), n).copy()
    gsd[~(gsd > 0)] = np.nan  # a GSD the sensor model did not give is missing, not zero
    vcol = _column(table, "valid")
    if vcol is None:
        valid = np.ones(n, bool)
    elif isinstance(vcol, pa.ChunkedArray | pa.Array):
        valid = np.asarray(vcol.fill_null(False).to_numpy(zero_copy_only=False), bool)
    else:
        valid = np.asarray(vcol, bool)
    scol = _column(table, "image_source_sensor")
    sensor = np.zeros(n, np.uint8) if scol is None else sensor_kinds(scol)
    rcol = _column(table, "sortie")
    if rcol is None:
        sortie = np.zeros(n, np.int64)
    else:
        sarr = rcol if isinstance(rcol, pa.ChunkedArray | pa.Array) else pa.array(list(rcol))
        if isinstance(sarr, pa.ChunkedArray):
            sarr = sarr.combine_chunks()
        sortie = np.asarray(
            sarr.dictionary_encode().indices.fill_null(-1).to_numpy(zero_copy_only=False), np.int64
        )
    ok = valid & has_time & quads_ok(lon, lat)
    return Frames(time_us, lon, lat, clon, clat, gsd, sensor, sortie, ok)


def _cross(ax: Any, ay: Any, bx: Any, by: Any) -> Any:
    return ax * by - ay * bx


def _segments_cross(
    p: tuple[Any, Any],
    q: tuple[Any, Any],
    r: tuple[Any, Any],
    s: tuple[Any, Any],
    tol: Any = 0.0,
) -> npt.NDArray[np.bool_]:
    """Segments p-q and r-s intersect (touching included), vectorised.

    Orientations within ``tol`` (a cross product, in squared coordinate units) of zero count as
    collinear: a corner that lies on an opposite edge up to rounding touches it.
    """

    def side(d: Any) -> Any:
        return np.where(np.abs(d) <= tol, 0.0, np.sign(d))

    d1 = side(_cross(q[0] - p[0], q[1] - p[1], r[0] - p[0], r[1] - p[1]))
    d2 = side(_cross(q[0] - p[0], q[1] - p[1], s[0] - p[0], s[1] - p[1]))
    d3 = side(_cross(s[0] - r[0], s[1] - r[1], p[0] - r[0], p[1] - r[1]))
    d4 = side(_cross(s[0] - r[0], s[1] - r[1], q[0] - r[0], q[1] - r[1]))
    return np.asarray((d1 * d2 <= 0) & (d3 * d4 <= 0), bool)


def quads_ok(lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """Which (n, 4) corner quadrilaterals are usable: finite, in range, simple, non-zero area.

    "Simple" means the two pairs of opposite edges do not meet (no bow-tie); this is the
    same set of quadrilaterals that shapely's ``is_valid`` accepts, except that a corner lying on
    another edge up to rounding (where shapely's answer depends on the rounding) is not simple.
    """
    finite = np.asarray(np.isfinite(lon).all(1) & np.isfinite(lat).all(1), bool)
    rng = (np.abs(lat) <= 90).all(1) & (np.abs(lon) <= 180).all(1)
    x: npt.NDArray[np.float64] = np.where(finite[:, None], lon, 0.0)
    y: npt.NDArray[np.float64] = np.where(finite[:, None], lat, 0.0)
    x = x - x[:, :1]
    y = y - y[:, :1]
    area2 = _cross(x, y, np.roll(x, -1, 1), np.roll(y, -1, 1)).sum(1)
    # Zero up to rounding, for areas and orientations (after the shift to the first corner).
    extent = np.maximum(np.ptp(x, axis=1), np.ptp(y, axis=1))
    tol = 1e-9 * extent * extent
    c = [(x[:, k], y[:, k]) for k in range(4)]
    bow = _segments_cross(c[0], c[1], c[2], c[3], tol)
    bow |= _segments_cross(c[1], c[2], c[3], c[0], tol)
    # A repeated consecutive corner leaves a triangle, valid whenever it has an area.
    dup = ((x == np.roll(x, -1, 1)) & (y == np.roll(y, -1, 1))).any(1)
    has_area = np.abs(area2) > tol
    return np.asarray(finite & rng & has_area & (dup | ~bow), bool)
