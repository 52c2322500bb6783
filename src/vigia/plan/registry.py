"""AOI registry for planning: consent from `vigia.coverage.consent`, tasking from extra properties.

An AOI file is the consent GeoJSON (one Feature per area; see `vigia.coverage.consent` for the
consent properties and the one consent rule). Planning reads these extra, optional properties:

* ``priority``: integer, 1 is the highest (tasking-list convention); default 3.
* ``revisit_h``: required revisit interval in hours (for example 48); none by default.
* ``sensor``: ``"EO"`` (imaged in daylight), ``"IR"`` (imaged at night, thermal activity) or
  ``"any"`` (EO by day, IR at night, whichever the light at the planned time allows); default any.
* ``task``: ``"area"`` (coverage lanes, default) or ``"stare"`` (an orbit looking at the area's
  centre; ``"orbit"`` and ``stare: true`` mean the same), with ``stare_min`` minutes (default 60).
* ``target_gsd_m``: GSD to reach at the frame centre (default: the platform sensor's).
* ``ground_elevation_m``: typical terrain height of the area (metres above the altitude datum;
  default 0), which lowers the height above ground and so the swath.
* ``nominated_by``: ``"analyst"`` or ``"partner"`` (recorded, not used).

Unlike `load_aois`, which refuses a whole consent file for one bad feature, planning keeps every
feature that passes the consent module's own validation and lists the others, each named, in
`PlanningRegistry.problems`: the rest of the plan is still made. The consent objects themselves
(`AOI`, window, state, revocation) come from the consent module unchanged; a revocation made here
(`PlanningRegistry.revoke`) is a new ``revoked_at`` on that object, so the same rule drops the
area from planning and withholds anything seen there afterwards (`PlanningRegistry.consent`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from os import PathLike
from pathlib import Path
from typing import Any

from vigia.coverage.consent import AOI, ConsentRegistry, load_aois, read_features
from vigia.errors import ConsentError
from vigia.times import parse_time_us

SENSOR_PREFS = ("EO", "IR", "any")
TASKS = ("area", "stare")
DEFAULT_PRIORITY = 3
DEFAULT_STARE_MIN = 60.0


@dataclass(frozen=True)
class PlanningAOI:
    """An AOI with its consent (`AOI` of the consent module) and its tasking."""

    aoi: AOI
    priority: int = DEFAULT_PRIORITY
    revisit_h: float | None = None
    sensor: str = "any"
    task: str = "area"
    stare_min: float = DEFAULT_STARE_MIN
    target_gsd_m: float | None = None
    ground_elevation_m: float = 0.0
    nominated_by: str | None = None

    @property
    def name(self) -> str:
        """The AOI's name."""
        return self.aoi.name

    @property
    def index(self) -> int:
        """Position of the feature in its file."""
        return self.aoi.index

    def label(self) -> str:
        """``feature <index> (<name>)`` as in consent messages."""
        return self.aoi.label()


@dataclass(frozen=True)
class AOIProblem:
    """A feature that cannot be planned, and why (the message names it)."""

    index: int
    name: str | None
    reason: str

    @property
    def message(self) -> str:
        """``AOI feature <i> (<name>): <reason>``."""
        who = f"feature {self.index} ({self.name!r})" if self.name else f"feature {self.index}"
        return f"AOI {who}: {self.reason}"


def _feature_name(feat: Any) -> str | None:
    props = feat.get("properties") if isinstance(feat, Mapping) else None
    name = props.get("name") if isinstance(props, Mapping) else None
    return name.strip() if isinstance(name, str) and name.strip() else None


def _consent_one(i: int, feat: Any) -> AOI:
    """Validate one feature with the consent module (one-feature collection), index restored."""
    try:
        reg = load_aois({"type": "FeatureCollection", "features": [feat]})
    except ConsentError as exc:
        # The consent module labels the lone feature "feature 0 (...)": keep only the reason.
        msg = exc.message.removeprefix("AOI file refused: ")
        props = feat.get("properties") if isinstance(feat, Mapping) else None
        raw = props.get("name") if isinstance(props, Mapping) else None
        label = f"feature 0 ({raw!r}): " if raw else "feature 0 (unnamed): "
        raise ConsentError(msg.removeprefix(label)) from None
    return dataclasses.replace(reg.aois[0], index=i)


def _tasking(aoi: AOI) -> PlanningAOI:
    """Planning properties of one consented feature; ValueError with the reason when bad."""
    p = aoi.properties

    def number(key: str, default: float | None, *, positive: bool = True) -> float | None:
        v = p.get(key, default)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise ValueError(f"{key} must be a number, got {v!r}")
        if positive and v <= 0:
            raise ValueError(f"{key} must be positive, got {v!r}")
        return float(v)

    prio = p.get("priority", DEFAULT_PRIORITY)
    if isinstance(prio, bool) or not isinstance(prio, int) or prio < 1:
        raise ValueError(f"priority must be an integer >= 1 (1 is the highest), got {prio!r}")
    sensor = p.get("sensor", "any")
    lookup = {s.lower(): s for s in SENSOR_PREFS}
    if not isinstance(sensor, str) or sensor.strip().lower() not in lookup:
        raise ValueError(f"sensor must be one of {', '.join(SENSOR_PREFS)}, got {sensor!r}")
    task = p.get("task", "stare" if p.get("stare") is True else "area")
    task = "stare" if task == "orbit" else task
    if task not in TASKS:
        raise ValueError(f"task must be area or stare (orbit), got {task!r}")
    by = p.get("nominated_by")
    return PlanningAOI(
        aoi=aoi,
        priority=prio,
        revisit_h=number("revisit_h", None),
        sensor=lookup[sensor.strip().lower()],
        task=task,
        stare_min=number("stare_min", DEFAULT_STARE_MIN) or DEFAULT_STARE_MIN,
        target_gsd_m=number("target_gsd_m", None),
        ground_elevation_m=number("ground_elevation_m", 0.0, positive=False) or 0.0,
        nominated_by=by if isinstance(by, str) else None,
    )


class PlanningRegistry:
    """Planning AOIs, the features refused (named), and the consent registry over the accepted."""

    def __init__(self, aois: Sequence[PlanningAOI], problems: Sequence[AOIProblem] = ()) -> None:
        self.aois: tuple[PlanningAOI, ...] = tuple(aois)
        self.problems: tuple[AOIProblem, ...] = tuple(problems)
        self.consent = ConsentRegistry([a.aoi for a in self.aois])

    def __len__(self) -> int:
        return len(self.aois)

    def __iter__(self) -> Iterator[PlanningAOI]:
        return iter(self.aois)

    def __getitem__(self, name: str) -> PlanningAOI:
        for a in self.aois:
            if a.name == name:
                return a
        raise KeyError(name)

    def status_at(self, name: str, time_us: int) -> str:
        """Consent state of one AOI at a time (nominated, pending, consented, expired, revoked)."""
        return self[name].aoi.status_at(time_us)

    def consented_at(self, time_us: int) -> list[PlanningAOI]:
        """The AOIs whose consent window is open at ``time_us`` (µs, UTC)."""
        return [a for a in self.aois if bool(a.aoi.active(time_us))]

    def revoke(self, name: str, at: int | str) -> PlanningRegistry:
        """A registry in which ``name`` is revoked at ``at`` (µs or ISO 8601 with offset).

        Effective at once: from ``at`` the area drops out of planning and the consent rule
        withholds coverage and observations there (use `consent` downstream, or write
        `to_geojson` back as the AOI file).
        """
        t = at if isinstance(at, int) else parse_time_us(at, "revoked_at")
        out = []
        found = False
        for a in self.aois:
            if a.name == name:
                found = True
                rev = t if a.aoi.revoked_at_us is None else min(t, a.aoi.revoked_at_us)
                props = dict(a.aoi.properties)
                props["state"] = "revoked"
                new = dataclasses.replace(a.aoi, state="revoked", revoked_at_us=rev)
                new = dataclasses.replace(new, properties=props)
                a = dataclasses.replace(a, aoi=new)
            out.append(a)
        if not found:
            raise KeyError(name)
        return PlanningRegistry(out, self.problems)

    def to_geojson(self) -> dict[str, Any]:
        """The accepted AOIs as a FeatureCollection (loads back with `load_planning_aois`)."""
        return self.consent.to_geojson()


def load_planning_aois(
    source: str | PathLike[str] | Mapping[str, Any] | PlanningRegistry,
) -> PlanningRegistry:
    """Read an AOI GeoJSON (path or mapping) for planning; bad features are listed, not fatal.

    Raises `ConsentError` only when the document as a whole is unusable (not JSON, not a
    FeatureCollection).
    """
    if isinstance(source, PlanningRegistry):
        return source
    feats = read_features(source)
    aois: list[PlanningAOI] = []
    problems: list[AOIProblem] = []
    seen: set[str] = set()
    for i, feat in enumerate(feats):
        name = _feature_name(feat)
        try:
            aoi = _consent_one(i, feat)
            if aoi.name in seen:
                raise ValueError("another feature has the same name (names must be unique)")
            planning = _tasking(aoi)
        except (ConsentError, ValueError) as exc:
            reason = exc.message if isinstance(exc, ConsentError) else str(exc)
            problems.append(AOIProblem(i, name, reason))
            continue
        seen.add(aoi.name)
        aois.append(planning)
    return PlanningRegistry(aois, problems)


def demo_plan_aois_path() -> Path:
    """Demo AOI file for planning: the consent demo areas with tasking, a stare and a nominee."""
    return Path(str(files("vigia.plan") / "data" / "demo_plan_aois.geojson"))
