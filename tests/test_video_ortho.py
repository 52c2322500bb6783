"""Frames to the map: orthorectified frames put the scenario's objects where they are on the
ground; GeoTIFFs carry their CRS; a pass becomes a valid Cloud-Optimised GeoTIFF."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from PIL import Image
from pyproj import Transformer
from rasterio.enums import ColorInterp

from vigia.errors import GeoError
from vigia.footprints import CORNER_LAT, CORNER_LON
from vigia.geo import footprints, ground_to_pixel
from vigia.scenario import World, build_world, plan_sortie, render_frame, sortie_specs
from vigia.scenario.flights import SortiePlan
from vigia.video.ortho import (
    mosaic,
    mosaic_grid,
    ortho_geotiff_bytes,
    orthorectify,
    overlay_png,
    site_crop,
    utm_epsg,
    write_geotiff,
)

W, H = 640, 360


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(5)


@pytest.fixture(scope="module")
def plan(world: World) -> SortiePlan:
    spec = next(s for s in sortie_specs(world, 2, minutes=20.0, frame_size=(W, H)) if not s.night)
    return plan_sortie(world, spec)


def _pose(plan: SortiePlan, row: int) -> dict[str, np.ndarray]:
    return {k: v[row : row + 1] for k, v in plan.true_columns.items() if isinstance(v, np.ndarray)}


@pytest.fixture(scope="module")
def tarp_view(world: World, plan: SortiePlan) -> dict[str, Any]:
    """A frame (true pose) with a laboratory's blue tarp well inside it, and where the tarp is."""
    k_tarp = np.flatnonzero(world.is_lab() & (world.column("p_tarp_structure") > 0))
    lat0, lon0 = world.column("lat")[k_tarp], world.column("lon")[k_tarp]
    lat = lat0 + world.column("tarp_structure_north_m")[k_tarp] / 110_800.0
    lon = lon0 + world.column("tarp_structure_east_m")[k_tarp] / (
        111_320.0 * np.cos(np.radians(lat0))
    )
    h = world.ground_height_m(lat, lon)
    rows = np.arange(0, plan.spec.n_packets, 10)
    g = ground_to_pixel(plan.true_columns, rows[:, None], lat[None], lon[None], h[None], W, H)
    inner = g["in_view"] & (g["x_px"] > 100) & (g["x_px"] < W - 100)
    inner &= (g["y_px"] > 60) & (g["y_px"] < H - 60)
    fi, k = np.argwhere(inner)[0]
    row = int(rows[fi])
    return {
        "row": row,
        "lat": float(lat[k]),
        "lon": float(lon[k]),
        "rgb": render_frame(plan.true_columns, row, world, W, H),
    }


def _blue(pixels: np.ndarray) -> np.ndarray:
    p = pixels.reshape(-1, pixels.shape[-1]).astype(int)
    return (p[:, 2] > p[:, 0] + 60) & (p[:, 2] > p[:, 1] + 40)


def _at(ortho_transform: Any, crs: str, lat: float, lon: float) -> tuple[int, int]:
    x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)
    col, row = ~ortho_transform @ (x, y)
    return int(row), int(col)


def test_the_ortho_shows_the_tarp_at_its_ground_position(
    world: World, plan: SortiePlan, tarp_view: dict[str, Any]
) -> None:
    pose = _pose(plan, tarp_view["row"])
    assert _blue(tarp_view["rgb"]).any()
    ortho = orthorectify(tarp_view["rgb"], pose, terrain=world.dem())
    assert ortho.rgba.dtype == np.uint8 and ortho.rgba.shape[2] == 4
    assert ortho.crs == f"EPSG:{utm_epsg(tarp_view['lat'], tarp_view['lon'])}"
    r, c = _at(ortho.transform, ortho.crs, tarp_view["lat"], tarp_view["lon"])
    patch = ortho.rgba[r - 1 : r + 2, c - 1 : c + 2]
    assert (patch[..., 3] == 255).all()
    assert _blue(patch[..., :3]).any()
    # 40 m east of the tarp is the ground, not the tarp: the ortho is not blue everywhere.
    c40 = c + round(40.0 / ortho.grid.gsd_m)
    assert not _blue(ortho.rgba[r - 1 : r + 2, c40 - 1 : c40 + 2, :3]).any()
    # Outside the frame the ortho is transparent (its box is larger than the footprint).
    assert (ortho.rgba[..., 3] == 0).any() and (ortho.rgba[..., 3] == 255).mean() > 0.3


def test_the_geotiff_has_its_crs_and_covers_the_footprint(
    world: World, plan: SortiePlan, tarp_view: dict[str, Any], tmp_path: Path
) -> None:
    pose = _pose(plan, tarp_view["row"])
    ortho = orthorectify(tarp_view["rgb"], pose, terrain=world.dem(), gsd_m=1.0)
    path = write_geotiff(ortho, tmp_path / "frame.tif")
    fp = footprints(pose, dem=world.dem(), frame_width_px=W, frame_height_px=H)
    lat = np.array([fp[c][0] for c in CORNER_LAT])
    lon = np.array([fp[c][0] for c in CORNER_LON])
    for source in (path, io.BytesIO(ortho_geotiff_bytes(ortho))):
        with rasterio.open(source) as src:
            assert src.crs.to_epsg() == utm_epsg(float(lat.mean()), float(lon.mean()))
            assert src.count == 4 and src.colorinterp[3] == ColorInterp.alpha
            assert src.res == pytest.approx((1.0, 1.0))
            x, y = Transformer.from_crs("EPSG:4326", src.crs, always_xy=True).transform(lon, lat)
            b = src.bounds
            assert (b.left < x).all() and (x < b.right).all()
            assert (b.bottom < y).all() and (y < b.top).all()
            assert np.array_equal(np.moveaxis(src.read(), 0, 2), ortho.rgba)
            assert set(src.tags()) <= {"AREA_OR_POINT"}  # nothing but the georeferencing


def test_bounds_give_a_north_up_crop_on_the_lattice(
    world: World, plan: SortiePlan, tarp_view: dict[str, Any]
) -> None:
    pose = _pose(plan, tarp_view["row"])
    epsg = utm_epsg(tarp_view["lat"], tarp_view["lon"])
    x, y = Transformer.from_crs("EPSG:4326", f"EPSG:{epsg}", always_xy=True).transform(
        tarp_view["lon"], tarp_view["lat"]
    )
    crop = orthorectify(
        tarp_view["rgb"],
        pose,
        terrain=world.dem(),
        gsd_m=0.5,
        bounds=(x - 25, y - 25, x + 25, y + 25),
        epsg=epsg,
    )
    assert crop.rgba.shape == (100, 100, 4)
    assert _blue(crop.rgba[48:52, 48:52, :3]).any()


def test_bad_frames_and_frames_off_the_ground_are_refused(
    world: World, plan: SortiePlan, tarp_view: dict[str, Any]
) -> None:
    pose = _pose(plan, tarp_view["row"])
    with pytest.raises(GeoError):
        orthorectify(np.zeros((H, W), np.uint8), pose, terrain=world.dem())
    with pytest.raises(GeoError):
        orthorectify(tarp_view["rgb"], pose, terrain=world.dem(), gsd_m=-1.0)
    sky = dict(pose)
    sky["sensor_relative_elevation_angle"] = np.array([10.0])  # looking up
    with pytest.raises(GeoError, match="ground"):
        orthorectify(tarp_view["rgb"], sky, terrain=world.dem())
    with pytest.raises(GeoError, match="Mpx"):
        orthorectify(
            tarp_view["rgb"],
            pose,
            terrain=world.dem(),
            gsd_m=0.01,
            bounds=(0, 0, 1e5, 1e5),
            epsg=32613,
        )


def test_a_pass_becomes_a_cloud_optimised_geotiff(
    world: World, plan: SortiePlan, tarp_view: dict[str, Any], tmp_path: Path
) -> None:
    rows = list(range(max(0, tarp_view["row"] - 40), tarp_view["row"] + 41, 20))
    poses = [_pose(plan, r) for r in rows]
    grid = mosaic_grid(poses, terrain=world.dem(), gsd_m=1.0, width_px=W, height_px=H)
    made: list[int] = []

    def stream() -> Iterator[tuple[np.ndarray, dict[str, np.ndarray]]]:
        for r, p in zip(rows, poses, strict=True):
            made.append(r)
            yield render_frame(plan.true_columns, r, world, W, H), p

    out = mosaic(stream(), tmp_path / "pass.tif", gsd_m=1.0, terrain=world.dem(), grid=grid)
    assert made == rows  # one pass over the stream
    with rasterio.open(out) as src:
        assert src.driver == "GTiff"
        assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert src.overviews(1) and min(src.overviews(1)) == 2
        assert src.block_shapes[0] == (512, 512)
        assert src.crs.to_epsg() == grid.epsg and src.res == pytest.approx((1.0, 1.0))
        data = np.moveaxis(src.read(), 0, 2)
        col, row = ~src.transform @ Transformer.from_crs(
            "EPSG:4326", src.crs, always_xy=True
        ).transform(tarp_view["lon"], tarp_view["lat"])
        r, c = int(row), int(col)
        assert _blue(data[r - 1 : r + 2, c - 1 : c + 2, :3]).any()
        # The union of the footprints: wider than any one frame's ortho.
        one = orthorectify(tarp_view["rgb"], poses[len(rows) // 2], terrain=world.dem(), gsd_m=1.0)
        assert (data[..., 3] > 0).sum() > (one.rgba[..., 3] > 0).sum()
    png, (west, south, east, north) = overlay_png(out, max_px=512)
    assert west < tarp_view["lon"] < east and south < tarp_view["lat"] < north
    img = np.asarray(Image.open(io.BytesIO(png)))
    assert img.shape[2] == 4 and max(img.shape[:2]) <= 512


def test_later_frames_cover_earlier_ones(
    world: World, plan: SortiePlan, tarp_view: dict[str, Any], tmp_path: Path
) -> None:
    pose = _pose(plan, tarp_view["row"])
    red = np.zeros((H, W, 3), np.uint8)
    red[..., 0] = 200
    green = np.zeros((H, W, 3), np.uint8)
    green[..., 1] = 200
    out = mosaic([(red, pose), (green, pose)], tmp_path / "m.tif", gsd_m=2.0, terrain=world.dem())
    with rasterio.open(out) as src:
        data = np.moveaxis(src.read(), 0, 2)
    inside = data[..., 3] == 255
    assert inside.any()
    assert (data[inside][:, 1] == 200).all() and (data[inside][:, 0] == 0).all()
    with pytest.raises(GeoError):
        mosaic([], tmp_path / "none.tif", gsd_m=2.0, terrain=world.dem())


def test_a_site_crop_is_a_square_of_fixed_ground_size_centred_on_the_site(
    world: World, plan: SortiePlan, tarp_view: dict[str, Any]
) -> None:
    pose = _pose(plan, tarp_view["row"])
    crop = site_crop(
        tarp_view["rgb"],
        pose,
        terrain=world.dem(),
        lat_deg=tarp_view["lat"],
        lon_deg=tarp_view["lon"],
        size_m=60.0,
        gsd_m=0.5,
    )
    assert crop.rgba.shape == (120, 120, 4)
    w, s, e, n = crop.bounds
    assert (e - w, n - s) == pytest.approx((60.0, 60.0))
    assert _blue(crop.rgba[58:62, 58:62, :3]).any()  # the tarp at the centre
    assert not _blue(crop.rgba[:10, :10, :3]).any()
    with pytest.raises(GeoError):
        site_crop(tarp_view["rgb"], pose, terrain=world.dem(), lat_deg=0, lon_deg=0, size_m=-1)
