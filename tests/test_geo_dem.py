"""DEM ray marching against analytic terrain written to GeoTIFFs by the tests."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from tests.helpers.geo import horizontal_m, los_terrain, ned_direction
from vigia.errors import GeoError
from vigia.geo import Dem, footprints, geoid_undulation_m

LAT0, LON0 = 25.0, -107.0
RES_DEG = 0.0005  # about 50 m
SIZE = 800  # 0.4 degrees, about 40 km


def write_dem(
    path: Path,
    height: Callable[[np.ndarray, np.ndarray], np.ndarray],
    *,
    crs: str = "EPSG:4326",
    nodata_box: tuple[slice, slice] | None = None,
) -> Path:
    """A geographic GeoTIFF centred on (LAT0, LON0) with heights height(lat, lon) (m)."""
    west, north = LON0 - SIZE * RES_DEG / 2, LAT0 + SIZE * RES_DEG / 2
    transform = from_origin(west, north, RES_DEG, RES_DEG)
    cols, rows = np.meshgrid(np.arange(SIZE) + 0.5, np.arange(SIZE) + 0.5)
    lon = west + cols * RES_DEG
    lat = north - rows * RES_DEG
    z = height(lat, lon).astype(np.float32)
    if nodata_box is not None:
        z[nodata_box] = -9999.0
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=SIZE,
        height=SIZE,
        count=1,
        dtype="float32",
        crs=crs,
        transform=transform,
        nodata=-9999.0,
    ) as ds:
        ds.write(z, 1)
    return path


def plane(lat: np.ndarray | float, lon: np.ndarray | float) -> np.ndarray:
    """Linear in lat and lon: bilinear interpolation reproduces it exactly."""
    return 800.0 + 4000.0 * (np.asarray(lat) - LAT0) - 2500.0 * (np.asarray(lon) - LON0)


def cone(lat: np.ndarray | float, lon: np.ndarray | float) -> np.ndarray:
    """A 1500 m volcano, 30 degree flanks, 8 km east of the origin, on a 300 m plain."""
    e = (np.asarray(lon) - (LON0 + 0.08)) * 111_320 * math.cos(math.radians(LAT0))
    n = (np.asarray(lat) - LAT0) * 110_574
    return np.maximum(300.0, 1800.0 - np.hypot(e, n) * math.tan(math.radians(30)))


def row(**kw: float) -> dict[str, np.ndarray]:
    base = {
        "sensor_latitude": LAT0,
        "sensor_longitude": LON0,
        "sensor_ellipsoid_height": 6000.0,
        "platform_heading_angle": 0.0,
        "platform_pitch_angle": 0.0,
        "platform_roll_angle": 0.0,
        "sensor_relative_azimuth_angle": 0.0,
        "sensor_relative_elevation_angle": -90.0,
        "sensor_relative_roll_angle": 0.0,
        "sensor_horizontal_field_of_view": 8.0,
        "sensor_vertical_field_of_view": 4.5,
    }
    base.update(kw)
    return {k: np.array([v], dtype=np.float64) for k, v in base.items()}


def stack(rows: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}


def _dict_row(cols: dict[str, np.ndarray], i: int) -> dict[str, float]:
    return {k: float(v[i]) for k, v in cols.items()}


def test_plane_matches_analytic_intersection(tmp_path: Path) -> None:
    path = write_dem(tmp_path / "plane.tif", plane)
    rng = np.random.default_rng(11)
    cols = stack(
        [
            row(
                platform_heading_angle=float(rng.uniform(0, 360)),
                sensor_relative_azimuth_angle=float(rng.uniform(0, 360)),
                sensor_relative_elevation_angle=float(rng.uniform(-90, -30)),
                sensor_relative_roll_angle=float(rng.uniform(0, 360)),
                platform_roll_angle=float(rng.uniform(-10, 10)),
            )
            for _ in range(12)
        ]
    )
    with Dem(path, vertical_datum="ellipsoid") as dem:
        res = footprints(cols, dem=dem)
    assert (res["reason"] == "ok").all()
    for i in range(12):
        r = _dict_row(cols, i)
        o_lat, o_lon, o_h, o_rng = los_terrain(
            LAT0, LON0, 6000.0, ned_direction(r), lambda a, b: float(plane(a, b)), step_m=20.0
        )
        assert horizontal_m(o_lat, o_lon, res["center_lat"][i], res["center_lon"][i]) < 0.5
        assert res["center_h"][i] == pytest.approx(o_h, abs=0.05)
        assert res["slant_range_m"][i] == pytest.approx(o_rng, abs=0.5)


def test_cone_occludes_the_plain_behind_it(tmp_path: Path) -> None:
    path = write_dem(tmp_path / "cone.tif", cone)
    # from 3000 m, looking east 20 deg down: flat ground at 300 m would be 7.4 km out, but the
    # volcano (peak 8 km east) rises in the way; the ray must stop on its western flank.
    cols = row(
        sensor_ellipsoid_height=3000.0,
        sensor_relative_azimuth_angle=90.0,
        sensor_relative_elevation_angle=-20.0,
    )
    with Dem(path, vertical_datum="ellipsoid") as dem:
        res = footprints(cols, dem=dem)
        assert res["reason"][0] == "ok"
        o_lat, o_lon, o_h, _ = los_terrain(
            LAT0,
            LON0,
            3000.0,
            ned_direction(_dict_row(cols, 0)),
            lambda a, b: float(cone(a, b)),
            step_m=5.0,
        )
        flat = footprints(cols, terrain_height_m=300.0)
    assert o_h > 400.0  # the oracle hits the flank too
    # bilinear cells of 50 m on a 30 degree flank: metres, not tens of metres
    assert horizontal_m(o_lat, o_lon, res["center_lat"][0], res["center_lon"][0]) < 5.0
    assert res["center_h"][0] == pytest.approx(o_h, abs=3.0)
    assert flat["slant_range_m"][0] > res["slant_range_m"][0] + 1000


def test_egm96_dem_is_raised_by_the_geoid(tmp_path: Path) -> None:
    path = write_dem(tmp_path / "flat.tif", lambda lat, lon: np.full(lat.shape, 1000.0))
    cols = row(sensor_relative_elevation_angle=-60.0)
    with Dem(path) as dem:  # heights above mean sea level
        assert dem.vertical_datum == "egm96"
        res = footprints(cols, dem=dem)
        n = float(geoid_undulation_m(res["center_lat"][0], res["center_lon"][0]))
        assert dem.ellipsoid_height_at(LAT0, LON0) == pytest.approx(
            1000.0 + geoid_undulation_m(LAT0, LON0)
        )
    ref = footprints(cols, terrain_height_m=1000.0 + n)
    assert res["center_h"][0] == pytest.approx(1000.0 + n, abs=0.01)
    assert (
        horizontal_m(
            ref["center_lat"][0], ref["center_lon"][0], res["center_lat"][0], res["center_lon"][0]
        )
        < 0.05
    )


def test_outside_dem_and_holes_are_flagged(tmp_path: Path) -> None:
    path = write_dem(tmp_path / "holes.tif", plane, nodata_box=(slice(380, 420), slice(500, 560)))
    cols = stack(
        [
            row(),  # ok
            row(sensor_latitude=LAT0 + 1.0),  # track not covered by the DEM
            row(
                sensor_relative_azimuth_angle=90.0, sensor_relative_elevation_angle=-5.0
            ),  # leaves it
            row(sensor_relative_azimuth_angle=90.0, sensor_relative_elevation_angle=-37.0),  # hole
            row(  # centre inside, upper corners beyond the east edge
                sensor_relative_azimuth_angle=90.0,
                sensor_relative_elevation_angle=-25.0,
                sensor_horizontal_field_of_view=30.0,
                sensor_vertical_field_of_view=20.0,
            ),
            row(sensor_ellipsoid_height=500.0),  # below the terrain (plane is 800 m here)
            row(sensor_relative_elevation_angle=30.0),  # looks up
            row(sensor_relative_elevation_angle=-0.5),  # can never reach the DEM's heights
            row(sensor_latitude=np.nan),
        ]
    )
    with Dem(path, vertical_datum="ellipsoid") as dem:
        res = footprints(cols, dem=dem)
    assert list(res["reason"]) == [
        "ok",
        "outside_dem",
        "outside_dem",
        "outside_dem",
        "corner_outside_dem",
        "below_terrain",
        "above_horizon",
        "above_horizon",
        "missing_items",
    ]
    assert np.isnan(res["center_lat"][1:4]).all() and np.isnan(res["gsd_m"][1:4]).all()
    assert np.isfinite(res["center_lat"][4])


def test_dem_height_at_and_projected_crs(tmp_path: Path) -> None:
    geo = write_dem(tmp_path / "plane.tif", plane)
    lat = LAT0 + np.array([0.0, 0.05, -0.1, 0.19])
    lon = LON0 + np.array([0.0, -0.07, 0.1, 0.19])
    with Dem(geo, vertical_datum="ellipsoid") as dem:
        assert np.allclose(dem.height_at(lat, lon), plane(lat, lon), atol=1e-3)
        assert np.isnan(dem.height_at(LAT0 + 0.3, LON0))
        assert dem.height_at(np.zeros((2, 2)) + LAT0, np.zeros((2, 2)) + LON0).shape == (2, 2)
        assert dem.pixel_size_m == pytest.approx(50.0, rel=0.1)
    # the same surface resampled into UTM 13N
    utm = tmp_path / "utm.tif"
    with rasterio.open(geo) as src:
        from rasterio.warp import Resampling, calculate_default_transform, reproject

        transform, w, h = calculate_default_transform(
            src.crs, "EPSG:32613", src.width, src.height, *src.bounds
        )
        profile = src.profile | {
            "crs": "EPSG:32613",
            "transform": transform,
            "width": w,
            "height": h,
        }
        with rasterio.open(utm, "w", **profile) as dst:
            reproject(rasterio.band(src, 1), rasterio.band(dst, 1), resampling=Resampling.bilinear)
    with Dem(utm, vertical_datum="ellipsoid") as dem:
        assert np.allclose(dem.height_at(lat[:3], lon[:3]), plane(lat[:3], lon[:3]), atol=1.0)
        res = footprints(row(sensor_relative_elevation_angle=-70.0), dem=dem)
        assert res["reason"][0] == "ok"
    with Dem(
        geo, vertical_datum="ellipsoid", bounds=(LON0 - 0.05, LAT0 - 0.05, LON0 + 0.05, LAT0 + 0.05)
    ) as small:
        assert small.heights_m.shape[0] < 250
        assert small.height_at(LAT0, LON0) == pytest.approx(800.0, abs=1e-3)
        assert np.isnan(small.height_at(LAT0 + 0.1, LON0))


def test_dem_errors(tmp_path: Path) -> None:
    with pytest.raises(GeoError):
        Dem(tmp_path / "missing.tif")
    path = write_dem(tmp_path / "plane.tif", plane)
    with pytest.raises(GeoError):
        Dem(path, vertical_datum="navd88")  # type: ignore[arg-type]
    with pytest.raises(GeoError):
        footprints(row(), dem="plane.tif")  # type: ignore[arg-type]
    with Dem(path) as dem, pytest.raises(GeoError):
        footprints(row(), dem=dem, terrain_height_m=5.0)
