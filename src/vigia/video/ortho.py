"""Frames to the map: orthorectified frames (GeoTIFF) and mosaics of a pass (Cloud-Optimised
GeoTIFF with overviews).

A frame is warped to the ground by inverse mapping: every output pixel's ground point (its
terrain height from the DEM, or a constant height) goes through the sensor model
(:func:`vigia.geo.ground_to_pixel`, the one ground -> image rule) to a point of the frame,
sampled bilinearly. Terrain occlusion is not modelled (a ground point hidden behind a ridge
takes the colour of the ridge), which is the usual limit of a single-frame ortho.

The grid is north-up in the UTM zone of the frame centre (EPSG:326zz north, 327zz south):
square pixels of a GSD in metres, the same scale everywhere in the frame, and the projection
that ortho imagery is exchanged in; a fixed ground size (a tearline crop) is a fixed number of
pixels. :func:`overlay_png` re-projects a mosaic to Web Mercator for a Leaflet image overlay.
"""

from __future__ import annotations

import io
import math
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import rasterio
import rasterio.shutil
from numpy.typing import NDArray
from PIL import Image
from pyproj import Transformer
from rasterio.enums import ColorInterp, Resampling
from rasterio.io import MemoryFile
from rasterio.transform import Affine
from rasterio.warp import calculate_default_transform, reproject, transform_bounds
from rasterio.windows import Window

from vigia.errors import GeoError
from vigia.footprints import CORNER_LAT, CORNER_LON, TerrainOptions
from vigia.geo import Dem, footprints, ground_to_pixel, stream_elevation_m
from vigia.outputs import replace_atomically

__all__ = [
    "MAX_MOSAIC_PX",
    "MAX_ORTHO_PX",
    "OrthoGrid",
    "OrthoImage",
    "mosaic",
    "mosaic_grid",
    "ortho_geotiff_bytes",
    "orthorectify",
    "overlay_png",
    "site_crop",
    "utm_epsg",
    "write_geotiff",
]

Pose = Mapping[str, np.ndarray]
Terrain = TerrainOptions | Dem | float

#: The most pixels one orthorectified frame may have (a default GSD is coarsened to fit).
MAX_ORTHO_PX: Final = 16_000_000
#: The most pixels a mosaic's canvas may have.
MAX_MOSAIC_PX: Final = 256_000_000
#: Output pixels warped per step (bounds the working memory: ~100 bytes a pixel).
_CHUNK_PX: Final = 1 << 20
#: The footprint's box grows by this fraction on each side: over relief, a frame's edges on
#: the ground bulge past the quadrilateral of its corners.
_MARGIN: Final = 0.05


def utm_epsg(lat_deg: float, lon_deg: float) -> int:
    """EPSG code of the UTM zone holding (``lat_deg``, ``lon_deg``): 326zz north of the
    equator, 327zz south (standard 6-degree zones; the Norway and Svalbard exceptions are not
    applied).

    >>> utm_epsg(24.8, -107.4)
    32613
    """
    if not (math.isfinite(lat_deg) and math.isfinite(lon_deg)) or abs(lat_deg) > 84.0:
        raise GeoError(f"no UTM zone for lat {lat_deg}, lon {lon_deg}")
    zone = math.floor(((lon_deg + 180.0) % 360.0) / 6.0) + 1
    return (32600 if lat_deg >= 0.0 else 32700) + min(zone, 60)


@dataclass(frozen=True)
class OrthoGrid:
    """A north-up grid: ``epsg`` (a UTM zone), ``bounds`` (west, south, east, north, m in that
    CRS, multiples of ``gsd_m``) and the pixel size ``gsd_m`` (m)."""

    epsg: int
    bounds: tuple[float, float, float, float]
    gsd_m: float

    @property
    def crs(self) -> str:
        """The CRS as 'EPSG:n'."""
        return f"EPSG:{self.epsg}"

    @property
    def width_px(self) -> int:
        """Columns of the grid."""
        return round((self.bounds[2] - self.bounds[0]) / self.gsd_m)

    @property
    def height_px(self) -> int:
        """Rows of the grid."""
        return round((self.bounds[3] - self.bounds[1]) / self.gsd_m)

    @property
    def transform(self) -> Affine:
        """Pixel (col, row) -> CRS (x, y) of the grid's upper-left corner convention."""
        return Affine(self.gsd_m, 0.0, self.bounds[0], 0.0, -self.gsd_m, self.bounds[3])

    def snapped(self, bounds: tuple[float, float, float, float]) -> OrthoGrid:
        """The part of this grid's lattice covering ``bounds`` (same CRS), cut to the grid."""
        g = self.gsd_m
        x0, y0 = self.bounds[0], self.bounds[3]
        west = x0 + math.floor((bounds[0] - x0) / g) * g
        east = x0 + math.ceil((bounds[2] - x0) / g) * g
        north = y0 - math.floor((y0 - bounds[3]) / g) * g
        south = y0 - math.ceil((y0 - bounds[1]) / g) * g
        west, east = max(west, self.bounds[0]), min(east, self.bounds[2])
        south, north = max(south, self.bounds[1]), min(north, self.bounds[3])
        return OrthoGrid(self.epsg, (west, south, east, north), g)

    def window(self, sub: OrthoGrid) -> Window:
        """Where ``sub`` (from :meth:`snapped`) lies in this grid, as a rasterio window."""
        col = round((sub.bounds[0] - self.bounds[0]) / self.gsd_m)
        row = round((self.bounds[3] - sub.bounds[3]) / self.gsd_m)
        return Window(col, row, sub.width_px, sub.height_px)

    def bounds_latlon(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) in degrees (WGS84) of the grid's whole extent."""
        w, s, e, n = transform_bounds(self.crs, "EPSG:4326", *self.bounds, densify_pts=21)
        return (float(w), float(s), float(e), float(n))


@dataclass(frozen=True)
class OrthoImage:
    """An orthorectified frame: ``rgba`` (H, W, 4) uint8, alpha 0 outside the frame, on
    ``grid`` (its CRS, bounds and GSD)."""

    rgba: NDArray[np.uint8]
    grid: OrthoGrid

    @property
    def transform(self) -> Affine:
        """Pixel -> CRS affine transform."""
        return self.grid.transform

    @property
    def crs(self) -> str:
        """'EPSG:326zz' / 'EPSG:327zz'."""
        return self.grid.crs

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(west, south, east, north), m in :attr:`crs`."""
        return self.grid.bounds


# --- terrain -------------------------------------------------------------------------------
def _footprint_kw(terrain: Terrain, pose: Pose, n_rows: int) -> dict[str, Any]:
    """The terrain as :func:`vigia.geo.footprints` keywords."""
    if isinstance(terrain, Dem):
        return {"dem": terrain}
    if isinstance(terrain, TerrainOptions):
        if terrain.dem_path is not None:
            raise GeoError("open the DEM of the terrain options (vigia.geo.Dem) and pass it")
        if terrain.terrain_height_m is not None:
            return {"terrain_height_m": float(terrain.terrain_height_m)}
        if terrain.use_stream_elevation:
            return {"terrain_height_m": stream_elevation_m(pose, n_rows)}
        raise GeoError(
            "the terrain options are not resolved (see vigia.footprints.resolve_terrain)"
        )
    h = float(terrain)
    if not math.isfinite(h):
        raise GeoError(f"terrain height must be finite, not {terrain!r}")
    return {"terrain_height_m": h}


def _ground_height_m(
    terrain: Terrain, pose: Pose, lat: NDArray[np.float64], lon: NDArray[np.float64]
) -> NDArray[np.float64]:
    kw = _footprint_kw(terrain, pose, 1)
    if "dem" in kw:
        return np.asarray(kw["dem"].ellipsoid_height_at(lat, lon), np.float64)
    return np.full(lat.shape, float(np.asarray(kw["terrain_height_m"]).ravel()[0]))


def _stack_poses(poses: Sequence[Pose]) -> dict[str, np.ndarray]:
    keys = set(poses[0])
    for p in poses[1:]:
        keys &= set(p)
    return {k: np.concatenate([np.asarray(p[k]).ravel()[:1] for p in poses]) for k in keys}


def _corner_box_latlon(
    columns: Mapping[str, np.ndarray], terrain: Terrain, width_px: int, height_px: int
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Corner lat, lon (rows, 4) and centre GSD (rows,) of every row's footprint."""
    n = len(next(iter(columns.values())))
    fp = footprints(
        columns,
        frame_width_px=width_px,
        frame_height_px=height_px,
        **_footprint_kw(terrain, columns, n),
    )
    lat = np.stack([fp[c] for c in CORNER_LAT], axis=-1)
    lon = np.stack([fp[c] for c in CORNER_LON], axis=-1)
    ok = np.asarray(fp["valid"], bool)[:, None] & np.isfinite(lat + lon)
    return np.where(ok, lat, np.nan), np.where(ok, lon, np.nan), np.asarray(fp["gsd_m"], float)


def _grid_over(
    lat: NDArray[np.float64],
    lon: NDArray[np.float64],
    gsd_m: float,
    epsg: int | None,
    max_px: int,
    coarsen: bool,
) -> OrthoGrid:
    ok = np.isfinite(lat + lon)
    if not ok.any():
        raise GeoError("the frame does not meet the ground: nothing to orthorectify")
    if epsg is None:
        epsg = utm_epsg(float(np.mean(lat[ok])), float(np.mean(lon[ok])))
    to_utm = Transformer.from_crs("EPSG:4326", f"EPSG:{epsg}", always_xy=True)
    x, y = to_utm.transform(lon[ok], lat[ok])
    x0, x1, y0, y1 = float(np.min(x)), float(np.max(x)), float(np.min(y)), float(np.max(y))
    mx, my = _MARGIN * (x1 - x0), _MARGIN * (y1 - y0)
    x0, x1, y0, y1 = x0 - mx, x1 + mx, y0 - my, y1 + my
    if not (math.isfinite(gsd_m) and gsd_m > 0.0):
        raise GeoError(f"gsd_m must be a positive number of metres, not {gsd_m!r}")
    px = (x1 - x0) * (y1 - y0) / (gsd_m * gsd_m)
    if px > max_px:
        if not coarsen:
            raise GeoError(
                f"{px / 1e6:.0f} Mpx at {gsd_m:g} m: more than {max_px / 1e6:.0f} Mpx; "
                "ask for a coarser gsd_m or a shorter span"
            )
        gsd_m = gsd_m * math.sqrt(px / max_px) * 1.01
    g = gsd_m
    bounds = (
        math.floor(x0 / g) * g,
        math.floor(y0 / g) * g,
        math.ceil(x1 / g) * g,
        math.ceil(y1 / g) * g,
    )
    return OrthoGrid(epsg, bounds, g)


def _frame_grid(
    pose: Pose, terrain: Terrain, width_px: int, height_px: int, gsd_m: float | None
) -> tuple[OrthoGrid, float]:
    cols = {k: np.asarray(v).ravel()[:1] for k, v in pose.items()}
    lat, lon, gsd = _corner_box_latlon(cols, terrain, width_px, height_px)
    native = float(gsd[0])
    use = gsd_m if gsd_m is not None else native
    if use is None or not math.isfinite(use):
        raise GeoError("the frame has no ground sample distance: give gsd_m")
    return _grid_over(lat, lon, use, None, MAX_ORTHO_PX, coarsen=gsd_m is None), native


# --- warping -------------------------------------------------------------------------------
def _bilinear(
    rgb: NDArray[np.uint8], x_px: NDArray[np.float64], y_px: NDArray[np.float64]
) -> NDArray[np.uint8]:
    """Bilinear samples of ``rgb`` at continuous pixel positions (pixel centres at +0.5)."""
    h, w = rgb.shape[:2]
    sx = np.clip(x_px - 0.5, 0.0, w - 1.0)
    sy = np.clip(y_px - 0.5, 0.0, h - 1.0)
    x0 = np.minimum(np.floor(sx).astype(np.intp), max(w - 2, 0))
    y0 = np.minimum(np.floor(sy).astype(np.intp), max(h - 2, 0))
    fx = (sx - x0)[:, None].astype(np.float32)
    fy = (sy - y0)[:, None].astype(np.float32)
    x1 = np.minimum(x0 + 1, w - 1)
    y1 = np.minimum(y0 + 1, h - 1)
    img = rgb.astype(np.float32, copy=False)
    top = img[y0, x0] * (1 - fx) + img[y0, x1] * fx
    bot = img[y1, x0] * (1 - fx) + img[y1, x1] * fx
    return np.clip(np.rint(top * (1 - fy) + bot * fy), 0, 255).astype(np.uint8)


def _warp(rgb: NDArray[np.uint8], pose: Pose, terrain: Terrain, grid: OrthoGrid) -> OrthoImage:
    h_px, w_px = rgb.shape[:2]
    out = np.zeros((grid.height_px, grid.width_px, 4), np.uint8)
    to_ll = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True)
    xs = grid.bounds[0] + (np.arange(grid.width_px) + 0.5) * grid.gsd_m
    rows_per = max(1, _CHUNK_PX // max(grid.width_px, 1))
    row_idx = np.zeros(1, np.intp)
    for r0 in range(0, grid.height_px, rows_per):
        r1 = min(grid.height_px, r0 + rows_per)
        ys = grid.bounds[3] - (np.arange(r0, r1) + 0.5) * grid.gsd_m
        gx, gy = np.meshgrid(xs, ys)
        lon, lat = to_ll.transform(gx.ravel(), gy.ravel())
        lat, lon = np.asarray(lat, np.float64), np.asarray(lon, np.float64)
        hgt = _ground_height_m(terrain, pose, lat, lon)
        p = ground_to_pixel(pose, row_idx, lat, lon, hgt, w_px, h_px)
        ok = np.flatnonzero(p["in_view"] & np.isfinite(hgt))
        block = out[r0:r1].reshape(-1, 4)
        if ok.size:
            block[ok, :3] = _bilinear(rgb, p["x_px"][ok], p["y_px"][ok])
            block[ok, 3] = 255
    return OrthoImage(out, grid)


def _check_frame(rgb: np.ndarray) -> NDArray[np.uint8]:
    arr = np.asarray(rgb)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8 or min(arr.shape[:2]) < 2:
        raise GeoError(f"a frame must be (H, W, 3) uint8 RGB, not {arr.shape} {arr.dtype}")
    return arr


def orthorectify(
    rgb: np.ndarray,
    pose: Pose,
    *,
    terrain: Terrain,
    gsd_m: float | None = None,
    bounds: tuple[float, float, float, float] | None = None,
    epsg: int | None = None,
) -> OrthoImage:
    """The frame ``rgb`` ((H, W, 3) uint8) warped to the ground through its one-row ``pose``
    (ST 0601 columns) and ``terrain`` (an open :class:`vigia.geo.Dem`, a constant height in
    m HAE, or resolved :class:`TerrainOptions` without a DEM path).

    ``gsd_m`` defaults to the frame centre's GSD (coarsened to stay within
    :data:`MAX_ORTHO_PX`); ``bounds`` (west, south, east, north, m in ``epsg``, default the
    UTM zone of the frame) defaults to the frame's footprint. A frame that does not meet the
    ground is a :class:`GeoError`.
    """
    arr = _check_frame(rgb)
    h_px, w_px = arr.shape[:2]
    if bounds is None:
        if epsg is not None:
            raise GeoError("give bounds with epsg")
        grid, _ = _frame_grid(pose, terrain, w_px, h_px, gsd_m)
    else:
        b = tuple(float(v) for v in bounds)
        if len(b) != 4 or not all(map(math.isfinite, b)) or b[2] <= b[0] or b[3] <= b[1]:
            raise GeoError(
                f"bounds must be (west, south, east, north) with west < east, not {bounds}"
            )
        if epsg is None:
            raise GeoError("give the epsg of the bounds")
        g = gsd_m if gsd_m is not None else _frame_grid(pose, terrain, w_px, h_px, None)[1]
        if not (math.isfinite(g) and g > 0.0):
            raise GeoError(f"gsd_m must be a positive number of metres, not {g!r}")
        cols, rows = math.ceil((b[2] - b[0]) / g - 1e-9), math.ceil((b[3] - b[1]) / g - 1e-9)
        grid = OrthoGrid(epsg, (b[0], b[3] - rows * g, b[0] + cols * g, b[3]), g)
        if grid.width_px * grid.height_px > MAX_ORTHO_PX:
            raise GeoError(f"an ortho of more than {MAX_ORTHO_PX / 1e6:.0f} Mpx: coarsen gsd_m")
    return _warp(arr, pose, terrain, grid)


def site_crop(
    rgb: np.ndarray,
    pose: Pose,
    *,
    terrain: Terrain,
    lat_deg: float,
    lon_deg: float,
    size_m: float = 200.0,
    gsd_m: float = 0.5,
) -> OrthoImage:
    """A north-up square ``size_m`` (m) on a side centred on (``lat_deg``, ``lon_deg``), cut
    from the frame orthorectified at ``gsd_m`` (m) in the UTM zone of the point: a crop of
    fixed ground size that shows nothing of where the frame's edges were beyond it (alpha 0
    where the frame does not reach)."""
    if not (math.isfinite(size_m) and size_m > 0.0):
        raise GeoError(f"size_m must be a positive number of metres, not {size_m!r}")
    epsg = utm_epsg(float(lat_deg), float(lon_deg))
    x, y = Transformer.from_crs("EPSG:4326", f"EPSG:{epsg}", always_xy=True).transform(
        float(lon_deg), float(lat_deg)
    )
    half = 0.5 * size_m
    return orthorectify(
        rgb,
        pose,
        terrain=terrain,
        gsd_m=gsd_m,
        bounds=(x - half, y - half, x + half, y + half),
        epsg=epsg,
    )


# --- GeoTIFF -------------------------------------------------------------------------------
def _profile(grid: OrthoGrid, **extra: Any) -> dict[str, Any]:
    return {
        "driver": "GTiff",
        "dtype": "uint8",
        "count": 4,
        "width": grid.width_px,
        "height": grid.height_px,
        "crs": grid.crs,
        "transform": grid.transform,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
        "photometric": "RGB",
        "alpha": "YES",
        **extra,
    }


_RGBA: Final = (ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha)


def _write(dst: Any, rgba: NDArray[np.uint8]) -> None:
    dst.colorinterp = _RGBA
    dst.write(np.moveaxis(rgba, 2, 0))


def write_geotiff(ortho: OrthoImage, path: str | Path) -> Path:
    """Write ``ortho`` as a tiled, deflate-compressed RGBA GeoTIFF with its CRS (atomically);
    no tags beyond the georeferencing."""
    out = Path(path)

    def write(tmp: Path) -> None:
        with rasterio.open(tmp, "w", **_profile(ortho.grid)) as dst:
            _write(dst, ortho.rgba)

    replace_atomically(out, write)
    return out


def ortho_geotiff_bytes(ortho: OrthoImage) -> bytes:
    """``ortho`` as the bytes of the GeoTIFF :func:`write_geotiff` writes."""
    with MemoryFile() as mem:
        with mem.open(**_profile(ortho.grid)) as dst:
            _write(dst, ortho.rgba)
        return bytes(mem.read())


# --- mosaics -------------------------------------------------------------------------------
def mosaic_grid(
    poses: Sequence[Pose],
    *,
    terrain: Terrain,
    gsd_m: float,
    width_px: int,
    height_px: int,
    max_px: int = MAX_MOSAIC_PX,
    coarsen: bool = False,
) -> OrthoGrid:
    """The grid covering the union of the footprints of ``poses`` (frames of ``width_px`` x
    ``height_px``) at ``gsd_m`` (m) in the UTM zone of their mean corner; a canvas of more
    than ``max_px`` pixels is a :class:`GeoError`, or with ``coarsen`` a coarser GSD."""
    if not poses:
        raise GeoError("a mosaic needs at least one frame")
    lat, lon, _ = _corner_box_latlon(_stack_poses(poses), terrain, width_px, height_px)
    return _grid_over(lat, lon, float(gsd_m), None, max_px, coarsen=coarsen)


def mosaic(
    frames: Iterable[tuple[np.ndarray, Pose]],
    out_path: str | Path,
    *,
    gsd_m: float,
    terrain: Terrain,
    grid: OrthoGrid | None = None,
) -> Path:
    """Orthorectify ``frames`` ((rgb, pose) pairs, in order) onto one canvas, later frames over
    earlier ones, and write it to ``out_path`` as a Cloud-Optimised GeoTIFF (RGBA, deflate,
    512 px tiles, overviews by averaging), atomically.

    ``grid`` (from :func:`mosaic_grid`, its GSD wins over ``gsd_m``) lets ``frames`` be a
    one-pass stream: memory stays that of one frame, its ortho and a tiled canvas on disk.
    Without it the frames are held to size the canvas from their footprints first.
    Frames that do not meet the ground are skipped; none meeting it is a :class:`GeoError`.
    """
    out = Path(out_path)
    if grid is None:
        held = list(frames)
        if not held:
            raise GeoError("a mosaic needs at least one frame")
        h0, w0 = _check_frame(held[0][0]).shape[:2]
        grid = mosaic_grid(
            [p for _, p in held], terrain=terrain, gsd_m=gsd_m, width_px=w0, height_px=h0
        )
        frames = held
    fd, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".canvas.tif")
    os.close(fd)
    canvas_path = Path(name)
    placed = 0
    try:
        with rasterio.open(canvas_path, "w+", **_profile(grid, sparse_ok=True)) as canvas:
            canvas.colorinterp = _RGBA
            for rgb, pose in frames:
                arr = _check_frame(rgb)
                try:
                    fgrid, _ = _frame_grid(pose, terrain, arr.shape[1], arr.shape[0], grid.gsd_m)
                except GeoError:
                    continue
                sub = grid.snapped(
                    transform_bounds(fgrid.crs, grid.crs, *fgrid.bounds, densify_pts=21)
                    if fgrid.epsg != grid.epsg
                    else fgrid.bounds
                )
                if sub.width_px <= 0 or sub.height_px <= 0:
                    continue
                ortho = _warp(arr, pose, terrain, sub)
                win = grid.window(sub)
                have = np.moveaxis(canvas.read(window=win), 0, 2)
                new = ortho.rgba[..., 3] > 0
                have[new] = ortho.rgba[new]
                canvas.write(np.moveaxis(have, 2, 0), window=win)
                placed += int(new.any())
        if not placed:
            raise GeoError("no frame of the mosaic meets the ground")

        def write(tmp: Path) -> None:
            rasterio.shutil.copy(
                canvas_path,
                tmp,
                driver="COG",
                compress="DEFLATE",
                blocksize=512,
                overview_resampling="AVERAGE",
                resampling="AVERAGE",
            )

        replace_atomically(out, write)
    finally:
        canvas_path.unlink(missing_ok=True)
    return out


def overlay_png(
    cog_path: str | Path, *, max_px: int = 2048
) -> tuple[bytes, tuple[float, float, float, float]]:
    """A mosaic as a PNG in Web Mercator (EPSG:3857, what Leaflet draws an image overlay in),
    at most ``max_px`` on its longer side, and its (west, south, east, north) bounds in
    degrees for ``L.imageOverlay``."""
    with rasterio.open(cog_path) as src:
        scale = max(1.0, max(src.width, src.height) / (2.0 * max_px))
        shape = (4, max(1, round(src.height / scale)), max(1, round(src.width / scale)))
        data = src.read(out_shape=shape, resampling=Resampling.average)
        src_transform = src.transform @ Affine.scale(src.width / shape[2], src.height / shape[1])
        src_crs = src.crs
        left, bottom, right, top = src.bounds
    dst_transform, w, h = calculate_default_transform(
        src_crs, "EPSG:3857", shape[2], shape[1], left, bottom, right, top
    )
    assert w is not None and h is not None
    k = max(1.0, max(w, h) / max_px)
    if k > 1.0:
        w, h = max(1, math.ceil(w / k)), max(1, math.ceil(h / k))
        dst_transform = dst_transform @ Affine.scale(k, k)
    dst = np.zeros((4, h, w), np.uint8)
    reproject(
        data,
        dst,
        src_transform=src_transform,
        src_crs=src_crs,
        dst_transform=dst_transform,
        dst_crs="EPSG:3857",
        resampling=Resampling.bilinear,
    )
    west, north = dst_transform @ (0, 0)
    east, south = dst_transform @ (w, h)
    lw, ls, le, ln = transform_bounds("EPSG:3857", "EPSG:4326", west, south, east, north)
    buf = io.BytesIO()
    Image.fromarray(np.moveaxis(dst, 0, 2), "RGBA").save(buf, format="PNG", optimize=False)
    return buf.getvalue(), (float(lw), float(ls), float(le), float(ln))
