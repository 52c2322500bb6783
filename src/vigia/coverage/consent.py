"""Consent: the one place where Vigía decides what may be observed, kept and shared.

Principle 1 of the design ("consent first") lives here and only here, in two functions:

* `consent_status` is the one decision: 'consented', 'withheld' or 'undetermined' for each row
  of a footprints table (corner columns), a table of polygons (``polygon``) or a table of points
  (observations: ``lat``, ``lon``, ``time``). `apply_consent` writes it as the
  ``consent_status`` column; `consented_mask` answers it as booleans (planning, compliance).
* `releasable_mask` / `require_releasable` is the one gate every later stage (fusion, scoring,
  chips, the tearline and every product, the API's chips, exports) goes through: it reads the
  ``consent_status`` column and lets through only 'consented' rows. No stage compares consent
  strings of its own.

It fails closed: with no registry every row is 'undetermined'; a table whose consent was never
decided is refused.

The rule
--------
* The consented area at time *t* is the union of the AOIs whose window is open at *t*. An AOI's
  window is half-open, ``[consent_from, end)``: open at ``consent_from`` exactly, closed at
  ``end``, where ``end`` is ``consent_until`` or, if earlier, ``revoked_at``. Revocation is
  effective immediately, at the instant given (observations at or after it are withheld).
* ``state``: ``consented`` (default) and ``expired`` use the window as given (``expired`` records
  that the window is over; historical observations inside it stay consented; an early end is
  a revocation and needs ``revoked_at``). ``revoked`` requires ``revoked_at``. ``nominated`` is
  proposed, not granted: never consented. A ``revoked_at`` is honoured whatever the state.
* Areas are closed polygons in longitude/latitude (WGS84): a point on an AOI edge is inside.
  Holes are excluded area.
* A point (detection, observation) is consented when it lies in the consented area at its time.
* A footprint is ``consented`` only when the consented area at its time covers all of it. Any
  part outside, even a sliver, makes it ``withheld``: partial overlap is withheld (conservative:
  the frame shows ground nobody consented to). A frame that is not valid, or whose corners do not
  form a usable quadrilateral, is ``undetermined``: where it looked is unknown, so it is not
  releasable either. So is a point without a finite position or a time, and every row when no
  registry is given.
* Times in an AOI file must carry a UTC offset (``Z`` or ``±hh:mm``). Naive times are refused:
  read as UTC they would move a window by seven hours in Sinaloa. So are times outside
  :data:`vigia.times.USER_TIME_RANGE` (2000-2100), as for every date a user enters.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import shapely
from shapely.geometry.base import BaseGeometry

from vigia.coverage._frames import FootprintsLike, float_column, read_frames
from vigia.errors import ConsentError
from vigia.times import format_time_us, time_us_column, user_time_us

CONSENTED = "consented"
WITHHELD = "withheld"
UNDETERMINED = "undetermined"
STATUSES = (CONSENTED, WITHHELD, UNDETERMINED)
STATUS_COLUMN = "consent_status"

AOI_STATES = ("consented", "revoked", "nominated", "expired")


@dataclass(frozen=True)
class AOI:
    """One area of interest and its consent: who granted it, where, when."""

    index: int
    name: str
    authority: str
    state: str
    consent_from_us: int
    consent_until_us: int
    revoked_at_us: int | None
    geometry: BaseGeometry
    properties: Mapping[str, Any] = field(default_factory=dict)

    @property
    def window_us(self) -> tuple[int, int]:
        """Effective consent window ``[start, end)`` in µs; empty (start == end) if none."""
        start = self.consent_from_us
        if self.state == "nominated":
            return start, start
        end = self.consent_until_us
        if self.revoked_at_us is not None:
            end = min(end, self.revoked_at_us)
        return start, max(start, end)

    def active(self, time_us: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Whether the window is open at each time (µs)."""
        start, end = self.window_us
        t = np.asarray(time_us, np.int64)
        return np.asarray((t >= start) & (t < end), bool)

    def status_at(self, time_us: int) -> str:
        """The AOI's state at one time: nominated, pending, consented, expired or revoked."""
        if self.state == "nominated":
            return "nominated"
        start, end = self.window_us
        if time_us < start:
            return "pending"
        if time_us < end:
            return "consented"
        if self.revoked_at_us is not None and self.revoked_at_us < self.consent_until_us:
            return "revoked"
        return "expired"

    def label(self) -> str:
        """``feature <index> (<name>)`` as used in messages."""
        return f"feature {self.index} ({self.name!r})"

    def to_feature(self) -> dict[str, Any]:
        """The AOI as a GeoJSON Feature."""
        props = dict(self.properties)
        props.update(
            name=self.name,
            authority=self.authority,
            state=self.state,
            consent_from=format_time_us(self.consent_from_us),
            consent_until=format_time_us(self.consent_until_us),
        )
        if self.revoked_at_us is not None:
            props["revoked_at"] = format_time_us(self.revoked_at_us)
        geom = json.loads(shapely.to_geojson(self.geometry))
        return {"type": "Feature", "properties": props, "geometry": geom}


# --- loading ------------------------------------------------------------------------------------
def _feature_label(i: int, feat: Any) -> str:
    name = None
    if isinstance(feat, Mapping) and isinstance(feat.get("properties"), Mapping):
        name = feat["properties"].get("name")
    return f"feature {i} ({name!r})" if name else f"feature {i} (unnamed)"


def _coords_ok(geom: Any) -> str | None:
    """Why the raw GeoJSON coordinates are unusable, or None."""
    try:
        rings = geom["coordinates"]
        polys = [rings] if geom["type"] == "Polygon" else rings
        pts = [p for poly in polys for ring in poly for p in ring]
        if not pts:
            return "empty geometry"
        arr = np.array([p[:2] for p in pts], dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != 2:
            return "positions must have longitude and latitude"
    except (TypeError, KeyError, ValueError, IndexError):
        return "coordinates are not nested arrays of positions"
    if not np.isfinite(arr).all():
        return "coordinates are not finite numbers"
    bad = (np.abs(arr[:, 0]) > 180) | (np.abs(arr[:, 1]) > 90)
    if bad.any():
        lon, lat = arr[np.argmax(bad)]
        return f"coordinate out of range (lon {lon}, lat {lat}); positions are [lon, lat]"
    return None


def _parse_feature(i: int, feat: Any) -> AOI:
    label = _feature_label(i, feat)

    def fail(why: str) -> ConsentError:
        return ConsentError(f"{label}: {why}")

    if not isinstance(feat, Mapping) or feat.get("type") != "Feature":
        raise fail("not a GeoJSON Feature")
    geom = feat.get("geometry")
    if not isinstance(geom, Mapping) or geom.get("type") not in ("Polygon", "MultiPolygon"):
        kind = geom.get("type") if isinstance(geom, Mapping) else geom
        raise fail(f"geometry must be a Polygon or MultiPolygon, got {kind!r}")
    why = _coords_ok(geom)
    if why:
        raise fail(why)
    try:
        shape = shapely.from_geojson(json.dumps(geom))
    except (shapely.errors.GEOSException, ValueError, TypeError) as exc:
        raise fail(f"geometry cannot be read: {exc}") from None
    if shape.is_empty or shape.area == 0:
        raise fail("empty polygon (no area)")
    if not shape.is_valid:
        raise fail(f"invalid polygon: {shapely.is_valid_reason(shape)}")
    props = feat.get("properties")
    if not isinstance(props, Mapping):
        raise fail("no properties")
    name, authority = props.get("name"), props.get("authority")
    if not isinstance(name, str) or not name.strip():
        raise fail("missing name")
    if not isinstance(authority, str) or not authority.strip():
        raise fail("missing authority (who granted the consent)")
    for key in ("consent_from", "consent_until"):
        if props.get(key) is None:
            raise fail(f"missing {key}")
    state = props.get("state", "consented")
    if state not in AOI_STATES:
        raise fail(f"state must be one of {', '.join(AOI_STATES)}, got {state!r}")
    try:
        t_from = user_time_us(props["consent_from"], "consent_from")
        t_until = user_time_us(props["consent_until"], "consent_until")
        rev = props.get("revoked_at")
        t_rev = None if rev is None else user_time_us(rev, "revoked_at")
    except ValueError as exc:
        raise fail(str(exc)) from None
    if t_until <= t_from:
        raise fail("consent_until is not after consent_from")
    if t_rev is not None and t_rev < t_from:
        raise fail("revoked_at is before consent_from (a window cannot end before it starts)")
    if state == "revoked" and t_rev is None:
        raise fail("state is revoked but revoked_at is missing")
    shapely.prepare(shape)
    return AOI(i, name.strip(), authority.strip(), state, t_from, t_until, t_rev, shape, props)


def read_features(source: str | PathLike[str] | Mapping[str, Any]) -> list[Any]:
    """The features of an AOI GeoJSON FeatureCollection (path or mapping), unvalidated.

    Raises `ConsentError` when the document as a whole is unusable (unreadable, not JSON, not a
    FeatureCollection).
    """
    if isinstance(source, Mapping):
        doc: Any = source
    else:
        try:
            doc = json.loads(Path(source).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConsentError(f"cannot read AOI file {source}: {exc}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConsentError(f"AOI file {source} is not JSON: {exc}") from None
    if not isinstance(doc, Mapping) or doc.get("type") != "FeatureCollection":
        raise ConsentError("AOI file is not a GeoJSON FeatureCollection")
    feats = doc.get("features")
    if not isinstance(feats, list):
        raise ConsentError("AOI file has no list of features")
    return feats


def load_aois(source: str | PathLike[str] | Mapping[str, Any]) -> ConsentRegistry:
    """Read and validate an AOI file (GeoJSON FeatureCollection) or an equivalent mapping.

    Refuses the whole file with `ConsentError` naming each offending feature (index and name):
    a consent file is either right or not used.
    """
    feats = read_features(source)
    aois: list[AOI] = []
    problems: list[str] = []
    for i, feat in enumerate(feats):
        try:
            aois.append(_parse_feature(i, feat))
        except ConsentError as exc:
            problems.append(exc.message)
    if problems:
        raise ConsentError("AOI file refused: " + "; ".join(problems))
    return ConsentRegistry(aois)


# --- the registry -------------------------------------------------------------------------------
class ConsentRegistry:
    """Validated AOIs and the consent rule over them (see the module docstring)."""

    def __init__(self, aois: Sequence[AOI]) -> None:
        self.aois: tuple[AOI, ...] = tuple(aois)
        self._bounds = np.array([a.geometry.bounds for a in self.aois]).reshape(-1, 4)
        self._union_cache: dict[tuple[int, ...], BaseGeometry] = {}

    def __len__(self) -> int:
        return len(self.aois)

    def __iter__(self) -> Iterator[AOI]:
        return iter(self.aois)

    def __getitem__(self, name: str) -> AOI:
        for a in self.aois:
            if a.name == name:
                return a
        raise KeyError(name)

    def breakpoints_us(self) -> npt.NDArray[np.int64]:
        """Sorted instants (µs) at which the consented area changes."""
        ends = [t for a in self.aois for t in a.window_us]
        return np.unique(np.array(ends, np.int64))

    def active(self, time_us: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """(n, n_aoi) matrix: AOI window open at each time."""
        t = np.asarray(time_us, np.int64).reshape(-1)
        out = np.zeros((t.size, len(self.aois)), bool)
        for j, a in enumerate(self.aois):
            out[:, j] = a.active(t)
        return out

    def consented_area_at(self, time_us: int) -> BaseGeometry:
        """Union of the AOIs consented at one time (may be empty)."""
        idx = tuple(j for j, a in enumerate(self.aois) if a.active(time_us))
        return self._union(idx)

    def _union(self, idx: tuple[int, ...]) -> BaseGeometry:
        got = self._union_cache.get(idx)
        if got is None:
            got = shapely.union_all([self.aois[j].geometry for j in idx])
            shapely.prepare(got)
            self._union_cache[idx] = got
        return got

    def is_consented(
        self, lat: npt.ArrayLike, lon: npt.ArrayLike, time_us: npt.ArrayLike
    ) -> npt.NDArray[np.bool_]:
        """Vectorised: is each point (degrees) inside consented area at its time (µs, UTC)?

        Missing or non-finite positions are not consented.
        """
        la, lo, t = np.broadcast_arrays(
            np.asarray(lat, np.float64), np.asarray(lon, np.float64), np.asarray(time_us)
        )
        t = t.astype(np.int64)
        out = np.zeros(la.shape, bool)
        ok = np.isfinite(la) & np.isfinite(lo)
        for j, a in enumerate(self.aois):
            x0, y0, x1, y1 = self._bounds[j]
            cand = ok & ~out & a.active(t) & (lo >= x0) & (lo <= x1) & (la >= y0) & (la <= y1)
            if cand.any():
                out[cand] = shapely.intersects_xy(a.geometry, lo[cand], la[cand])
        return out

    def aoi_of_points(self, lat: npt.ArrayLike, lon: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """(n, n_aoi) matrix: point inside each AOI's area, whatever the time."""
        la = np.asarray(lat, np.float64).reshape(-1)
        lo = np.asarray(lon, np.float64).reshape(-1)
        out = np.zeros((la.size, len(self.aois)), bool)
        ok = np.isfinite(la) & np.isfinite(lo)
        for j, a in enumerate(self.aois):
            x0, y0, x1, y1 = self._bounds[j]
            cand = ok & (lo >= x0) & (lo <= x1) & (la >= y0) & (la <= y1)
            if cand.any():
                out[cand, j] = shapely.intersects_xy(a.geometry, lo[cand], la[cand])
        return out

    def polygon_consent(
        self, polygons: npt.NDArray[np.object_], time_us: npt.ArrayLike
    ) -> npt.NDArray[np.bool_]:
        """Vectorised: is each polygon covered by the consented area at its time?"""
        polys = np.asarray(polygons, dtype=object).reshape(-1)
        t = np.asarray(time_us, np.int64).reshape(-1)
        act = self.active(t)
        out = np.zeros(polys.size, bool)
        if polys.size == 0 or not self.aois:
            return out
        bx = shapely.bounds(polys)
        near = np.zeros_like(act)
        for j in range(len(self.aois)):
            x0, y0, x1, y1 = self._bounds[j]
            near[:, j] = act[:, j] & (bx[:, 2] >= x0) & (bx[:, 0] <= x1)
            near[:, j] &= (bx[:, 3] >= y0) & (bx[:, 1] <= y1)
            inside = near[:, j] & (bx[:, 0] >= x0) & (bx[:, 2] <= x1)
            todo = inside & (bx[:, 1] >= y0) & (bx[:, 3] <= y1) & ~out
            if todo.any():
                out[todo] = shapely.covers(self.aois[j].geometry, polys[todo])
        inter = near & ~out[:, None]
        multi = inter.sum(1) >= 2
        for j in range(len(self.aois)):
            sel = multi & inter[:, j]
            if sel.any():
                inter[sel, j] = shapely.intersects(self.aois[j].geometry, polys[sel])
        # Footprints that straddle two or more AOIs open at the same time: test the union.
        rest = np.flatnonzero(~out & (inter.sum(1) >= 2))
        if rest.size:
            sig, inv = np.unique(inter[rest], axis=0, return_inverse=True)
            for s, row in enumerate(sig):
                sel = rest[inv.reshape(-1) == s]
                union = self._union(tuple(np.flatnonzero(row).tolist()))
                out[sel] = shapely.covers(union, polys[sel])
        return out

    def to_geojson(self) -> dict[str, Any]:
        """The registry as a GeoJSON FeatureCollection (round-trips through `load_aois`)."""
        return {"type": "FeatureCollection", "features": [a.to_feature() for a in self.aois]}


# --- the rule applied to tables -----------------------------------------------------------------
def _has_corners(table: FootprintsLike) -> bool:
    names = table.column_names if isinstance(table, pa.Table) else list(table)
    return "corner1_lat" in names


def footprint_polygons(table: FootprintsLike) -> tuple[npt.NDArray[np.object_], Any]:
    """Shapely polygons of a footprints table (None where unusable) and the frames read."""
    fr = read_frames(table)
    polys = np.full(len(fr), None, dtype=object)
    ok = np.flatnonzero(fr.ok)
    if ok.size:
        ring = np.stack([fr.lon[ok], fr.lat[ok]], axis=-1)
        ring = np.concatenate([ring, ring[:, :1]], axis=1)
        polys[ok] = shapely.polygons(ring)
    return polys, fr


def _footprint_consent(
    table: FootprintsLike, registry: ConsentRegistry | None
) -> npt.NDArray[np.str_]:
    """Consent status of each frame: 'consented', 'withheld' or 'undetermined' (module rule)."""
    polys, fr = footprint_polygons(table)
    status = np.full(len(fr), UNDETERMINED, dtype="<U12")
    ok = np.flatnonzero(fr.ok)
    if ok.size and registry is not None:
        covered = registry.polygon_consent(polys[ok], fr.time_us[ok])
        status[ok] = np.where(covered, CONSENTED, WITHHELD)
    return status


def _getter(table: FootprintsLike) -> tuple[Any, list[str]]:
    get = table.column if isinstance(table, pa.Table) else table.__getitem__
    names = table.column_names if isinstance(table, pa.Table) else list(table)
    return get, names


def _polygon_consent(
    table: FootprintsLike, registry: ConsentRegistry | None
) -> npt.NDArray[np.str_]:
    get, names = _getter(table)
    if "time" not in names:
        raise ConsentError("cannot apply consent: table has no column 'time'")
    col = get("polygon")
    polys = np.asarray(
        col.to_pylist() if isinstance(col, pa.ChunkedArray | pa.Array) else col, object
    )
    polys = polys.reshape(-1)
    t, has_t = time_us_column(get("time"))
    good = has_t & np.array(
        [p is not None and not shapely.is_empty(p) and shapely.is_valid(p) for p in polys], bool
    )
    status = np.full(polys.size, UNDETERMINED, dtype="<U12")
    idx = np.flatnonzero(good)
    if idx.size and registry is not None:
        covered = registry.polygon_consent(polys[idx], t[idx])
        status[idx] = np.where(covered, CONSENTED, WITHHELD)
    return status


def _point_consent(table: FootprintsLike, registry: ConsentRegistry | None) -> npt.NDArray[np.str_]:
    """Consent status of point rows (columns ``lat``, ``lon`` in degrees, ``time``)."""
    get, names = _getter(table)
    for c in ("lat", "lon", "time"):
        if c not in names:
            raise ConsentError(f"cannot apply consent: table has no column {c!r}")
    t, has_t = time_us_column(get("time"))
    n = t.size
    lat, lon = float_column(get("lat"), n), float_column(get("lon"), n)
    good = has_t & np.isfinite(lat) & np.isfinite(lon)
    status = np.full(lat.shape, UNDETERMINED, dtype="<U12")
    if registry is not None:
        cons = registry.is_consented(lat, lon, t)
        status[good] = np.where(cons[good], CONSENTED, WITHHELD)
    return status


def consent_status(table: FootprintsLike, registry: ConsentRegistry | None) -> npt.NDArray[np.str_]:
    """The one consent decision: 'consented', 'withheld' or 'undetermined' for each row.

    ``table`` (Arrow table or mapping of columns) is a footprints table when it has corner
    columns, a table of shapely polygons when it has a ``polygon`` column, else points
    (``lat``/``lon`` in degrees, ``time`` in µs or Arrow timestamps: observations). A row that
    cannot be placed on the ground or in time is 'undetermined', and so is every row when
    ``registry`` is None (fail closed).

    >>> consent_status({"lat": [24.8], "lon": [-107.2], "time": [0]}, None).tolist()
    ['undetermined']
    """
    if _has_corners(table):
        return _footprint_consent(table, registry)
    if "polygon" in _getter(table)[1]:
        return _polygon_consent(table, registry)
    return _point_consent(table, registry)


def consented_mask(
    table: FootprintsLike, registry: ConsentRegistry | None
) -> npt.NDArray[np.bool_]:
    """True for rows `consent_status` decides 'consented' (everything else is held back)."""
    return np.asarray(consent_status(table, registry) == CONSENTED, bool)


def apply_consent(table: FootprintsLike, registry: ConsentRegistry | None) -> pa.Table:
    """The table with its ``consent_status`` column decided now (replaced in place if there).

    Call it again with the current registry whenever held rows are used again: a revocation
    applies to everything already held.
    """
    tab = table if isinstance(table, pa.Table) else pa.table(dict(table))
    status = pa.array(consent_status(tab, registry), pa.string())
    if STATUS_COLUMN in tab.column_names:
        i = tab.schema.get_field_index(STATUS_COLUMN)
        return tab.set_column(i, tab.schema.field(i).with_type(pa.string()), status)
    return tab.append_column(STATUS_COLUMN, status)


def releasable_mask(table: pa.Table) -> npt.NDArray[np.bool_]:
    """The gate: True for rows whose ``consent_status`` is 'consented'.

    Raises `ConsentError` when the table has no such column (consent was never decided).
    """
    if STATUS_COLUMN not in table.column_names:
        raise ConsentError(
            f"table has no {STATUS_COLUMN!r} column: apply_consent() must run before release"
        )
    col = table.column(STATUS_COLUMN).cast(pa.string()).fill_null(UNDETERMINED)
    return np.asarray(col.to_numpy(zero_copy_only=False) == CONSENTED, bool)


def require_releasable(table: pa.Table) -> pa.Table:
    """Only the rows that may go on (status 'consented'); raises if consent was never applied."""
    return table.filter(pa.array(releasable_mask(table), pa.bool_()))
