"""EGM96 geoid undulation, offline, from the grid shipped in ``vigia/geo/data``.

The shipped grid is NGA's EGM96 15-arc-minute grid (as distributed by PROJ, see
``data/README.md``) kept at full resolution and rounded to whole centimetres. With bilinear
interpolation it reproduces bilinear interpolation of the full-precision 15' grid to within
0.005 m everywhere (tested). The 15' grid itself represents the EGM96 spherical-harmonic model to
a few centimetres in flat areas and to about a metre in steep mountains.

Conventions: N is the height of the geoid above the WGS84 ellipsoid (m), so that
``h_ellipsoid = H_msl + N``.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import numpy as np
from numpy.typing import ArrayLike, NDArray

from vigia.errors import GeoError

FloatArray = NDArray[np.float64]

GRID_FILE = "egm96_15m_cm.npz"

__all__ = ["ellipsoid_height_m", "geoid_undulation_m", "msl_height_m"]


@cache
def _grid() -> tuple[FloatArray, int, int, float, float, float]:
    """Flattened undulations (m) at nodes (lat0 - i*step, lon0 + j*step) with a wrap-around
    column appended; rows, columns (without the wrap), lat0, lon0, step (deg)."""
    try:
        ref = resources.files("vigia.geo").joinpath("data", GRID_FILE)
        with resources.as_file(ref) as path, np.load(path) as npz:
            grid = npz["undulation_cm"].astype(np.float64) / 100.0
            lat0 = float(npz["lat0_deg"])
            lon0 = float(npz["lon0_deg"])
            step = float(npz["step_deg"])
    except (OSError, KeyError, ValueError) as exc:  # pragma: no cover - broken install
        raise GeoError(f"EGM96 grid {GRID_FILE} cannot be read: {exc}") from exc
    n_rows, n_cols = grid.shape
    wrapped = np.concatenate([grid, grid[:, :1]], axis=1)
    return np.ascontiguousarray(wrapped).ravel(), n_rows, n_cols, lat0, lon0, step


def geoid_undulation_m(lat_deg: ArrayLike, lon_deg: ArrayLike) -> FloatArray:
    """EGM96 geoid height above the WGS84 ellipsoid N (m) at latitude, longitude (deg).

    Bilinear interpolation in the 15' grid; longitudes wrap around, latitudes are clipped to
    +-90. NaN or non-finite coordinates give NaN.
    """
    flat, n_rows, n_cols, lat0, lon0, step = _grid()
    lat = np.asarray(lat_deg, dtype=np.float64)
    lon = np.asarray(lon_deg, dtype=np.float64)
    lat, lon = np.broadcast_arrays(lat, lon)
    shape = lat.shape
    lat, lon = lat.ravel(), lon.ravel()
    finite = np.isfinite(lat) & np.isfinite(lon)
    all_finite = bool(finite.all())
    if not all_finite:
        lat = np.where(finite, lat, 0.0)
        lon = np.where(finite, lon, 0.0)
    r = (lat0 - np.clip(lat, -90.0, 90.0)) * (1.0 / step)
    c = np.mod(lon - lon0, 360.0) * (1.0 / step)
    r0 = np.minimum(r.astype(np.intp), n_rows - 2)
    c0 = np.minimum(c.astype(np.intp), n_cols - 1)
    fr = r - r0
    fc = c - c0
    i00 = r0 * (n_cols + 1) + c0
    g00 = flat[i00]
    g01 = flat[i00 + 1]
    g10 = flat[i00 + (n_cols + 1)]
    g11 = flat[i00 + (n_cols + 2)]
    top = g00 + (g01 - g00) * fc
    out = top + (g10 + (g11 - g10) * fc - top) * fr
    if not all_finite:
        out[~finite] = np.nan
    return out.reshape(shape)


def ellipsoid_height_m(msl_m: ArrayLike, lat_deg: ArrayLike, lon_deg: ArrayLike) -> FloatArray:
    """Height above the ellipsoid (m) from height above mean sea level (EGM96, m)."""
    return np.asarray(msl_m, dtype=np.float64) + geoid_undulation_m(lat_deg, lon_deg)


def msl_height_m(hae_m: ArrayLike, lat_deg: ArrayLike, lon_deg: ArrayLike) -> FloatArray:
    """Height above mean sea level (EGM96, m) from height above the ellipsoid (m)."""
    return np.asarray(hae_m, dtype=np.float64) - geoid_undulation_m(lat_deg, lon_deg)
