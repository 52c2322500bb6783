"""Telemetry sources: transport-stream files, raw KLV files and live UDP, as one reader.

A source is named by a path (``.ts``/``.mpg`` or a raw KLV byte stream, recognised by its
content, not its extension) or a ``udp://HOST:PORT`` address. :class:`TelemetryReader`
yields the sortie's ST 0601 telemetry as Arrow tables, chunk by chunk, with the statistics of
what was damaged or skipped on the way.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from vigia.errors import SourceError
from vigia.klv.batch import SCHEMA, DecodeStats, KLVStreamDecoder
from vigia.klv.keys import ST0601_KEY, UL_PREFIX
from vigia.mpegts import KLVDemuxer, UdpSource, is_transport_stream

#: Bytes read from a file per step.
DEFAULT_CHUNK_BYTES = 8 << 20
#: How much of a file is looked at to recognise it.
SNIFF_BYTES = 64 << 10

ProgressFn = Callable[[int], None]


@dataclass(frozen=True)
class SourceInfo:
    """What a source is: its name, kind (``ts``, ``klv``, ``udp``) and size in bytes."""

    name: str
    kind: str
    size: int | None


def sniff(path: str | os.PathLike[str]) -> str:
    """Recognise a file by content: ``'ts'`` or ``'klv'``; :class:`SourceError` otherwise."""
    p = Path(path)
    if not p.exists():
        raise SourceError(f"no such file: {p}")
    if p.is_dir():
        raise SourceError(f"{p} is a directory, not a stream")
    with p.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if not head:
        raise SourceError(f"{p} is empty")
    if is_transport_stream(head):
        return "ts"
    if UL_PREFIX in head or ST0601_KEY[8:] in head:  # also keys that lost their first bytes
        return "klv"
    raise SourceError(
        f"{p} is neither an MPEG-2 transport stream nor a KLV byte stream "
        f"(no sync bytes at a 188-byte stride, no SMPTE key in the first {len(head)} bytes)"
    )


def describe(source: str) -> SourceInfo:
    """Name, kind and size of ``source`` (file path or ``udp://``)."""
    if source.startswith("udp://"):
        return SourceInfo(source, "udp", None)
    return SourceInfo(source, sniff(source), Path(source).stat().st_size)


class TelemetryReader:
    """Iterate over a source's telemetry as Arrow tables (schema :data:`vigia.klv.batch.SCHEMA`).

    ``strict=True`` stops at the first damaged packet with a typed error carrying its byte
    offset; the default recovers every intact packet and counts the rest in :attr:`stats`.
    For ``udp://`` sources, ``duration_s`` bounds how long to listen and listening also ends
    after ``idle_timeout_s`` seconds without a datagram. ``on_ready``, when given, is called
    once the UDP socket is bound (before any datagram is read), from the iterating thread: a
    sender that waits for it loses nothing to a socket not yet there. File sources ignore it.
    ``keep_vmti=True`` keeps the stand-alone ST 0903 packets for :meth:`take_vmti`.
    """

    def __init__(
        self,
        source: str,
        *,
        strict: bool = False,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        duration_s: float | None = None,
        progress: ProgressFn | None = None,
        idle_timeout_s: float = 5.0,
        on_ready: Callable[[], None] | None = None,
        keep_vmti: bool = False,
    ) -> None:
        self.keep_vmti = keep_vmti
        self.info = describe(source)
        self.idle_timeout_s = idle_timeout_s
        self.on_ready = on_ready
        self.strict = strict
        self.chunk_bytes = chunk_bytes
        self.duration_s = duration_s
        self.progress = progress
        self._decoders: dict[int, KLVStreamDecoder] = {}
        self.demuxer: KLVDemuxer | None = None
        self.udp_stats: dict[str, Any] | None = None

    @property
    def stats(self) -> DecodeStats:
        """KLV statistics over every metadata stream of the source."""
        total = DecodeStats()
        for dec in self._decoders.values():
            total.merge(dec.stats)
        return total

    def take_vmti(self) -> list[tuple[int, bytes]]:
        """Stand-alone ST 0903 packets read since the last call, as ``(source offset, value
        bytes)`` (offsets are into the stream of their PID for transport streams)."""
        out: list[tuple[int, bytes]] = []
        for dec in self._decoders.values():
            out.extend(dec.take_vmti())
        return out

    def transport_stats(self) -> dict[str, Any] | None:
        """Transport-stream statistics (continuity errors, resyncs…), when the source is TS."""
        if self.demuxer is None:
            return None
        d = dict(self.demuxer.stats.as_dict())
        if self.udp_stats is not None:
            d["udp"] = self.udp_stats
        return d

    def _decoder(self, pid: int) -> KLVStreamDecoder:
        dec = self._decoders.get(pid)
        if dec is None:
            dec = KLVStreamDecoder(strict=self.strict, keep_vmti=self.keep_vmti)
            self._decoders[pid] = dec
        return dec

    def __iter__(self) -> Iterator[pa.Table]:
        if self.info.kind == "klv":
            yield from self._iter_klv()
        elif self.info.kind == "ts":
            yield from self._iter_ts(self._file_chunks())
        else:
            yield from self._iter_udp()

    def _file_chunks(self) -> Iterator[bytes]:
        with open(self.info.name, "rb") as fh:
            while True:
                chunk = fh.read(self.chunk_bytes)
                if not chunk:
                    return
                yield chunk
                if self.progress is not None:
                    self.progress(len(chunk))

    def _iter_klv(self) -> Iterator[pa.Table]:
        dec = self._decoder(-1)
        for chunk in self._file_chunks():
            t = dec.feed(chunk)
            if t.num_rows:
                yield t
        t = dec.flush()
        if t.num_rows:
            yield t

    def _iter_ts(self, chunks: Iterator[bytes]) -> Iterator[pa.Table]:
        self.demuxer = KLVDemuxer(strict=self.strict)
        for chunk in chunks:
            yield from self._decode_metadata(self.demuxer.feed(chunk), final=False)
        yield from self._decode_metadata(self.demuxer.flush(), final=True)

    def _decode_metadata(self, mchunks: list[Any], *, final: bool) -> Iterator[pa.Table]:
        for m in mchunks:
            dec = self._decoder(m.pid)
            base = dec.stream_position
            dec.add_access_units(
                base + np.asarray(m.au_offsets, dtype=np.int64),
                np.asarray(m.pts, dtype=np.int64),
                np.asarray(m.source_offsets, dtype=np.int64),
            )
            t = dec.feed(m.data)
            if t.num_rows:
                yield t
        if final:
            for dec in self._decoders.values():
                t = dec.flush()
                if t.num_rows:
                    yield t

    def _iter_udp(self) -> Iterator[pa.Table]:
        deadline = None if self.duration_s is None else time.monotonic() + self.duration_s
        with UdpSource(self.info.name, timeout=self.idle_timeout_s) as udp:
            if self.on_ready is not None:
                self.on_ready()

            def chunks() -> Iterator[bytes]:
                buf: list[bytes] = []
                size = 0
                for data in udp:
                    buf.append(data)
                    size += len(data)
                    if size >= (256 << 10):
                        yield b"".join(buf)
                        if self.progress is not None:
                            self.progress(size)
                        buf, size = [], 0
                    if deadline is not None and time.monotonic() >= deadline:
                        break
                if buf:
                    yield b"".join(buf)

            try:
                yield from self._iter_ts(chunks())
            finally:
                self.udp_stats = dataclasses.asdict(udp.stats)


def read_telemetry(source: str, *, strict: bool = False) -> tuple[pa.Table, TelemetryReader]:
    """The whole telemetry of ``source`` as one table, and the reader (for its statistics)."""
    reader = TelemetryReader(source, strict=strict)
    tables = list(reader)
    table = pa.concat_tables(tables) if tables else SCHEMA.empty_table()
    return table, reader
