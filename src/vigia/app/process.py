"""The process stage, end to end: telemetry → footprints, streamed to GeoParquet or GeoJSON.

Shared by the CLI and the demo. Everything streams chunk by chunk as Arrow tables, so a
24-hour sortie never has to be in memory at once.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import shapely

from vigia.app.telemetry import ProgressFactory, TelemetryDone, bar, decode_telemetry
from vigia.footprints import FOOTPRINT_SCHEMA, Footprinter, GeoAccuracy, TerrainOptions
from vigia.outputs import output_format, writing
from vigia.telemetry.source import TelemetryReader, describe
from vigia.telemetry.table import TelemetrySummary, geo_metadata
from vigia.times import iso_time_column

__all__ = [
    "FOOTPRINT_FORMATS",
    "ProgressFactory",
    "TelemetryDone",
    "compliance_report",
    "coverage_to_file",
    "decode_telemetry",
    "footprints_to_file",
    "inspect_source",
    "iter_footprints",
    "write_footprints",
]


#: Extensions of the footprints writer and the format each one writes.
FOOTPRINT_FORMATS = {".parquet": "parquet", ".geojson": "geojson", ".json": "geojson"}


def iter_footprints(
    reader: Iterable[pa.Table], opts: TerrainOptions, accuracy: GeoAccuracy | None = None
) -> Iterator[pa.Table]:
    """Footprint tables for every telemetry chunk of ``reader`` (one stream), over the terrain
    :func:`vigia.footprints.resolve_terrain` makes of ``opts`` and its first chunk; with
    ``accuracy``, also our frame centre and corners against the platform's."""
    with Footprinter(opts) as fp:
        for telemetry in reader:
            res, table = fp(telemetry)
            if accuracy is not None:
                accuracy.update(telemetry, res)
            yield table


def write_footprints(tables: Iterable[pa.Table], path: Path) -> int:
    """Write footprints to GeoParquet (``.parquet``) or GeoJSON (``.geojson``, ``.json``);
    return rows. Any other extension raises :class:`~vigia.errors.OutputFormatError` before
    anything is written."""
    path = Path(path)
    if output_format(path, FOOTPRINT_FORMATS, "footprints") == "geojson":
        return _write_geojson(tables, path)
    meta = {b"geo": geo_metadata("footprint", ("Polygon",))}
    rows = 0
    with writing(path, "footprints"):
        w = pq.ParquetWriter(path, FOOTPRINT_SCHEMA.with_metadata(meta), compression="zstd")
    try:
        for t in tables:
            with writing(path, "footprints"):
                w.write_table(t)
            rows += t.num_rows
    finally:
        with writing(path, "footprints"):
            w.close()
    return rows


def _write_geojson(tables: Iterable[pa.Table], path: Path) -> int:
    """GeoJSON FeatureCollection of the valid footprints (streamed, one feature per frame)."""
    rows = 0
    with writing(path, "footprints"):
        fh = path.open("w", encoding="utf-8")
    with fh, writing(path, "footprints"):
        fh.write('{"type": "FeatureCollection", "features": [\n')
        first = True
        for t in tables:
            valid = t.filter(pc.fill_null(t["valid"], False))
            geoms = shapely.from_wkb(valid["footprint"].to_numpy(zero_copy_only=False))
            times = iso_time_column(valid["time"])
            gsd = valid["gsd_m"].to_pylist()
            ce90 = valid["center_ce90_m"].to_pylist()
            slant = valid["slant_range_m"].to_pylist()
            terrain = valid["terrain_source"].to_pylist()
            geo = valid["geo_source"].to_pylist()
            rows_ = zip(geoms, times, gsd, ce90, slant, terrain, geo, strict=True)
            for g, tm, gs, ce, sr, ts, gso in rows_:
                props = {
                    "time": tm,
                    "gsd_m": None if gs is None or math.isnan(gs) else gs,
                    "center_ce90_m": None if ce is None or math.isnan(ce) else ce,
                    "slant_range_m": sr,
                    "terrain_source": ts,
                    "geo_source": gso,
                }
                feat = {
                    "type": "Feature",
                    "geometry": shapely.geometry.mapping(g),
                    "properties": props,
                }
                fh.write(("" if first else ",\n") + json.dumps(feat))
                first = False
            rows += t.num_rows
        fh.write("\n]}\n")
    return rows


def inspect_source(
    source: str,
    terrain: TerrainOptions,
    *,
    strict: bool = False,
    duration_s: float | None = None,
    gap_s: float = 1.0,
    geo: bool = False,
    progress: ProgressFactory | None = None,
) -> dict[str, Any]:
    """The summary of a sortie (``vigia inspect``): duration, packets, items, platform, track,
    damage and, with ``geo``, our frame centre and corners against the platform's."""
    info = describe(source)
    summary = TelemetrySummary(gap_s=gap_s)
    accuracy = GeoAccuracy() if geo else None
    from vigia.exploit.vmti import VmtiStats, count_vmti  # exploit's imports are heavy

    vmti = VmtiStats()
    reader = TelemetryReader(
        source,
        strict=strict,
        duration_s=duration_s,
        progress=bar(progress, "reading", info.size),
        keep_vmti=True,
    )

    def summarised() -> Iterator[pa.Table]:
        for table in reader:
            summary.update(table)
            count_vmti(vmti, table, reader.take_vmti())
            yield table

    if accuracy is None:
        for _ in summarised():
            pass
    else:  # the footprints stage itself, so that inspect --geo and footprints agree
        for _ in iter_footprints(summarised(), terrain, accuracy):
            pass
    count_vmti(vmti, None, reader.take_vmti())
    klv = reader.stats.as_dict()
    warnings = []
    if not klv["packets"]:
        found = ", ".join(klv["families"]) or "no KLV packets"
        msg = f"no ST 0601 telemetry in this stream (found: {found})"
        if "EG 0104" in klv["families"]:
            msg += "; its legacy EG 0104 sets were read into the ST 0601 columns"
        warnings.append(msg)
    report: dict[str, Any] = {
        "source": info.name,
        "kind": info.kind,
        "size_bytes": info.size,
        **summary.as_dict(),
        "klv": klv,
        "deviations": klv["deviations"],
        "vmti": {
            "packets": vmti.packets,
            "standalone_packets": vmti.standalone_packets,
            "targets": vmti.targets,
            "malformed_packets": vmti.malformed_packets,
        },
        "transport": reader.transport_stats(),
        "warnings": warnings,
    }
    if accuracy is not None:
        report["geo_vs_platform"] = accuracy.as_dict()
        warnings.extend(platform_pose_warnings(report["geo_vs_platform"]))
    return report


def platform_pose_warnings(geo_vs_platform: dict[str, Any]) -> list[str]:
    """What an analyst must be told when the platform's own frame centre contradicts its pose
    (see :func:`vigia.geo.platform_pose_verdict`); nothing when it does not."""
    verdict = geo_vs_platform.get("platform_pose")
    if verdict in (None, "consistent"):
        return []
    b = geo_vs_platform["bearing_offset"]
    msg = (
        f"the platform's own frame centre contradicts its pose: its bearing from the sensor is "
        f"off the boresight by a median {b['median_deg']:.1f} deg (n={b['n']:,})"
    )
    if verdict == "ignores_heading":
        msg += (
            "; it lies along the sensor relative azimuth alone, as if the platform heading were"
            " 0 (an encoder that took the relative azimuth for a true one)"
        )
    return [
        msg + ". Its frame centre, corners and frame-centre elevation are not to be trusted: "
        "compare with a DEM (--dem FILE or VIGIA_DEM) rather than with the platform"
    ]


def footprints_to_file(
    source: str,
    output: Path,
    terrain: TerrainOptions,
    *,
    strict: bool = False,
    progress: ProgressFactory | None = None,
) -> int:
    """Footprints of every frame of ``source`` to ``output`` (see :func:`write_footprints`);
    returns the rows written."""
    output_format(output, FOOTPRINT_FORMATS, "footprints")  # before reading anything
    info = describe(source)
    reader = TelemetryReader(source, strict=strict, progress=bar(progress, "footprints", info.size))
    return write_footprints(iter_footprints(reader, terrain), output)


def coverage_to_file(
    sources: Sequence[str],
    output: Path,
    terrain: TerrainOptions,
    *,
    png: Path | None = None,
    aois: Path | None = None,
    res: int = 10,
    pass_gap_s: float = 120.0,
    by: str = "passes",
) -> pa.Table:
    """H3 coverage cells of ``sources`` to ``output`` (``.parquet``) and, with ``png``, a map
    (outlining ``aois``); returns the cells."""
    from vigia.coverage import coverage_from_footprints, load_aois, plot_coverage, write_cells
    from vigia.coverage.accumulate import CELLS_FORMATS
    from vigia.coverage.plot import MAP_FORMATS

    output_format(output, CELLS_FORMATS, "coverage cells")  # before reading anything
    if png is not None:
        output_format(png, MAP_FORMATS, "coverage map")
    registry = load_aois(aois) if aois else None

    def all_footprints() -> Iterator[pa.Table]:
        for src in sources:
            yield from iter_footprints(TelemetryReader(src), terrain)

    cells = coverage_from_footprints(all_footprints(), res=res, pass_gap_s=pass_gap_s)
    write_cells(cells, output)
    if png is not None:
        plot_coverage(cells, png, aois=registry, by=by, title=", ".join(sources))
    return cells


def compliance_report(source: str, aois: Path, terrain: TerrainOptions, *, res: int = 10) -> Any:
    """Consent compliance of one sortie against the consented ``aois``."""
    from vigia.coverage import compliance, load_aois

    registry = load_aois(aois)
    return compliance(iter_footprints(TelemetryReader(source), terrain), registry, h3_res=res)
