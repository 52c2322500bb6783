"""WGS84 ellipsoid: geodetic <-> ECEF and local ENU / NED frames, vectorised over arrays.

Angles are in degrees, lengths in metres, heights above the WGS84 ellipsoid (HAE) unless a name
says otherwise. Every function takes scalars or NumPy arrays that broadcast together and returns
float64 arrays; NaN in gives NaN out.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pyproj import Geod

FloatArray = NDArray[np.float64]

WGS84_A_M: Final = 6378137.0
"""Semi-major axis (m)."""
WGS84_F: Final = 1.0 / 298.257223563
"""Flattening."""
WGS84_B_M: Final = WGS84_A_M * (1.0 - WGS84_F)
"""Semi-minor axis (m)."""
WGS84_E2: Final = WGS84_F * (2.0 - WGS84_F)
"""First eccentricity squared."""
WGS84_EP2: Final = WGS84_E2 / (1.0 - WGS84_E2)
"""Second eccentricity squared."""

__all__ = [
    "MEAN_EARTH_RADIUS_M",
    "WGS84_A_M",
    "WGS84_B_M",
    "WGS84_E2",
    "WGS84_EP2",
    "WGS84_F",
    "ecef_to_enu",
    "ecef_to_geodetic",
    "ecef_to_ned",
    "enu_to_ecef",
    "enu_to_ecef_matrix",
    "geodetic_to_ecef",
    "geodetic_to_enu",
    "great_circle_m",
    "ned_to_ecef",
    "ned_to_ecef_matrix",
    "radii_of_curvature_m",
    "up_vector_ecef",
]


def _f64(x: ArrayLike) -> FloatArray:
    return np.asarray(x, dtype=np.float64)


def radii_of_curvature_m(lat_deg: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Meridian (M) and prime-vertical (N) radii of curvature (m) at geodetic latitude (deg)."""
    s = np.sin(np.radians(_f64(lat_deg)))
    w2 = 1.0 - WGS84_E2 * s * s
    n = WGS84_A_M / np.sqrt(w2)
    m = n * (1.0 - WGS84_E2) / w2
    return m, n


def geodetic_to_ecef(
    lat_deg: ArrayLike, lon_deg: ArrayLike, h_m: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Geodetic latitude, longitude (deg) and ellipsoidal height (m) -> ECEF x, y, z (m)."""
    lat = np.radians(_f64(lat_deg))
    lon = np.radians(_f64(lon_deg))
    h = _f64(h_m)
    slat, clat = np.sin(lat), np.cos(lat)
    n = WGS84_A_M / np.sqrt(1.0 - WGS84_E2 * slat * slat)
    r = (n + h) * clat
    return r * np.cos(lon), r * np.sin(lon), (n * (1.0 - WGS84_E2) + h) * slat


def _bowring(
    x: FloatArray, y: FloatArray, z: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """sin, cos of geodetic latitude, p = sqrt(x^2 + y^2), and longitude (rad), no trig on lat.

    Bowring's (1976) formula refined by one more Newton step on the reduced latitude; the error
    is below 1e-9 m for points between the Earth's centre region and 1000 km above the surface.
    """
    p = np.hypot(x, y)
    lon = np.arctan2(y, x)
    # First estimate of the reduced latitude, then Bowring's latitude, twice.
    bu_num = z * WGS84_A_M
    bu_den = p * WGS84_B_M
    for _ in range(2):
        r = np.hypot(bu_num, bu_den)
        su, cu = bu_num / r, bu_den / r
        num = z + WGS84_EP2 * WGS84_B_M * su * su * su
        den = p - WGS84_E2 * WGS84_A_M * cu * cu * cu
        # tan(reduced lat) = (1 - f) tan(lat)
        bu_num = num * (1.0 - WGS84_F)
        bu_den = den
    r = np.hypot(num, den)
    return num / r, den / r, p, lon


def ecef_to_geodetic(
    x_m: ArrayLike, y_m: ArrayLike, z_m: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """ECEF x, y, z (m) -> geodetic latitude, longitude (deg), ellipsoidal height (m).

    Bowring's method with one extra iteration: sub-millimetre from the Earth's surface to
    orbit altitudes (checked against pymap3d in the tests).
    """
    x, y, z = _f64(x_m), _f64(y_m), _f64(z_m)
    slat, clat, p, lon = _bowring(x, y, z)
    n = WGS84_A_M / np.sqrt(1.0 - WGS84_E2 * slat * slat)
    h = p * clat + z * slat - n * (1.0 - WGS84_E2 * slat * slat)
    return np.degrees(np.arctan2(slat, clat)), np.degrees(lon), h


def enu_to_ecef_matrix(lat_deg: ArrayLike, lon_deg: ArrayLike) -> FloatArray:
    """Rotation matrices (..., 3, 3) whose columns are east, north, up unit vectors in ECEF."""
    lat = np.radians(_f64(lat_deg))
    lon = np.radians(_f64(lon_deg))
    sl, cl = np.sin(lat), np.cos(lat)
    so, co = np.sin(lon), np.cos(lon)
    zero = np.zeros_like(sl * so)
    east = np.stack(np.broadcast_arrays(-so, co, zero), axis=-1)
    north = np.stack(np.broadcast_arrays(-sl * co, -sl * so, cl), axis=-1)
    up = np.stack(np.broadcast_arrays(cl * co, cl * so, sl), axis=-1)
    return np.stack([east, north, up], axis=-1)


def ned_to_ecef_matrix(lat_deg: ArrayLike, lon_deg: ArrayLike) -> FloatArray:
    """Rotation matrices (..., 3, 3) whose columns are north, east, down unit vectors in ECEF."""
    enu = enu_to_ecef_matrix(lat_deg, lon_deg)
    return np.stack([enu[..., 1], enu[..., 0], -enu[..., 2]], axis=-1)


def up_vector_ecef(lat_deg: ArrayLike, lon_deg: ArrayLike) -> FloatArray:
    """Ellipsoid normal (local up) at latitude, longitude (deg), as (..., 3) unit vectors."""
    lat = np.radians(_f64(lat_deg))
    lon = np.radians(_f64(lon_deg))
    cl = np.cos(lat)
    return np.stack(np.broadcast_arrays(cl * np.cos(lon), cl * np.sin(lon), np.sin(lat)), axis=-1)


def ecef_to_enu(
    dx_m: ArrayLike, dy_m: ArrayLike, dz_m: ArrayLike, lat0_deg: ArrayLike, lon0_deg: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Rotate an ECEF vector (m) into east, north, up (m) at the origin (lat0, lon0) (deg)."""
    lat = np.radians(_f64(lat0_deg))
    lon = np.radians(_f64(lon0_deg))
    dx, dy, dz = _f64(dx_m), _f64(dy_m), _f64(dz_m)
    sl, cl = np.sin(lat), np.cos(lat)
    so, co = np.sin(lon), np.cos(lon)
    t = co * dx + so * dy
    east = -so * dx + co * dy
    north = -sl * t + cl * dz
    up = cl * t + sl * dz
    return east, north, up


def enu_to_ecef(
    east_m: ArrayLike, north_m: ArrayLike, up_m: ArrayLike, lat0_deg: ArrayLike, lon0_deg: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Rotate an east, north, up vector (m) at (lat0, lon0) (deg) into an ECEF vector (m)."""
    lat = np.radians(_f64(lat0_deg))
    lon = np.radians(_f64(lon0_deg))
    e, n, u = _f64(east_m), _f64(north_m), _f64(up_m)
    sl, cl = np.sin(lat), np.cos(lat)
    so, co = np.sin(lon), np.cos(lon)
    t = cl * u - sl * n
    return co * t - so * e, so * t + co * e, sl * u + cl * n


def ecef_to_ned(
    dx_m: ArrayLike, dy_m: ArrayLike, dz_m: ArrayLike, lat0_deg: ArrayLike, lon0_deg: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Rotate an ECEF vector (m) into north, east, down (m) at (lat0, lon0) (deg)."""
    e, n, u = ecef_to_enu(dx_m, dy_m, dz_m, lat0_deg, lon0_deg)
    return n, e, -u


def ned_to_ecef(
    north_m: ArrayLike,
    east_m: ArrayLike,
    down_m: ArrayLike,
    lat0_deg: ArrayLike,
    lon0_deg: ArrayLike,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Rotate a north, east, down vector (m) at (lat0, lon0) (deg) into an ECEF vector (m)."""
    return enu_to_ecef(east_m, north_m, -_f64(down_m), lat0_deg, lon0_deg)


def geodetic_to_enu(
    lat_deg: ArrayLike,
    lon_deg: ArrayLike,
    h_m: ArrayLike,
    lat0_deg: ArrayLike,
    lon0_deg: ArrayLike,
    h0_m: ArrayLike,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """East, north, up (m) of a geodetic point relative to the geodetic origin (lat0, lon0, h0)."""
    x, y, z = geodetic_to_ecef(lat_deg, lon_deg, h_m)
    x0, y0, z0 = geodetic_to_ecef(lat0_deg, lon0_deg, h0_m)
    return ecef_to_enu(x - x0, y - y0, z - z0, lat0_deg, lon0_deg)


#: Mean Earth radius (IUGG, m): for great-circle distances where metres of accuracy suffice.
MEAN_EARTH_RADIUS_M: Final = 6_371_008.8


def great_circle_m(
    lat1_deg: ArrayLike, lon1_deg: ArrayLike, lat2_deg: ArrayLike, lon2_deg: ArrayLike
) -> FloatArray:
    """Great-circle distance (m) on the mean sphere (haversine), vectorised; NaN in, NaN out.

    Within 0.5 % of the WGS84 geodesic: for checks and searches, not for measurements (those
    use the geodesic)."""
    p1, p2 = np.radians(_f64(lat1_deg)), np.radians(_f64(lat2_deg))
    dlon = np.radians(((_f64(lon2_deg) - _f64(lon1_deg) + 180.0) % 360.0) - 180.0)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlon / 2) ** 2
    out: FloatArray = 2 * MEAN_EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
    return out


_GEOD: Final = Geod(ellps="WGS84")


def geodesic_inv(
    lat1_deg: ArrayLike, lon1_deg: ArrayLike, lat2_deg: ArrayLike, lon2_deg: ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Forward azimuth (deg from true north) and distance (m) of the WGS84 geodesic from
    points 1 to points 2 (pyproj), broadcast together; NaN where a coordinate is missing."""
    a, b, c, d = np.broadcast_arrays(_f64(lat1_deg), _f64(lon1_deg), _f64(lat2_deg), _f64(lon2_deg))
    az = np.full(a.shape, np.nan)
    dist = np.full(a.shape, np.nan)
    ok = np.isfinite(a) & np.isfinite(b) & np.isfinite(c) & np.isfinite(d)
    if ok.any():
        az[ok], _, dist[ok] = _GEOD.inv(b[ok], a[ok], d[ok], c[ok])
    return az, dist
