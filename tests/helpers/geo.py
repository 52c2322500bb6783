"""Geometry for the vigia.geo tests: an independent line-of-sight oracle and pose rows.

The oracle, built on pymap3d, shares no code with vigia.geo: the rotation chain is a product of
explicit 3x3 matrices, the ray is intersected by pymap3d (``los.lookAtSpheroid`` over the
ellipsoid, or a bisection on ``pymap3d.aer2geodetic`` heights for raised terrain), one Python
row at a time. :func:`random_rows` and :func:`one_row` build the columns vigia.geo reads.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pymap3d
import pymap3d.los


def rot_z(deg: float) -> np.ndarray:
    """Rotation by ``deg`` degrees about z."""
    a = math.radians(deg)
    return np.array([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0], [0, 0, 1]])


def rot_y(deg: float) -> np.ndarray:
    """Rotation by ``deg`` degrees about y."""
    a = math.radians(deg)
    return np.array([[math.cos(a), 0.0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0.0, math.cos(a)]])


def rot_x(deg: float) -> np.ndarray:
    """Rotation by ``deg`` degrees about x."""
    a = math.radians(deg)
    return np.array([[1, 0, 0], [0.0, math.cos(a), -math.sin(a)], [0.0, math.sin(a), math.cos(a)]])


def ned_direction(row: dict[str, float], u: float = 0.0, v: float = 0.0) -> np.ndarray:
    """NED unit vector of the ray through normalised image point (u right, v down)."""
    pitch = row.get("platform_pitch_angle_full", math.nan)
    if math.isnan(pitch):
        pitch = row["platform_pitch_angle"]
    roll = row.get("platform_roll_angle_full", math.nan)
    if math.isnan(roll):
        roll = row["platform_roll_angle"]
    r = (
        rot_z(row["platform_heading_angle"])
        @ rot_y(pitch)
        @ rot_x(roll)
        @ rot_z(row["sensor_relative_azimuth_angle"])
        @ rot_y(row["sensor_relative_elevation_angle"])
        @ rot_x(row["sensor_relative_roll_angle"])
    )
    tx = math.tan(math.radians(row["sensor_horizontal_field_of_view"]) / 2.0)
    ty = math.tan(math.radians(row["sensor_vertical_field_of_view"]) / 2.0)
    d = r @ np.array([1.0, u * tx, v * ty])
    return d / np.linalg.norm(d)


def az_el(ned: np.ndarray) -> tuple[float, float]:
    """Azimuth (degrees from north) and elevation of a NED vector."""
    n, e, d = ned
    return math.degrees(math.atan2(e, n)) % 360.0, math.degrees(math.atan2(-d, math.hypot(n, e)))


def los_ellipsoid(lat: float, lon: float, h: float, ned: np.ndarray) -> tuple[float, float, float]:
    """(lat, lon, slant range) where the ray meets the WGS84 ellipsoid (NaN if it misses)."""
    az, el = az_el(ned)
    la, lo, d = pymap3d.los.lookAtSpheroid(lat, lon, h, az, 90.0 + el)
    return float(la), float(lo), float(d)


def los_terrain(
    lat: float,
    lon: float,
    h: float,
    ned: np.ndarray,
    terrain_hae: Callable[[float, float], float],
    max_range_m: float = 60_000.0,
    step_m: float = 5.0,
) -> tuple[float, float, float, float]:
    """(lat, lon, h, slant range) of the first point of the ray at or under the terrain."""
    az, el = az_el(ned)

    def gap(s: float) -> float:
        la, lo, hh = pymap3d.aer2geodetic(az, el, s, lat, lon, h)
        return float(hh) - terrain_hae(float(la), float(lo))

    s0, g0 = 0.0, gap(0.0)
    if g0 <= 0:
        return (math.nan,) * 4
    s = step_m
    while s <= max_range_m:
        g = gap(s)
        if g <= 0:
            lo_s, hi_s = s0, s
            for _ in range(50):
                mid = 0.5 * (lo_s + hi_s)
                if gap(mid) <= 0:
                    hi_s = mid
                else:
                    lo_s = mid
            s_hit = 0.5 * (lo_s + hi_s)
            la, lo, hh = pymap3d.aer2geodetic(az, el, s_hit, lat, lon, h)
            return float(la), float(lo), float(hh), s_hit
        s0 = s
        s += step_m
    return (math.nan,) * 4


def horizontal_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Horizontal distance (m) between two nearby points, via pymap3d ENU."""
    e, n, _ = pymap3d.geodetic2enu(lat2, lon2, 0.0, lat1, lon1, 0.0)
    return float(math.hypot(e, n))


# --- pose rows for vigia.geo ------------------------------------------------------------------
def random_rows(n: int, seed: int) -> dict[str, np.ndarray]:
    """``n`` random poses over Mexico, as the float columns :func:`vigia.geo.footprints` reads."""
    rng = np.random.default_rng(seed)
    return {
        "sensor_latitude": rng.uniform(14.0, 33.0, n),
        "sensor_longitude": rng.uniform(-118.0, -86.0, n),
        "sensor_ellipsoid_height": rng.uniform(300.0, 15_000.0, n),
        "platform_heading_angle": rng.uniform(0.0, 360.0, n),
        "platform_pitch_angle": rng.uniform(-20.0, 20.0, n),
        "platform_roll_angle": rng.uniform(-50.0, 50.0, n),
        "sensor_relative_azimuth_angle": rng.uniform(0.0, 360.0, n),
        "sensor_relative_elevation_angle": rng.uniform(-180.0, 180.0, n),
        "sensor_relative_roll_angle": rng.uniform(0.0, 360.0, n),
        "sensor_horizontal_field_of_view": rng.uniform(0.2, 60.0, n),
        "sensor_vertical_field_of_view": rng.uniform(0.2, 45.0, n),
    }


def one_row(**kw: float) -> dict[str, np.ndarray]:
    """One nadir-looking pose at 25N 107W, 5 km up, with ``kw`` overriding any column."""
    row = {
        "sensor_latitude": 25.0,
        "sensor_longitude": -107.0,
        "sensor_ellipsoid_height": 5000.0,
        "platform_heading_angle": 0.0,
        "platform_pitch_angle": 0.0,
        "platform_roll_angle": 0.0,
        "sensor_relative_azimuth_angle": 0.0,
        "sensor_relative_elevation_angle": -90.0,
        "sensor_relative_roll_angle": 0.0,
        "sensor_horizontal_field_of_view": 10.0,
        "sensor_vertical_field_of_view": 5.625,
    }
    row.update(kw)
    return {k: np.array([v], dtype=np.float64) for k, v in row.items()}
