"""WGS84 helpers against pymap3d (independent implementation)."""

from __future__ import annotations

import numpy as np
import pymap3d
import pytest

from vigia.geo import wgs84
from vigia.geo.intersect import ecef_to_latlon
from vigia.geo.sensor import sin_cos_deg

RNG = np.random.default_rng(20240601)
LAT = RNG.uniform(-89.9, 89.9, 2000)
LON = RNG.uniform(-180.0, 180.0, 2000)
H = RNG.uniform(-1000.0, 40_000.0, 2000)


def test_geodetic_to_ecef_matches_pymap3d() -> None:
    ours = wgs84.geodetic_to_ecef(LAT, LON, H)
    ref = pymap3d.geodetic2ecef(LAT, LON, H)
    for a, b in zip(ours, ref, strict=True):
        assert np.max(np.abs(a - b)) < 1e-6


def test_ecef_to_geodetic_round_trip_and_pymap3d() -> None:
    x, y, z = pymap3d.geodetic2ecef(LAT, LON, H)
    lat, lon, h = wgs84.ecef_to_geodetic(x, y, z)
    assert np.max(np.abs(lat - LAT)) * 111_000 < 1e-6
    assert np.max(np.abs(lon - LON) * np.cos(np.radians(LAT))) * 111_000 < 1e-6
    assert np.max(np.abs(h - H)) < 1e-6


def test_fast_surface_conversion_is_submillimetre_near_the_surface() -> None:
    h = RNG.uniform(-500.0, 10_000.0, LAT.size)
    x, y, z = pymap3d.geodetic2ecef(LAT, LON, h)
    slat, clat, lat, _lon, hh = ecef_to_latlon(x, y, z)
    assert np.max(np.abs(lat - LAT)) * 111_000 < 1e-3
    assert np.max(np.abs(hh - h)) < 1e-3
    assert np.allclose(slat, np.sin(np.radians(LAT)), atol=1e-10)
    assert np.allclose(clat, np.cos(np.radians(LAT)), atol=1e-10)


def test_enu_and_ned_match_pymap3d() -> None:
    lat0, lon0, h0 = 23.0, -105.0, 1500.0
    e, n, u = wgs84.geodetic_to_enu(
        LAT[:50] * 0.01 + lat0, LON[:50] * 0.01 + lon0, 10.0, lat0, lon0, h0
    )
    re, rn, ru = pymap3d.geodetic2enu(
        LAT[:50] * 0.01 + lat0, LON[:50] * 0.01 + lon0, 10.0, lat0, lon0, h0
    )
    assert np.allclose(e, re, atol=1e-6) and np.allclose(n, rn, atol=1e-6)
    assert np.allclose(u, ru, atol=1e-6)
    dx, dy, dz = RNG.normal(size=(3, 50)) * 1000
    nn, ee, dd = wgs84.ecef_to_ned(dx, dy, dz, LAT[:50], LON[:50])
    re2, rn2, ru2 = pymap3d.uvw2enu(dx, dy, dz, LAT[:50], LON[:50])
    assert np.allclose(nn, rn2, atol=1e-9) and np.allclose(ee, re2, atol=1e-9)
    assert np.allclose(dd, -ru2, atol=1e-9)
    back = wgs84.ned_to_ecef(nn, ee, dd, LAT[:50], LON[:50])
    for a, b in zip(back, (dx, dy, dz), strict=True):
        assert np.allclose(a, b, atol=1e-9)
    back2 = wgs84.enu_to_ecef(*wgs84.ecef_to_enu(dx, dy, dz, 10.0, 20.0), 10.0, 20.0)
    for a, b in zip(back2, (dx, dy, dz), strict=True):
        assert np.allclose(a, b, atol=1e-9)


def test_rotation_matrices_are_orthonormal_and_consistent() -> None:
    m = wgs84.enu_to_ecef_matrix(LAT[:20], LON[:20])
    assert np.allclose(m @ np.swapaxes(m, -1, -2), np.eye(3), atol=1e-12)
    ned = wgs84.ned_to_ecef_matrix(LAT[:20], LON[:20])
    assert np.allclose(ned[..., 2], -wgs84.up_vector_ecef(LAT[:20], LON[:20]))
    assert np.allclose(ned[..., 0], m[..., 1]) and np.allclose(ned[..., 1], m[..., 0])


def test_radii_of_curvature() -> None:
    m, n = wgs84.radii_of_curvature_m(np.array([0.0, 90.0]))
    assert n[0] == pytest.approx(wgs84.WGS84_A_M)
    assert m[1] == pytest.approx(n[1]) and n[1] == pytest.approx(
        wgs84.WGS84_A_M**2 / wgs84.WGS84_B_M
    )


def test_sin_cos_deg_covers_the_st0601_ranges() -> None:
    for lo, hi, flag in ((-270.0, 270.0, False), (-90.0, 450.0, True)):
        a = np.concatenate([np.linspace(lo, hi, 100_001), [lo, hi, 0.0, 90.0, 180.0, 270.0]])
        a = a[(a >= lo) & (a <= hi)]
        s, c = sin_cos_deg(a, zero_to_360=flag)
        assert np.max(np.abs(s - np.sin(np.radians(a)))) < 1e-15
        assert np.max(np.abs(c - np.cos(np.radians(a)))) < 1e-7


def test_nan_propagates() -> None:
    x, _y, z = wgs84.geodetic_to_ecef(np.nan, 0.0, 0.0)
    assert np.isnan(x) and np.isnan(z)
    lat, _lon, h = wgs84.ecef_to_geodetic(np.nan, 1.0, 1.0)
    assert np.isnan(lat) and np.isnan(h)
