"""The columnar telemetry of a sortie: GeoParquet output and a summary for people.

One row per ST 0601 packet, one column per item (see :data:`vigia.klv.batch.SCHEMA`), plus a
WKB ``geometry`` column holding the sensor position so that a GIS opens the file directly.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vigia.klv.batch import META_FIELDS, SCHEMA
from vigia.outputs import output_error, output_format, writing

#: A gap in the telemetry is a step in time longer than this (s).
DEFAULT_GAP_S = 1.0

GEOMETRY_FIELD = pa.field("geometry", pa.binary())
PARQUET_SCHEMA = SCHEMA.append(GEOMETRY_FIELD)


def geo_metadata(column: str = "geometry", types: tuple[str, ...] = ("Point",)) -> bytes:
    """GeoParquet 1.0 file metadata for a WKB column in WGS84 longitude/latitude."""
    meta = {
        "version": "1.0.0",
        "primary_column": column,
        "columns": {column: {"encoding": "WKB", "geometry_types": list(types)}},
    }
    return json.dumps(meta).encode()


def wkb_points(lon: np.ndarray, lat: np.ndarray, valid: np.ndarray) -> pa.Array:
    """WKB points (little-endian, 21 bytes) for every row; null where ``valid`` is False."""
    n = lon.size
    rec = np.zeros(n, dtype=[("order", "u1"), ("type", "<u4"), ("x", "<f8"), ("y", "<f8")])
    rec["order"] = 1
    rec["type"] = 1
    rec["x"] = lon
    rec["y"] = lat
    data = rec.view(np.uint8)
    offsets = (np.arange(n + 1, dtype=np.int32) * 21).astype(np.int32)
    validity = pa.array(valid).buffers()[1]
    return pa.Array.from_buffers(
        pa.binary(),
        n,
        [validity, pa.py_buffer(offsets), pa.py_buffer(data.tobytes())],
        null_count=int(n - valid.sum()),
    )


def usable_rows(table: pa.Table) -> np.ndarray:
    """Which rows of a telemetry table later stages may use: a boolean mask, False where the
    packet is damaged (``damage`` not null: cut short, bad checksum or implausible time).

    The one rule for skipping damaged telemetry; a table without a ``damage`` column (a file
    written before it existed) is all usable.
    """
    n = table.num_rows
    if "damage" not in table.column_names:
        return np.ones(n, dtype=bool)
    col = table["damage"]
    if col.null_count == n:
        return np.ones(n, dtype=bool)
    return np.asarray(pc.is_null(col).to_numpy(zero_copy_only=False), dtype=bool)


def with_geometry(table: pa.Table) -> pa.Table:
    """Append the sensor-position ``geometry`` column (WKB points, null when unknown)."""
    lat = table["sensor_latitude"].to_numpy(zero_copy_only=False)
    lon = table["sensor_longitude"].to_numpy(zero_copy_only=False)
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    valid = ~(np.isnan(lat) | np.isnan(lon))
    return table.append_column(GEOMETRY_FIELD, wkb_points(lon, lat, valid))


class TelemetryWriter:
    """Write telemetry tables to one GeoParquet file, chunk by chunk.

    The file always holds the whole telemetry schema (:data:`PARQUET_SCHEMA`): every ST 0601
    item has its column, null where the stream never carried it or carried only its error
    value, so that two sorties' files have the same schema. Encoding runs on a background
    thread (pyarrow releases the GIL) so that decoding the next chunk overlaps writing; rows
    are grouped into row groups of about ``row_group_rows``. Errors on the writer thread are
    raised by :meth:`close`.
    """

    def __init__(self, path: str | Path, *, row_group_rows: int = 128 * 1024) -> None:
        output_format(path, {".parquet": "parquet"}, "telemetry")
        self.path = Path(path)
        self.rows = 0
        self._row_group_rows = row_group_rows
        self._writer: pq.ParquetWriter | None = None
        self._queue: queue.Queue[pa.Table | None] = queue.Queue(maxsize=4)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="parquet-writer", daemon=True)
        self._thread.start()

    def _write_group(self, tables: list[pa.Table]) -> None:
        table = pa.concat_tables(tables)
        if self._writer is None:
            # dictionary-encode the text the stream carries (absent items are all null)
            strings = [
                f.name
                for f in _FILE_SCHEMA
                if pa.types.is_string(f.type) and table[f.name].null_count < table.num_rows
            ]
            self._writer = _parquet_writer(self.path, _FILE_SCHEMA, strings)
        self._writer.write_table(table, row_group_size=table.num_rows)

    def _run(self) -> None:
        pending: list[pa.Table] = []
        size = 0
        item: pa.Table | None = pa.table({})
        try:
            while True:
                item = self._queue.get()
                if item is not None and item.num_rows:
                    pending.append(item)
                    size += item.num_rows
                if pending and (item is None or size >= self._row_group_rows):
                    self._write_group(pending)
                    pending, size = [], 0
                if item is None:
                    return
        except BaseException as exc:  # surfaced by write() and close()
            self._error = (
                output_error(exc, self.path, "telemetry") if isinstance(exc, OSError) else exc
            )
            # Drain until the end marker so that write() never blocks on a full queue; when the
            # failing write was the last one, the marker is already taken: stop at once.
            while item is not None:
                item = self._queue.get()

    def write(self, table: pa.Table) -> None:
        """Append ``table`` (schema :data:`vigia.klv.batch.SCHEMA`)."""
        if self._error is not None:
            raise self._error
        if table.num_rows:
            # The geometry is built here, on the decoding thread, to balance the two threads.
            self._queue.put(with_geometry(table).replace_schema_metadata(_FILE_SCHEMA.metadata))
            self.rows += table.num_rows

    def close(self) -> None:
        """Finish the file (waits for the writer thread)."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        with writing(self.path, "telemetry"):
            if self._writer is None and self._error is None:
                self._writer = _parquet_writer(self.path, _FILE_SCHEMA)
            if self._writer is not None:
                self._writer.close()
                self._writer = None
        if self._error is not None:
            raise self._error

    def __enter__(self) -> TelemetryWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: The schema of every telemetry file: :data:`PARQUET_SCHEMA` with its GeoParquet metadata.
_FILE_SCHEMA = PARQUET_SCHEMA.with_metadata({b"geo": geo_metadata()})


#: Columns with min/max statistics in the file (what readers filter on: time and place).
STATISTICS_COLUMNS = (
    "source_offset",
    "precision_time_stamp",
    "sensor_latitude",
    "sensor_longitude",
)


def _parquet_writer(
    path: Path, schema: pa.Schema, strings: list[str] | None = None
) -> pq.ParquetWriter:
    if strings is None:
        strings = [f.name for f in schema if pa.types.is_string(f.type)]
    stats = [c for c in STATISTICS_COLUMNS if c in schema.names]
    return pq.ParquetWriter(
        path, schema, compression="lz4", use_dictionary=strings, write_statistics=stats
    )


def read_parquet(path: str | Path, *, full_schema: bool = False) -> pa.Table:
    """Read a telemetry GeoParquet file; ``full_schema`` adds absent items as null columns."""
    table = pq.read_table(path)
    if not full_schema:
        return table
    cols = [
        table[f.name] if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
        for f in PARQUET_SCHEMA
    ]
    return pa.Table.from_arrays(cols, schema=PARQUET_SCHEMA)


#: Columns of the telemetry that are not ST 0601 items.
_NOT_ITEMS = frozenset([*(f.name for f in META_FIELDS), GEOMETRY_FIELD.name])


@dataclass
class TelemetrySummary:
    """What a sortie's telemetry holds, accumulated chunk by chunk (for ``vigia inspect``)."""

    gap_s: float = DEFAULT_GAP_S
    packets: int = 0
    first_time_us: int | None = None
    last_time_us: int | None = None
    item_counts: dict[str, int] = field(default_factory=dict)
    sentinel_counts: dict[str, int] = field(default_factory=dict)  # item -> error values seen
    names: dict[str, dict[str, int]] = field(default_factory=dict)
    lat_range: list[float] = field(default_factory=lambda: [np.inf, -np.inf])
    lon_range: list[float] = field(default_factory=lambda: [np.inf, -np.inf])
    gaps: list[tuple[int, int]] = field(default_factory=list)  # (from µs, to µs)
    gap_count: int = 0
    backwards: int = 0
    checksum_failures: int = 0
    _prev_time: int | None = None

    NAME_COLUMNS = (
        "mission_id",
        "platform_designation",
        "platform_tail_number",
        "platform_call_sign",
        "image_source_sensor",
    )

    def update(self, table: pa.Table) -> None:
        """Add one chunk of telemetry."""
        n = table.num_rows
        if n == 0:
            return
        self.packets += n
        for name in table.column_names:
            if name in _NOT_ITEMS:
                continue
            present = n - table[name].null_count
            if present:
                self.item_counts[name] = self.item_counts.get(name, 0) + present
        sentinels = table["sentinel_items"]
        if sentinels.null_count < n:
            flat = pc.list_flatten(sentinels)
            for entry in pc.value_counts(flat).to_pylist():
                name = entry["values"]
                self.sentinel_counts[name] = self.sentinel_counts.get(name, 0) + entry["counts"]
        # null: the packet's standard has no checksum (EG 0104), not a failure
        self.checksum_failures += int(pc.sum(pc.invert(table["checksum_valid"])).as_py() or 0)
        for name in self.NAME_COLUMNS:
            col = table[name]
            if col.null_count == n:
                continue
            counts = pc.value_counts(col.drop_null())
            bucket = self.names.setdefault(name, {})
            for entry in counts.to_pylist():
                bucket[entry["values"]] = bucket.get(entry["values"], 0) + entry["counts"]
        for col, rng in (("sensor_latitude", self.lat_range), ("sensor_longitude", self.lon_range)):
            mm = pc.min_max(table[col]).as_py()
            if mm["min"] is not None:
                rng[0] = min(rng[0], mm["min"])
                rng[1] = max(rng[1], mm["max"])
        ts = table["precision_time_stamp"]
        if ts.null_count < n:
            t = pc.cast(ts.drop_null(), pa.int64()).to_numpy()
            if self._prev_time is not None:
                t = np.concatenate(([self._prev_time], t))
            d = np.diff(t)
            self.backwards += int((d < 0).sum())
            big = np.flatnonzero(d > self.gap_s * 1e6)
            self.gap_count += big.size
            for i in big[: max(0, 20 - len(self.gaps))]:
                self.gaps.append((int(t[i]), int(t[i + 1])))
            lo, hi = int(t.min()), int(t.max())
            self.first_time_us = lo if self.first_time_us is None else min(self.first_time_us, lo)
            self.last_time_us = hi if self.last_time_us is None else max(self.last_time_us, hi)
            self._prev_time = int(t[-1])

    @property
    def duration_s(self) -> float | None:
        """Time from the first to the last precision time stamp (s)."""
        if self.first_time_us is None or self.last_time_us is None:
            return None
        return (self.last_time_us - self.first_time_us) / 1e6

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""

        def iso(us: int | None) -> str | None:
            if us is None:
                return None
            return str(np.datetime64(us, "us")) + "Z"

        bbox = None
        if np.isfinite(self.lat_range[0]):
            bbox = {
                "min_lat": self.lat_range[0],
                "min_lon": self.lon_range[0],
                "max_lat": self.lat_range[1],
                "max_lon": self.lon_range[1],
            }
        return {
            "packets": self.packets,
            "start": iso(self.first_time_us),
            "end": iso(self.last_time_us),
            "duration_s": self.duration_s,
            "items_present": dict(sorted(self.item_counts.items(), key=lambda kv: -kv[1])),
            "sentinel_items": dict(sorted(self.sentinel_counts.items(), key=lambda kv: -kv[1])),
            "platform": _top(self.names.get("platform_designation")),
            "tail_number": _top(self.names.get("platform_tail_number")),
            "sensors": self.names.get("image_source_sensor", {}),
            "mission_id": _top(self.names.get("mission_id")),
            "track_bbox": bbox,
            "checksum_failures": self.checksum_failures,
            "gaps": {
                "threshold_s": self.gap_s,
                "count": self.gap_count,
                "first": [
                    {"from": iso(a), "to": iso(b), "seconds": (b - a) / 1e6} for a, b in self.gaps
                ],
            },
            "time_going_backwards": self.backwards,
        }


def _top(counts: dict[str, int] | None) -> str | None:
    if not counts:
        return None
    return max(counts.items(), key=lambda kv: kv[1])[0]


def summarise(tables: Iterable[pa.Table], *, gap_s: float = DEFAULT_GAP_S) -> TelemetrySummary:
    """Summary of a sequence of telemetry tables."""
    s = TelemetrySummary(gap_s=gap_s)
    for t in tables:
        s.update(t)
    return s
