"""The relief of the scenario world: hills and valleys east of Culiacán, deterministic from a
seed, and the DEM GeoTIFF that describes them.

The ground is a base height that rises towards the Sierra (east), plus smooth Gaussian hills
and valleys of a few hundred metres (:data:`N_BUMPS` of them, 1.2-3.5 km wide), with a soft
floor so that no valley dips under :data:`FLOOR_M`. Heights are above mean sea level (EGM96);
:meth:`Relief.ellipsoid_height_m` adds the geoid undulation, as :class:`vigia.geo.Dem` does.

The truth of the scenario is the raster itself (:meth:`Relief.dem`, bilinear between pixel
centres, exactly what :class:`vigia.geo.Dem` reads from :meth:`Relief.write_dem`'s file), so
that objects, aim points and lines of sight meet the same ground as a pipeline given the DEM.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import rasterio
import rasterio.shutil
from rasterio.transform import Affine

from vigia.geo import Dem
from vigia.geo.wgs84 import radii_of_curvature_m

__all__ = ["DEM_NODATA", "Relief", "build_relief"]

FloatArray = npt.NDArray[np.float64]

#: Height of the ground at the world's origin before hills and valleys (m above MSL): the
#: valleys and low hills east of Culiacán are 100-250 m above sea level.
BASE_M: Final = 150.0
#: Rise of the base height towards the Sierra, per km east (m/km).
RAMP_M_PER_KM: Final = 10.0
#: Hills and valleys: how many, their one-sigma widths (m) and heights (m; valleys negative).
N_BUMPS: Final = 12
BUMP_SIGMA_RANGE_M: Final = (1200.0, 3500.0)
HILL_RANGE_M: Final = (90.0, 280.0)
VALLEY_RANGE_M: Final = (-150.0, -50.0)
VALLEY_SHARE: Final = 0.3
#: Soft floor of the valleys (m above MSL) and the width of its knee (m).
FLOOR_M: Final = 40.0
FLOOR_KNEE_M: Final = 25.0
#: The DEM covers the AOIs' search boxes grown by this much (m).
DEM_MARGIN_M: Final = 6000.0
#: DEM pixel size (deg): 2 arc-seconds, ~56 m east, ~62 m north.
DEM_PIXEL_DEG: Final = 2.0 / 3600.0
DEM_NODATA: Final = -32768.0


@dataclass(frozen=True)
class Relief:
    """Hills and valleys over a box of the world (see the module docstring).

    Bump centres ``bump_east_m``/``bump_north_m`` are local metres about ``origin_lat``/
    ``origin_lon`` (the world's local plane); ``bounds`` (west, south, east, north, deg) is
    what the DEM covers.
    """

    seed: int
    origin_lat: float
    origin_lon: float
    bounds: tuple[float, float, float, float]
    base_m: float
    ramp_m_per_km: float
    bump_east_m: tuple[float, ...]
    bump_north_m: tuple[float, ...]
    bump_sigma_m: tuple[float, ...]
    bump_height_m: tuple[float, ...]
    pixel_deg: float = DEM_PIXEL_DEG

    def msl_m(self, lat: npt.ArrayLike, lon: npt.ArrayLike) -> FloatArray:
        """The analytic ground height (m above MSL) at (lat, lon) deg; the DEM samples it."""
        m, n = radii_of_curvature_m(self.origin_lat)
        lat_a = np.asarray(lat, np.float64)
        lon_a = np.asarray(lon, np.float64)
        north = np.radians(lat_a - self.origin_lat) * m
        east = np.radians(lon_a - self.origin_lon) * n * math.cos(math.radians(self.origin_lat))
        h = self.base_m + self.ramp_m_per_km * east / 1000.0
        for e0, n0, s, a in zip(
            self.bump_east_m, self.bump_north_m, self.bump_sigma_m, self.bump_height_m, strict=True
        ):
            h = h + a * np.exp(-((east - e0) ** 2 + (north - n0) ** 2) / (2.0 * s * s))
        # Soft floor: FLOOR_M + softplus, so that valleys flatten out instead of dipping.
        return np.asarray(
            FLOOR_M + FLOOR_KNEE_M * np.logaddexp(0.0, (h - FLOOR_M) / FLOOR_KNEE_M), np.float64
        )

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns) of the DEM."""
        west, south, east, north = self.bounds
        return (
            round((north - south) / self.pixel_deg),
            round((east - west) / self.pixel_deg),
        )

    def grid(self) -> npt.NDArray[np.float32]:
        """The DEM's heights (m above MSL), north row first, sampled at pixel centres."""
        west, _south, _east, north = self.bounds
        rows, cols = self.shape
        lat = north - (np.arange(rows) + 0.5) * self.pixel_deg
        lon = west + (np.arange(cols) + 0.5) * self.pixel_deg
        return self.msl_m(lat[:, None], lon[None, :]).astype(np.float32)

    def write_dem(self, path: str | Path) -> Path:
        """Write the relief as a DEM GeoTIFF: EPSG:4326, float32 heights above mean sea level
        (EGM96), nodata :data:`DEM_NODATA`. Returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        west, _south, _east, north = self.bounds
        rows, cols = self.shape
        profile = {
            "driver": "GTiff",
            "width": cols,
            "height": rows,
            "count": 1,
            "dtype": "float32",
            "crs": "EPSG:4326",
            "transform": Affine(self.pixel_deg, 0.0, west, 0.0, -self.pixel_deg, north),
            "nodata": DEM_NODATA,
            "compress": "deflate",
            "predictor": 3,
            "tiled": True,
            "blockxsize": 256,
            "blockysize": 256,
        }
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(self.grid(), 1)
            dst.update_tags(
                AREA_OR_POINT="Area",
                VERTICAL_DATUM="EGM96",
                SOURCE=f"Vigía scenario relief (synthetic, seed {self.seed})",
            )
        return path

    def dem(self) -> Dem:
        """The relief as a :class:`vigia.geo.Dem` (in memory; the same heights as the file of
        :meth:`write_dem`). Cached per relief."""
        return _dem_of(self)

    def ellipsoid_height_m(self, lat: npt.ArrayLike, lon: npt.ArrayLike) -> FloatArray:
        """Ground height above the WGS84 ellipsoid (m) at (lat, lon) deg, from the DEM."""
        return self.dem().ellipsoid_height_at(lat, lon)


@lru_cache(maxsize=16)
def _dem_of(relief: Relief) -> Dem:
    path = Path(f"/vsimem/vigia-relief-{relief.seed}-{uuid.uuid4().hex}.tif")
    relief.write_dem(path)
    try:
        with Dem(path) as dem:
            return dem
    finally:
        rasterio.shutil.delete(str(path))


def build_relief(
    seed: int,
    origin: tuple[float, float],
    boxes: list[tuple[float, float, float, float]],
) -> Relief:
    """The relief of a world: deterministic from ``seed``, covering the search ``boxes`` (local
    metres about ``origin``: east0, north0, east1, north1) grown by :data:`DEM_MARGIN_M`."""
    rng = np.random.default_rng([seed, 0x7E11EF])
    b = np.asarray(boxes, np.float64)
    e0, n0 = b[:, 0].min() - DEM_MARGIN_M, b[:, 1].min() - DEM_MARGIN_M
    e1, n1 = b[:, 2].max() + DEM_MARGIN_M, b[:, 3].max() + DEM_MARGIN_M
    m, n = radii_of_curvature_m(origin[0])
    k = n * math.cos(math.radians(origin[0]))
    px = DEM_PIXEL_DEG

    def snap_down(x: float) -> float:
        return math.floor(x / px) * px

    def snap_up(x: float) -> float:
        return math.ceil(x / px) * px

    bounds = (
        snap_down(origin[1] + math.degrees(e0 / k)),
        snap_down(origin[0] + math.degrees(n0 / m)),
        snap_up(origin[1] + math.degrees(e1 / k)),
        snap_up(origin[0] + math.degrees(n1 / m)),
    )
    # Bumps over the search area and a little beyond, so that the edges are not flat.
    pad = 0.3 * DEM_MARGIN_M
    valley = rng.random(N_BUMPS) < VALLEY_SHARE
    height = np.where(
        valley, rng.uniform(*VALLEY_RANGE_M, N_BUMPS), rng.uniform(*HILL_RANGE_M, N_BUMPS)
    )
    return Relief(
        seed=int(seed),
        origin_lat=float(origin[0]),
        origin_lon=float(origin[1]),
        bounds=bounds,
        base_m=BASE_M,
        ramp_m_per_km=RAMP_M_PER_KM,
        bump_east_m=tuple(
            float(x) for x in rng.uniform(b[:, 0].min() - pad, b[:, 2].max() + pad, N_BUMPS)
        ),
        bump_north_m=tuple(
            float(x) for x in rng.uniform(b[:, 1].min() - pad, b[:, 3].max() + pad, N_BUMPS)
        ),
        bump_sigma_m=tuple(float(x) for x in rng.uniform(*BUMP_SIGMA_RANGE_M, N_BUMPS)),
        bump_height_m=tuple(float(x) for x in height),
    )
