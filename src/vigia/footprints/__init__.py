"""Footprints: the ground footprint of every frame, from telemetry and terrain.

Owns the footprint schema (:data:`FOOTPRINT_FIELDS`, :data:`FOOTPRINT_SCHEMA`); coverage and
exploitation read the column names from here.
"""

from vigia.footprints.table import (
    CARRIED,
    CORNER_LAT,
    CORNER_LON,
    DEM_ENV,
    FOOTPRINT_FIELDS,
    FOOTPRINT_SCHEMA,
    TERRAIN_SOURCES,
    Footprinter,
    GeoAccuracy,
    TerrainOptions,
    compute_footprints,
    footprints_table,
    resolve_terrain,
)

__all__ = [
    "CARRIED",
    "CORNER_LAT",
    "CORNER_LON",
    "DEM_ENV",
    "FOOTPRINT_FIELDS",
    "FOOTPRINT_SCHEMA",
    "TERRAIN_SOURCES",
    "Footprinter",
    "GeoAccuracy",
    "TerrainOptions",
    "compute_footprints",
    "footprints_table",
    "resolve_terrain",
]
