"""Pixel <-> ground round trips and CE90 propagation."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from tests.helpers.geo import one_row, random_rows
from vigia.errors import GeoError
from vigia.geo import PoseSigmas, ce90_m, footprints, ground_to_pixel, pixel_to_ground

W, H = 1280, 720


def only(**kw: float) -> PoseSigmas:
    """Sigmas that are all zero except those named."""
    return PoseSigmas(**({f.name: 0.0 for f in dataclasses.fields(PoseSigmas)} | kw))


def test_pixel_to_ground_agrees_with_footprints() -> None:
    cols = random_rows(200, seed=8)
    res = footprints(cols, terrain_height_m=250.0)
    ok = np.flatnonzero(res["valid"])
    xs = np.array([W / 2, 0, W, W, 0])
    ys = np.array([H / 2, 0, 0, H, H])
    g = pixel_to_ground(cols, ok[:, None], xs[None, :], ys[None, :], W, H, terrain_height_m=250.0)
    assert g["lat"].shape == (ok.size, 5) and g["valid"].all()
    for j, key in enumerate(["center", "corner1", "corner2", "corner3", "corner4"]):
        np.testing.assert_allclose(g["lat"][:, j], res[f"{key}_lat"][ok], atol=1e-9)
        np.testing.assert_allclose(g["lon"][:, j], res[f"{key}_lon"][ok], atol=1e-9)


def test_round_trip_pixel_ground_pixel() -> None:
    cols = random_rows(300, seed=9)
    rng = np.random.default_rng(9)
    rows = rng.integers(0, 300, 5000)
    x = rng.uniform(0, W, 5000)
    y = rng.uniform(0, H, 5000)
    g = pixel_to_ground(cols, rows, x, y, W, H, sigmas=PoseSigmas())
    assert g["valid"].sum() > 1000
    back = ground_to_pixel(cols, rows, g["lat"], g["lon"], g["h"], W, H)
    ok = g["valid"]
    assert back["valid"][ok].all() and back["in_view"][ok].mean() > 0.99
    assert np.max(np.abs(back["x_px"][ok] - x[ok])) < 1e-3
    assert np.max(np.abs(back["y_px"][ok] - y[ok])) < 1e-3
    # a ground point never comes out where there is none
    assert np.isnan(g["lat"][~ok]).all() and np.isnan(g["ce90_m"][~ok]).all()
    assert set(g["reason"][~ok]) <= {"above_horizon", "below_terrain"}


def test_ground_to_pixel_behind_and_outside() -> None:
    cols = one_row(sensor_relative_elevation_angle=-45.0)  # heading north, looking north
    res = footprints(cols)
    out = ground_to_pixel(
        cols,
        [0, 0, 0],
        [res["center_lat"][0], 24.9, 25.0 + 0.045],
        [res["center_lon"][0], -107.0, -106.5],
        [0.0, 0.0, 0.0],
        W,
        H,
    )
    assert out["x_px"][0] == pytest.approx(W / 2, abs=1e-6) and out["y_px"][0] == pytest.approx(
        H / 2, abs=1e-6
    )
    assert list(out["reason"]) == ["ok", "behind_camera", "ok"]
    assert np.isnan(out["x_px"][1]) and not out["in_view"][1]
    assert np.isfinite(out["x_px"][2]) and not out["in_view"][2]  # in front, off the frame


def test_bad_inputs() -> None:
    cols = one_row()
    cols["sensor_latitude"] = np.array([np.nan])
    g = pixel_to_ground(cols, [0], [10.0], [10.0], W, H)
    assert g["reason"][0] == "missing_items" and np.isnan(g["lat"][0])
    g = pixel_to_ground(one_row(), [0, 0, 0], [-5.0, 100.0, np.nan], [10.0, 800.0, 5.0], W, H)
    assert list(g["reason"]) == ["out_of_range", "out_of_range", "missing_items"]
    mask = np.array([True])
    assert pixel_to_ground(one_row(), mask, 640.0, 360.0, W, H)["valid"][0]
    with pytest.raises(GeoError):
        pixel_to_ground(one_row(), [3], [1.0], [1.0], W, H)
    with pytest.raises(GeoError):
        pixel_to_ground(one_row(), np.array([True, False]), [1.0], [1.0], W, H)
    with pytest.raises(GeoError):
        PoseSigmas(heading_deg=-1.0)


# --- CE90 ------------------------------------------------------------------------------------
def test_ce90_closed_forms() -> None:
    # circular: sigma * sqrt(-2 ln 0.1); one-dimensional: 1.6449 sigma
    assert ce90_m(4.0, 0.0, 4.0) == pytest.approx(2.0 * math.sqrt(-2 * math.log(0.1)), rel=1e-9)
    assert ce90_m(9.0, 0.0, 0.0) == pytest.approx(3.0 * 1.6448536269514722, rel=1e-9)
    assert ce90_m(0.0, 0.0, 0.0) == 0.0
    assert np.isnan(ce90_m(np.nan, 0.0, 1.0))
    # rotation invariant
    a = ce90_m(5.0, 0.0, 1.0)
    c, s = math.cos(0.7), math.sin(0.7)
    r = np.array([[c, -s], [s, c]]) @ np.diag([5.0, 1.0]) @ np.array([[c, s], [-s, c]])
    assert ce90_m(r[0, 0], r[0, 1], r[1, 1]) == pytest.approx(a, rel=1e-9)


def test_ce90_monte_carlo() -> None:
    rng = np.random.default_rng(90)
    cov = np.array([[30.0, 12.0], [12.0, 8.0]])
    pts = rng.multivariate_normal([0, 0], cov, size=400_000)
    empirical = np.quantile(np.hypot(pts[:, 0], pts[:, 1]), 0.9)
    assert ce90_m(cov[0, 0], cov[0, 1], cov[1, 1]) == pytest.approx(empirical, rel=0.01)


def test_ce90_propagation_known_cases() -> None:
    # nadir from 5 km: only position error -> the ground point moves with the sensor
    g = pixel_to_ground(
        one_row(),
        [0],
        [W / 2],
        [H / 2],
        W,
        H,
        sigmas=only(horizontal_m=5.0),
    )
    assert g["ce90_m"][0] == pytest.approx(5.0 * 2.1459660262893472, rel=2e-3)
    # only elevation error at nadir: one-dimensional, h * tan(sigma)
    g = pixel_to_ground(
        one_row(),
        [0],
        [W / 2],
        [H / 2],
        W,
        H,
        sigmas=only(elevation_deg=0.1),
    )
    assert g["ce90_m"][0] == pytest.approx(1.6448536 * 5000 * math.tan(math.radians(0.1)), rel=1e-3)
    # no error at all
    g = pixel_to_ground(one_row(), [0], [W / 2], [H / 2], W, H, sigmas=only())
    assert g["ce90_m"][0] == 0.0


def test_ce90_grows_with_obliquity_and_terrain_uncertainty() -> None:
    cols = {k: np.repeat(v, 3) for k, v in one_row().items()}
    cols["sensor_relative_elevation_angle"] = np.array([-90.0, -45.0, -15.0])
    g = pixel_to_ground(cols, [0, 1, 2], W / 2, H / 2, W, H)
    assert g["ce90_m"][0] < g["ce90_m"][1] < g["ce90_m"][2]
    flat = pixel_to_ground(cols, [2], W / 2, H / 2, W, H, sigmas=PoseSigmas(terrain_m=0.0))
    assert flat["ce90_m"][0] < g["ce90_m"][2]
