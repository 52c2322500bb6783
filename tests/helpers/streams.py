"""MPEG-TS test streams: ST 0601 KLV packets, muxed transport streams and a whole-stream demux.

Shared by the mux/demux, damaged-stream and UDP tests.
"""

from __future__ import annotations

import io

import numpy as np

from vigia.klv.keys import ST0601_KEY
from vigia.klv.localset import with_checksum
from vigia.mpegts import KLVDemuxer, MetadataChunk, write_klv_ts

#: The PID :func:`vigia.mpegts.write_klv_ts` puts KLV on by default.
KLV_PID = 0x0101


def make_klv(n: int, *, seed: int = 0, big_every: int = 0) -> list[bytes]:
    """``n`` ST 0601 packets of varying size; every ``big_every``-th spans several TS packets."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        size = int(rng.integers(1, 120))
        if big_every and i % big_every == 0:
            size = int(rng.integers(400, 1500))
        items = [(2, (1_700_000_000_000_000 + i).to_bytes(8, "big")), (4, rng.bytes(size))]
        out.append(with_checksum(ST0601_KEY, items))
    return out


def ts_bytes(klv: list[bytes], pts: np.ndarray, **kw: object) -> bytes:
    """The transport stream :func:`write_klv_ts` writes for ``klv`` at ``pts``, as bytes."""
    buf = io.BytesIO()
    write_klv_ts(buf, klv, pts, **kw)  # type: ignore[arg-type]
    return buf.getvalue()


def demux_all(
    data: bytes, chunk: int = 188 * 64, strict: bool = False
) -> tuple[MetadataChunk | None, KLVDemuxer]:
    """Feed ``data`` to a demuxer ``chunk`` bytes at a time; all metadata found, and the demuxer."""
    d = KLVDemuxer(strict=strict)
    parts: list[MetadataChunk] = []
    for i in range(0, len(data), chunk):
        parts += d.feed(data[i : i + chunk])
    parts += d.flush()
    assert all(p.pid == KLV_PID for p in parts)
    return (MetadataChunk.concat(parts) if parts else None), d
