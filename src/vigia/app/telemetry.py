"""Telemetry alone: decode a sortie's ST 0601 into one GeoParquet file (``vigia telemetry``).

Kept apart from :mod:`vigia.app.process` so that decoding imports nothing of the geometry
(footprints, DEMs, shapely): the command starts and runs as fast as the decoder allows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vigia.klv.batch import DecodeStats
from vigia.telemetry.source import TelemetryReader, describe
from vigia.telemetry.table import TelemetryWriter

__all__ = ["ProgressFactory", "TelemetryDone", "bar", "decode_telemetry"]

#: ``(label, total_bytes) -> callback(n_bytes)`` or None: a progress bar for one input.
ProgressFactory = Callable[[str, int | None], Callable[[int], None] | None]


def bar(progress: ProgressFactory | None, label: str, size: int | None) -> Any:
    """The progress callback of one input from a factory, or None."""
    return progress(label, size) if progress is not None else None


@dataclass(frozen=True)
class TelemetryDone:
    """What :func:`decode_telemetry` wrote."""

    rows: int
    path: Path
    stats: DecodeStats


def decode_telemetry(
    source: str,
    output: Path,
    *,
    strict: bool = False,
    duration_s: float | None = None,
    progress: ProgressFactory | None = None,
) -> TelemetryDone:
    """Decode a sortie's ST 0601 telemetry into one GeoParquet file (``.parquet``)."""
    info = describe(source)
    reader = TelemetryReader(
        source, strict=strict, duration_s=duration_s, progress=bar(progress, "decoding", info.size)
    )
    with TelemetryWriter(output) as writer:
        for table in reader:
            writer.write(table)
    return TelemetryDone(writer.rows, Path(output), reader.stats)
