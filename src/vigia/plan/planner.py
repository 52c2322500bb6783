"""Sortie planner: which consented AOIs to collect from a base, in what order, with which lanes.

`plan_sortie` is the entry point (the ``vigia plan`` command calls it).

1. Each AOI is judged at the start: refused features, ``nominated`` areas, windows over (expired
   or revoked) or opening after the aircraft must be back are left out with the reason.
2. Each remaining AOI gets its collection pattern per usable sensor band (`vigia.plan.lanes`):
   lanes whose whole swath lies inside the area, or a stare orbit. On areas too small or narrow
   for the full swath to reach their edges, the field of view is narrowed (finer GSD, narrower
   swath) until the lanes cover 98 % of the area or the sensor's minimum field of view is
   reached. The swath polygons are checked with the consent rule itself
   (`consented_mask`, the one consent decision) before anything is planned.
3. AOIs beyond reach (base -> AOI -> base longer than the usable endurance) are left out.
4. The others are taken in priority order (1 first; nearer to the base first among equals) and
   each is inserted into the route where it costs least, if the route stays feasible: consent
   window open over the whole time over the AOI (``[arrive, leave]`` within ``[from, end)``), light
   right for the sensor (EO in daylight, IR at night when the AOI asks for IR; ``any`` takes EO
   by day and IR otherwise), and back at the base within the usable endurance (endurance less
   reserve). A 2-opt pass then shortens the route when it stays feasible.
5. The plan: transit legs (great circles), lanes and orbits with times, the predicted coverage
   (lane swaths inside the AOIs) as H3 cells (centre inside, as in `vigia.coverage`) and its
   fraction of the consented AOI area (areas in an equal-area projection).

Time is distance / true airspeed (no wind); daylight is the Sun above civil twilight (-6°) at the
AOI's centroid (`vigia.coverage.solar`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import shapely
from h3.api import numpy_int as h3n
from pyproj import Geod
from shapely.geometry.base import BaseGeometry

from vigia import times
from vigia.coverage.accumulate import DEFAULT_RES
from vigia.coverage.consent import consented_mask
from vigia.coverage.solar import CIVIL_TWILIGHT_DEG, solar_elevation_deg
from vigia.errors import PlanError, TimeError
from vigia.geo.wgs84 import geodesic_inv
from vigia.outputs import output_format, writing
from vigia.plan.lanes import LocalFrame, Pattern, lane_pattern, orbit_pattern
from vigia.plan.platform import PlatformProfile, SensorSetting, load_platform
from vigia.plan.registry import PlanningAOI, PlanningRegistry, load_planning_aois
from vigia.times import format_time_us

GEOD = Geod(ellps="WGS84")
DEFAULT_OVERLAP = 0.2
SUN_STEP_US = 120_000_000  # daylight table step: 2 min
TRANSIT_STEP_M = 10_000.0
MAX_INSERT_TRIES = 8
COVER_GOAL = 0.98
NARROWING = (1.0, 0.75, 0.55, 0.4, 0.3, 0.2)
US = 1_000_000

AOISource = str | PathLike[str] | Mapping[str, Any] | PlanningRegistry
TimeLike = datetime | str | int


# --- small helpers ------------------------------------------------------------------------------
def time_us(value: TimeLike, what: str = "start") -> int:
    """:func:`vigia.times.time_us`, refusing with :class:`PlanError`."""
    try:
        return times.time_us(value, what)
    except TimeError as exc:
        raise PlanError(exc.message) from None


def _iso(t: int) -> str:
    return str(format_time_us(int(t)))


def parse_base(text: str) -> tuple[float, float]:
    """``"LAT,LON"`` (degrees, as on the command line) -> (lat, lon); PlanError when not."""
    parts = str(text).replace(" ", "").split(",")
    if len(parts) != 2:
        raise PlanError(f"base must be LAT,LON in degrees, got {text!r}")
    try:
        return _check_base((float(parts[0]), float(parts[1])))
    except ValueError:
        raise PlanError(f"base must be LAT,LON in degrees, got {text!r}") from None


def _check_base(base: Sequence[float]) -> tuple[float, float]:
    try:
        lat, lon = (float(v) for v in base)
    except (TypeError, ValueError):
        raise PlanError(f"base must be (lat, lon) in degrees, got {base!r}") from None
    if not (math.isfinite(lat) and math.isfinite(lon) and abs(lat) <= 90 and abs(lon) <= 180):
        raise PlanError(f"base must be (lat, lon) in degrees within range, got ({lat}, {lon})")
    return lat, lon


def _distance_m(lon1: npt.ArrayLike, lat1: npt.ArrayLike, lon2: Any, lat2: Any) -> Any:
    """Geodesic distance on WGS84 (m), vectorised."""
    return geodesic_inv(lat1, lon1, lat2, lon2)[1]


@dataclass(frozen=True)
class LeftOut:
    """An AOI that is not in the plan, and why."""

    aoi: str
    index: int | None
    code: str  # invalid, nominated, expired, revoked, pending, window, light, reach, endurance...
    reason: str

    @property
    def message(self) -> str:
        """``AOI '<name>': <reason>``."""
        return f"AOI {self.aoi!r}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "aoi": self.aoi,
            "index": self.index,
            "code": self.code,
            "reason": self.reason,
            "message": self.message,
        }


# --- candidates: patterns, distances, daylight (time-independent work, done once) ---------------
@dataclass
class _Cand:
    aoi: PlanningAOI
    patterns: dict[str, Pattern]
    # node index in the distance matrix per (band, reversed): (entry, exit)
    nodes: dict[tuple[str, bool], tuple[int, int]]
    lon: float
    lat: float


@dataclass
class _Visit:
    ci: int
    band: str
    reverse: bool
    arrive_us: int
    leave_us: int


@dataclass
class _Sim:
    visits: list[_Visit]
    ok: bool
    end_us: int
    fail_ci: int | None = None
    fail_code: str = ""
    fail_reason: str = ""


class Candidates:
    """The plannable AOIs of a registry for one platform and base, with their patterns.

    Built once and reused by the sortie planner and the revisit scheduler. ``left_out`` lists
    the AOIs that no sortie in ``[t_from_us, t_until_us)`` can collect.
    """

    def __init__(
        self,
        registry: PlanningRegistry,
        platform: PlatformProfile,
        base: tuple[float, float],
        t_from_us: int,
        t_until_us: int,
        overlap: float = DEFAULT_OVERLAP,
    ) -> None:
        if not 0 <= overlap < 1:
            raise PlanError(f"overlap must be in [0, 1), got {overlap}")
        self.registry, self.platform, self.base, self.overlap = registry, platform, base, overlap
        self.t_from_us, self.t_until_us = t_from_us, t_until_us
        self.left_out: list[LeftOut] = [
            LeftOut(p.name or f"feature {p.index}", p.index, "invalid", p.reason)
            for p in registry.problems
        ]
        self.items: list[_Cand] = []
        self.in_horizon: list[PlanningAOI] = []
        pts: list[tuple[float, float]] = [(base[1], base[0])]
        for a in registry:
            why = self._consent_reason(a)
            if why:
                self.left_out.append(LeftOut(a.name, a.index, *why))
                continue
            self.in_horizon.append(a)
            try:
                pats = self._patterns(a)
            except (ValueError, PlanError) as exc:
                self.left_out.append(LeftOut(a.name, a.index, "geometry", str(exc)))
                continue
            nodes: dict[tuple[str, bool], tuple[int, int]] = {}
            for band, pat in pats.items():
                (e_lon, e_lat), (x_lon, x_lat) = pat.endpoints_lonlat()
                i = len(pts)
                if pat.kind == "orbit":
                    pts.append((e_lon, e_lat))
                    nodes[band, False] = (i, i)
                else:
                    pts.extend([(e_lon, e_lat), (x_lon, x_lat)])
                    nodes[band, False] = (i, i + 1)
                    nodes[band, True] = (i + 1, i)
            c = a.aoi.geometry.centroid
            self.items.append(_Cand(a, pats, nodes, c.x, c.y))
        p = np.asarray(pts, float)
        self.dist_m = _distance_m(p[:, None, 0], p[:, None, 1], p[None, :, 0], p[None, :, 1])
        cen = np.array([(base[1], base[0])] + [(c.lon, c.lat) for c in self.items], float)
        self.centre_dist_m = _distance_m(
            cen[:, None, 0], cen[:, None, 1], cen[None, :, 0], cen[None, :, 1]
        )
        self._sun_table(t_from_us, t_until_us)
        self._drop_beyond_reach()

    # consent at planning level: the window must meet the horizon
    def _consent_reason(self, a: PlanningAOI) -> tuple[str, str] | None:
        status = a.aoi.status_at(self.t_from_us)
        ws, we = a.aoi.window_us
        if status == "nominated":
            return "nominated", "nominated, consent not granted: not planned"
        if status == "revoked":
            return "revoked", f"consent revoked at {_iso(we)}: not planned"
        if status == "expired":
            return "expired", f"consent expired at {_iso(we)}: not planned"
        if ws >= self.t_until_us:
            return "pending", (
                f"consent window opens at {_iso(ws)}, after the latest possible return "
                f"({_iso(self.t_until_us)})"
            )
        return None

    def _patterns(self, a: PlanningAOI) -> dict[str, Pattern]:
        prof = self.platform
        bands = [b for b in (("EO", "IR") if a.sensor == "any" else (a.sensor,))]
        bands = [b for b in bands if b in prof.sensors]
        if not bands:
            raise PlanError(f"platform {prof.name!r} has no {a.sensor} sensor")
        out: dict[str, Pattern] = {}
        errors: list[str] = []
        for band in bands:
            s = prof.sensor_setting(band, a.target_gsd_m, a.ground_elevation_m)
            if not s.meets_target:
                errors.append(
                    f"{band} cannot reach the target GSD {s.target_gsd_m:g} m "
                    f"(best {s.gsd_m:.2f} m at {s.height_agl_m:.0f} m above ground)"
                )
                continue
            try:
                if a.task == "stare":
                    pat = orbit_pattern(
                        a.aoi.geometry,
                        s,
                        prof,
                        a.stare_min * 60.0,
                        (self.base[1], self.base[0]),
                    )
                else:
                    pat = self._lanes(a, s)
            except ValueError as exc:
                errors.append(str(exc))
                continue
            self._consent_guard(a, pat)
            out[band] = pat
        if not out:
            raise ValueError("; ".join(errors))
        return out

    def _lanes(self, a: PlanningAOI, s: SensorSetting) -> Pattern:
        """Lanes at the target GSD; on small or narrow areas, where a full swath cannot reach
        the edges, the field of view is narrowed step by step (finer GSD) until the lanes cover
        ``COVER_GOAL`` of the area, keeping the best pattern found."""
        hfov_min = self.platform.sensors[s.band].hfov_min_deg
        area = None
        best: Pattern | None = None
        best_frac = -1.0
        error: ValueError | None = None
        for factor in NARROWING:
            setting = s.narrowed(factor, hfov_min) if factor < 1 else s
            if best is not None and setting.swath_m >= best.setting.swath_m:
                break
            try:
                pat = lane_pattern(a.aoi.geometry, setting, self.platform, self.overlap)
            except ValueError as exc:
                error = error or exc
                continue
            area = area or pat.frame.to_local(a.aoi.geometry).area
            frac = pat.cover.area / area
            if frac > best_frac:
                best, best_frac = pat, frac
            if frac >= COVER_GOAL:
                break
        if best is None:
            raise error or ValueError("no lane fits inside the area")
        return best

    def _consent_guard(self, a: PlanningAOI, pat: Pattern) -> None:
        """Every swath polygon must be consented by the one rule at a time in the window."""
        polys = np.array([pat.frame.to_lonlat(g) for g in swath_polygons(pat)], dtype=object)
        t = max(a.aoi.window_us[0], self.t_from_us)
        ok = consented_mask(
            {"polygon": polys, "time": np.full(polys.size, t, np.int64)}, self.registry.consent
        )
        if not ok.all():
            raise ValueError("its lanes' swaths are not all inside consented area (consent rule)")

    def _sun_table(self, t0: int, t1: int) -> None:
        n = max(2, (t1 - t0) // SUN_STEP_US + 3)
        self.sun_t0 = t0 - SUN_STEP_US
        ts = self.sun_t0 + np.arange(n, dtype=np.int64) * SUN_STEP_US
        lat = np.array([c.lat for c in self.items], float)[:, None]
        lon = np.array([c.lon for c in self.items], float)[:, None]
        day = solar_elevation_deg(lat, lon, ts[None, :]) > CIVIL_TWILIGHT_DEG
        zero = np.zeros((len(self.items), 1), np.int64)
        self.day_cum = np.concatenate([zero, np.cumsum(day, axis=1)], axis=1)
        self.sun_n = n

    def light(self, ci: int, t0: int, t1: int) -> str:
        """``day``, ``night`` or ``mixed`` over [t0, t1] at the AOI (2-minute samples, widened)."""
        i0 = (t0 - self.sun_t0) // SUN_STEP_US
        i1 = -(-(t1 - self.sun_t0) // SUN_STEP_US)
        if i0 < 0 or i1 >= self.sun_n:
            c = self.items[ci]
            ts = np.linspace(t0, t1, max(2, int((t1 - t0) // SUN_STEP_US) + 2)).astype(np.int64)
            day = solar_elevation_deg(c.lat, c.lon, ts) > CIVIL_TWILIGHT_DEG
            n_day, n = int(day.sum()), day.size
        else:
            n_day = int(self.day_cum[ci, i1 + 1] - self.day_cum[ci, i0])
            n = int(i1 - i0 + 1)
        return "day" if n_day == n else "night" if n_day == 0 else "mixed"

    def _drop_beyond_reach(self) -> None:
        usable = self.platform.usable_endurance_s
        v = self.platform.tas_mps
        keep: list[_Cand] = []
        for c in self.items:
            best = min(
                (self.dist_m[0, e] + self.dist_m[x, 0]) / v + c.patterns[b].duration_s
                for (b, _r), (e, x) in c.nodes.items()
            )
            if best > usable:
                d_km = self.centre_dist_m[0, 1 + self.items.index(c)] / 1000.0
                self.left_out.append(
                    LeftOut(
                        c.aoi.name,
                        c.aoi.index,
                        "reach",
                        f"beyond reach: {d_km:.0f} km from the base, the round trip and the "
                        f"collection need {best / 3600:.1f} h of {usable / 3600:.1f} h usable "
                        "endurance",
                    )
                )
                continue
            keep.append(c)
        if len(keep) != len(self.items):
            idx = [0] + [1 + self.items.index(c) for c in keep]
            self.centre_dist_m = self.centre_dist_m[np.ix_(idx, idx)]
            self.day_cum = self.day_cum[[i - 1 for i in idx[1:]]]
            self.items = keep

    # --- route simulation -----------------------------------------------------------------------
    def simulate(self, t0: int, order: Sequence[int]) -> _Sim:
        """Fly ``order`` (candidate indices) from the base at ``t0``; first violation reported."""
        v = self.platform.tas_mps
        limit = t0 + round(self.platform.usable_endurance_s * US)
        pos, t = 0, t0
        visits: list[_Visit] = []
        for ci in order:
            c = self.items[ci]
            ws, we = c.aoi.aoi.window_us
            options: list[tuple[int, int, str, bool, int, int]] = []
            why: tuple[str, str] | None = None
            for (band, rev), (e, x) in c.nodes.items():
                arr = t + round(self.dist_m[pos, e] / v * US)
                leave = arr + round(c.patterns[band].duration_s * US)
                if arr < ws:
                    why = why or (
                        "window",
                        f"consent window opens at {_iso(ws)}, after the planned arrival "
                        f"{_iso(arr)}",
                    )
                    continue
                if leave > we:
                    why = why or (
                        "window",
                        f"consent window closes at {_iso(we)}, before the planned end of "
                        f"collection {_iso(leave)} (arrival {_iso(arr)})",
                    )
                    continue
                light = self.light(ci, arr, leave)
                need = c.aoi.sensor
                if band == "EO" and light != "day":
                    why = why or (
                        "light",
                        f"EO needs daylight; over it from {_iso(arr)} to {_iso(leave)} "
                        f"it would be {light}",
                    )
                    continue
                if need == "IR" and light != "night":
                    why = why or (
                        "light",
                        f"IR at night requested; over it from {_iso(arr)} to {_iso(leave)} "
                        f"it would be {light}",
                    )
                    continue
                if leave + round(self.dist_m[x, 0] / v * US) > limit:
                    why = why or (
                        "endurance",
                        "does not fit in the endurance left (no time to return to the base)",
                    )
                    continue
                pref = 0 if band == "EO" else 1  # EO by day when both are possible
                options.append((pref, leave, band, rev, arr, x))
            if not options:
                code, reason = why or ("endurance", "does not fit")
                return _Sim(visits, False, t, ci, code, reason)
            _p, leave, band, rev, arr, x = min(options)
            visits.append(_Visit(ci, band, rev, arr, leave))
            pos, t = x, leave
        end = t + round(self.dist_m[pos, 0] / v * US)
        if end > limit:
            return _Sim(visits, False, end, None, "endurance", "return to the base too late")
        return _Sim(visits, True, end)

    def route(self, t0: int, selection: Sequence[int]) -> tuple[_Sim, list[LeftOut]]:
        """Insert ``selection`` (candidate indices, in priority order) into a feasible route."""
        route: list[int] = []
        dropped: list[LeftOut] = []
        cd = self.centre_dist_m
        best = self.simulate(t0, route)
        for ci in selection:
            seq = [0, *(r + 1 for r in route), 0]
            a = np.array(seq[:-1])
            b = np.array(seq[1:])
            delta = cd[a, ci + 1] + cd[ci + 1, b] - cd[a, b]
            first: _Sim | None = None
            placed = False
            for k in np.argsort(delta, kind="stable")[:MAX_INSERT_TRIES]:
                trial = [*route[: int(k)], ci, *route[int(k) :]]
                sim = self.simulate(t0, trial)
                first = first or sim
                if sim.ok:
                    route, best, placed = trial, sim, True
                    break
            if not placed:
                dropped.append(self._why_not(ci, first))
        route, best = self._two_opt(t0, route, best)
        return best, dropped

    def _why_not(self, ci: int, sim: _Sim | None) -> LeftOut:
        a = self.items[ci].aoi
        if sim is None:
            return LeftOut(a.name, a.index, "endurance", "does not fit")
        if sim.fail_ci == ci and sim.fail_code != "endurance":
            return LeftOut(a.name, a.index, sim.fail_code, sim.fail_reason)
        if sim.fail_ci is not None and sim.fail_ci != ci and sim.fail_code != "endurance":
            other = self.items[sim.fail_ci].aoi.name
            return LeftOut(
                a.name,
                a.index,
                "conflict",
                f"does not fit without pushing higher-priority AOI {other!r} out of its "
                f"constraints ({sim.fail_reason})",
            )
        usable = self.platform.usable_endurance_s / 3600
        return LeftOut(
            a.name,
            a.index,
            "endurance",
            f"does not fit in the {usable:.1f} h usable endurance after higher-priority AOIs",
        )

    def _two_opt(self, t0: int, route: list[int], best: _Sim) -> tuple[list[int], _Sim]:
        if len(route) < 3:
            return route, best
        cd = self.centre_dist_m
        improved = True
        passes = 0
        while improved and passes < 20:
            improved = False
            passes += 1
            seq = np.array([0, *(r + 1 for r in route), 0])
            n = len(seq)
            for i in range(1, n - 2):
                j = np.arange(i + 1, n - 1)
                gain = (
                    cd[seq[i - 1], seq[i]]
                    + cd[seq[j], seq[j + 1]]
                    - cd[seq[i - 1], seq[j]]
                    - cd[seq[i], seq[j + 1]]
                )
                k = int(np.argmax(gain))
                if gain[k] > 1.0:
                    jj = int(j[k])
                    trial = route[: i - 1] + route[i - 1 : jj][::-1] + route[jj:]
                    sim = self.simulate(t0, trial)
                    if sim.ok:
                        route, best = trial, sim
                        seq = np.array([0, *(r + 1 for r in route), 0])
                        improved = True
        return route, best


def swath_polygons(pat: Pattern) -> list[BaseGeometry]:
    """What the sensor sees on each lane (lane buffered by half the swath) or on the orbit
    (the stare disc), in the pattern's local metres."""
    if pat.kind == "orbit":
        return [pat.cover]
    half = pat.setting.swath_m / 2.0
    return [
        shapely.buffer(shapely.linestrings(p), half, cap_style="flat", join_style="round")
        for p in pat.lanes
    ]


# --- the plan -----------------------------------------------------------------------------------
@dataclass
class PlannedAOI:
    """One AOI in the plan: when, with which sensor, and what it is predicted to cover."""

    aoi: PlanningAOI
    pattern: Pattern
    arrive_us: int
    leave_us: int
    light: str
    area_km2: float
    covered_km2: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        s = self.pattern.setting
        return {
            "aoi": self.aoi.name,
            "priority": self.aoi.priority,
            "task": self.aoi.task,
            "sensor": s.band,
            "light": self.light,
            "arrive": _iso(self.arrive_us),
            "leave": _iso(self.leave_us),
            "hours": round((self.leave_us - self.arrive_us) / 3.6e9, 3),
            "gsd_m": round(s.gsd_m, 3),
            "swath_m": round(s.swath_m, 1),
            "lanes": len(self.pattern.lanes) if self.pattern.kind == "lane" else 0,
            "collect_km": round(self.pattern.collect_m / 1000.0, 2),
            "area_km2": round(self.area_km2, 3),
            "covered_km2": round(self.covered_km2, 3),
            "coverage_fraction": round(self.covered_km2 / self.area_km2, 4)
            if self.area_km2
            else 0.0,
        }


@dataclass
class SortiePlan:
    """A sortie: features (transit, lanes, orbits), planned AOIs, left-out AOIs, coverage."""

    platform: PlatformProfile
    base: tuple[float, float]
    start_us: int
    end_us: int
    features: list[dict[str, Any]]
    planned: list[PlannedAOI]
    left_out: list[LeftOut]
    cells: npt.NDArray[np.uint64]
    h3_res: int
    consented_area_km2: float
    covered_area_km2: float
    distance_m: float
    warnings: list[str] = field(default_factory=list)

    @property
    def duration_h(self) -> float:
        """Take-off to landing, hours."""
        return (self.end_us - self.start_us) / 3.6e9

    @property
    def endurance_fraction(self) -> float:
        """Duration over the platform's endurance (<= 1 when feasible; the reserve is kept)."""
        return self.duration_h / self.platform.endurance_h

    @property
    def coverage_fraction(self) -> float:
        """Predicted covered area over consented AOI area (AOIs consented during the sortie)."""
        if self.consented_area_km2 <= 0:
            return 0.0
        return self.covered_area_km2 / self.consented_area_km2

    def summary(self) -> dict[str, Any]:
        """The ``--json`` summary."""
        return {
            "platform": self.platform.name,
            "base": {"lat": self.base[0], "lon": self.base[1]},
            "start": _iso(self.start_us),
            "end": _iso(self.end_us),
            "duration_h": round(self.duration_h, 3),
            "endurance_h": self.platform.endurance_h,
            "reserve_h": self.platform.reserve_h,
            "endurance_fraction": round(self.endurance_fraction, 4),
            "distance_km": round(self.distance_m / 1000.0, 1),
            "coverage_fraction": round(self.coverage_fraction, 4),
            "consented_area_km2": round(self.consented_area_km2, 3),
            "covered_area_km2": round(self.covered_area_km2, 3),
            "h3_res": self.h3_res,
            "cells": int(self.cells.size),
            "aois_planned": [p.to_dict() for p in self.planned],
            "left_out": [lo.to_dict() for lo in self.left_out],
            "warnings": list(self.warnings),
        }

    def to_geojson(self) -> dict[str, Any]:
        """FeatureCollection of the plan (``properties.kind``: transit, lane, orbit), with the
        summary as the foreign member ``vigia_plan``."""
        return {
            "type": "FeatureCollection",
            "vigia_plan": self.summary(),
            "features": self.features,
        }

    def write_geojson(self, path: str | PathLike[str]) -> None:
        """Write `to_geojson` to a ``.geojson`` (or ``.json``) file."""
        output_format(path, {".geojson": "geojson", ".json": "geojson"}, "plan")
        text = json.dumps(self.to_geojson(), ensure_ascii=False)
        with writing(path, "plan"):
            Path(path).write_text(text, encoding="utf-8")

    def to_kml(self) -> str:
        """The plan as a KML document."""
        from vigia.plan.kml import plan_to_kml

        return plan_to_kml(self.to_geojson())

    def write_kml(self, path: str | PathLike[str]) -> None:
        """Write `to_kml` to a file."""
        text = self.to_kml()
        with writing(path, "plan"):
            Path(path).write_text(text, encoding="utf-8")

    def cells_table(self) -> pa.Table:
        """Predicted coverage: one row per H3 cell (column ``cell``, uint64)."""
        return pa.table({"cell": pa.array(self.cells, pa.uint64())})


def _line_feature(coords: npt.ArrayLike, props: dict[str, Any]) -> dict[str, Any]:
    c = np.round(np.asarray(coords, float), 7).tolist()
    return {
        "type": "Feature",
        "properties": props,
        "geometry": {"type": "LineString", "coordinates": c},
    }


def _transit_coords(a: tuple[float, float], b: tuple[float, float]) -> npt.NDArray[np.float64]:
    """Great circle from a to b (lon, lat), a point about every 10 km."""
    d = float(_distance_m(a[0], a[1], b[0], b[1]))
    n = int(d // TRANSIT_STEP_M)
    mid = GEOD.npts(a[0], a[1], b[0], b[1], n) if n > 0 else []
    return np.array([a, *mid, b], float)


def assemble(
    cands: Candidates,
    t0: int,
    sim: _Sim,
    left_out: Sequence[LeftOut],
    *,
    h3_res: int = DEFAULT_RES,
    predict_cells: bool = True,
) -> SortiePlan:
    """Turn a simulated route into a `SortiePlan` (geometry, times, coverage)."""
    prof, v = cands.platform, cands.platform.tas_mps
    base_ll = (cands.base[1], cands.base[0])
    feats: list[dict[str, Any]] = []
    planned: list[PlannedAOI] = []
    pos, pos_name, t = base_ll, "base", t0
    dist = 0.0

    def transit(
        a: tuple[float, float], b: tuple[float, float], t_a: int, leg: str, names: tuple[str, str]
    ) -> int:
        nonlocal dist
        coords = _transit_coords(a, b)
        d = float(_distance_m(a[0], a[1], b[0], b[1]))
        dist += d
        t_b = t_a + round(d / v * US)
        feats.append(
            _line_feature(
                coords,
                {
                    "kind": "transit",
                    "leg": leg,
                    "from": names[0],
                    "to": names[1],
                    "start": _iso(t_a),
                    "end": _iso(t_b),
                    "distance_km": round(d / 1000.0, 3),
                },
            )
        )
        return t_b

    covers: list[BaseGeometry] = []
    for vis in sim.visits:
        c = cands.items[vis.ci]
        pat = c.patterns[vis.band].oriented(vis.reverse)
        (e_lon, e_lat), (x_lon, x_lat) = pat.endpoints_lonlat()
        leg = "outbound" if pos_name == "base" else "between"
        t = transit(pos, (e_lon, e_lat), t, leg, (pos_name, c.aoi.name))
        t = max(t, vis.arrive_us)
        s = pat.setting
        common = {
            "aoi": c.aoi.name,
            "sensor": s.band,
            "swath_m": round(s.swath_m, 2),
            "gsd_m": round(s.gsd_m, 3),
            "hfov_deg": round(s.hfov_deg, 3),
            "altitude_m": prof.altitude_m,
        }
        for k, lane in enumerate(pat.lanes):
            lo, la = pat.frame.inv(lane[:, 0], lane[:, 1])
            t_end = t + round(pat.lane_s[k] * US)
            ll = np.column_stack([lo, la])
            if pat.kind == "orbit":
                aim_lo, aim_la = pat.frame.inv([pat.aim_xy[0]], [pat.aim_xy[1]])  # type: ignore[index]
                props = {
                    "kind": "orbit",
                    **common,
                    "radius_m": round(pat.orbit_radius_m, 1),
                    "cover_radius_m": round(pat.cover_radius_m, 1),
                    "aim_lon": round(float(aim_lo[0]), 7),
                    "aim_lat": round(float(aim_la[0]), 7),
                    "duration_min": round(pat.lane_s[k] / 60.0, 2),
                    "start": _iso(t),
                    "end": _iso(t_end),
                }
            else:
                props = {
                    "kind": "lane",
                    **common,
                    "pattern": pat.lane_kinds[k],
                    "seq": k,
                    "length_km": round(float(np.hypot(*np.diff(lane, axis=0).T).sum()) / 1000, 3),
                    "start": _iso(t),
                    "end": _iso(t_end),
                }
            feats.append(_line_feature(ll, props))
            dist += pat.collect_m if pat.kind == "lane" and k == 0 else 0.0
            t = t_end
            if k + 1 < len(pat.lanes):
                nxt = pat.lanes[k + 1][0]
                nlo, nla = pat.frame.inv([nxt[0]], [nxt[1]])
                t_turn = t + round(pat.turn_s[k] * US)
                feats.append(
                    _line_feature(
                        [ll[-1], (float(nlo[0]), float(nla[0]))],
                        {
                            "kind": "transit",
                            "leg": "turn",
                            "from": c.aoi.name,
                            "to": c.aoi.name,
                            "start": _iso(t),
                            "end": _iso(t_turn),
                            "distance_km": round(pat.turn_s[k] * v / 1000, 3),
                        },
                    )
                )
                dist += pat.turn_s[k] * v
                t = t_turn
        if pat.kind == "orbit":
            dist += pat.lane_s[0] * v
        cover_ll = pat.frame.to_lonlat(pat.cover)
        covers.append(cover_ll)
        planned.append(
            PlannedAOI(
                c.aoi, pat, vis.arrive_us, t, cands.light(vis.ci, vis.arrive_us, t), 0.0, 0.0
            )
        )
        pos, pos_name = (x_lon, x_lat), c.aoi.name
    end = transit(pos, base_ll, t, "return", (pos_name, "base")) if sim.visits else t0

    # consent, checked again through the one rule at the planned times (vertices of the lanes)
    for f in feats:
        p = f["properties"]
        if p["kind"] == "lane":
            xy = np.asarray(f["geometry"]["coordinates"], float)
            tt = np.linspace(time_us(p["start"]), time_us(p["end"]) - 1, len(xy)).astype(np.int64)
            pts = {"lat": xy[:, 1], "lon": xy[:, 0], "time": tt}
            if not consented_mask(pts, cands.registry.consent).all():
                raise PlanError(f"internal: a lane over {p['aoi']!r} leaves consented area")

    # coverage: areas in an equal-area frame over the region
    region = [a.aoi.geometry for a in cands.in_horizon]
    consented = shapely.union_all(region) if region else shapely.Polygon()
    covered = shapely.union_all(covers) if covers else shapely.Polygon()
    covered = shapely.intersection(covered, consented) if region else covered
    if region:
        cen = consented.centroid
        frame = LocalFrame(cen.y, cen.x)
        cons_km2 = frame.to_local(consented).area / 1e6
        cov_km2 = frame.to_local(covered).area / 1e6 if not covered.is_empty else 0.0
        for p, g in zip(planned, covers, strict=True):
            p.area_km2 = frame.to_local(p.aoi.aoi.geometry).area / 1e6
            p.covered_km2 = frame.to_local(shapely.intersection(g, p.aoi.aoi.geometry)).area / 1e6
    else:
        cons_km2 = cov_km2 = 0.0
    cells = np.zeros(0, np.uint64)
    if predict_cells and not covered.is_empty:
        cells = np.unique(np.asarray(h3n.geo_to_cells(covered, h3_res), np.uint64))
    warnings = []
    if not cands.in_horizon:
        warnings.append("no AOI is consented at any time during the sortie: nothing to plan")
    elif not sim.visits:
        warnings.append("no consented AOI can be collected from this base at this time")
    return SortiePlan(
        prof,
        cands.base,
        t0,
        end,
        feats,
        planned,
        list(left_out),
        cells,
        h3_res,
        cons_km2,
        cov_km2,
        dist,
        warnings,
    )


def plan_sortie(
    aois: AOISource,
    base: Sequence[float],
    start: TimeLike,
    platform: str | PathLike[str] | Mapping[str, Any] | PlatformProfile = "mq9",
    *,
    overlap: float = DEFAULT_OVERLAP,
    h3_res: int = DEFAULT_RES,
) -> SortiePlan:
    """Plan one sortie from ``base`` = (lat, lon) degrees at ``start`` (see module docstring).

    ``aois``: AOI GeoJSON path or mapping (planning properties optional), or a registry.
    ``overlap``: side overlap of adjacent lanes (fraction of the swath). Bad AOIs do not stop
    the plan: they are in `SortiePlan.left_out` with a message naming them.
    """
    reg = load_planning_aois(aois)
    prof = platform if isinstance(platform, PlatformProfile) else load_platform(platform)
    b = _check_base(base)
    t0 = time_us(start)
    t1 = t0 + round(prof.usable_endurance_s * US)
    cands = Candidates(reg, prof, b, t0, t1, overlap)
    order = sorted(
        range(len(cands.items)),
        key=lambda i: (cands.items[i].aoi.priority, cands.centre_dist_m[0, i + 1]),
    )
    sim, dropped = cands.route(t0, order)
    left = sorted([*cands.left_out, *dropped], key=lambda lo: (lo.index is None, lo.index))
    return assemble(cands, t0, sim, left, h3_res=h3_res)
