"""Ground footprints of FMV frames: frame centre, four corners, slant range and GSD per row.

Vectorised over all rows of a telemetry table (chunked internally so that the working set stays
in cache); no per-row Python. See :mod:`vigia.geo.sensor` for the rotation conventions and
:mod:`vigia.geo.intersect` for the terrain models.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray

from vigia.errors import GeoError
from vigia.geo.dem import Dem
from vigia.geo.geoid import geoid_undulation_m
from vigia.geo.intersect import ecef_to_latlon, ray_dem, ray_ellipsoid
from vigia.geo.sensor import (
    ABOVE_HORIZON,
    BAD_FOV,
    BELOW_TERRAIN,
    CORNER_ABOVE_HORIZON,
    CORNER_OUTSIDE_DEM,
    MISSING,
    OK,
    OUT_OF_RANGE,
    OUTSIDE_DEM,
    REASON_DTYPE,
    REASONS,
    FloatArray,
    Pose,
    Vec3,
    column,
    pose_from_columns,
    row_count,
    sensor_frame_ecef,
    sin_cos_deg,
)
from vigia.geo.wgs84 import WGS84_A_M, WGS84_B_M, WGS84_E2, ecef_to_enu, geodesic_inv

_DEG2RAD: Final = np.pi / 180.0
_RAD2DEG: Final = 180.0 / np.pi

__all__ = [
    "BEARING_MAX_DEPRESSION_DEG",
    "CORNERS_UV",
    "GEO_SOURCES",
    "PLATFORM_BEARING_TOLERANCE_DEG",
    "PLATFORM_POSE_VERDICTS",
    "STREAM_ELEVATION_WINDOW",
    "boresight_direction_deg",
    "compare_with_platform",
    "footprint_polygons",
    "footprints",
    "platform_bearing_offsets",
    "platform_geolocation",
    "platform_pose_verdict",
    "stream_elevation_m",
]

#: How each footprint row was geolocated: by the sensor model (the pose, items 5-7, 13-19)
#: or taken from the platform's own frame centre and corners (items 23-33, 78, 82-89).
GEO_SOURCES: Final = ("sensor_model", "platform")

#: Rows of the running median that smooths the stream's frame-centre elevation along the track.
STREAM_ELEVATION_WINDOW: Final = 9

CHUNK_ROWS: Final = 1 << 14

CORNERS_UV: Final = ((-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0))
"""Normalised image coordinates (u right, v down, in [-1, 1]) of ST 0601 corners 1..4:
upper left, upper right, lower right, lower left."""


@dataclass(frozen=True)
class Terrain:
    """What the rays are intersected with: per-row ellipsoidal heights (m) or a DEM."""

    heights_m: FloatArray | None = None
    dem: Dem | None = None

    def take(self, index: NDArray[np.intp] | slice) -> Terrain:
        """The terrain of a subset of rows."""
        if self.heights_m is None:
            return self
        return Terrain(heights_m=self.heights_m[index], dem=self.dem)


def stream_elevation_m(columns: Any, n_rows: int, *, window: int = 1) -> FloatArray:
    """The stream's own frame-centre height above the ellipsoid (m), one per row.

    Item 78 (HAE) where present, else item 25 (MSL) plus the EGM96 undulation at items 23/24;
    NaN where neither is. With ``window`` > 1, the running median of the finite values over
    ``window`` consecutive rows (centred), which smooths the platform's quantised, noisy
    estimate along the track and bridges short gaps; a row with no finite value in its window
    stays NaN.
    """
    hae = column(columns, "frame_center_height_above_ellipsoid", n_rows)
    msl = column(columns, "frame_center_elevation", n_rows)
    need = np.isnan(hae) & ~np.isnan(msl)
    if need.any():
        hae = hae.copy()
        fc_lat = column(columns, "frame_center_latitude", n_rows)[need]
        fc_lon = column(columns, "frame_center_longitude", n_rows)[need]
        hae[need] = msl[need] + geoid_undulation_m(fc_lat, fc_lon)
    if window <= 1 or n_rows == 0 or np.isnan(hae).all():
        return hae
    half = window // 2
    padded = np.concatenate([np.full(half, np.nan), hae, np.full(half, np.nan)])
    view = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows stay NaN
        return np.asarray(np.nanmedian(view, axis=1), dtype=np.float64)


def terrain_from_options(
    columns: Any,
    n_rows: int,
    *,
    terrain_height_m: ArrayLike | None,
    dem: Dem | None,
    use_stream_elevation: bool,
) -> tuple[Terrain, NDArray[np.bool_]]:
    """The terrain model chosen by the keyword options, and the rows it leaves undefined.

    At most one option may be given; with none, the terrain is the WGS84 ellipsoid (h = 0).
    ``terrain_height_m`` is a height above the ellipsoid (m), a scalar or one per row.
    ``use_stream_elevation`` takes each row's frame-centre height from the stream, smoothed
    along the track (:func:`stream_elevation_m` over :data:`STREAM_ELEVATION_WINDOW` rows).
    """
    chosen = sum([terrain_height_m is not None, dem is not None, bool(use_stream_elevation)])
    if chosen > 1:
        raise GeoError("give at most one of terrain_height_m, dem, use_stream_elevation")
    if dem is not None:
        if not isinstance(dem, Dem):
            raise GeoError(f"dem must be a vigia.geo.Dem, not {type(dem).__name__}")
        return Terrain(dem=dem), np.zeros(n_rows, dtype=bool)
    if use_stream_elevation:
        hae = stream_elevation_m(columns, n_rows, window=STREAM_ELEVATION_WINDOW)
        return Terrain(heights_m=hae), np.isnan(hae)
    if terrain_height_m is None:
        return Terrain(heights_m=np.zeros(n_rows)), np.zeros(n_rows, dtype=bool)
    heights = np.broadcast_to(np.asarray(terrain_height_m, dtype=np.float64), (n_rows,))
    return Terrain(heights_m=np.ascontiguousarray(heights)), np.isnan(heights)


def ray_directions(axes: tuple[Vec3, Vec3, Vec3], pose: Pose, u: ArrayLike, v: ArrayLike) -> Vec3:
    """ECEF direction of the ray through normalised image point (u, v) (not unit length)."""
    c0, c1, c2 = axes
    with np.errstate(invalid="ignore"):
        su = np.asarray(u) * np.tan(np.radians(pose.hfov_deg) * 0.5)
        sv = np.asarray(v) * np.tan(np.radians(pose.vfov_deg) * 0.5)
    return (
        c0[0] + su * c1[0] + sv * c2[0],
        c0[1] + su * c1[1] + sv * c2[1],
        c0[2] + su * c1[2] + sv * c2[2],
    )


def intersect(
    origin: Vec3, direction: Vec3, terrain: Terrain, offset_m: float = 0.0
) -> tuple[FloatArray, NDArray[np.int8]]:
    """Ray parameter ``t`` and reason code against the terrain model (see intersect module)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        if terrain.dem is not None:
            return ray_dem(origin, direction, terrain.dem, offset_m=offset_m)
        assert terrain.heights_m is not None
        return ray_ellipsoid(origin, direction, terrain.heights_m + offset_m)


def _ellipsoid_hits(
    pose: Pose, origin: Vec3, rays: list[Vec3], heights_m: FloatArray
) -> list[tuple[FloatArray, FloatArray, FloatArray, NDArray[np.int8], Vec3, FloatArray]]:
    """Fast path for the raised ellipsoid: t, lat, lon, code, hit point and z (A/B)^2 per ray.

    The quadratic's origin-only terms are shared between rays. The latitude of a hit is that of
    the raised ellipsoid's normal, arctan(z (A/B)^2 / p): exact on the ellipsoid, within
    3e-6 * |h| m of the geodetic latitude when raised by h (8 mm at 3000 m). The longitude is
    measured from the sensor's meridian (hits lie well within 90 degrees of it).
    """
    big_a = WGS84_A_M + heights_m
    big_b = WGS84_B_M + heights_m
    ia2 = 1.0 / (big_a * big_a)
    ib2 = 1.0 / (big_b * big_b)
    ratio = ib2 / ia2
    px, py, pz = origin
    sx, sy, sz = px * ia2, py * ia2, pz * ib2
    qc = px * sx + py * sy + pz * sz - 1.0
    inside = qc <= 0.0
    so, co = sin_cos_deg(pose.lon_deg)
    out = []
    for dx, dy, dz in rays:
        qa = (dx * dx + dy * dy) * ia2 + dz * dz * ib2
        qb = dx * sx + dy * sy + dz * sz
        disc = qb * qb - qa * qc
        ok = (disc >= 0.0) & (qb < 0.0) & ~inside
        # near root, stable form (qb < 0 where ok): t = qc / (-qb + sqrt(disc))
        t = qc / (np.sqrt(disc) - qb)
        t[~ok] = np.nan
        x = px + t * dx
        y = py + t * dy
        z = pz + t * dz
        p = np.sqrt(x * x + y * y)
        zr = z * ratio
        lat = np.arctan(zr / p)
        lat *= _RAD2DEG
        dlon = np.arctan((y * co - x * so) / (x * co + y * so))
        dlon *= _RAD2DEG
        lon = pose.lon_deg + dlon
        lon[lon > 180.0] -= 360.0
        lon[lon < -180.0] += 360.0
        code = np.where(inside, np.int8(BELOW_TERRAIN), np.int8(ABOVE_HORIZON)).astype(np.int8)
        code[ok] = OK
        out.append((t, lat, lon, code, (x, y, z), zr))
    return out


def _generic_hits(
    origin: Vec3, rays: list[Vec3], terrain: Terrain
) -> list[tuple[FloatArray, FloatArray, FloatArray, NDArray[np.int8], Vec3, FloatArray]]:
    """Any terrain model: t, lat, lon, code, hit point and z / (1 - e^2) per ray."""
    out = []
    for d in rays:
        t, code = intersect(origin, d, terrain)
        x = origin[0] + t * d[0]
        y = origin[1] + t * d[1]
        z = origin[2] + t * d[2]
        slat, clat, lat, lon, _ = ecef_to_latlon(x, y, z)
        # z-component of a vector along the normal scaled so that its p-component is p
        zr = np.sqrt(x * x + y * y) * slat / clat
        out.append((t, lat, lon, code, (x, y, z), zr))
    return out


def _chunk(
    pose: Pose, terrain: Terrain, width_px: int, height_px: int, out: dict[str, Any], sl: slice
) -> tuple[NDArray[np.int8], list[NDArray[np.int8]]]:
    """Fill ``out[key][sl]`` for one chunk; return the centre and corner reason codes."""
    origin, axes = sensor_frame_ecef(pose)
    c0, c1, c2 = axes
    tx = np.tan(pose.hfov_deg * (0.5 * _DEG2RAD))
    ty = np.tan(pose.vfov_deg * (0.5 * _DEG2RAD))
    rays = [c0]
    for u, v in CORNERS_UV:
        su, sv = tx * u, ty * v
        rays.append(
            (
                c0[0] + su * c1[0] + sv * c2[0],
                c0[1] + su * c1[1] + sv * c2[1],
                c0[2] + su * c1[2] + sv * c2[2],
            )
        )
    if terrain.dem is None:
        assert terrain.heights_m is not None
        hits = _ellipsoid_hits(pose, origin, rays, terrain.heights_m)
    else:
        hits = _generic_hits(origin, rays, terrain)
    t, lat, lon, code, (x, y, z), zr = hits[0]
    out["center_lat"][sl] = lat
    out["center_lon"][sl] = lon
    out["slant_range_m"][sl] = t
    # Ellipsoid normal at the centre (from the latitude's tangent zr / p) and the height there
    # (h is stationary in the latitude, so the normal's tiny offset costs nothing).
    p = np.sqrt(x * x + y * y)
    r = np.sqrt(zr * zr + p * p)
    slat, clat = zr / r, p / r
    out["center_h"][sl] = p * clat + z * slat - WGS84_A_M * np.sqrt(1.0 - WGS84_E2 * slat * slat)
    # GSD: ground size of the centre pixel on the plane tangent to the ellipsoid at the frame
    # centre (level terrain); per image axis k: S * ifov_k * sqrt(1 + (c_k.n / c_0.n)^2).
    nx, ny, nz = clat * x / p, clat * y / p, slat
    n0 = c0[0] * nx + c0[1] * ny + c0[2] * nz
    rx = (c1[0] * nx + c1[1] * ny + c1[2] * nz) / n0
    ry = (c2[0] * nx + c2[1] * ny + c2[2] * nz) / n0
    gx = t * (2.0 / width_px) * tx * np.sqrt(1.0 + rx * rx)
    gy = t * (2.0 / height_px) * ty * np.sqrt(1.0 + ry * ry)
    out["gsd_x_m"][sl] = gx
    out["gsd_y_m"][sl] = gy
    out["gsd_m"][sl] = np.sqrt(gx * gy)
    for k, (_, lat_k, lon_k, _, _, _) in enumerate(hits[1:], start=1):
        out[f"corner{k}_lat"][sl] = lat_k
        out[f"corner{k}_lon"][sl] = lon_k
    return code, [h[3] for h in hits[1:]]


_FLOAT_KEYS: Final = (
    "center_lat",
    "center_lon",
    "center_h",
    *(f"corner{k}_{c}" for k in range(1, 5) for c in ("lat", "lon")),
    "slant_range_m",
    "gsd_m",
    "gsd_x_m",
    "gsd_y_m",
)


def footprints(
    columns: Any,
    *,
    terrain_height_m: ArrayLike | None = None,
    dem: Dem | None = None,
    use_stream_elevation: bool = False,
    frame_width_px: int = 1280,
    frame_height_px: int = 720,
    defaults: Mapping[str, float] | None = None,
    platform_fallback: bool = False,
) -> dict[str, np.ndarray]:
    """Frame centre, corners, slant range and GSD of every row of ST 0601 telemetry.

    ``columns``: a mapping of ST 0601 snake_case item names to arrays, or a pyarrow Table.
    Terrain: the WGS84 ellipsoid (default), raised by ``terrain_height_m`` (m HAE, scalar or
    per row), a :class:`Dem`, or each row's frame-centre elevation from the stream
    (``use_stream_elevation``). ``defaults`` fills named missing items explicitly.

    Returns arrays of one value per row:

    * ``center_lat``, ``center_lon`` (deg), ``center_h`` (m HAE): where the boresight meets
      the terrain; ``slant_range_m``: sensor to frame centre (m).
    * ``corner1_lat`` .. ``corner4_lon`` (deg): image corners in ST 0601 order (upper left,
      upper right, lower right, lower left), each NaN if its own ray misses the terrain.
    * ``gsd_m``: ground sample distance at the frame centre (m), the geometric mean of
      ``gsd_x_m`` and ``gsd_y_m``, the ground lengths of one pixel along the image rows and
      columns on the plane tangent to the ellipsoid at the frame centre (level terrain).
    * ``valid`` (bool) and ``reason`` (object array of str): 'ok', or why not:
      'missing_items', 'out_of_range', 'bad_fov', 'below_terrain', 'outside_dem',
      'above_horizon' (boresight), or 'corner_outside_dem' / 'corner_above_horizon' (centre
      known, some corner not).

    * ``geo_source`` (object array of str): 'sensor_model' (computed from the pose), or
      'platform' where ``platform_fallback`` took the platform's own values.

    Bad rows are flagged, never raised; every number of a row whose pose is unusable is NaN,
    and the centre values are NaN unless the boresight meets the terrain. With
    ``platform_fallback``, a row whose pose cannot be used (reason 'missing_items',
    'out_of_range' or 'bad_fov': an error value or a missing item, such as the pitch) takes the
    platform's own frame centre and corners instead (see :func:`platform_geolocation`) and is
    marked 'platform': centre from items 23/24 (height item 78, or 25 + EGM96), corners from
    items 82-89 or the offsets 26-33, slant range item 21, GSD NaN. Such a row is valid
    (reason 'ok') only when the centre and all four corners are there; the platform's values
    are unchecked (nothing here can tell their error).
    """
    if frame_width_px <= 0 or frame_height_px <= 0:
        raise GeoError("frame_width_px and frame_height_px must be positive")
    n = row_count(columns)
    pose = pose_from_columns(columns, defaults)
    terrain, terrain_missing = terrain_from_options(
        columns,
        n,
        terrain_height_m=terrain_height_m,
        dem=dem,
        use_stream_elevation=use_stream_elevation,
    )
    pose_code = pose.code.copy()
    pose_code[terrain_missing & (pose_code == OK)] = MISSING
    result: dict[str, np.ndarray] = {k: np.full(n, np.nan) for k in _FLOAT_KEYS}
    code = pose_code.copy()
    with np.errstate(invalid="ignore", divide="ignore"):
        for start in range(0, n, CHUNK_ROWS):
            sl = slice(start, min(start + CHUNK_ROWS, n))
            c, corner_codes = _chunk(
                pose.take(sl), terrain.take(sl), frame_width_px, frame_height_px, result, sl
            )
            any_outside = np.zeros(c.shape, dtype=bool)
            any_bad = np.zeros(c.shape, dtype=bool)
            for ck in corner_codes:
                any_outside |= ck == OUTSIDE_DEM
                any_bad |= ck != OK
            corner = np.where(any_bad, np.int8(CORNER_ABOVE_HORIZON), np.int8(OK))
            corner[any_outside] = CORNER_OUTSIDE_DEM
            geo_code = np.where(c != OK, c, corner)
            block = code[sl]
            code[sl] = np.where(block == OK, geo_code, block)
    bad_pose = pose_code != OK
    centre_missing = bad_pose | ~np.isin(code, (OK, CORNER_OUTSIDE_DEM, CORNER_ABOVE_HORIZON))
    for key in _FLOAT_KEYS:
        if key.startswith("corner"):
            result[key][bad_pose | np.isnan(result[key.replace("_lon", "_lat")])] = np.nan
        else:
            result[key][centre_missing] = np.nan
    for k in range(1, 5):  # keep lat and lon of a corner NaN together
        lat, lon = result[f"corner{k}_lat"], result[f"corner{k}_lon"]
        lat[np.isnan(lon)] = np.nan
        lon[np.isnan(lat)] = np.nan
    geo_source = np.zeros(n, dtype=np.int8)
    if platform_fallback:
        _platform_rows(columns, n, pose_code, code, geo_source, result)
    result["valid"] = code == OK
    result["reason"] = np.asarray(REASONS, dtype=REASON_DTYPE)[code]
    result["geo_source"] = np.asarray(GEO_SOURCES, dtype=object)[geo_source]
    return result


def platform_geolocation(columns: Any, n_rows: int) -> dict[str, FloatArray]:
    """The platform's own frame centre and corners, as sent in the stream.

    ``center_lat``/``center_lon`` from items 23/24, ``center_h`` (m HAE) from item 78 or item 25
    plus the EGM96 undulation (unsmoothed :func:`stream_elevation_m`), and ``corner{k}_lat/lon``
    from the full corners 82-89 where present, else the frame centre plus the offsets 26-33;
    ``slant_range_m`` from item 21. NaN where the stream does not say.
    """
    fc_lat = column(columns, "frame_center_latitude", n_rows)
    fc_lon = column(columns, "frame_center_longitude", n_rows)
    out = {
        "center_lat": fc_lat,
        "center_lon": fc_lon,
        "center_h": stream_elevation_m(columns, n_rows),
        "slant_range_m": column(columns, "slant_range", n_rows),
    }
    for k in range(1, 5):
        full_lat = column(columns, f"corner_latitude_point_{k}_full", n_rows)
        full_lon = column(columns, f"corner_longitude_point_{k}_full", n_rows)
        off_lat = fc_lat + column(columns, f"offset_corner_latitude_point_{k}", n_rows)
        off_lon = fc_lon + column(columns, f"offset_corner_longitude_point_{k}", n_rows)
        use_full = np.isfinite(full_lat) & np.isfinite(full_lon)
        out[f"corner{k}_lat"] = np.where(use_full, full_lat, off_lat)
        out[f"corner{k}_lon"] = np.where(use_full, full_lon, off_lon)
    return out


def _platform_rows(
    columns: Any,
    n: int,
    pose_code: NDArray[np.int8],
    code: NDArray[np.int8],
    geo_source: NDArray[np.int8],
    result: dict[str, np.ndarray],
) -> None:
    """Fill the rows whose pose cannot be used with the platform's own values (in place)."""
    bad_pose = np.isin(pose_code, (MISSING, OUT_OF_RANGE, BAD_FOV))
    if not bad_pose.any():
        return
    plat = platform_geolocation(columns, n)
    has_centre = np.isfinite(plat["center_lat"]) & np.isfinite(plat["center_lon"])
    take = bad_pose & has_centre
    if not take.any():
        return
    geo_source[take] = GEO_SOURCES.index("platform")
    corners_ok = np.ones(n, dtype=bool)
    for k in range(1, 5):
        corners_ok &= np.isfinite(plat[f"corner{k}_lat"]) & np.isfinite(plat[f"corner{k}_lon"])
    for key, values in plat.items():
        result[key][take] = values[take]
    for key in ("gsd_m", "gsd_x_m", "gsd_y_m"):
        result[key][take] = np.nan
    code[take & corners_ok] = OK


def footprint_polygons(result: Mapping[str, np.ndarray]) -> NDArray[np.object_]:
    """Shapely polygons (lon, lat in degrees) of the footprints; None where a row is not valid."""
    corners = np.stack(
        [
            np.stack([result[f"corner{k}_lon"], result[f"corner{k}_lat"]], axis=-1)
            for k in range(1, 5)
        ],
        axis=1,
    )
    ok = np.asarray(result["valid"], dtype=bool) & np.isfinite(corners).all(axis=(1, 2))
    out = np.full(corners.shape[0], None, dtype=object)
    if ok.any():
        out[ok] = shapely.polygons(corners[ok])
    return out


def _stats(diff_m: FloatArray) -> dict[str, float | int]:
    finite = diff_m[np.isfinite(diff_m)]
    if finite.size == 0:
        return {"n": 0, "median_m": float("nan"), "p95_m": float("nan")}
    return {
        "n": int(finite.size),
        "median_m": float(np.median(finite)),
        "p95_m": float(np.percentile(finite, 95)),
    }


def _distance_m(
    lat1: FloatArray, lon1: FloatArray, lat2: FloatArray, lon2: FloatArray
) -> FloatArray:
    return geodesic_inv(lat1, lon1, lat2, lon2)[1]


def _wrap_deg(angle_deg: FloatArray) -> FloatArray:
    return (angle_deg + 180.0) % 360.0 - 180.0


#: Lines of sight steeper than this below the horizon (deg) have no bearing worth comparing.
BEARING_MAX_DEPRESSION_DEG: Final = 75.0


def boresight_direction_deg(pose: Pose) -> tuple[FloatArray, FloatArray]:
    """Azimuth (deg from true north) and elevation (deg, negative below the horizon) of the
    boresight at the sensor, from the pose alone (no terrain)."""
    _, axes = sensor_frame_ecef(pose)
    east, north, up = ecef_to_enu(*axes[0], pose.lat_deg, pose.lon_deg)
    with np.errstate(invalid="ignore"):
        return (
            np.degrees(np.arctan2(east, north)) % 360.0,
            np.degrees(np.arcsin(np.clip(up, -1.0, 1.0))),
        )


def platform_bearing_offsets(columns: Any) -> dict[str, FloatArray]:
    """How the bearing from the sensor to the platform's own frame centre (items 13/14 to
    23/24) departs from the pose's boresight azimuth (heading, pitch, roll and the gimbal),
    and from the sensor relative azimuth (item 18) alone, per row (deg, in [-180, 180)).

    A platform whose frame centre is consistent with its own pose has ``bearing_offset_deg``
    near 0 whatever the terrain; one whose encoder took the relative azimuth for a true one
    has ``relative_azimuth_offset_deg`` near 0 instead. NaN where either is missing or the
    boresight is steeper than :data:`BEARING_MAX_DEPRESSION_DEG` (near nadir a bearing says
    nothing).
    """
    n = row_count(columns)
    pose = pose_from_columns(columns)
    az, el = boresight_direction_deg(pose)
    plat_az, _ = geodesic_inv(
        pose.lat_deg,
        pose.lon_deg,
        column(columns, "frame_center_latitude", n),
        column(columns, "frame_center_longitude", n),
    )
    with np.errstate(invalid="ignore"):
        usable = (pose.code == OK) & (el > -BEARING_MAX_DEPRESSION_DEG)
    offset = np.where(usable, _wrap_deg(plat_az - az), np.nan)
    rel = np.where(usable, _wrap_deg(plat_az - pose.azimuth_deg), np.nan)
    return {"bearing_offset_deg": offset, "relative_azimuth_offset_deg": rel}


#: Largest median bearing offset (deg) of a platform frame centre still consistent with the pose.
PLATFORM_BEARING_TOLERANCE_DEG: Final = 5.0

#: Verdicts of :func:`platform_pose_verdict`.
PLATFORM_POSE_VERDICTS: Final = ("consistent", "ignores_heading", "inconsistent")


def platform_pose_verdict(
    bearing_offset_deg: ArrayLike, relative_azimuth_offset_deg: ArrayLike
) -> str | None:
    """Whether the platform's own frame centre agrees with its own pose, from the per-row
    offsets of :func:`platform_bearing_offsets`: 'consistent' (median absolute bearing offset
    within :data:`PLATFORM_BEARING_TOLERANCE_DEG`), 'ignores_heading' (it is not, and the
    frame centre lies along the sensor relative azimuth as if the platform heading were 0),
    'inconsistent' (otherwise), None (no row to judge by). Where it is not consistent, the
    platform's frame centre, corners and frame-centre elevation were computed wrongly by its
    encoder, or its pose is wrong: one of the two cannot be trusted."""
    b = np.abs(np.asarray(bearing_offset_deg, dtype=np.float64))
    r = np.abs(np.asarray(relative_azimuth_offset_deg, dtype=np.float64))
    b = b[np.isfinite(b)]
    if b.size == 0:
        return None
    if float(np.median(b)) <= PLATFORM_BEARING_TOLERANCE_DEG:
        return "consistent"
    r = r[np.isfinite(r)]
    if r.size and float(np.median(r)) <= PLATFORM_BEARING_TOLERANCE_DEG:
        return "ignores_heading"
    return "inconsistent"


def compare_with_platform(columns: Any, result: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Differences between our footprints and the platform's own (items 23-33, 78, 82-89).

    Centre: our ``center_lat/lon`` against items 23/24 (geodesic distance, m), our ``center_h``
    against item 78 (or item 25 + EGM96 N). Corners: against the full corners 82-89 where
    present, else the frame centre plus the offsets 26-33. Returns per-row differences
    (``center_horizontal_m``, ``center_vertical_m``, ``corner_horizontal_m`` of shape (n, 4))
    and their summaries (``*_stats``: n, median_m, p95_m) over rows where both sides exist,
    and the bearing offsets of :func:`platform_bearing_offsets`.
    """
    n = row_count(columns)
    plat = platform_geolocation(columns, n)
    center_h = _distance_m(
        result["center_lat"], result["center_lon"], plat["center_lat"], plat["center_lon"]
    )
    center_v = np.abs(result["center_h"] - plat["center_h"])
    corner = np.full((n, 4), np.nan)
    for k in range(1, 5):
        corner[:, k - 1] = _distance_m(
            result[f"corner{k}_lat"],
            result[f"corner{k}_lon"],
            plat[f"corner{k}_lat"],
            plat[f"corner{k}_lon"],
        )
    return {
        "center_horizontal_m": center_h,
        "center_vertical_m": center_v,
        "corner_horizontal_m": corner,
        "center_horizontal_stats": _stats(center_h),
        "center_vertical_stats": _stats(center_v),
        "corner_horizontal_stats": _stats(corner.ravel()),
        **platform_bearing_offsets(columns),
    }
