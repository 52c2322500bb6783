"""The footprints table: one row per telemetry row, its schema, and how it is computed.

This module owns the footprint schema (:data:`FOOTPRINT_FIELDS`); every later stage reads the
column names from here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any, Final

import numpy as np
import pyarrow as pa
import shapely

from vigia.errors import GeoError
from vigia.footprints.plausible import implausible_reasons
from vigia.geo import (
    Dem,
    compare_with_platform,
    footprint_polygons,
    footprints,
    ground_half_diagonal_m,
    pixel_to_ground,
    platform_bearing_offsets,
    platform_pose_verdict,
    stream_elevation_m,
)

#: Telemetry columns carried over into the footprints table.
CARRIED = ("source_offset", "pts_90k", "image_source_sensor")

#: Corner latitude and longitude column names, corners 1..4 (degrees, WGS84).
CORNER_LAT = tuple(f"corner{k}_lat" for k in range(1, 5))
CORNER_LON = tuple(f"corner{k}_lon" for k in range(1, 5))

FOOTPRINT_FIELDS = [
    pa.field("time", pa.timestamp("us", tz="UTC")),
    *[pa.field(c, pa.float64()) for c in ("center_lat", "center_lon", "center_h")],
    *[pa.field(f"corner{k}_{ax}", pa.float64()) for k in range(1, 5) for ax in ("lat", "lon")],
    pa.field("slant_range_m", pa.float64()),
    pa.field("gsd_m", pa.float64()),
    pa.field("center_ce90_m", pa.float64()),
    pa.field("valid", pa.bool_()),
    pa.field("reason", pa.string()),
    pa.field("source_offset", pa.int64()),
    pa.field("pts_90k", pa.int64()),
    pa.field("image_source_sensor", pa.string()),
    pa.field("terrain_source", pa.string()),
    pa.field("geo_source", pa.string()),
    pa.field("footprint", pa.binary()),
]
FOOTPRINT_SCHEMA = pa.schema(FOOTPRINT_FIELDS)


#: The ``terrain_source`` of a footprint row: which terrain its lines of sight met.
TERRAIN_SOURCES: Final = ("dem", "stream_elevation", "constant")

#: The environment variable naming the DEM used when no terrain option is given.
DEM_ENV: Final = "VIGIA_DEM"


@dataclass(frozen=True)
class TerrainOptions:
    """Which terrain the lines of sight meet: a DEM, the stream's own, or a constant height.

    Give at most one; :func:`resolve_terrain` turns the options into the terrain used.
    """

    terrain_height_m: float | None = None
    dem_path: str | None = None
    use_stream_elevation: bool = False
    frame_width_px: int = 1280
    frame_height_px: int = 720

    def __post_init__(self) -> None:
        chosen = [
            self.dem_path is not None,
            self.terrain_height_m is not None,
            self.use_stream_elevation,
        ]
        if sum(chosen) > 1:
            raise GeoError("give one of --dem, --terrain-height and --stream-elevation")

    @property
    def source(self) -> str | None:
        """'dem', 'stream_elevation', 'constant' (see :data:`TERRAIN_SOURCES`), or None when
        nothing is chosen yet (the default, for :func:`resolve_terrain` to settle)."""
        if self.dem_path is not None:
            return "dem"
        if self.terrain_height_m is not None:
            return "constant"
        if self.use_stream_elevation:
            return "stream_elevation"
        return None


#: The refusal when no terrain can be found.
NO_TERRAIN = (
    "no terrain to geolocate with: no DEM (--dem FILE or {env}) and the stream carries no "
    "frame-centre elevation (ST 0601 item 25 or 78); give --terrain-height M (metres above "
    "the ellipsoid) to use a constant height"
)


#: The refusal when the stream's own frame-centre elevation cannot be trusted.
UNTRUSTED_ELEVATION = (
    "no terrain to trust: no DEM (--dem FILE or {env}), and the stream's frame-centre "
    "elevation comes from a platform whose own frame centre contradicts its pose "
    "(verdict '{verdict}'; `vigia inspect SOURCE --geo --stream-elevation` shows how); give "
    "--dem FILE, --terrain-height M, or --stream-elevation to use it anyway"
)


def resolve_terrain(opts: TerrainOptions, telemetry: pa.Table) -> TerrainOptions:
    """The terrain the footprints of ``telemetry`` use: the one rule for every command.

    An explicit option wins (``--dem``, ``--terrain-height``, ``--stream-elevation``; at most
    one). With none: the DEM named by the environment variable ``VIGIA_DEM`` if set, else the
    stream's own frame-centre elevation (items 78 / 25, smoothed along the track) if
    ``telemetry`` (the first chunk of a stream) carries any and the platform's frame centre
    agrees with its pose (:func:`vigia.geo.platform_pose_verdict`: an encoder that computes
    its frame centre wrongly computes its elevation with it), else a :class:`GeoError`, never
    a silent ellipsoid at 0 m. ``--stream-elevation`` on a stream without it is refused the
    same way.
    """
    if opts.dem_path is not None or opts.terrain_height_m is not None:
        return opts
    if not opts.use_stream_elevation and (env := os.environ.get(DEM_ENV)):
        return replace(opts, dem_path=env)
    n = telemetry.num_rows
    if n and np.isfinite(stream_elevation_m(telemetry, n)).any():
        if not opts.use_stream_elevation:
            offsets = platform_bearing_offsets(telemetry)
            verdict = platform_pose_verdict(**offsets)
            if verdict not in (None, "consistent"):
                raise GeoError(UNTRUSTED_ELEVATION.format(verdict=verdict, env=DEM_ENV))
        return replace(opts, use_stream_elevation=True)
    raise GeoError(NO_TERRAIN.format(env=DEM_ENV))


def compute_footprints(
    telemetry: pa.Table, dem: Dem | None, opts: TerrainOptions
) -> dict[str, np.ndarray]:
    """The per-row results (see :func:`vigia.geo.footprints`) for a chunk, with the platform's
    own frame centre and corners where the pose cannot be used (``geo_source`` 'platform'), and
    every physically impossible row invalid with its reason
    (:func:`vigia.footprints.plausible.implausible_reasons`). ``opts`` must be resolved
    (:func:`resolve_terrain`)."""
    res = footprints(
        telemetry,
        terrain_height_m=opts.terrain_height_m,
        dem=dem,
        use_stream_elevation=opts.use_stream_elevation,
        frame_width_px=opts.frame_width_px,
        frame_height_px=opts.frame_height_px,
        platform_fallback=True,
    )
    why = implausible_reasons(telemetry, res)
    bad = why != None  # noqa: E711 (element-wise on an object array)
    if bad.any():
        res["valid"] = res["valid"] & ~bad
        res["reason"] = np.where(bad, why, res["reason"])
    res["center_ce90_m"] = center_ce90_m(telemetry, res, opts)
    return res


def center_ce90_m(
    telemetry: pa.Table, res: dict[str, np.ndarray], opts: TerrainOptions
) -> np.ndarray:
    """CE90 (m) of each valid row's frame centre; NaN on the others.

    ``geo_source`` 'sensor_model': the pose uncertainty propagated to the centre pixel by
    :func:`vigia.geo.pixel_to_ground` (default :class:`vigia.geo.PoseSigmas`), over the plane
    at the centre's own height (a DEM's slope there is left out of it). 'platform': the
    platform's own values are unchecked, so their CE90 is the frame's ground half-diagonal
    (:func:`vigia.geo.ground_half_diagonal_m`), as for targets placed on those corners.
    """
    n = telemetry.num_rows
    out = np.full(n, np.nan)
    valid = np.asarray(res["valid"], dtype=bool)
    platform = np.asarray(res["geo_source"]) == "platform"
    model = np.flatnonzero(valid & ~platform)
    if model.size:
        w, h = opts.frame_width_px, opts.frame_height_px
        g = pixel_to_ground(
            telemetry, model, 0.5 * w, 0.5 * h, w, h, terrain_height_m=res["center_h"]
        )
        out[model] = g["ce90_m"]
    plat = np.flatnonzero(valid & platform)
    if plat.size:
        lat = np.stack([res[c][plat] for c in CORNER_LAT], axis=-1)
        lon = np.stack([res[c][plat] for c in CORNER_LON], axis=-1)
        out[plat] = ground_half_diagonal_m(lat, lon)
    return out


class Footprinter:
    """The footprints stage over the chunks of one stream: resolves the terrain on the first
    chunk (:func:`resolve_terrain`), holds the DEM open, and makes each chunk's footprints.

    >>> with Footprinter(opts) as fp:  # doctest: +SKIP
    ...     for chunk in reader:
    ...         res, table = fp(chunk)
    """

    def __init__(self, opts: TerrainOptions) -> None:
        self.opts = opts
        self.terrain: TerrainOptions | None = None
        """The resolved terrain, once the first chunk has been seen."""
        self.dem: Dem | None = None

    def __call__(self, telemetry: pa.Table) -> tuple[dict[str, np.ndarray], pa.Table]:
        """The per-row results and the footprints table of one telemetry chunk."""
        if self.terrain is None:
            terrain = resolve_terrain(self.opts, telemetry)
            if terrain.dem_path is not None:
                self.dem = Dem(terrain.dem_path)
            self.terrain = terrain
        res = compute_footprints(telemetry, self.dem, self.terrain)
        return res, footprints_table(telemetry, res, self.terrain)

    def close(self) -> None:
        """Close the DEM, if one is open."""
        if self.dem is not None:
            self.dem.close()
            self.dem = None

    def __enter__(self) -> Footprinter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def footprints_table(
    telemetry: pa.Table, res: dict[str, np.ndarray], terrain: TerrainOptions
) -> pa.Table:
    """One footprint row per telemetry row (schema :data:`FOOTPRINT_SCHEMA`) from ``res``,
    computed over the resolved ``terrain``."""
    if terrain.source is None:
        raise GeoError("footprints need a resolved terrain (see resolve_terrain)")
    polys = footprint_polygons(res)
    wkb = shapely.to_wkb(polys)
    arrays: dict[str, Any] = {"time": telemetry["precision_time_stamp"]}
    for f in FOOTPRINT_FIELDS[1:15]:
        arrays[f.name] = pa.array(res[f.name], type=pa.float64(), from_pandas=True)
    arrays["valid"] = pa.array(res["valid"], type=pa.bool_())
    arrays["reason"] = pa.array(res["reason"].astype(str), type=pa.string())
    for c in CARRIED:
        arrays[c] = telemetry[c]
    arrays["terrain_source"] = pa.array([terrain.source] * telemetry.num_rows, pa.string())
    arrays["geo_source"] = pa.array(res["geo_source"].astype(str), type=pa.string())
    arrays["footprint"] = pa.array(wkb, type=pa.binary())
    return pa.Table.from_pydict(arrays, schema=FOOTPRINT_SCHEMA)


@dataclass
class GeoAccuracy:
    """Our frame centre and corners against the platform's own, accumulated over chunks."""

    centre_m: list[np.ndarray] = field(default_factory=list)
    corner_m: list[np.ndarray] = field(default_factory=list)
    bearing_deg: list[np.ndarray] = field(default_factory=list)
    relative_deg: list[np.ndarray] = field(default_factory=list)

    def update(self, telemetry: pa.Table, res: dict[str, np.ndarray]) -> None:
        """Add one chunk's per-row differences; rows that took the platform's own values
        (``geo_source`` 'platform') compare nothing and are left out."""
        cmp = compare_with_platform(telemetry, res)
        ours = np.asarray(res["geo_source"]) != "platform"
        centre = np.asarray(cmp["center_horizontal_m"], dtype=float)
        corner = np.asarray(cmp["corner_horizontal_m"], dtype=float)
        self.centre_m.append(np.where(ours, centre, np.nan))
        self.corner_m.append(np.where(ours[:, None], corner, np.nan).reshape(-1))
        self.bearing_deg.append(np.asarray(cmp["bearing_offset_deg"], dtype=float))
        self.relative_deg.append(np.asarray(cmp["relative_azimuth_offset_deg"], dtype=float))

    def as_dict(self) -> dict[str, Any]:
        """Median and p95 horizontal differences (m) where both sides exist; the bearing of
        the platform's frame centre against our boresight (median and p95 of the absolute
        offset, deg) and the verdict of :func:`vigia.geo.platform_pose_verdict` on it."""

        def stats(parts: list[np.ndarray]) -> dict[str, Any]:
            v = np.concatenate(parts) if parts else np.zeros(0)
            v = v[np.isfinite(v)]
            if v.size == 0:
                return {"n": 0, "median_m": None, "p95_m": None}
            return {
                "n": int(v.size),
                "median_m": float(np.median(v)),
                "p95_m": float(np.percentile(v, 95)),
            }

        bearing = np.concatenate(self.bearing_deg) if self.bearing_deg else np.zeros(0)
        relative = np.concatenate(self.relative_deg) if self.relative_deg else np.zeros(0)
        b = np.abs(bearing[np.isfinite(bearing)])
        return {
            "frame_center": stats(self.centre_m),
            "corners": stats(self.corner_m),
            "bearing_offset": {
                "n": int(b.size),
                "median_deg": float(np.median(b)) if b.size else None,
                "p95_deg": float(np.percentile(b, 95)) if b.size else None,
            },
            "platform_pose": platform_pose_verdict(bearing, relative),
        }
