"""Solar position, vectorised (NOAA's formulation of Meeus' low-order solar theory).

Accuracy is about 0.01 degree in elevation for years 1800-2100, far better than the day/night
decision needs. Elevation is geometric (no atmospheric refraction): civil twilight is defined on
the geometric position of the Sun's centre.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

US_PER_DAY = 86_400_000_000
CIVIL_TWILIGHT_DEG = -6.0
"""Day/night threshold: "day" when the Sun is above -6 degrees (end of civil twilight).

Chosen because until civil dusk an EO camera still sees the ground by skylight and analysts
treat the imagery as daylight imagery; below it only IR is useful.
"""


def sun_terms(time_us: npt.ArrayLike) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Solar declination (radians) and equation of time (minutes) at ``time_us`` (µs, UTC)."""
    t = np.asarray(time_us, np.int64)
    jd = t / US_PER_DAY + 2440587.5
    jc = (jd - 2451545.0) / 36525.0
    l0 = np.deg2rad((280.46646 + jc * (36000.76983 + jc * 0.0003032)) % 360.0)
    m = np.deg2rad(357.52911 + jc * (35999.05029 - 0.0001537 * jc))
    e = 0.016708634 - jc * (0.000042037 + 0.0000001267 * jc)
    c = (
        np.sin(m) * (1.914602 - jc * (0.004817 + 0.000014 * jc))
        + np.sin(2 * m) * (0.019993 - 0.000101 * jc)
        + np.sin(3 * m) * 0.000289
    )
    omega = np.deg2rad(125.04 - 1934.136 * jc)
    lam = np.deg2rad(np.rad2deg(l0) + c - 0.00569 - 0.00478 * np.sin(omega))
    eps0 = 23.0 + (26.0 + (21.448 - jc * (46.815 + jc * (0.00059 - jc * 0.001813))) / 60.0) / 60.0
    eps = np.deg2rad(eps0 + 0.00256 * np.cos(omega))
    decl = np.arcsin(np.sin(eps) * np.sin(lam))
    y = np.tan(eps / 2) ** 2
    eot_rad = (
        y * np.sin(2 * l0)
        - 2 * e * np.sin(m)
        + 4 * e * y * np.sin(m) * np.cos(2 * l0)
        - 0.5 * y * y * np.sin(4 * l0)
        - 1.25 * e * e * np.sin(2 * m)
    )
    return decl, 4.0 * np.rad2deg(eot_rad)


def elevation_from_terms(
    lat_deg: npt.ArrayLike,
    lon_deg: npt.ArrayLike,
    time_us: npt.ArrayLike,
    decl_rad: npt.ArrayLike,
    eot_min: npt.ArrayLike,
) -> npt.NDArray[np.float64]:
    """Solar elevation (degrees) from precomputed `sun_terms` (lets callers share them)."""
    t = np.asarray(time_us, np.int64)
    minutes = (t % US_PER_DAY) / 60_000_000.0
    tst = (minutes + np.asarray(eot_min) + 4.0 * np.asarray(lon_deg, np.float64)) % 1440.0
    ha = np.deg2rad(tst / 4.0 - 180.0)
    phi = np.deg2rad(np.asarray(lat_deg, np.float64))
    d: Any = np.asarray(decl_rad)
    cos_z = np.sin(phi) * np.sin(d) + np.cos(phi) * np.cos(d) * np.cos(ha)
    return np.asarray(90.0 - np.rad2deg(np.arccos(np.clip(cos_z, -1.0, 1.0))), np.float64)


def solar_elevation_deg(
    lat_deg: npt.ArrayLike, lon_deg: npt.ArrayLike, time_us: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Geometric solar elevation in degrees at (lat, lon) degrees and time (µs since epoch, UTC)."""
    decl, eot = sun_terms(time_us)
    return elevation_from_terms(lat_deg, lon_deg, time_us, decl, eot)


def is_day(
    lat_deg: npt.ArrayLike,
    lon_deg: npt.ArrayLike,
    time_us: npt.ArrayLike,
    threshold_deg: float = CIVIL_TWILIGHT_DEG,
) -> npt.NDArray[np.bool_]:
    """True where the Sun is above ``threshold_deg`` (default: civil twilight, -6 degrees)."""
    return np.asarray(solar_elevation_deg(lat_deg, lon_deg, time_us) > threshold_deg, bool)
