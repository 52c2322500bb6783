"""Benchmark: KLV extraction from a transport stream, Vigía's demuxer vs PyAV (FFmpeg).

Generates a KLV-only TS (asynchronous carriage, one ~150-byte ST 0601 packet per PES), then
times (a) ``vigia.mpegts.demux_klv_file`` and (b) PyAV demuxing the same data stream and
touching ``bytes(packet)`` of every packet. Both read the file from the page cache.

    .venv/bin/python bench/bench_demux.py [--packets N] [--carriage async|sync] [--keep PATH]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import av
import numpy as np

from vigia.klv.keys import ST0601_KEY
from vigia.klv.localset import with_checksum
from vigia.mpegts import demux_klv_file, write_klv_ts


def make_packets(n: int, seed: int = 7) -> list[bytes]:
    """``n`` ST 0601 packets of about 150 bytes (timestamp + varying filler items)."""
    rng = np.random.default_rng(seed)
    filler = rng.integers(0, 256, size=(64, 120), dtype=np.uint8)
    templates = [
        with_checksum(
            ST0601_KEY,
            [
                (2, (1_700_000_000_000_000 + i).to_bytes(8, "big")),
                (59, b"VIGIA-BENCH"),
                (4, filler[i % 64, : 100 + i % 20].tobytes()),
            ],
        )
        for i in range(64)
    ]
    return [templates[i % 64] for i in range(n)]


def bench_vigia(path: str) -> tuple[float, int, int]:
    t0 = time.perf_counter()
    reader = demux_klv_file(path)
    aus = nbytes = 0
    for chunk in reader:
        aus += len(chunk)
        nbytes += len(chunk.data)
    return time.perf_counter() - t0, aus, nbytes


def bench_pyav(path: str) -> tuple[float, int, int]:
    t0 = time.perf_counter()
    aus = nbytes = 0
    with av.open(path) as container:
        stream = container.streams.data[0]
        for packet in container.demux(stream):
            if packet.size:
                nbytes += len(bytes(packet))
                aus += 1
    return time.perf_counter() - t0, aus, nbytes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=1_000_000, help="KLV packets to generate")
    ap.add_argument("--carriage", choices=["async", "sync"], default="async")
    ap.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    ap.add_argument("--keep", help="write the TS here instead of a temporary file")
    args = ap.parse_args()

    packets = make_packets(args.packets)
    pts = 90_000 + np.arange(args.packets, dtype=np.int64) * 3003
    path = args.keep or os.path.join(tempfile.mkdtemp(prefix="vigia-bench-"), "klv.ts")
    t0 = time.perf_counter()
    n_ts = write_klv_ts(path, packets, pts, carriage=args.carriage)
    t_write = time.perf_counter() - t0
    size = os.path.getsize(path)
    mean = sum(map(len, packets[:1000])) / min(1000, len(packets))
    print(
        f"generated {args.packets:,} KLV packets (~{mean:.0f} B), {n_ts:,} TS packets, "
        f"{size / 1e6:.1f} MB in {t_write:.2f} s ({args.carriage} carriage)"
    )

    best_v = best_a = float("inf")
    for _ in range(args.repeat):
        tv, nv, bv = bench_vigia(path)
        ta, na, ba = bench_pyav(path)
        best_v, best_a = min(best_v, tv), min(best_a, ta)
    assert nv == na == args.packets, (nv, na)
    assert bv == ba, (bv, ba)
    rv, ra = nv / best_v, na / best_a
    print(f"vigia : {best_v:7.3f} s  {rv:12,.0f} KLV packets/s  {size / best_v / 1e6:8.1f} MB/s")
    print(f"PyAV  : {best_a:7.3f} s  {ra:12,.0f} KLV packets/s  {size / best_a / 1e6:8.1f} MB/s")
    print(f"ratio vigia/PyAV = {rv / ra:.2f} (best of {args.repeat})")
    if not args.keep:
        os.remove(path)
        os.rmdir(os.path.dirname(path))


if __name__ == "__main__":
    main()
