"""Geometry of FMV frames: WGS84, EGM96 geoid, the ST 0601 sensor model, line of sight to the
ellipsoid or a DEM, footprints, pixel <-> ground with uncertainty.

A leaf module: it imports nothing of Vigía but :mod:`vigia.errors`. Inputs are columns named
after the ST 0601.19 items (snake_case) in the standard's units (degrees, metres), NaN where a
value is missing.
"""

from vigia.geo.dem import Dem
from vigia.geo.footprint import (
    GEO_SOURCES,
    compare_with_platform,
    footprint_polygons,
    footprints,
    platform_bearing_offsets,
    platform_geolocation,
    platform_pose_verdict,
    stream_elevation_m,
)
from vigia.geo.geoid import ellipsoid_height_m, geoid_undulation_m, msl_height_m
from vigia.geo.pixel import (
    PoseSigmas,
    ce90_m,
    corners_pixel_to_ground,
    ground_half_diagonal_m,
    ground_to_pixel,
    homography,
    pixel_to_ground,
)
from vigia.geo.sensor import REASONS, Pose, camera_to_ecef_matrix, pose_from_columns
from vigia.geo.wgs84 import (
    ecef_to_enu,
    ecef_to_geodetic,
    ecef_to_ned,
    enu_to_ecef,
    geodetic_to_ecef,
    geodetic_to_enu,
    ned_to_ecef,
)

__all__ = [
    "GEO_SOURCES",
    "REASONS",
    "Dem",
    "Pose",
    "PoseSigmas",
    "camera_to_ecef_matrix",
    "ce90_m",
    "compare_with_platform",
    "corners_pixel_to_ground",
    "ecef_to_enu",
    "ecef_to_geodetic",
    "ecef_to_ned",
    "ellipsoid_height_m",
    "enu_to_ecef",
    "footprint_polygons",
    "footprints",
    "geodetic_to_ecef",
    "geodetic_to_enu",
    "geoid_undulation_m",
    "ground_half_diagonal_m",
    "ground_to_pixel",
    "homography",
    "msl_height_m",
    "ned_to_ecef",
    "pixel_to_ground",
    "platform_bearing_offsets",
    "platform_geolocation",
    "platform_pose_verdict",
    "pose_from_columns",
    "stream_elevation_m",
]
