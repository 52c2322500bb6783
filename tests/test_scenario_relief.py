"""The scenario's relief: the DEM the sorties are flown over, objects on it, the stream's
frame-centre elevation consistent with it, and what a constant height costs on it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio

from vigia.geo import Dem, pixel_to_ground
from vigia.scenario import SCENARIO_POSE_SIGMAS, SortieFile, World, build_world, fly_sorties
from vigia.scenario.flights import DEM_FILE
from vigia.scenario.world import from_local_m
from vigia.telemetry.source import read_telemetry


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(5)


@pytest.fixture(scope="module")
def flown(world: World, tmp_path_factory: pytest.TempPathFactory) -> list[SortieFile]:
    """Two 3-minute sorties (one night IR, one day EO) and the DEM beside them."""
    return fly_sorties(world, tmp_path_factory.mktemp("relief"), 2, minutes=3.0)


def _box_grid(world: World, k: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """A k x k grid of points over each AOI's search box, (lat, lon) deg."""
    lats, lons = [], []
    for a in world.aois:
        e0, n0, e1, n1 = a.box_local_m(world.origin)
        e, n = np.meshgrid(np.linspace(e0, e1, k), np.linspace(n0, n1, k))
        lat, lon = from_local_m(e, n, world.origin)
        lats.append(lat.ravel())
        lons.append(lon.ravel())
    return np.concatenate(lats), np.concatenate(lons)


def _distance_m(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> Any:
    k = np.cos(np.radians(lat2))
    return np.hypot((lat1 - lat2) * 110_800.0, (lon1 - lon2) * 111_320.0 * k)


def test_the_dem_is_written_beside_the_sorties(world: World, flown: list[SortieFile]) -> None:
    path = flown[0].dem_path
    assert path is not None and path.name == DEM_FILE and path.parent == flown[0].path.parent
    assert all(f.dem_path == path for f in flown)
    with rasterio.open(path) as ds:
        assert ds.crs.to_epsg() == 4326
        assert ds.dtypes == ("float32",) and ds.nodata is not None
        west, south, east, north = ds.bounds
        heights = ds.read(1)
    # covers every consented AOI with a margin of kilometres
    for a in world.aois:
        ring = np.array(a.polygon_lonlat())
        assert west + 0.03 < ring[:, 0].min() and ring[:, 0].max() < east - 0.03
        assert south + 0.03 < ring[:, 1].min() and ring[:, 1].max() < north - 0.03
    assert np.all(heights != ds.nodata) and 20.0 < heights.min() < heights.max() < 1500.0
    # the file is the world's ground: heights above MSL, HAE through the EGM96 geoid
    with Dem(path) as dem:
        lat, lon = _box_grid(world, 20)
        assert np.allclose(dem.ellipsoid_height_at(lat, lon), world.ground_height_m(lat, lon))
        assert np.allclose(dem.height_at(lat, lon), world.relief.msl_m(lat, lon), atol=0.5)


def test_relief_of_several_hundred_metres_deterministic_per_seed(world: World) -> None:
    lat, lon = _box_grid(world)
    h = world.ground_height_m(lat, lon)
    assert np.ptp(h) > 300.0  # hills and valleys, not a plain
    means, areas = [], []
    for a in world.aois:  # each AOI has relief of its own
        e0, n0, e1, n1 = a.box_local_m(world.origin)
        e, n = np.meshgrid(np.linspace(e0, e1, 30), np.linspace(n0, n1, 30))
        box = world.ground_height_m(*from_local_m(e, n, world.origin))
        assert np.ptp(box) > 80.0
        means.append(box.mean())
        areas.append((e1 - e0) * (n1 - n0))
    # the constant fallback is the mean ground over the search boxes
    assert world.terrain_height_m == pytest.approx(float(np.average(means, weights=areas)), abs=2)
    again, other = build_world(5), build_world(6)
    assert again.relief == world.relief
    assert np.array_equal(again.relief.grid(), world.relief.grid())
    assert not np.allclose(other.ground_height_m(lat, lon), h, atol=20.0)


def test_objects_sit_on_the_dem(world: World, flown: list[SortieFile]) -> None:
    assert flown[0].dem_path is not None
    with Dem(flown[0].dem_path) as dem:
        ground = dem.ellipsoid_height_at(world.column("lat"), world.column("lon"))
    assert np.allclose(world.column("h_m"), ground, atol=0.01)
    assert np.ptp(world.column("h_m")) > 100.0
    lab = world.truth()[0]
    assert lab["h_m"] == pytest.approx(float(world.ground_height_m(lab["lat"], lab["lon"])))
    # detections' true positions are features on the ground
    det = flown[1].detections.filter(~flown[1].detections.column("false_alarm").to_numpy())
    assert det.num_rows > 50
    lat, lon = det.column("true_lat").to_numpy(), det.column("true_lon").to_numpy()
    assert np.allclose(det.column("true_h_m").to_numpy(), world.ground_height_m(lat, lon), atol=3)


def test_frame_centre_elevation_is_the_dem_at_the_frame_centre(flown: list[SortieFile]) -> None:
    assert flown[0].dem_path is not None
    with Dem(flown[0].dem_path) as dem:
        for f in flown:
            tab, _ = read_telemetry(str(f.path))
            lat = tab.column("frame_center_latitude").to_numpy()
            lon = tab.column("frame_center_longitude").to_numpy()
            msl = tab.column("frame_center_elevation").to_numpy()  # item 25
            hae = tab.column("frame_center_height_above_ellipsoid").to_numpy()  # item 78
            assert np.isfinite(msl).all() and np.isfinite(hae).all()
            assert np.max(np.abs(msl - dem.height_at(lat, lon))) < 0.5
            assert np.max(np.abs(hae - dem.ellipsoid_height_at(lat, lon))) < 0.5
            assert np.ptp(msl) > 50.0  # the sortie looks at hills and valleys


def test_a_constant_height_misplaces_detections_on_relief(
    world: World, flown: list[SortieFile]
) -> None:
    """VMTI centroids through the reported pose: on the DEM within the pose errors of their
    feature; on the world's mean height, off by tens to hundreds of metres where the ground is
    not there."""
    errors: dict[str, list[np.ndarray]] = {"dem": [], "constant": []}
    relief: list[np.ndarray] = []
    for f in flown:
        tab, _ = read_telemetry(str(f.path))
        det = f.detections.filter(~f.detections.column("false_alarm").to_numpy())
        args = (
            tab,
            det.column("packet_index").to_numpy(),
            det.column("x_px").to_numpy(),
            det.column("y_px").to_numpy(),
            f.frame_width,
            f.frame_height,
        )
        true_lat = det.column("true_lat").to_numpy()
        true_lon = det.column("true_lon").to_numpy()
        terrain: dict[str, dict[str, Any]] = {
            "dem": {"dem": world.dem()},
            "constant": {"terrain_height_m": world.terrain_height_m},
        }
        for name, kw in terrain.items():
            g = pixel_to_ground(*args, sigmas=SCENARIO_POSE_SIGMAS, **kw)
            assert g["valid"].all()
            errors[name].append(_distance_m(g["lat"], g["lon"], true_lat, true_lon))
        relief.append(np.abs(det.column("true_h_m").to_numpy() - world.terrain_height_m))
    dem_err, const_err = np.concatenate(errors["dem"]), np.concatenate(errors["constant"])
    off = np.concatenate(relief)
    # on the DEM: the pose errors alone (SCENARIO_POSE_SIGMAS, CE90 ~ 8-60 m per frame)
    assert np.median(dem_err) < 20.0
    assert np.median(const_err) > 3 * np.median(dem_err)
    far = off > 100.0  # ground 100 m above or below the mean: off by more than the match radius
    assert far.sum() > 20 and np.median(const_err[far]) > 50.0
    assert np.median(dem_err[far]) < 20.0  # the DEM does not care how high the ground is


def test_to_json_records_the_relief(world: World, tmp_path: Path) -> None:
    doc = json.loads(world.to_json())
    assert doc["relief"]["seed"] == 5 and len(doc["relief"]["bump_height_m"]) > 3
    written = world.write_dem(tmp_path / "w.tif")
    with rasterio.open(written) as ds:
        assert ds.read(1).shape == world.relief.shape
