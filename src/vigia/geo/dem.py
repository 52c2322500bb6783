"""Digital elevation model from a GeoTIFF (any rasterio-readable raster), queried vectorised."""

from __future__ import annotations

import math
from pathlib import Path
from types import TracebackType
from typing import Literal

import numpy as np
import rasterio
import rasterio.errors
import rasterio.windows
from numpy.typing import ArrayLike, NDArray
from pyproj import CRS, Transformer

from vigia.errors import GeoError
from vigia.geo.geoid import geoid_undulation_m

FloatArray = NDArray[np.float64]

VerticalDatum = Literal["egm96", "ellipsoid"]

__all__ = ["Dem", "VerticalDatum"]


class Dem:
    """A DEM held in memory, opened as a context manager over a GeoTIFF.

    ``vertical_datum`` says what the stored heights are: ``"egm96"`` for heights above mean sea
    level (SRTM, most national DEMs; EGM2008-based models such as Copernicus DEM differ from
    EGM96 by well under a metre over Mexico) or ``"ellipsoid"`` for heights above WGS84.
    ``bounds`` (west, south, east, north in degrees) reads only that part of a large file.
    Heights are bilinearly interpolated between pixel centres; queries outside the raster or
    next to a nodata pixel give NaN.

    >>> with Dem("dem.tif") as dem:  # doctest: +SKIP
    ...     h = dem.ellipsoid_height_at(lat, lon)
    """

    def __init__(
        self,
        path: str | Path,
        *,
        vertical_datum: VerticalDatum = "egm96",
        bounds: tuple[float, float, float, float] | None = None,
        band: int = 1,
    ) -> None:
        if vertical_datum not in ("egm96", "ellipsoid"):
            raise GeoError(f"vertical_datum must be 'egm96' or 'ellipsoid', not {vertical_datum!r}")
        self.path = Path(path)
        self.vertical_datum: VerticalDatum = vertical_datum
        try:
            self._ds = rasterio.open(self.path)
        except (rasterio.errors.RasterioIOError, OSError) as exc:
            raise GeoError(f"cannot open DEM {self.path}: {exc}") from exc
        try:
            self._load(bounds, band)
        except Exception:
            self._ds.close()
            raise

    def _load(self, bounds: tuple[float, float, float, float] | None, band: int) -> None:
        ds = self._ds
        if ds.crs is None:
            raise GeoError(f"DEM {self.path} has no coordinate reference system")
        if not 1 <= band <= ds.count:
            raise GeoError(f"DEM {self.path} has no band {band}")
        self.crs = CRS.from_user_input(ds.crs.to_wkt())
        geographic_wgs84 = self.crs.equals(CRS.from_epsg(4326), ignore_axis_order=True)
        self._to_dem = (
            None
            if geographic_wgs84
            else Transformer.from_crs(CRS.from_epsg(4326), self.crs, always_xy=True)
        )
        window = None
        if bounds is not None:
            west, south, east, north = bounds
            xs, ys = self._xy(
                np.array([south, south, north, north]), np.array([west, east, west, east])
            )
            window = rasterio.windows.from_bounds(
                float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max()), ds.transform
            )
            window = window.round_offsets().round_lengths()
            window = window.intersection(rasterio.windows.Window(0, 0, ds.width, ds.height))
        heights = ds.read(band, window=window, masked=True).astype(np.float64)
        self.heights_m: FloatArray = np.ma.filled(heights, np.nan)
        self.transform = ds.window_transform(window) if window is not None else ds.transform
        inv = ~self.transform
        self._inv = (inv.a, inv.b, inv.c, inv.d, inv.e, inv.f)
        if not np.isfinite(self.heights_m).any():
            raise GeoError(f"DEM {self.path} holds no valid height in the requested area")
        # Pixel size on the ground (m), for ray marching.
        rows, cols = self.heights_m.shape
        _cx, cy = self.transform @ (cols / 2.0, rows / 2.0)
        if geographic_wgs84 or self.crs.is_geographic:
            lat_c = math.radians(float(cy))
            sx = abs(self.transform.a) * 111_320.0 * max(math.cos(lat_c), 1e-3)
            sy = abs(self.transform.e) * 110_574.0
        else:
            sx, sy = abs(self.transform.a), abs(self.transform.e)
        self.pixel_size_m = float(min(sx, sy))
        # Conservative bounds of the ellipsoidal heights, for ray marching.
        lo, hi = float(np.nanmin(self.heights_m)), float(np.nanmax(self.heights_m))
        if self.vertical_datum == "egm96":
            lat_s, lon_s = self._sample_latlon()
            n_geoid = geoid_undulation_m(lat_s, lon_s)
            lo += float(np.nanmin(n_geoid)) - 2.0
            hi += float(np.nanmax(n_geoid)) + 2.0
        self.min_ellipsoid_height_m = lo
        self.max_ellipsoid_height_m = hi

    def _sample_latlon(self) -> tuple[FloatArray, FloatArray]:
        rows, cols = self.heights_m.shape
        c, r = np.meshgrid(np.linspace(0, cols, 17), np.linspace(0, rows, 17))
        a, b, xo, d, e, yo = (
            self.transform.a,
            self.transform.b,
            self.transform.c,
            self.transform.d,
            self.transform.e,
            self.transform.f,
        )
        x = a * c + b * r + xo
        y = d * c + e * r + yo
        if self._to_dem is None:
            return y.ravel(), x.ravel()
        lon, lat = self._to_dem.transform(x.ravel(), y.ravel(), direction="INVERSE")
        return np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)

    def _xy(self, lat: FloatArray, lon: FloatArray) -> tuple[FloatArray, FloatArray]:
        if self._to_dem is None:
            return lon, lat
        x, y = self._to_dem.transform(lon, lat)
        return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)

    # --- queries -------------------------------------------------------------------------
    def height_at(self, lat_deg: ArrayLike, lon_deg: ArrayLike) -> FloatArray:
        """Height stored in the DEM (m, in its vertical datum) at latitude, longitude (deg)."""
        lat = np.asarray(lat_deg, dtype=np.float64)
        lon = np.asarray(lon_deg, dtype=np.float64)
        lat, lon = np.broadcast_arrays(lat, lon)
        shape = lat.shape
        x, y = self._xy(lat.ravel(), lon.ravel())
        ia, ib, ic, id_, ie, if_ = self._inv
        col = ia * x + ib * y + ic - 0.5
        row = id_ * x + ie * y + if_ - 0.5
        rows, cols = self.heights_m.shape
        inside = (col >= -0.5) & (col <= cols - 0.5) & (row >= -0.5) & (row <= rows - 0.5)
        col = np.clip(np.where(inside, col, 0.0), 0.0, cols - 1.0)
        row = np.clip(np.where(inside, row, 0.0), 0.0, rows - 1.0)
        c0 = np.minimum(col.astype(np.intp), max(cols - 2, 0))
        r0 = np.minimum(row.astype(np.intp), max(rows - 2, 0))
        c1 = np.minimum(c0 + 1, cols - 1)
        r1 = np.minimum(r0 + 1, rows - 1)
        fc = col - c0
        fr = row - r0
        g = self.heights_m
        top = g[r0, c0] + (g[r0, c1] - g[r0, c0]) * fc
        bottom = g[r1, c0] + (g[r1, c1] - g[r1, c0]) * fc
        out = top + (bottom - top) * fr
        out[~inside] = np.nan
        return out.reshape(shape)

    def ellipsoid_height_at(self, lat_deg: ArrayLike, lon_deg: ArrayLike) -> FloatArray:
        """Terrain height above the WGS84 ellipsoid (m) at latitude, longitude (deg)."""
        h = self.height_at(lat_deg, lon_deg)
        if self.vertical_datum == "egm96":
            h = h + geoid_undulation_m(lat_deg, lon_deg)
        return h

    # --- resource handling -----------------------------------------------------------------
    def close(self) -> None:
        """Close the underlying dataset (the heights stay in memory)."""
        self._ds.close()

    def __enter__(self) -> Dem:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        rows, cols = self.heights_m.shape
        return f"Dem({str(self.path)!r}, {cols}x{rows}, vertical_datum={self.vertical_datum!r})"
