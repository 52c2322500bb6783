"""EGM96 geoid grid shipped with vigia.geo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vigia.geo.geoid import ellipsoid_height_m, geoid_undulation_m, msl_height_m

FULL_GRIDS = [
    Path("/usr/share/proj/egm96_15.gtx"),
    Path("/usr/share/proj/us_nga_egm96_15.tif"),
]


def _full_grid() -> tuple[np.ndarray, float, float]:
    rasterio = pytest.importorskip("rasterio")
    for path in FULL_GRIDS:
        if path.exists():
            with rasterio.open(path) as ds:
                t = ds.transform
                return ds.read(1).astype(np.float64), t.f + t.e / 2, t.c + t.a / 2
    pytest.skip("no full-precision EGM96 15' grid (Debian proj-data) on this machine")


def _bilinear(grid: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    r = (90.0 - lat) / 0.25
    c = np.mod(lon + 180.0, 360.0) / 0.25
    r0 = np.minimum(np.floor(r).astype(int), grid.shape[0] - 2)
    c0 = np.floor(c).astype(int) % grid.shape[1]
    c1 = (c0 + 1) % grid.shape[1]
    fr, fc = r - r0, c - np.floor(c)
    return (
        grid[r0, c0] * (1 - fr) * (1 - fc)
        + grid[r0, c1] * (1 - fr) * fc
        + grid[r0 + 1, c0] * fr * (1 - fc)
        + grid[r0 + 1, c1] * fr * fc
    )


def test_matches_the_full_15_minute_grid_within_5_mm() -> None:
    grid, lat0, lon0 = _full_grid()
    assert (
        grid.shape == (721, 1440) and lat0 == pytest.approx(90.0) and lon0 == pytest.approx(-180.0)
    )
    rng = np.random.default_rng(96)
    lat = np.concatenate([rng.uniform(-90, 90, 200_000), [90.0, -90.0, 0.0, 45.0]])
    lon = np.concatenate([rng.uniform(-180, 180, 200_000), [0.0, 179.99, -180.0, 179.875]])
    err = np.abs(geoid_undulation_m(lat, lon) - _bilinear(grid, lat, lon))
    assert err.max() <= 0.0051
    # at the nodes themselves
    nodes = geoid_undulation_m(np.array([20.0, 20.25, -33.5]), np.array([-100.0, -99.75, 151.25]))
    ref = grid[[280, 279, 494], [320, 321, 1325]]
    assert np.max(np.abs(nodes - ref)) <= 0.005


def test_known_values() -> None:
    # EGM96 at (0, 0) is about +17.16 m; the geoid low south of India is about -106 m; the
    # high near New Guinea about +85 m; Mexico City about -7.5 m.
    assert geoid_undulation_m(0.0, 0.0) == pytest.approx(17.16, abs=0.05)
    assert float(geoid_undulation_m(5.0, 78.75)) == pytest.approx(-106.0, abs=2.0)
    assert float(geoid_undulation_m(-4.5, 147.5)) > 70.0
    assert -12.0 < float(geoid_undulation_m(19.43, -99.13)) < -3.0


def test_longitude_wraps_and_nan() -> None:
    a = geoid_undulation_m(
        np.array([10.0, 10.0, np.nan, 10.0]), np.array([-170.0, 190.0, 0.0, np.inf])
    )
    assert a[0] == pytest.approx(a[1])
    assert np.isnan(a[2]) and np.isnan(a[3])
    assert geoid_undulation_m(np.zeros((2, 3)), np.zeros((2, 3))).shape == (2, 3)


def test_msl_and_ellipsoid_heights_are_inverse() -> None:
    lat, lon = np.array([25.0, 18.0]), np.array([-107.0, -95.0])
    hae = ellipsoid_height_m(np.array([1000.0, 2000.0]), lat, lon)
    assert np.allclose(msl_height_m(hae, lat, lon), [1000.0, 2000.0])
    assert np.allclose(hae - [1000.0, 2000.0], geoid_undulation_m(lat, lon))


def test_shipped_grid_is_modest() -> None:
    path = Path(__file__).parents[1] / "src/vigia/geo/data/egm96_15m_cm.npz"
    assert path.stat().st_size < 3_000_000
