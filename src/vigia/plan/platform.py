"""Platform profiles: speed, endurance, operating altitude and the sensors' field-of-view range.

The MQ-9-class default (``mq9``) ships in ``vigia/plan/data/mq9.json``; other profiles are JSON
files of the same shape, loaded with `load_platform`.

Sensor geometry (flat ground, pinhole camera, square pixels)
------------------------------------------------------------
For a sensor ``h_agl_m`` metres above the ground looking down at depression angle ``theta``
(below the horizontal), with horizontal field of view ``hfov`` over ``width_px`` pixels:

* slant range to the frame centre: ``R_m = h_agl_m / sin(theta)``
* instantaneous field of view per pixel: ``ifov_rad = hfov_rad / width_px``
* GSD across the look direction ``R_m * ifov_rad``, along it ``R_m * ifov_rad / sin(theta)``
  (foreshortening); ``gsd_m`` is their geometric mean, as in `vigia.geo.footprint`:
  ``gsd_m = R_m * ifov_rad / sqrt(sin(theta))``
* so the field of view that gives a target GSD at the frame centre is
  ``hfov_rad = target_gsd_m * width_px * sin(theta) ** 1.5 / h_agl_m``, clamped to the sensor's
  ``[hfov_min_deg, hfov_max_deg]`` (a field of view below the minimum means the target GSD cannot
  be reached from that height; above the maximum the GSD is finer than asked)
* swath (ground width of the frame through its centre, across the track):
  ``swath_m = 2 * R_m * tan(hfov_rad / 2)``. The frame is a trapezoid wider at its far edge, and
  moving along the lane it sweeps a band at least this wide, so the swath is conservative.
* turn radius at true airspeed ``v`` and bank ``phi``: ``r_m = v**2 / (g * tan(phi))``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from os import PathLike
from pathlib import Path
from typing import Any

from vigia.errors import PlanError

KT_TO_MPS = 1852.0 / 3600.0
G_MPS2 = 9.80665
BANDS = ("EO", "IR")
MIN_AGL_M = 300.0


@dataclass(frozen=True)
class SensorProfile:
    """One imaging sensor of a platform (EO or IR)."""

    band: str
    width_px: int
    hfov_min_deg: float
    hfov_max_deg: float
    default_gsd_m: float


@dataclass(frozen=True)
class SensorSetting:
    """The sensor set up for one task: field of view, the GSD it gives, the swath it sweeps."""

    band: str
    hfov_deg: float
    gsd_m: float
    swath_m: float
    slant_range_m: float
    height_agl_m: float
    target_gsd_m: float

    def narrowed(self, factor: float, hfov_min_deg: float) -> SensorSetting:
        """The same sensor zoomed in: field of view times ``factor`` (not below the minimum);
        GSD scales with the field of view, swath ``2 R tan(hfov / 2)``."""
        hfov = max(math.radians(self.hfov_deg) * factor, math.radians(hfov_min_deg))
        gsd = self.gsd_m * hfov / math.radians(self.hfov_deg)
        swath = 2.0 * self.slant_range_m * math.tan(hfov / 2.0)
        return dataclasses.replace(self, hfov_deg=math.degrees(hfov), gsd_m=gsd, swath_m=swath)

    @property
    def meets_target(self) -> bool:
        """Whether the GSD at the frame centre is at least as fine as the target (1 % slack)."""
        return self.gsd_m <= self.target_gsd_m * 1.01


@dataclass(frozen=True)
class PlatformProfile:
    """An aircraft class for planning: speed, endurance, altitude, sensors."""

    name: str
    cruise_tas_kt: float
    endurance_h: float
    reserve_h: float
    altitude_m: float
    altitude_min_m: float
    altitude_max_m: float
    depression_deg: float
    max_bank_deg: float
    sensors: Mapping[str, SensorProfile]
    description: str = ""

    @property
    def tas_mps(self) -> float:
        """Cruise true airspeed in m/s."""
        return self.cruise_tas_kt * KT_TO_MPS

    @property
    def usable_endurance_s(self) -> float:
        """Endurance less the reserve, in seconds: what a plan may use."""
        return (self.endurance_h - self.reserve_h) * 3600.0

    @property
    def turn_radius_m(self) -> float:
        """Turn radius at cruise speed and the maximum planned bank, metres."""
        return self.tas_mps**2 / (G_MPS2 * math.tan(math.radians(self.max_bank_deg)))

    @property
    def orbit_radius_m(self) -> float:
        """Ground radius of a stare orbit: horizontal distance at the depression angle, metres.

        ``h / tan(theta)`` at the operating altitude (over sea-level ground), at least the turn
        radius.
        """
        d = self.altitude_m / math.tan(math.radians(self.depression_deg))
        return max(d, self.turn_radius_m)

    def sensor_setting(
        self, band: str, target_gsd_m: float | None = None, ground_elevation_m: float = 0.0
    ) -> SensorSetting:
        """Field of view, GSD and swath for ``band`` at the operating altitude (module formulas).

        ``ground_elevation_m``: terrain height under the task (m above the altitude datum).
        """
        if band not in self.sensors:
            raise PlanError(f"platform {self.name!r} has no {band} sensor")
        s = self.sensors[band]
        target = s.default_gsd_m if target_gsd_m is None else float(target_gsd_m)
        h = self.altitude_m - ground_elevation_m
        if h < MIN_AGL_M:
            raise PlanError(
                f"ground at {ground_elevation_m:.0f} m leaves {h:.0f} m above it at the operating "
                f"altitude {self.altitude_m:.0f} m (at least {MIN_AGL_M:.0f} m needed)"
            )
        theta = math.radians(self.depression_deg)
        slant_m = h / math.sin(theta)
        hfov = target * s.width_px * math.sin(theta) ** 1.5 / h
        hfov = min(max(hfov, math.radians(s.hfov_min_deg)), math.radians(s.hfov_max_deg))
        gsd = slant_m * (hfov / s.width_px) / math.sqrt(math.sin(theta))
        swath = 2.0 * slant_m * math.tan(hfov / 2.0)
        return SensorSetting(band, math.degrees(hfov), gsd, swath, slant_m, h, target)


# --- loading ------------------------------------------------------------------------------------
def _number(doc: Mapping[str, Any], key: str, where: str, *, positive: bool = True) -> float:
    v = doc.get(key)
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise PlanError(f"{where}: {key} must be a number, got {v!r}")
    if positive and v <= 0:
        raise PlanError(f"{where}: {key} must be positive, got {v!r}")
    return float(v)


def platform_from_mapping(doc: Mapping[str, Any], where: str = "platform") -> PlatformProfile:
    """Validate a profile mapping (the JSON shape of ``mq9.json``) into a `PlatformProfile`."""
    if not isinstance(doc, Mapping):
        raise PlanError(f"{where}: a platform profile must be a JSON object")
    name = doc.get("name")
    if not isinstance(name, str) or not name.strip():
        raise PlanError(f"{where}: missing name")
    where = f"platform {name!r}"
    nums = {
        k: _number(doc, k, where)
        for k in (
            "cruise_tas_kt",
            "endurance_h",
            "altitude_m",
            "altitude_min_m",
            "altitude_max_m",
            "depression_deg",
            "max_bank_deg",
        )
    }
    reserve = _number(doc, "reserve_h", where, positive=False) if "reserve_h" in doc else 0.0
    if not 0 <= reserve < nums["endurance_h"]:
        raise PlanError(f"{where}: reserve_h must be in [0, endurance_h), got {reserve}")
    if not nums["altitude_min_m"] <= nums["altitude_m"] <= nums["altitude_max_m"]:
        raise PlanError(f"{where}: altitude_m must lie within [altitude_min_m, altitude_max_m]")
    if not 0 < nums["depression_deg"] <= 90 or not 0 < nums["max_bank_deg"] < 60:
        raise PlanError(f"{where}: depression_deg must be in (0, 90], max_bank_deg in (0, 60)")
    raw = doc.get("sensors")
    if not isinstance(raw, Mapping) or not raw:
        raise PlanError(f"{where}: sensors must be an object with EO and/or IR entries")
    sensors: dict[str, SensorProfile] = {}
    for band, sd in raw.items():
        b = str(band).upper()
        if b not in BANDS or not isinstance(sd, Mapping):
            raise PlanError(f"{where}: sensor {band!r} must be EO or IR with an object of figures")
        sw = f"{where} sensor {b}"
        width = sd.get("width_px")
        if isinstance(width, bool) or not isinstance(width, int) or width <= 0:
            raise PlanError(f"{sw}: width_px must be a positive integer, got {width!r}")
        lo, hi = _number(sd, "hfov_min_deg", sw), _number(sd, "hfov_max_deg", sw)
        if not lo <= hi < 180:
            raise PlanError(f"{sw}: need hfov_min_deg <= hfov_max_deg < 180")
        sensors[b] = SensorProfile(b, width, lo, hi, _number(sd, "default_gsd_m", sw))
    return PlatformProfile(
        name=name.strip(),
        reserve_h=reserve,
        sensors=sensors,
        description=str(doc.get("description", "")),
        **nums,
    )


def available_platforms() -> list[str]:
    """Names of the profiles shipped with Vigía."""
    data = files("vigia.plan") / "data"
    return sorted(p.name[:-5] for p in data.iterdir() if p.name.endswith(".json"))


def load_platform(source: str | PathLike[str] | Mapping[str, Any] = "mq9") -> PlatformProfile:
    """A profile by shipped name (``"mq9"``), from a JSON file, or from a mapping."""
    if isinstance(source, Mapping):
        return platform_from_mapping(source)
    if isinstance(source, str) and source in available_platforms():
        text = (files("vigia.plan") / "data" / f"{source}.json").read_text(encoding="utf-8")
        where = f"platform {source!r}"
    else:
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            known = ", ".join(available_platforms())
            raise PlanError(f"unknown platform {str(source)!r} (shipped: {known}): {exc}") from None
        where = f"platform file {path}"
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanError(f"{where} is not JSON: {exc}") from None
    return platform_from_mapping(doc, where)
