"""Coverage accumulation: which H3 cells the sensor saw, when, how often, how well.

Definition. A frame *observes* an H3 cell when the cell's centre lies inside the frame's ground
footprint (the corner quadrilateral, edges straight in longitude/latitude, the same planar
convention H3 uses for its own polygon fill). Coverage is computed exactly under that definition
for every valid frame: decimation is an acceleration, never an approximation.

How (no Python loop per frame or per cell):

1. Frames are grouped into *runs*: consecutive frames of one sortie and one sensor kind within a
   time step (``step_s``, default 1 s: 30 frames at 30 Hz). Within a run every corner of every
   frame stays within ``delta`` (degrees) of the corresponding corner of the run's middle frame.
2. Candidate cell centres come from a cache of H3 centres per small lon/lat tile (one H3 polygon
   fill per tile, once per call), gathered for each run's bounding box with CSR index arithmetic.
3. Each candidate is tested against the middle frame only. Corners move by at most ``delta``, so
   every boundary point of any frame of the run lies within ``delta`` of the middle frame's
   boundary; a centre farther than ``delta`` inside (outside) the convex middle frame is therefore
   inside (outside) *every* frame of the run. Only centres in that thin band are tested against
   each frame of the run (crossing-number test), which also gives exact frame counts.
4. A run whose footprints contain no cell centre at all (a footprint smaller than a cell) still
   observes the cell that contains its middle frame's footprint centre: nothing seen is lost.
5. Observations (cell, run) carry the first and last time and the best GSD of the frames that
   contain the centre, the run's sensor, and day/night from the solar elevation at the cell
   centre at the middle of that observation. They are reduced per cell with
   NumPy (lexsort + reduceat) into *passes* and then into per-cell rows. Chunks stream: each chunk
   is reduced to passes at once, and passes that meet across chunk boundaries merge at the end.

Resolution. The default is H3 resolution 10 (mean edge ~76 m, cell ~0.015 km², ~130 m across).
At resolution 9 (~200 m edge, 0.105 km²) a cell is larger than a narrow field-of-view footprint
and larger than the structures the program looks for (a camp under tarpaulins, a clearing);
resolution 10 keeps ~100 m detail while a 24 h sortie stays at a few hundred thousand cells.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from os import PathLike
from typing import Any

import h3
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq
from h3.api import basic_int as h3i
from h3.api import numpy_int as h3n

from vigia.coverage._frames import FootprintsLike, Frames, read_frames
from vigia.coverage.solar import CIVIL_TWILIGHT_DEG, elevation_from_terms, sun_terms
from vigia.errors import GeoError
from vigia.outputs import output_format, writing
from vigia.telemetry.sensors import SENSOR_EO, SENSOR_IR

DEFAULT_RES = 10
DEFAULT_PASS_GAP_S = 120.0
DEFAULT_STEP_S = 1.0
MAX_SPAN_DEG = 1.0
"""A footprint wider than this (about 100 km) is not ground geometry one can trust: unusable."""

BIT_EO, BIT_IR, BIT_UNKNOWN = 1, 2, 4
BIT_DAY, BIT_NIGHT = 1, 2
_BATCH = 1_500_000  # candidate (or band) elements per vectorised batch: bounds memory
_META_KEY = b"vigia.coverage"

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
U64 = npt.NDArray[np.uint64]
U8 = npt.NDArray[np.uint8]
B = npt.NDArray[np.bool_]


# --- H3 centres by tile -------------------------------------------------------------------------
class CentreIndex:
    """H3 cell centres cached per lon/lat tile: each centre belongs to exactly one tile."""

    def __init__(self, res: int, tile_deg: float | None = None) -> None:
        if not 0 <= res <= 15:
            raise GeoError(f"H3 resolution must be 0..15, got {res}")
        self.res = res
        edge_deg = h3.average_hexagon_edge_length(res, "m") / 111_320.0
        self.tile_deg = float(tile_deg) if tile_deg else float(np.clip(8 * edge_deg, 1e-4, 1.0))
        self._tiles: dict[int, tuple[U64, F64, F64]] = {}

    def tile_ix(self, deg: npt.ArrayLike) -> I64:
        """Tile column/row index of a longitude/latitude in degrees."""
        return np.floor(np.asarray(deg, np.float64) / self.tile_deg).astype(np.int64)

    @staticmethod
    def key(ix: I64, iy: I64) -> I64:
        """One int64 key per tile."""
        return (ix + (1 << 24)) * (1 << 26) + (iy + (1 << 24))

    def _fill(self, key: int) -> tuple[U64, F64, F64]:
        ix, iy = key // (1 << 26) - (1 << 24), key % (1 << 26) - (1 << 24)
        t = self.tile_deg
        x0, y0 = ix * t, iy * t
        e = 0.02 * t  # margin: H3 edges are arcs; the half-open tile test below decides
        ring = [
            (y0 - e, x0 - e),
            (y0 - e, x0 + t + e),
            (y0 + t + e, x0 + t + e),
            (y0 + t + e, x0 - e),
        ]
        ring = [(max(-90.0, min(90.0, a)), b) for a, b in ring]
        cells = np.asarray(h3n.polygon_to_cells(h3.LatLngPoly(ring), self.res), np.uint64)
        if cells.size:
            ll = np.array([h3i.cell_to_latlng(int(c)) for c in cells], np.float64).reshape(-1, 2)
        else:
            ll = np.zeros((0, 2))
        keep = (self.tile_ix(ll[:, 1]) == ix) & (self.tile_ix(ll[:, 0]) == iy)
        return cells[keep], ll[keep, 1].copy(), ll[keep, 0].copy()

    def gather(self, keys: I64) -> tuple[I64, I64, U64, F64, F64]:
        """CSR view of the given unique keys: start, count, and the concatenated cells/lon/lat."""
        parts = []
        for k in keys.tolist():
            got = self._tiles.get(k)
            if got is None:
                got = self._tiles[k] = self._fill(k)
            parts.append(got)
        count = np.array([p[0].size for p in parts], np.int64)
        start = np.concatenate([[0], np.cumsum(count)[:-1]]).astype(np.int64)
        if not parts:
            return start, count, np.zeros(0, np.uint64), np.zeros(0), np.zeros(0)
        return (
            start,
            count,
            np.concatenate([p[0] for p in parts]),
            np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]),
        )


# --- runs ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Runs:
    """Frames sorted into runs; arrays over frames (``x``, ``y``, ``t``) and over runs."""

    x: F64  # (n, 4) corner lon of usable frames, sorted by (sortie, time)
    y: F64
    t: I64
    g: F64  # GSD per frame, metres (NaN when missing)
    cx: F64  # footprint centre used for the small-footprint rule
    cy: F64
    start: I64  # first frame of each run
    count: I64
    t0: I64
    t1: I64
    gsd: F64
    sensor: U8
    sortie: I64
    ref: I64  # middle frame of each run
    delta: F64  # max corner displacement from the middle frame, degrees
    bx0: F64
    bx1: F64
    by0: F64
    by1: F64

    def __len__(self) -> int:
        return int(self.start.size)


def _segments(new: B) -> tuple[I64, I64, I64]:
    start = np.flatnonzero(new).astype(np.int64)
    count = np.diff(np.append(start, new.size)).astype(np.int64)
    seg = np.cumsum(new, dtype=np.int64) - 1
    return start, count, seg


def make_runs(
    frames: Frames,
    *,
    step_us: int,
    breakpoints_us: I64 | None = None,
    max_span_deg: float = MAX_SPAN_DEG,
) -> Runs:
    """Group usable frames into runs of at most ``step_us`` (never across a breakpoint)."""
    span = np.maximum(np.ptp(frames.lon, 1), np.ptp(frames.lat, 1))
    idx = np.flatnonzero(frames.ok & (span <= max_span_deg))
    order = idx[np.lexsort((frames.time_us[idx], frames.sortie[idx]))]
    t = frames.time_us[order]
    x, y = frames.lon[order], frames.lat[order]
    sortie, sensor = frames.sortie[order], frames.sensor[order]
    n = t.size
    new = np.ones(n, bool)
    if n > 1:
        slot = t // step_us
        new[1:] = (
            (sortie[1:] != sortie[:-1])
            | (sensor[1:] != sensor[:-1])
            | (slot[1:] != slot[:-1])
            | (np.diff(t) > step_us)
        )
        if breakpoints_us is not None and breakpoints_us.size:
            epoch = np.searchsorted(breakpoints_us, t, side="right")
            new[1:] |= epoch[1:] != epoch[:-1]
    if n:
        start, _, seg = _segments(new)
        wx = np.maximum.reduceat(x.max(1), start) - np.minimum.reduceat(x.min(1), start)
        wy = np.maximum.reduceat(y.max(1), start) - np.minimum.reduceat(y.min(1), start)
        big = np.maximum(wx, wy) > max_span_deg
        if big.any():  # runs that jump too far fall back to one frame per run
            new |= big[seg]
    start, count, seg = _segments(new)
    cx = frames.center_lon[order]
    cy = frames.center_lat[order]
    bad_c = ~(np.isfinite(cx) & np.isfinite(cy))
    cx = np.where(bad_c, x.mean(1), cx)
    cy = np.where(bad_c, y.mean(1), cy)
    ref = start + count // 2
    if n:
        d = np.hypot(x - x[ref[seg]], y - y[ref[seg]]).max(1)
        delta = np.maximum.reduceat(d, start)
        gsd = np.fmin.reduceat(frames.gsd_m[order], start)
        bx0, bx1 = np.minimum.reduceat(x.min(1), start), np.maximum.reduceat(x.max(1), start)
        by0, by1 = np.minimum.reduceat(y.min(1), start), np.maximum.reduceat(y.max(1), start)
        t1 = np.maximum.reduceat(t, start)
    else:
        delta = gsd = bx0 = bx1 = by0 = by1 = np.zeros(0)
        t1 = np.zeros(0, np.int64)
    return Runs(
        x,
        y,
        t,
        frames.gsd_m[order],
        cx,
        cy,
        start,
        count,
        t[start],
        t1,
        gsd,
        sensor[start],
        sortie[start],
        ref,
        delta,
        bx0,
        bx1,
        by0,
        by1,
    )


# --- observations -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Observations:
    """One row per (cell, run) in which the cell centre lay inside at least one frame."""

    cell: U64
    lat: F64  # cell centre, degrees
    lon: F64
    run: I64  # index into the Runs this came from
    n_frames: I64  # frames of the run whose footprint contains the cell centre
    t0: I64  # first and last of those frames, µs
    t1: I64
    gsd: F64  # best GSD of those frames, metres

    def __len__(self) -> int:
        return int(self.cell.size)


def _expand(counts: I64) -> tuple[I64, I64]:
    """For CSR counts: owner index and local offset of each expanded element."""
    total = int(counts.sum())
    owner = np.repeat(np.arange(counts.size, dtype=np.int64), counts)
    local = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    return owner, local


def _inside_quads(px: F64, py: F64, qx: F64, qy: F64) -> B:
    """Crossing-number test of points (m,) against quadrilaterals (m, 4)."""
    inside = np.zeros(px.shape, bool)
    for k in range(4):
        x1, y1 = qx[:, k], qy[:, k]
        x2, y2 = qx[:, (k + 1) % 4], qy[:, (k + 1) % 4]
        straddle = (y1 > py) != (y2 > py)
        with np.errstate(divide="ignore", invalid="ignore"):
            xi = x1 + (py - y1) * (x2 - x1) / (y2 - y1)
        inside ^= straddle & (px < xi)
    return inside


def _run_edges(runs: Runs, r: I64) -> tuple[F64, F64, F64, F64, F64, B]:
    """Edge lines of the middle frame of runs ``r``: origin, unit inward normals, offsets, convex.

    The signed distance of a point (degrees, > 0 inside) to edge k is
    ``nx[:, k] * (px - ox) + ny[:, k] * (py - oy) - c[:, k]``.
    """
    ref = runs.ref[r]
    ox, oy = runs.x[ref, 0], runs.y[ref, 0]
    qx, qy = runs.x[ref] - ox[:, None], runs.y[ref] - oy[:, None]
    ex = np.roll(qx, -1, 1) - qx
    ey = np.roll(qy, -1, 1) - qy
    area2 = (qx * np.roll(qy, -1, 1) - qy * np.roll(qx, -1, 1)).sum(1)
    sign = np.sign(area2)
    turn = ex * np.roll(ey, -1, 1) - ey * np.roll(ex, -1, 1)
    convex = (np.sign(turn) == sign[:, None]).all(1) & (sign != 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        length = np.hypot(ex, ey)
        nx = np.nan_to_num(-sign[:, None] * ey / length)
        ny = np.nan_to_num(sign[:, None] * ex / length)
    c = nx * qx + ny * qy
    return ox, oy, nx, ny, c, convex


_Batch = tuple[U64, F64, F64, I64, I64, I64, I64, F64]


def _observe_batch(runs: Runs, r: I64, index: CentreIndex) -> _Batch:
    """Observed (cell, lon, lat, run, n_frames, t0, t1, gsd) for the runs ``r``."""
    t = index.tile_ix
    ix0, ix1, iy0, iy1 = t(runs.bx0[r]), t(runs.bx1[r]), t(runs.by0[r]), t(runs.by1[r])
    nty = iy1 - iy0 + 1
    owner, local = _expand((ix1 - ix0 + 1) * nty)
    keys = index.key(ix0[owner] + local // nty[owner], iy0[owner] + local % nty[owner])
    ukeys, inv = np.unique(keys, return_inverse=True)
    tstart, tcount, cells, clon, clat = index.gather(ukeys)
    c_owner, c_local = _expand(tcount[inv])
    cand = tstart[inv][c_owner] + c_local
    run_of = r[owner[c_owner]]
    px, py = clon[cand], clat[cand]
    keep = (
        (px >= runs.bx0[run_of])
        & (px <= runs.bx1[run_of])
        & (py >= runs.by0[run_of])
        & (py <= runs.by1[run_of])
    )
    cand, run_of, px, py = cand[keep], run_of[keep], px[keep], py[keep]
    ox, oy, nx, ny, off, conv = _run_edges(runs, r)
    loc = owner[c_owner][keep]  # position of each candidate's run within ``r``
    dx, dy = px - ox[loc], py - oy[loc]
    m = np.full(px.shape, np.inf)
    for k in range(4):
        np.minimum(m, nx[:, k][loc] * dx + ny[:, k][loc] * dy - off[:, k][loc], out=m)
    convex = conv[loc]
    delta = runs.delta[run_of]
    nfr = np.where(convex & (m > delta), runs.count[run_of], 0).astype(np.int64)
    t0, t1, gsd = runs.t0[run_of], runs.t1[run_of], runs.gsd[run_of]
    band = np.flatnonzero(~(convex & ((m > delta) | (m < -delta))))
    if band.size:
        fcount = runs.count[run_of[band]]
        cuts = np.searchsorted(np.cumsum(fcount), np.arange(_BATCH, fcount.sum(), _BATCH))
        for part in np.split(np.arange(band.size), cuts):
            b = band[part]
            o, loc = _expand(fcount[part])
            f = runs.start[run_of[b]][o] + loc
            hit = _inside_quads(px[b][o], py[b][o], runs.x[f], runs.y[f])
            nfr[b] = np.bincount(o, weights=hit, minlength=b.size).astype(np.int64)
            g0 = np.cumsum(fcount[part]) - fcount[part]
            tf = runs.t[f]
            t0[b] = np.minimum.reduceat(np.where(hit, tf, np.iinfo(np.int64).max), g0)
            t1[b] = np.maximum.reduceat(np.where(hit, tf, np.iinfo(np.int64).min), g0)
            gsd[b] = np.fmin.reduceat(np.where(hit, runs.g[f], np.nan), g0)
    seen = nfr > 0
    return (
        cells[cand[seen]],
        px[seen],
        py[seen],
        run_of[seen],
        nfr[seen],
        t0[seen],
        t1[seen],
        gsd[seen],
    )


def observe(runs: Runs, index: CentreIndex) -> Observations:
    """Every (cell, run) observation of ``runs``, exact under the cell-centre definition."""
    nr = len(runs)
    parts: list[_Batch] = []
    if nr:
        w = (runs.bx1 - runs.bx0) / index.tile_deg + 2
        h = (runs.by1 - runs.by0) / index.tile_deg + 2
        cost = np.cumsum(w * h * 40.0)
        cuts = np.searchsorted(cost, np.arange(_BATCH, cost[-1], _BATCH))
        for r in np.split(np.arange(nr, dtype=np.int64), cuts):
            if r.size:
                parts.append(_observe_batch(runs, r, index))
    empty: _Batch = (
        np.zeros(0, np.uint64),
        np.zeros(0),
        np.zeros(0),
        np.zeros(0, np.int64),
        np.zeros(0, np.int64),
        np.zeros(0, np.int64),
        np.zeros(0, np.int64),
        np.zeros(0),
    )
    cols = [np.concatenate([p[k] for p in [empty, *parts]]) for k in range(8)]
    cell, lon, lat, run, nfr, t0, t1, gsd = cols
    # Footprints smaller than a cell: the cell under the footprint centre.
    lost = np.setdiff1d(np.arange(nr, dtype=np.int64), run)
    if lost.size:
        ref = runs.ref[lost]
        extra = np.array(
            [
                h3i.latlng_to_cell(a, b, index.res)
                for a, b in zip(runs.cy[ref], runs.cx[ref], strict=True)
            ],
            np.uint64,
        )
        ll = np.array([h3i.cell_to_latlng(int(c)) for c in extra], np.float64).reshape(-1, 2)
        cell = np.concatenate([cell, extra])
        lat = np.concatenate([lat, ll[:, 0]])
        lon = np.concatenate([lon, ll[:, 1]])
        run = np.concatenate([run, lost])
        nfr = np.concatenate([nfr, runs.count[lost]])
        t0 = np.concatenate([t0, runs.t0[lost]])
        t1 = np.concatenate([t1, runs.t1[lost]])
        gsd = np.concatenate([gsd, runs.gsd[lost]])
    return Observations(cell, lat, lon, run, nfr, t0, t1, gsd)


# --- passes and cells ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Visits:
    """Observations of one cell reduced to passes (or partial passes, before the final merge)."""

    cell: U64
    lat: F64
    lon: F64
    t0: I64
    t1: I64
    n_frames: I64
    gsd: F64
    sensor_bits: U8
    light_bits: U8

    @staticmethod
    def concat(parts: list[Visits]) -> Visits:
        """Concatenate visits of several chunks."""
        names = Visits.__dataclass_fields__
        if not parts:
            return Visits(
                np.zeros(0, np.uint64),
                np.zeros(0),
                np.zeros(0),
                np.zeros(0, np.int64),
                np.zeros(0, np.int64),
                np.zeros(0, np.int64),
                np.zeros(0),
                np.zeros(0, np.uint8),
                np.zeros(0, np.uint8),
            )
        return Visits(**{k: np.concatenate([getattr(p, k) for p in parts]) for k in names})

    def __len__(self) -> int:
        return int(self.cell.size)


def merge_passes(v: Visits, gap_us: int) -> Visits:
    """Merge visits of the same cell that are separated by no more than ``gap_us``.

    A pass is a maximal group of observations of one cell in which each observation starts no
    more than ``gap_us`` after the latest end so far.
    """
    if len(v) == 0:
        return v
    o = np.lexsort((v.t0, v.cell))
    cell, t0, t1 = v.cell[o], v.t0[o], v.t1[o]
    new_cell = np.ones(cell.size, bool)
    new_cell[1:] = cell[1:] != cell[:-1]
    starts = new_cell.copy()
    starts[1:] |= t0[1:] > t1[:-1] + gap_us
    while True:  # a later short visit may sit inside an earlier long one: use the running max
        idx = np.flatnonzero(starts)
        seg_max = np.maximum.reduceat(t1, idx)
        cand = idx[1:]
        bad = ~new_cell[cand] & (t0[cand] <= seg_max[:-1] + gap_us)
        if not bad.any():
            break
        starts[cand[bad]] = False
    idx = np.flatnonzero(starts)
    return Visits(
        cell[idx],
        v.lat[o][idx],
        v.lon[o][idx],
        t0[idx],
        np.maximum.reduceat(t1, idx),
        np.add.reduceat(v.n_frames[o], idx),
        np.fmin.reduceat(v.gsd[o], idx),
        np.bitwise_or.reduceat(v.sensor_bits[o], idx),
        np.bitwise_or.reduceat(v.light_bits[o], idx),
    )


def observations_to_visits(
    runs: Runs, obs: Observations, *, day_threshold_deg: float = CIVIL_TWILIGHT_DEG
) -> Visits:
    """Attach run times, GSD, sensor and day/night (at the cell centre) to observations."""
    r = obs.run
    mid = (obs.t0 + obs.t1) // 2
    decl, eot = sun_terms(mid)
    elev = elevation_from_terms(obs.lat, obs.lon, mid, decl, eot)
    light = np.where(elev > day_threshold_deg, BIT_DAY, BIT_NIGHT).astype(np.uint8)
    sk = runs.sensor[r]
    sbits = np.where(sk == SENSOR_EO, BIT_EO, np.where(sk == SENSOR_IR, BIT_IR, BIT_UNKNOWN))
    return Visits(
        obs.cell,
        obs.lat,
        obs.lon,
        obs.t0,
        obs.t1,
        obs.n_frames,
        obs.gsd,
        sbits.astype(np.uint8),
        light,
    )


CELLS_SCHEMA = pa.schema(
    [
        pa.field("cell", pa.uint64(), nullable=False),
        pa.field("lat", pa.float64()),
        pa.field("lon", pa.float64()),
        pa.field("first_seen", pa.timestamp("us", tz="UTC")),
        pa.field("last_seen", pa.timestamp("us", tz="UTC")),
        pa.field("passes", pa.int32()),
        pa.field("n_frames", pa.int64()),
        pa.field("best_gsd_m", pa.float64()),
        pa.field("seen_eo", pa.bool_()),
        pa.field("seen_ir", pa.bool_()),
        pa.field("seen_day", pa.bool_()),
        pa.field("seen_night", pa.bool_()),
    ]
)


def cells_table(passes: Visits, meta: dict[str, Any]) -> pa.Table:
    """Reduce passes to one row per cell (sorted by cell) as a pyarrow Table."""
    if len(passes):
        o = np.argsort(passes.cell, kind="stable")
        cell = passes.cell[o]
        new = np.ones(cell.size, bool)
        new[1:] = cell[1:] != cell[:-1]
        i = np.flatnonzero(new)
        cnt = np.diff(np.append(i, cell.size))
        sb = np.bitwise_or.reduceat(passes.sensor_bits[o], i)
        lb = np.bitwise_or.reduceat(passes.light_bits[o], i)
        gsd = np.fmin.reduceat(passes.gsd[o], i)
        cols: list[Any] = [
            cell[i],
            passes.lat[o][i],
            passes.lon[o][i],
            np.minimum.reduceat(passes.t0[o], i),
            np.maximum.reduceat(passes.t1[o], i),
            cnt.astype(np.int32),
            np.add.reduceat(passes.n_frames[o], i),
            pa.array(gsd, pa.float64(), mask=np.isnan(gsd)),
            (sb & BIT_EO) > 0,
            (sb & BIT_IR) > 0,
            (lb & BIT_DAY) > 0,
            (lb & BIT_NIGHT) > 0,
        ]
    else:
        return CELLS_SCHEMA.empty_table().replace_schema_metadata(
            {_META_KEY: json.dumps(meta).encode()}
        )
    arrays = []
    for f, c in zip(CELLS_SCHEMA, cols, strict=True):
        if pa.types.is_timestamp(f.type):
            arrays.append(pa.array(np.asarray(c, np.int64)).cast(f.type))
        else:
            arrays.append(c if isinstance(c, pa.Array) else pa.array(c, f.type))
    schema = CELLS_SCHEMA.with_metadata({_META_KEY: json.dumps(meta).encode()})
    return pa.Table.from_arrays(arrays, schema=schema)


def coverage_metadata(table: pa.Table) -> dict[str, Any]:
    """The parameters and frame counts stored with a cells table."""
    md = table.schema.metadata or {}
    return dict(json.loads(md[_META_KEY])) if _META_KEY in md else {}


class CoverageAccumulator:
    """Streaming coverage: ``add`` footprint chunks in any order, then ``result``.

    Memory is bounded by the number of passes, not frames.
    """

    def __init__(
        self,
        *,
        res: int = DEFAULT_RES,
        pass_gap_s: float = DEFAULT_PASS_GAP_S,
        step_s: float = DEFAULT_STEP_S,
        day_threshold_deg: float = CIVIL_TWILIGHT_DEG,
    ) -> None:
        if not step_s > 0:
            raise GeoError(f"step_s must be positive, got {step_s}")
        if not pass_gap_s >= step_s:
            raise GeoError(f"pass_gap_s ({pass_gap_s}) must be at least step_s ({step_s})")
        self.res = res
        self.pass_gap_us = round(pass_gap_s * 1e6)
        self.step_us = max(1, round(step_s * 1e6))
        self.day_threshold_deg = day_threshold_deg
        self.index = CentreIndex(res)
        self._parts: list[Visits] = []
        self._pending = 0
        self.frames_in = 0
        self.frames_used = 0

    def add(self, table: FootprintsLike) -> None:
        """Accumulate one chunk of footprints."""
        frames = read_frames(table)
        runs = make_runs(frames, step_us=self.step_us)
        obs = observe(runs, self.index)
        v = observations_to_visits(runs, obs, day_threshold_deg=self.day_threshold_deg)
        self._parts.append(merge_passes(v, self.pass_gap_us))
        self._pending += len(self._parts[-1])
        self.frames_in += len(frames)
        self.frames_used += int(runs.count.sum())
        if len(self._parts) > 1 and self._pending > 4_000_000:
            self._parts = [merge_passes(Visits.concat(self._parts), self.pass_gap_us)]
            self._pending = len(self._parts[0])

    def passes(self) -> Visits:
        """All passes so far (one row per cell and pass)."""
        return merge_passes(Visits.concat(self._parts), self.pass_gap_us)

    def result(self) -> pa.Table:
        """The per-cell coverage table (see `coverage_from_footprints`)."""
        meta = {
            "h3_res": self.res,
            "pass_gap_s": self.pass_gap_us / 1e6,
            "step_s": self.step_us / 1e6,
            "day_threshold_deg": self.day_threshold_deg,
            "frames_in": self.frames_in,
            "frames_used": self.frames_used,
            "frames_unusable": self.frames_in - self.frames_used,
        }
        return cells_table(self.passes(), meta)


def coverage_from_footprints(
    tables: FootprintsLike | Iterable[FootprintsLike],
    *,
    res: int = DEFAULT_RES,
    pass_gap_s: float = DEFAULT_PASS_GAP_S,
    step_s: float = DEFAULT_STEP_S,
    day_threshold_deg: float = CIVIL_TWILIGHT_DEG,
) -> pa.Table:
    """Per-cell coverage of footprint tables (one table, or an iterable of chunks).

    Columns: ``cell`` (H3 index, uint64), ``lat``/``lon`` (cell centre, degrees), ``first_seen``/
    ``last_seen`` (UTC), ``passes`` (observations separated by more than ``pass_gap_s`` seconds
    count as separate passes), ``n_frames`` (frames whose footprint contains the cell centre),
    ``best_gsd_m`` (minimum GSD in metres of the frames that saw it; null when none gave one),
    ``seen_eo``/``seen_ir`` and ``seen_day``/``seen_night`` (Sun above/below
    ``day_threshold_deg``, default -6 degrees, civil twilight, at the cell centre).

    Frames with ``valid`` false, no time, or an unusable quadrilateral are counted in the
    metadata (`coverage_metadata`) and do not contribute. ``step_s`` is the run length (see the
    module docstring: it changes speed, not the result; day/night is judged at the middle of a
    cell's observation within one run, so only a run straddling twilight can depend on it).
    """
    acc = CoverageAccumulator(
        res=res, pass_gap_s=pass_gap_s, step_s=step_s, day_threshold_deg=day_threshold_deg
    )
    if isinstance(tables, pa.Table) or (isinstance(tables, Mapping) and "time" in tables):
        tables = [tables]
    for t in tables:
        acc.add(t)
    return acc.result()


#: Extensions of :func:`write_cells`.
CELLS_FORMATS = {".parquet": "parquet"}


def write_cells(table: pa.Table, path: str | PathLike[str]) -> None:
    """Write a cells table to Parquet (zstd, ``.parquet``), keeping its metadata."""
    output_format(path, CELLS_FORMATS, "coverage cells")
    with writing(path, "coverage cells"):
        pq.write_table(table, path, compression="zstd")


def read_cells(path: str | PathLike[str]) -> pa.Table:
    """Read a cells table written by `write_cells`."""
    return pq.read_table(path)
