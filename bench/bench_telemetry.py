"""Benchmark: `vigia telemetry` as a whole process against klvdata and stanag4609.

Generates a raw KLV file of N ST 0601 packets (~20 items each, random but physical values),
then measures in the same run:

* `vigia telemetry FILE -o OUT.parquet` as a separate process (start-up and Parquet included);
* klvdata parsing the same bytes and reading every item of every packet (on a sample);
* stanag4609's `decode_uas_local_set` on the same packets (on a sample);

and prints packets/s for each and the ratios. With ``--sortie-24h`` it also decodes a
synthetic 24-hour sortie (2.6M packets at 30 Hz) and reports the peak RSS of the process.

    .venv/bin/python bench/bench_telemetry.py --packets 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"


def make_stream(path: Path, n: int, seed: int = 1) -> tuple[bytes, np.ndarray]:
    """Write (or reuse) a raw KLV file of ``n`` packets; return its bytes and packet offsets."""
    from vigia.klv.encode import encode_st0601_stream
    from vigia.scenario.synthetic import synthetic_columns

    chunks, offsets, base = [], [np.zeros(1, dtype=np.int64)], 0
    step = 250_000
    for lo in range(0, n, step):
        m = min(step, n - lo)
        cols = synthetic_columns(m, seed=seed + lo, start_us=1_773_453_600_000_000 + lo * 33_333)
        data, offs = encode_st0601_stream(cols)
        chunks.append(data)
        offsets.append(base + offs[1:])
        base += len(data)
    data = b"".join(chunks)
    path.write_bytes(data)
    return data, np.concatenate(offsets)


def time_vigia(path: Path, out: Path) -> tuple[float, int]:
    """Wall time of the whole `vigia telemetry` process and its peak RSS (KiB).

    The process is started from a small intermediate interpreter that reports the peak RSS of
    its child, so that the RSS of this (large) benchmark process is not counted.
    """
    exe = Path(sys.executable).with_name("vigia")
    probe = (
        "import resource, subprocess, sys, time;"
        "t = time.perf_counter();"
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL);"
        "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    res = subprocess.run(
        [sys.executable, "-c", probe, str(exe), "telemetry", str(path), "-o", str(out)],
        check=True,
        capture_output=True,
        text=True,
    )
    seconds, peak_kib = res.stdout.split()
    return float(seconds), int(peak_kib)


def rate_klvdata(data: bytes, offsets: np.ndarray, sample: int) -> float:
    import klvdata

    end = int(offsets[min(sample, offsets.size - 1)])
    t0 = time.perf_counter()
    n = 0
    for packet in klvdata.StreamParser(data[:end]):
        for _tag, _value in packet.MetadataList().items():
            pass
        n += 1
    return n / (time.perf_counter() - t0)


def rate_stanag4609(data: bytes, offsets: np.ndarray, sample: int) -> float:
    import stanag4609

    m = min(sample, offsets.size - 1)
    t0 = time.perf_counter()
    for i in range(m):
        stanag4609.decode_uas_local_set(data[offsets[i] : offsets[i + 1]])
    return m / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--sample", type=int, default=20_000, help="packets for the peers")
    ap.add_argument("--sortie-24h", action="store_true", help="also the 24-hour RSS check")
    ap.add_argument("--repeat", type=int, default=3, help="runs of vigia (best is kept)")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    src = OUT / f"st0601_{args.packets}.klv"
    data, offsets = make_stream(src, args.packets)
    # Best of three runs of the whole process (the first also warms the page cache).
    ours_s = min(time_vigia(src, OUT / "telemetry.parquet")[0] for _ in range(args.repeat))
    ours = args.packets / ours_s
    kd = rate_klvdata(data, offsets, args.sample)
    sg = rate_stanag4609(data, offsets, max(1000, args.sample // 4))
    result = {
        "packets": args.packets,
        "bytes": len(data),
        "items_per_packet": 21,
        "vigia_process_s": round(ours_s, 3),
        "vigia_packets_per_s": round(ours),
        "klvdata_packets_per_s": round(kd),
        "stanag4609_packets_per_s": round(sg),
        "ratio_vs_klvdata": round(ours / kd, 1),
        "ratio_vs_stanag4609": round(ours / sg, 1),
    }
    if args.sortie_24h:
        n24 = 2_592_000
        src24 = OUT / "sortie_24h.klv"
        make_stream(src24, n24, seed=24)
        s24, peak_kib = time_vigia(src24, OUT / "sortie_24h.parquet")
        result["sortie_24h_packets"] = n24
        result["sortie_24h_s"] = round(s24, 2)
        result["sortie_24h_peak_rss_mb"] = round(peak_kib / 1024, 1)
        os.unlink(src24)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
