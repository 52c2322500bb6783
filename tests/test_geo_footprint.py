"""Footprints against an independent pymap3d line-of-sight oracle, known geometry, bad rows."""

from __future__ import annotations

import math

import numpy as np
import pymap3d
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers.geo import (
    horizontal_m,
    los_ellipsoid,
    los_terrain,
    ned_direction,
    one_row,
    random_rows,
)
from vigia.errors import GeoError
from vigia.geo import (
    camera_to_ecef_matrix,
    compare_with_platform,
    footprint_polygons,
    footprints,
    geoid_undulation_m,
    platform_bearing_offsets,
    platform_pose_verdict,
    pose_from_columns,
)

UV = [(0.0, 0.0), (-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)]
KEYS = ["center", "corner1", "corner2", "corner3", "corner4"]


def _row(cols: dict[str, np.ndarray], i: int) -> dict[str, float]:
    return {k: float(v[i]) for k, v in cols.items()}


# --- against the independent oracle ----------------------------------------------------------
def test_matches_pymap3d_oracle_over_the_ellipsoid() -> None:
    cols = random_rows(400, seed=1)
    res = footprints(cols)
    compared = 0
    for i in range(400):
        row = _row(cols, i)
        for key, (u, v) in zip(KEYS, UV, strict=True):
            lat, lon, rng_m = los_ellipsoid(
                row["sensor_latitude"],
                row["sensor_longitude"],
                row["sensor_ellipsoid_height"],
                ned_direction(row, u, v),
            )
            ours_lat, ours_lon = res[f"{key}_lat"][i], res[f"{key}_lon"][i]
            # a ray the oracle says misses must be missing here, and the other way round
            assert math.isnan(lat) == math.isnan(ours_lat), (i, key)
            if math.isnan(lat) or rng_m > 30_000:
                continue
            compared += 1
            assert horizontal_m(lat, lon, ours_lat, ours_lon) < 0.5, (i, key)
            if key == "center":
                assert res["slant_range_m"][i] == pytest.approx(rng_m, abs=0.5)
                assert abs(res["center_h"][i]) < 0.01
    assert compared > 300


@settings(max_examples=60, deadline=None)
@given(
    lat=st.floats(14.0, 33.0),
    lon=st.floats(-118.0, -86.0),
    h=st.floats(2000.0, 12_000.0),
    heading=st.floats(0.0, 360.0),
    pitch=st.floats(-20.0, 20.0),
    roll=st.floats(-50.0, 50.0),
    az=st.floats(0.0, 360.0),
    el=st.floats(-90.0, -10.0),
    sroll=st.floats(0.0, 360.0),
    hfov=st.floats(0.1, 40.0),
    terrain=st.floats(-100.0, 1500.0),
)
def test_raised_ellipsoid_matches_oracle(
    lat: float,
    lon: float,
    h: float,
    heading: float,
    pitch: float,
    roll: float,
    az: float,
    el: float,
    sroll: float,
    hfov: float,
    terrain: float,
) -> None:
    cols = one_row(
        sensor_latitude=lat,
        sensor_longitude=lon,
        sensor_ellipsoid_height=h,
        platform_heading_angle=heading,
        platform_pitch_angle=pitch,
        platform_roll_angle=roll,
        sensor_relative_azimuth_angle=az,
        sensor_relative_elevation_angle=el,
        sensor_relative_roll_angle=sroll,
        sensor_horizontal_field_of_view=hfov,
        sensor_vertical_field_of_view=hfov * 0.6,
    )
    res = footprints(cols, terrain_height_m=terrain)
    ned = ned_direction(_row(cols, 0))
    o_lat, o_lon, _o_h, o_rng = los_terrain(lat, lon, h, ned, lambda _a, _b: terrain, step_m=250.0)
    if math.isnan(o_lat) or o_rng > 30_000:
        return
    assert res["center_lat"][0] == res["center_lat"][0]  # not NaN
    assert horizontal_m(o_lat, o_lon, res["center_lat"][0], res["center_lon"][0]) < 0.5
    assert res["center_h"][0] == pytest.approx(terrain, abs=0.05)
    assert res["slant_range_m"][0] == pytest.approx(o_rng, abs=0.5)


# --- known geometry --------------------------------------------------------------------------
def test_nadir_centre_is_directly_below() -> None:
    res = footprints(one_row(), terrain_height_m=1000.0)
    assert res["reason"][0] == "ok" and res["valid"][0]
    # latitude on the raised ellipsoid: within 3e-6 * h m (3 mm here) of geodetic
    assert res["center_lat"][0] == pytest.approx(25.0, abs=5e-8)
    assert res["center_lon"][0] == pytest.approx(-107.0, abs=1e-9)
    assert res["slant_range_m"][0] == pytest.approx(4000.0, abs=1e-3)
    assert res["center_h"][0] == pytest.approx(1000.0, abs=0.01)
    # heading 0, nadir: image top is north, right is east -> corner 1 north-west, 3 south-east
    assert res["corner1_lat"][0] > 25.0 and res["corner1_lon"][0] < -107.0
    assert res["corner2_lat"][0] > 25.0 and res["corner2_lon"][0] > -107.0
    assert res["corner3_lat"][0] < 25.0 and res["corner3_lon"][0] > -107.0
    assert res["corner4_lat"][0] < 25.0 and res["corner4_lon"][0] < -107.0
    # GSD at nadir: slant * 2 tan(FOV/2) / pixels
    assert res["gsd_x_m"][0] == pytest.approx(4000 * 2 * math.tan(math.radians(5)) / 1280, rel=1e-6)
    assert res["gsd_y_m"][0] == pytest.approx(
        4000 * 2 * math.tan(math.radians(2.8125)) / 720, rel=1e-6
    )
    assert res["gsd_m"][0] == pytest.approx(math.sqrt(res["gsd_x_m"][0] * res["gsd_y_m"][0]))


def _bearing_deg(res: dict[str, np.ndarray], lat0: float = 25.0, lon0: float = -107.0) -> float:
    e, n, _ = pymap3d.geodetic2enu(res["center_lat"][0], res["center_lon"][0], 0, lat0, lon0, 0)
    return math.degrees(math.atan2(e, n)) % 360.0


@pytest.mark.parametrize(
    ("heading", "az", "expected"),
    [
        (90.0, 0.0, 90.0),
        (0.0, 90.0, 90.0),
        (90.0, 90.0, 180.0),
        (270.0, 0.0, 270.0),
        (45.0, 180.0, 225.0),
    ],
)
def test_look_direction(heading: float, az: float, expected: float) -> None:
    res = footprints(
        one_row(
            platform_heading_angle=heading,
            sensor_relative_azimuth_angle=az,
            sensor_relative_elevation_angle=-45.0,
        )
    )
    assert abs((_bearing_deg(res) - expected + 180) % 360 - 180) < 0.01
    # 45 degrees down from 5 km: about 5 km out (a little more over the curved Earth)
    ground = horizontal_m(25.0, -107.0, res["center_lat"][0], res["center_lon"][0])
    assert 4990 < ground < 5010


def test_platform_roll_tilts_a_level_side_looking_sensor_down() -> None:
    # right wing down 30 deg, sensor looking along the right wing: 30 deg below the horizon, east
    res = footprints(
        one_row(
            platform_roll_angle=30.0,
            sensor_relative_azimuth_angle=90.0,
            sensor_relative_elevation_angle=0.0,
        )
    )
    assert abs(_bearing_deg(res) - 90.0) < 0.01
    assert res["slant_range_m"][0] == pytest.approx(10_000.0, rel=0.01)


def test_platform_pitch_nose_down() -> None:
    res = footprints(one_row(platform_pitch_angle=-20.0, sensor_relative_elevation_angle=-10.0))
    assert _bearing_deg(res) < 0.01 or _bearing_deg(res) > 359.99
    assert res["slant_range_m"][0] == pytest.approx(5000.0 / math.sin(math.radians(30)), rel=0.01)


def test_full_range_pitch_and_roll_are_preferred() -> None:
    cols = one_row(platform_pitch_angle=0.0, sensor_relative_elevation_angle=0.0)
    cols["platform_pitch_angle_full"] = np.array([-60.0])
    res = footprints(cols)
    assert res["slant_range_m"][0] == pytest.approx(5000.0 / math.sin(math.radians(60)), rel=0.01)


def test_sensor_roll_turns_the_image_clockwise() -> None:
    # looking straight down, heading north, sensor roll +90 (clockwise seen from behind): the
    # image's right edge is now south, its top east -> corner 1 (upper left) is north-east
    res = footprints(one_row(sensor_relative_roll_angle=90.0))
    assert res["corner1_lat"][0] > 25.0 and res["corner1_lon"][0] > -107.0
    assert res["corner3_lat"][0] < 25.0 and res["corner3_lon"][0] < -107.0


def test_heights_from_msl_and_extended_items() -> None:
    base = one_row()
    del base["sensor_ellipsoid_height"]
    base["sensor_true_altitude"] = np.array([5000.0])
    res = footprints(base)
    n = float(geoid_undulation_m(25.0, -107.0))
    assert res["slant_range_m"][0] == pytest.approx(5000.0 + n, abs=1e-3)
    base["sensor_ellipsoid_height"] = np.array([6000.0])
    base["sensor_ellipsoid_height_extended"] = np.array([7000.0])
    assert footprints(base)["slant_range_m"][0] == pytest.approx(7000.0, abs=1e-3)


def test_stream_elevation() -> None:
    cols = one_row()
    cols["frame_center_elevation"] = np.array([1200.0])
    cols["frame_center_latitude"] = np.array([25.0])
    cols["frame_center_longitude"] = np.array([-107.0])
    res = footprints(cols, use_stream_elevation=True)
    n = float(geoid_undulation_m(25.0, -107.0))
    assert res["center_h"][0] == pytest.approx(1200.0 + n, abs=0.01)
    cols["frame_center_height_above_ellipsoid"] = np.array([1500.0])
    assert footprints(cols, use_stream_elevation=True)["center_h"][0] == pytest.approx(
        1500.0, abs=0.01
    )
    cols["frame_center_height_above_ellipsoid"] = np.array([np.nan])
    cols["frame_center_elevation"] = np.array([np.nan])
    assert footprints(cols, use_stream_elevation=True)["reason"][0] == "missing_items"


# --- bad rows: flagged, never raised, never a number -----------------------------------------
FLOAT_KEYS = [
    "center_lat",
    "center_lon",
    "center_h",
    "slant_range_m",
    "gsd_m",
    *[f"corner{k}_{c}" for k in range(1, 5) for c in ("lat", "lon")],
]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"sensor_latitude": np.nan}, "missing_items"),
        ({"sensor_relative_roll_angle": np.nan}, "missing_items"),
        ({"sensor_ellipsoid_height": np.nan}, "missing_items"),
        ({"platform_heading_angle": 400.0}, "out_of_range"),
        ({"platform_pitch_angle": 25.0}, "out_of_range"),
        ({"platform_roll_angle": -60.0}, "out_of_range"),
        ({"sensor_latitude": 95.0}, "out_of_range"),
        ({"sensor_relative_elevation_angle": -200.0}, "out_of_range"),
        ({"sensor_ellipsoid_height": 50_000.0}, "out_of_range"),
        ({"sensor_horizontal_field_of_view": 0.0}, "bad_fov"),
        ({"sensor_vertical_field_of_view": -3.0}, "bad_fov"),
        ({"sensor_horizontal_field_of_view": 180.0}, "bad_fov"),
        ({"sensor_relative_elevation_angle": 10.0}, "above_horizon"),
        ({"sensor_relative_elevation_angle": 170.0}, "above_horizon"),
        ({"sensor_ellipsoid_height": -500.0}, "below_terrain"),
    ],
)
def test_bad_rows_are_flagged(change: dict[str, float], reason: str) -> None:
    cols = one_row(**change)
    good = one_row()
    both = {k: np.concatenate([good[k], cols[k]]) for k in good}
    res = footprints(both)
    assert list(res["reason"]) == ["ok", reason]
    assert list(res["valid"]) == [True, False]
    for key in FLOAT_KEYS:
        assert np.isfinite(res[key][0])
        if reason != "above_horizon" or not key.startswith("corner"):
            assert np.isnan(res[key][1]), key


def test_corner_above_horizon_keeps_the_centre() -> None:
    res = footprints(
        one_row(sensor_relative_elevation_angle=-4.0, sensor_vertical_field_of_view=8.0)
    )
    assert res["reason"][0] == "corner_above_horizon" and not res["valid"][0]
    assert np.isfinite(res["center_lat"][0]) and np.isfinite(res["gsd_m"][0])
    # upper corners (1, 2) look above the horizon, lower ones (3, 4) reach the ground
    assert np.isnan(res["corner1_lat"][0]) and np.isnan(res["corner2_lon"][0])
    assert np.isfinite(res["corner3_lat"][0]) and np.isfinite(res["corner4_lon"][0])
    assert footprint_polygons(res)[0] is None


def test_absent_columns_and_explicit_defaults() -> None:
    cols = one_row()
    del cols["sensor_relative_roll_angle"]
    assert footprints(cols)["reason"][0] == "missing_items"
    res = footprints(cols, defaults={"sensor_relative_roll_angle": 0.0})
    assert res["reason"][0] == "ok"
    with pytest.raises(GeoError):
        footprints(cols, defaults={"no_such_item": 0.0})


def test_empty_input_and_option_conflicts() -> None:
    res = footprints({k: v[:0] for k, v in one_row().items()})
    assert res["center_lat"].shape == (0,) and res["reason"].shape == (0,)
    with pytest.raises(GeoError):
        footprints(one_row(), terrain_height_m=10.0, use_stream_elevation=True)
    with pytest.raises(GeoError):
        footprints(one_row(), frame_width_px=0)


def test_pyarrow_table_with_nulls_gives_the_same_result() -> None:
    pa = pytest.importorskip("pyarrow")
    cols = random_rows(50, seed=5)
    cols["precision_time_stamp"] = np.arange(50, dtype=np.int64)
    table = pa.table(
        {
            k: pa.array(v, mask=(np.arange(50) == 3) if k == "sensor_latitude" else None)
            for k, v in cols.items()
        }
    )
    with_nan = dict(cols)
    with_nan["sensor_latitude"] = np.where(np.arange(50) == 3, np.nan, cols["sensor_latitude"])
    a, b = footprints(table), footprints(with_nan)
    assert a["reason"][3] == "missing_items"
    np.testing.assert_array_equal(a["reason"], b["reason"])
    np.testing.assert_allclose(a["corner3_lon"], b["corner3_lon"], equal_nan=True)


# --- polygons and comparison with the platform ------------------------------------------------
def test_polygons() -> None:
    cols = random_rows(200, seed=2)
    res = footprints(cols)
    polys = footprint_polygons(res)
    assert polys.shape == (200,)
    ok = res["valid"]
    assert all(p is None for p in polys[~ok])
    valid_polys = polys[ok].astype(object)
    assert shapely.is_valid(valid_polys).sum() >= 0.95 * ok.sum()  # twisted only if rolled 90+
    centre = shapely.points(res["center_lon"][ok], res["center_lat"][ok])
    nadirish = np.abs(cols["sensor_relative_elevation_angle"][ok] + 90) < 30
    assert shapely.contains(valid_polys[nadirish], centre[nadirish]).all()


def test_compare_with_platform() -> None:
    cols = random_rows(300, seed=3)
    res = footprints(cols)
    # platform's own: our centre moved 10 m north; corners as offsets for half, full for the rest
    dlat = 10.0 / 110_700.0
    cols["frame_center_latitude"] = res["center_lat"] + dlat
    cols["frame_center_longitude"] = res["center_lon"]
    cols["frame_center_height_above_ellipsoid"] = res["center_h"] + 3.0
    half = np.arange(300) < 150
    for k in range(1, 5):
        lat_k, lon_k = res[f"corner{k}_lat"], res[f"corner{k}_lon"]
        cols[f"offset_corner_latitude_point_{k}"] = np.where(
            half, lat_k - res["center_lat"], np.nan
        )
        cols[f"offset_corner_longitude_point_{k}"] = np.where(
            half, lon_k - res["center_lon"], np.nan
        )
        cols[f"corner_latitude_point_{k}_full"] = np.where(half, np.nan, lat_k)
        cols[f"corner_longitude_point_{k}_full"] = np.where(half, np.nan, lon_k)
    cmp = compare_with_platform(cols, res)
    st_c = cmp["center_horizontal_stats"]
    assert st_c["n"] == np.isfinite(res["center_lat"]).sum()
    assert st_c["median_m"] == pytest.approx(10.0, abs=0.1)
    assert cmp["center_vertical_stats"]["p95_m"] == pytest.approx(3.0, abs=1e-6)
    corner = cmp["corner_horizontal_m"]
    assert np.nanmax(corner[~half]) < 1e-6  # full corners: identical
    assert cmp["corner_horizontal_stats"]["median_m"] == pytest.approx(5.0, abs=5.1)
    assert np.nanmedian(corner[half]) == pytest.approx(10.0, abs=0.2)


def _with_platform_centre(cols: dict[str, np.ndarray], **pose: np.ndarray) -> dict:
    """``cols`` with a platform frame centre (items 23/24) computed from ``pose`` overrides."""
    res = footprints({**cols, **pose})
    return {
        **cols,
        "frame_center_latitude": res["center_lat"],
        "frame_center_longitude": res["center_lon"],
    }


def _looking_ahead(n: int, seed: int) -> dict[str, np.ndarray]:
    cols = random_rows(n, seed)
    rng = np.random.default_rng(seed)
    cols["platform_pitch_angle"] = rng.uniform(-5.0, 5.0, n)
    cols["platform_roll_angle"] = rng.uniform(-10.0, 10.0, n)
    cols["sensor_relative_elevation_angle"] = rng.uniform(-60.0, -5.0, n)
    cols["sensor_relative_roll_angle"] = np.zeros(n)
    cols["platform_heading_angle"] = rng.uniform(20.0, 340.0, n)
    return cols


def test_a_platform_centre_from_its_own_pose_is_consistent() -> None:
    cols = _with_platform_centre(_looking_ahead(400, seed=11))
    off = platform_bearing_offsets(cols)
    b = off["bearing_offset_deg"]
    assert np.isfinite(b).sum() > 300
    assert np.nanmax(np.abs(b)) < 0.01
    assert platform_pose_verdict(**off) == "consistent"


def test_a_platform_centre_that_ignores_heading_is_named() -> None:
    """The encoder of FFmpeg's "Day Flight" sample: a frame centre along the sensor relative
    azimuth, as if the aircraft flew north."""
    cols = _looking_ahead(400, seed=12)
    n = len(cols["sensor_latitude"])
    cols = _with_platform_centre(cols, platform_heading_angle=np.zeros(n))
    off = platform_bearing_offsets(cols)
    assert platform_pose_verdict(**off) == "ignores_heading"
    assert np.nanmedian(np.abs(off["bearing_offset_deg"])) > 5.0


def test_a_platform_centre_off_its_bearing_is_inconsistent() -> None:
    cols = _looking_ahead(400, seed=13)
    heading = cols["platform_heading_angle"]
    cols = _with_platform_centre(cols, platform_heading_angle=(heading + 30.0) % 360.0)
    off = platform_bearing_offsets(cols)
    assert platform_pose_verdict(**off) == "inconsistent"
    np.testing.assert_allclose(np.nanmedian(off["bearing_offset_deg"]), 30.0, atol=3.0)


def test_no_bearing_near_nadir_or_without_a_platform_centre() -> None:
    cols = _looking_ahead(50, seed=14)
    assert platform_pose_verdict(**platform_bearing_offsets(cols)) is None
    cols["sensor_relative_elevation_angle"] = np.full(50, -89.0)
    cols["platform_pitch_angle"] = np.zeros(50)
    cols["platform_roll_angle"] = np.zeros(50)
    cols = _with_platform_centre(cols)
    assert np.isnan(platform_bearing_offsets(cols)["bearing_offset_deg"]).all()


def test_camera_matrix_matches_the_oracle_rotation_chain() -> None:
    cols = random_rows(50, seed=4)
    m = camera_to_ecef_matrix(pose_from_columns(cols))
    assert np.allclose(m @ np.swapaxes(m, -1, -2), np.eye(3), atol=1e-12)
    for i in range(50):
        row = _row(cols, i)
        boresight_ned = ned_direction(row)
        e, n, u = boresight_ned[1], boresight_ned[0], -boresight_ned[2]
        ref = pymap3d.enu2uvw(e, n, u, row["sensor_latitude"], row["sensor_longitude"])
        assert np.allclose(m[i, :, 0], ref, atol=1e-12)
