"""Pixel <-> ground for FMV frames, with CE90 propagated from the pose uncertainty.

Image coordinates are continuous pixels: ``x_px`` from 0 (left edge of the frame) to
``width_px`` (right edge), ``y_px`` from 0 (top edge) to ``height_px`` (bottom edge); the centre
of pixel (i, j) is (i + 0.5, j + 0.5). The image corners (0, 0), (W, 0), (W, H), (0, H) are the
ST 0601 corners 1..4 used by :func:`vigia.geo.footprints`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

from vigia.errors import GeoError
from vigia.geo.dem import Dem
from vigia.geo.footprint import Terrain, intersect, ray_directions, terrain_from_options
from vigia.geo.intersect import ecef_to_latlon
from vigia.geo.sensor import (
    BEHIND_CAMERA,
    MISSING,
    OK,
    OUT_OF_RANGE,
    REASON_DTYPE,
    REASONS,
    FloatArray,
    Pose,
    pose_from_columns,
    row_count,
    sensor_frame_ecef,
)
from vigia.geo.wgs84 import ecef_to_enu, geodetic_to_ecef, radii_of_curvature_m

__all__ = [
    "PoseSigmas",
    "ce90_m",
    "corners_pixel_to_ground",
    "ground_half_diagonal_m",
    "ground_to_pixel",
    "homography",
    "pixel_to_ground",
]


@dataclass(frozen=True)
class PoseSigmas:
    """One-sigma errors of the pose, taken as independent zero-mean Gaussians.

    The defaults are typical of a GPS/INS-equipped MQ-9-class platform with a stabilised
    EO/IR turret; set them from the platform's own error budget where it is known.
    """

    horizontal_m: float = 5.0
    """Sensor position, each of north and east (m)."""
    vertical_m: float = 5.0
    """Sensor height (m)."""
    heading_deg: float = 0.2
    pitch_deg: float = 0.05
    roll_deg: float = 0.05
    azimuth_deg: float = 0.1
    """Sensor relative azimuth (deg)."""
    elevation_deg: float = 0.1
    """Sensor relative elevation (deg)."""
    sensor_roll_deg: float = 0.1
    """Sensor relative roll (deg)."""
    fov_fraction: float = 0.01
    """Relative error of each of HFOV and VFOV (0.01 = 1 %)."""
    terrain_m: float = 5.0
    """Terrain height at the ground point (m): the DEM, stream elevation or given height."""

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0.0):
                raise GeoError(f"PoseSigmas.{name} must be a finite value >= 0, not {value!r}")


_CE90_NODES: Final = 64
_CE90_NEWTON_STEPS: Final = 5


def ce90_m(var_e_m2: ArrayLike, cov_en_m2: ArrayLike, var_n_m2: ArrayLike) -> FloatArray:
    """Exact CE90 (m) of a zero-mean bivariate normal with the given 2x2 horizontal covariance.

    The radius r of the circle holding 90 % of the probability, for any ellipticity, from
    P(r) = 1/(2 pi) * integral over u of [1 - exp(-r^2 / (2 (l1 cos^2 u + l2 sin^2 u)))], with
    l1 >= l2 the eigenvalues of the covariance (a smooth periodic integrand: the midpoint rule
    with 64 nodes is exact to ~1e-12), solved for r by Newton's method (P' is the same sum)
    from between 1.6449 s1 (l2 = 0) and 2.1460 s1 (l2 = l1), converged to machine precision.
    No 2.146 * sigma_c style approximation. NaN in gives NaN out.
    """
    ve = np.asarray(var_e_m2, dtype=np.float64)
    cen = np.asarray(cov_en_m2, dtype=np.float64)
    vn = np.asarray(var_n_m2, dtype=np.float64)
    ve, cen, vn = np.broadcast_arrays(ve, cen, vn)
    half_tr = 0.5 * (ve + vn)
    root = np.sqrt(np.maximum(0.25 * (ve - vn) ** 2 + cen * cen, 0.0))
    l1 = half_tr + root
    l2 = np.maximum(half_tr - root, 0.0)
    s1 = np.sqrt(np.maximum(l1, 0.0))
    shape = s1.shape
    s1f, l1f, l2f = s1.ravel(), l1.ravel(), l2.ravel()
    u = (np.arange(_CE90_NODES) + 0.5) * (0.5 * np.pi / _CE90_NODES)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        ratio = l2f / l1f
        ratio = np.where(l1f > 0.0, ratio, 1.0)
        # Work in units of s1: w(u) = cos^2 u + ratio sin^2 u; 1 / (2 w) once.
        inv_2w = 0.5 / (np.cos(u) ** 2 + ratio[:, None] * np.sin(u) ** 2)
        r = 1.6449 + 0.5011 * ratio
        for _ in range(_CE90_NEWTON_STEPS):
            e = np.exp(-(r * r)[:, None] * inv_2w)
            tail = e.mean(axis=1) - 0.1  # 1 - P(r) - 0.1
            slope = -2.0 * r * (inv_2w * e).mean(axis=1)
            r = np.clip(r - tail / slope, 1.6448, 2.1461)
    out = r * s1f
    out[~np.isfinite(l1f) | ~np.isfinite(l2f)] = np.nan
    return out.reshape(shape)


def _row_index(rows: ArrayLike, n_rows: int) -> NDArray[np.intp]:
    arr = np.asarray(rows)
    if arr.dtype == bool:
        if arr.shape != (n_rows,):
            raise GeoError(f"a row mask must have shape ({n_rows},), not {arr.shape}")
        return np.flatnonzero(arr)
    if not np.issubdtype(arr.dtype, np.integer):
        raise GeoError(f"rows must be integer indices or a boolean mask, not {arr.dtype}")
    idx = arr.astype(np.intp)
    if idx.size and (idx.min() < -n_rows or idx.max() >= n_rows):
        raise GeoError(f"row index out of range for {n_rows} rows")
    return np.where(idx < 0, idx + n_rows, idx)


def _ground(
    pose: Pose, terrain: Terrain, u: FloatArray, v: FloatArray, offset_m: float = 0.0
) -> tuple[tuple[FloatArray, FloatArray, FloatArray], NDArray[np.int8]]:
    origin, axes = sensor_frame_ecef(pose)
    d = ray_directions(axes, pose, u, v)
    t, code = intersect(origin, d, terrain, offset_m)
    return (origin[0] + t * d[0], origin[1] + t * d[1], origin[2] + t * d[2]), code


def _perturbations(
    pose: Pose, s: PoseSigmas, *, boresight: bool = False
) -> list[tuple[dict[str, Any], float]]:
    """(pose field deltas, terrain offset) for +1 sigma of each independent error source;
    ``boresight`` (every point at the image centre) leaves out the fields of view, which do not
    move the centre's line of sight."""
    m, n = radii_of_curvature_m(pose.lat_deg)
    with np.errstate(invalid="ignore", divide="ignore"):
        dlat = np.degrees(s.horizontal_m / (m + pose.h_m))
        dlon = np.degrees(s.horizontal_m / ((n + pose.h_m) * np.cos(np.radians(pose.lat_deg))))
    out: list[tuple[dict[str, Any], float]] = [
        ({"lat_deg": dlat}, 0.0),
        ({"lon_deg": dlon}, 0.0),
        ({"h_m": s.vertical_m}, 0.0),
        ({"heading_deg": s.heading_deg}, 0.0),
        ({"pitch_deg": s.pitch_deg}, 0.0),
        ({"roll_deg": s.roll_deg}, 0.0),
        ({"azimuth_deg": s.azimuth_deg}, 0.0),
        ({"elevation_deg": s.elevation_deg}, 0.0),
        ({"sensor_roll_deg": s.sensor_roll_deg}, 0.0),
        ({"hfov_deg": pose.hfov_deg * s.fov_fraction}, 0.0),
        ({"vfov_deg": pose.vfov_deg * s.fov_fraction}, 0.0),
        ({}, s.terrain_m),
    ]
    if boresight:
        out = [(d, off) for d, off in out if not ({"hfov_deg", "vfov_deg"} & set(d))]
    return [(deltas, off) for deltas, off in out if off != 0.0 or _nonzero(deltas)]


def _nonzero(deltas: Mapping[str, Any]) -> bool:
    return any(np.any(np.asarray(v) != 0.0) for v in deltas.values())


def pixel_to_ground(
    columns: Any,
    rows: ArrayLike,
    x_px: ArrayLike,
    y_px: ArrayLike,
    width_px: int,
    height_px: int,
    *,
    terrain_height_m: ArrayLike | None = None,
    dem: Dem | None = None,
    use_stream_elevation: bool = False,
    sigmas: PoseSigmas | None = None,
    defaults: Mapping[str, float] | None = None,
) -> dict[str, np.ndarray]:
    """Ground position of image points, with CE90, vectorised over points.

    ``rows`` (row indices, or a boolean mask over the rows), ``x_px`` and ``y_px`` broadcast
    together: one ground point per element. Terrain options as in :func:`footprints`.

    Returns ``lat``, ``lon`` (deg), ``h`` (m HAE), ``ce90_m``, the horizontal covariance
    ``cov_ee_m2``, ``cov_en_m2``, ``cov_nn_m2`` (east/north, m²), ``row``, ``valid``, ``reason``.
    ``ce90_m`` comes from the covariance of the ground point propagated from ``sigmas``
    (default :class:`PoseSigmas()`) through a central finite-difference Jacobian (one-sigma
    steps) of the full ray intersection, then :func:`ce90_m`. It is NaN where a perturbed ray
    misses the terrain (the error is unbounded there). Points outside the frame are flagged
    'out_of_range'.
    """
    if width_px <= 0 or height_px <= 0:
        raise GeoError("width_px and height_px must be positive")
    sig = PoseSigmas() if sigmas is None else sigmas
    n_rows = row_count(columns)
    idx0 = _row_index(rows, n_rows)
    idx_b, x_b, y_b = np.broadcast_arrays(idx0, np.asarray(x_px, float), np.asarray(y_px, float))
    shape = idx_b.shape
    idx = idx_b.ravel()
    x = x_b.ravel().astype(np.float64)
    y = y_b.ravel().astype(np.float64)
    pose_all = pose_from_columns(columns, defaults)
    terrain_all, terrain_missing = terrain_from_options(
        columns,
        n_rows,
        terrain_height_m=terrain_height_m,
        dem=dem,
        use_stream_elevation=use_stream_elevation,
    )
    pose = pose_all.take(idx)
    terrain = terrain_all.take(idx)
    code = pose.code.copy()
    code[(code == OK) & terrain_missing[idx]] = MISSING
    with np.errstate(invalid="ignore"):
        outside = ~((x >= 0) & (x <= width_px) & (y >= 0) & (y <= height_px))
    code[(code == OK) & np.isnan(x + y)] = MISSING
    code[(code == OK) & outside] = OUT_OF_RANGE
    u = 2.0 * x / width_px - 1.0
    v = 2.0 * y / height_px - 1.0
    (gx, gy, gz), gcode = _ground(pose, terrain, u, v)
    code = np.where(code == OK, gcode, code).astype(np.int8)
    ok = code == OK
    with np.errstate(invalid="ignore"):
        _, _, lat, lon, h = ecef_to_latlon(gx, gy, gz)
    var_e = np.zeros(idx.size)
    var_n = np.zeros(idx.size)
    cov_en = np.zeros(idx.size)
    sub = np.flatnonzero(ok)
    if sub.size:
        pose_s, terrain_s = pose.take(sub), terrain.take(sub)
        centre = bool(np.all(u[sub] == 0.0) and np.all(v[sub] == 0.0))
        for deltas, off in _perturbations(pose_s, sig, boresight=centre):
            plus, _ = _ground(pose_s.perturbed(**deltas), terrain_s, u[sub], v[sub], offset_m=off)
            minus, _ = _ground(
                pose_s.perturbed(**{k: -val for k, val in deltas.items()}),
                terrain_s,
                u[sub],
                v[sub],
                offset_m=-off,
            )
            de, dn, _ = ecef_to_enu(
                0.5 * (plus[0] - minus[0]),
                0.5 * (plus[1] - minus[1]),
                0.5 * (plus[2] - minus[2]),
                lat[sub],
                lon[sub],
            )
            var_e[sub] += de * de
            var_n[sub] += dn * dn
            cov_en[sub] += de * dn
    ce90 = np.where(ok, ce90_m(var_e, cov_en, var_n), np.nan)
    for arr in (lat, lon, h, var_e, var_n, cov_en):
        arr[~ok] = np.nan
    return {
        "lat": lat.reshape(shape),
        "lon": lon.reshape(shape),
        "h": h.reshape(shape),
        "ce90_m": ce90.reshape(shape),
        "cov_ee_m2": var_e.reshape(shape),
        "cov_en_m2": cov_en.reshape(shape),
        "cov_nn_m2": var_n.reshape(shape),
        "row": idx.reshape(shape),
        "valid": ok.reshape(shape),
        "reason": np.asarray(REASONS, dtype=REASON_DTYPE)[code].reshape(shape),
    }


def ground_to_pixel(
    columns: Any,
    rows: ArrayLike,
    lat: ArrayLike,
    lon: ArrayLike,
    h: ArrayLike,
    width_px: int,
    height_px: int,
    *,
    defaults: Mapping[str, float] | None = None,
) -> dict[str, np.ndarray]:
    """Image position (continuous pixels) of ground points (deg, deg, m HAE) in given rows.

    ``rows`` (indices or boolean mask), ``lat``, ``lon``, ``h`` broadcast together. Returns
    ``x_px``, ``y_px`` (NaN when the point is behind the camera or the pose is unusable),
    ``in_view`` (inside the frame; occlusion by terrain is not tested), ``row``, ``valid`` and
    ``reason`` ('behind_camera' for points behind the image plane).
    """
    if width_px <= 0 or height_px <= 0:
        raise GeoError("width_px and height_px must be positive")
    n_rows = row_count(columns)
    idx0 = _row_index(rows, n_rows)
    idx_b, lat_b, lon_b, h_b = np.broadcast_arrays(
        idx0, np.asarray(lat, float), np.asarray(lon, float), np.asarray(h, float)
    )
    shape = idx_b.shape
    idx = idx_b.ravel()
    pose = pose_from_columns(columns, defaults).take(idx)
    code = pose.code.copy()
    gx, gy, gz = geodetic_to_ecef(lat_b.ravel(), lon_b.ravel(), h_b.ravel())
    code[(code == OK) & np.isnan(gx + gy + gz)] = MISSING
    (ox, oy, oz), (c0, c1, c2) = sensor_frame_ecef(pose)
    vx, vy, vz = gx - ox, gy - oy, gz - oz
    xc = vx * c0[0] + vy * c0[1] + vz * c0[2]
    yc = vx * c1[0] + vy * c1[1] + vz * c1[2]
    zc = vx * c2[0] + vy * c2[1] + vz * c2[2]
    with np.errstate(invalid="ignore", divide="ignore"):
        code[(code == OK) & ~(xc > 0.0)] = BEHIND_CAMERA
        tx = np.tan(np.radians(pose.hfov_deg) * 0.5)
        ty = np.tan(np.radians(pose.vfov_deg) * 0.5)
        x = (yc / (xc * tx) + 1.0) * (0.5 * width_px)
        y = (zc / (xc * ty) + 1.0) * (0.5 * height_px)
        ok = code == OK
        x[~ok] = np.nan
        y[~ok] = np.nan
        in_view = ok & (x >= 0) & (x <= width_px) & (y >= 0) & (y <= height_px)
    return {
        "x_px": x.reshape(shape),
        "y_px": y.reshape(shape),
        "in_view": in_view.reshape(shape),
        "row": idx.reshape(shape),
        "valid": ok.reshape(shape),
        "reason": np.asarray(REASONS, dtype=REASON_DTYPE)[code].reshape(shape),
    }


def homography(src: NDArray[np.float64], dst: NDArray[np.float64]) -> NDArray[np.float64]:
    """The 3x3 projective map taking the four ``src`` points (x, y) to the four ``dst``."""
    a = np.zeros((8, 8))
    b = np.zeros(8)
    for i in range(4):
        x, y = src[i]
        u, v = dst[i]
        a[2 * i] = (x, y, 1, 0, 0, 0, -u * x, -u * y)
        a[2 * i + 1] = (0, 0, 0, x, y, 1, -v * x, -v * y)
        b[2 * i], b[2 * i + 1] = u, v
    return np.append(np.linalg.solve(a, b), 1.0).reshape(3, 3)


def corners_pixel_to_ground(
    corner_lat_deg: ArrayLike,
    corner_lon_deg: ArrayLike,
    px: ArrayLike,
    py: ArrayLike,
    width_px: int,
    height_px: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64], float]:
    """Where pixels (``px``, ``py``) of one frame lie on the ground, from the ground positions
    of its four corners alone (upper left, upper right, lower right, lower left: ST 0601
    order), as a platform sends them: the projective map of the image onto the plane of the
    corners.

    Returns (lat, lon, half_diagonal_m): the frame's ground half-diagonal bounds how far off a
    point can be when the corners are right (nothing here checks that they are). All NaN where
    a corner is missing or the four do not form a quadrilateral.
    """
    lat = np.asarray(corner_lat_deg, np.float64)
    lon = np.asarray(corner_lon_deg, np.float64)
    x = np.atleast_1d(np.asarray(px, np.float64))
    y = np.atleast_1d(np.asarray(py, np.float64))
    nan = np.full(x.shape, np.nan)
    if lat.shape != (4,) or lon.shape != (4,) or not np.all(np.isfinite(lat + lon)):
        return nan, nan.copy(), float("nan")
    lat0, lon0 = float(lat.mean()), float(lon.mean())
    m_n, m_e = radii_of_curvature_m(np.array([lat0]))
    k_north = float(np.radians(1.0) * m_n[0])
    k_east = float(np.radians(1.0) * m_e[0] * np.cos(np.radians(lat0)))
    east = (lon - lon0) * k_east
    north = (lat - lat0) * k_north
    image = np.array([[0.0, 0.0], [width_px, 0.0], [width_px, height_px], [0.0, height_px]])
    try:
        h = homography(image, np.stack([east, north], axis=1))
    except np.linalg.LinAlgError:
        return nan, nan.copy(), float("nan")
    u, v, w = h @ np.stack([x, y, np.ones_like(x)])
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = np.isfinite(w) & (np.abs(w) > 1e-12)
        e = np.where(ok, u / w, np.nan)
        n = np.where(ok, v / w, np.nan)
    half_diag = float(ground_half_diagonal_m(lat, lon))
    return lat0 + n / k_north, lon0 + e / k_east, half_diag


def ground_half_diagonal_m(corner_lat_deg: ArrayLike, corner_lon_deg: ArrayLike) -> FloatArray:
    """Half the longer ground diagonal (m) of frames given by their four corners (last axis,
    ST 0601 order), on the plane tangent at the corners' mean: how far off a point placed
    from the corners alone can be when the corners are right. NaN where a corner is missing."""
    lat = np.asarray(corner_lat_deg, np.float64)
    lon = np.asarray(corner_lon_deg, np.float64)
    lat0 = lat.mean(axis=-1)
    m_n, m_e = radii_of_curvature_m(lat0)
    k_north = np.radians(1.0) * m_n
    k_east = np.radians(1.0) * m_e * np.cos(np.radians(lat0))
    d13 = np.hypot((lon[..., 0] - lon[..., 2]) * k_east, (lat[..., 0] - lat[..., 2]) * k_north)
    d24 = np.hypot((lon[..., 1] - lon[..., 3]) * k_east, (lat[..., 1] - lat[..., 3]) * k_north)
    return np.asarray(0.5 * np.maximum(d13, d24), dtype=np.float64)
