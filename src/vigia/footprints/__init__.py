"""Footprints: the ground footprint of every frame, from telemetry and terrain.

Owns the footprint schema (:data:`FOOTPRINT_FIELDS`, :data:`FOOTPRINT_SCHEMA`); coverage and
exploitation read the column names from here.
"""

from vigia.footprints.table import (
    CARRIED,
    CORNER_LAT,
    CORNER_LON,
    FOOTPRINT_FIELDS,
    FOOTPRINT_SCHEMA,
    GeoAccuracy,
    TerrainOptions,
    compute_footprints,
    footprints_table,
)

__all__ = [
    "CARRIED",
    "CORNER_LAT",
    "CORNER_LON",
    "FOOTPRINT_FIELDS",
    "FOOTPRINT_SCHEMA",
    "GeoAccuracy",
    "TerrainOptions",
    "compute_footprints",
    "footprints_table",
]
