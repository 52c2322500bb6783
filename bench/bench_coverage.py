"""Benchmark: coverage of a synthetic 24-hour sortie (2.59 M frames at 30 Hz).

Run:  .venv/bin/python bench/bench_coverage.py [--hours 24] [--res 10] [--sample 20000]

The sortie orbits a sequence of areas around Culiacán and the Sierra of Sinaloa; the sensor scans
each area (boustrophedon), zooms in and out, EO by day and IR by night. Footprints are generated
in one-hour chunks and streamed through `CoverageAccumulator`, as the CLI does. The naive baseline
(one `h3.polygon_to_cells` per frame, then a dict per cell) is timed on a sample of frames of the
same sortie and extrapolated to all frames. Goal: <= 60 s and peak RSS <= 2 GB.
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Iterator

import h3
import numpy as np
import pyarrow as pa
from h3.api import numpy_int as h3n

from vigia.coverage import CoverageAccumulator, coverage_metadata

HZ = 30
T0_US = 1_780_272_000_000_000  # 2026-06-01T00:00:00Z
AREAS = [(24.80, -107.39), (24.95, -107.10), (25.20, -107.30), (24.60, -107.05), (25.05, -106.85)]
M_PER_DEG = 111_320.0


def sortie_chunk(i0: int, n: int) -> pa.Table:
    """Frames i0 .. i0+n-1 of the synthetic sortie as a footprints table."""
    i = np.arange(i0, i0 + n, dtype=np.int64)
    s = i / HZ
    area = (s // 10_800).astype(np.int64) % len(AREAS)  # three hours per area
    lat0 = np.array([a[0] for a in AREAS])[area]
    lon0 = np.array([a[1] for a in AREAS])[area]
    k = np.cos(np.deg2rad(lat0))
    # Aircraft orbit: radius 6 km, 8 minutes per turn; the camera looks toward the area.
    orbit = 2 * np.pi * s / 480.0
    heading = orbit + np.pi / 2
    # Sensor scan: 6 km x 6 km boustrophedon, a row every 90 s, with a slow jitter.
    row = (s // 90.0) % 20
    u = (s % 90.0) / 90.0
    u = np.where(row % 2 == 0, u, 1 - u)
    east = (u - 0.5) * 6000 + 40 * np.sin(2 * np.pi * s / 7.0)
    north = (row / 19.0 - 0.5) * 6000 + 40 * np.cos(2 * np.pi * s / 5.0)
    # Zoom: footprint half-width 150 m .. 900 m, changes every few minutes.
    half = 525 + 375 * np.sin(2 * np.pi * s / 400.0)
    depth = 1.4 * half  # oblique view: longer along the line of sight
    clat = lat0 + north / M_PER_DEG
    clon = lon0 + east / (M_PER_DEG * k)
    cols: dict[str, object] = {
        "time": pa.array(T0_US + (i * 1_000_000) // HZ, pa.timestamp("us", tz="UTC")),
        "center_lat": clat,
        "center_lon": clon,
    }
    ch, sh = np.cos(heading), np.sin(heading)
    for c, (a, b) in enumerate([(-1.0, -0.8), (1.0, -0.8), (1.3, 1.2), (-1.3, 1.2)], start=1):
        x = a * half  # across the line of sight
        y = b * depth  # along it (far edge wider: trapezoid)
        e = x * ch + y * sh
        nn = -x * sh + y * ch
        cols[f"corner{c}_lat"] = clat + nn / M_PER_DEG
        cols[f"corner{c}_lon"] = clon + e / (M_PER_DEG * k)
    hour_utc = (s / 3600.0) % 24
    night = (hour_utc > 2.5) & (hour_utc < 13.0)  # Sinaloa is UTC-7
    cols["slant_range_m"] = np.full(n, 9000.0)
    cols["gsd_m"] = 2 * half / 1280.0
    cols["valid"] = np.ones(n, bool)
    cols["reason"] = pa.array([""] * n)
    cols["image_source_sensor"] = pa.array(
        np.where(night, "IR Wide", "EO Nose")
    ).dictionary_encode()
    cols["sortie"] = pa.array(["MX-2026-06-01-A"] * n).dictionary_encode()
    return pa.table(cols)


def chunks(n_frames: int, size: int) -> Iterator[pa.Table]:
    """The sortie in chunks of ``size`` frames."""
    for i0 in range(0, n_frames, size):
        yield sortie_chunk(i0, min(size, n_frames - i0))


def naive_seconds_per_frame(sample: pa.Table, res: int) -> float:
    """Time one polygon fill per frame plus per-cell bookkeeping in Python dicts."""
    lat = [sample.column(f"corner{k}_lat").to_numpy() for k in range(1, 5)]
    lon = [sample.column(f"corner{k}_lon").to_numpy() for k in range(1, 5)]
    t = sample.column("time").cast(pa.int64()).to_numpy()
    first: dict[int, int] = {}
    frames: dict[int, int] = {}
    start = time.perf_counter()
    for i in range(sample.num_rows):
        poly = h3.LatLngPoly([(lat[k][i], lon[k][i]) for k in range(4)])
        for c in h3n.polygon_to_cells(poly, res).tolist():
            first.setdefault(c, int(t[i]))
            frames[c] = frames.get(c, 0) + 1
    return (time.perf_counter() - start) / sample.num_rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--res", type=int, default=10)
    ap.add_argument("--step", type=float, default=1.0, help="run length, seconds")
    ap.add_argument("--chunk", type=int, default=108_000, help="frames per chunk (1 h)")
    ap.add_argument("--sample", type=int, default=20_000, help="frames for the naive baseline")
    args = ap.parse_args()
    n = round(args.hours * 3600 * HZ)

    acc = CoverageAccumulator(res=args.res, step_s=args.step)
    gen_s = 0.0
    start = time.perf_counter()
    it = chunks(n, args.chunk)
    while True:
        g = time.perf_counter()
        chunk = next(it, None)
        gen_s += time.perf_counter() - g
        if chunk is None:
            break
        acc.add(chunk)
    cells = acc.result()
    total_s = time.perf_counter() - start
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2

    sample = sortie_chunk(n // 3, min(args.sample, n))
    naive = naive_seconds_per_frame(sample, args.res) * n
    meta = coverage_metadata(cells)
    work_s = total_s - gen_s
    print(f"frames              {n:,} ({args.hours:g} h at {HZ} Hz), H3 res {args.res}")
    n_passes = int(cells.column("passes").to_numpy().sum())
    print(f"cells               {cells.num_rows:,}; passes {n_passes:,}")
    print(f"frames used         {meta['frames_used']:,} of {meta['frames_in']:,}")
    print(f"generation          {gen_s:6.1f} s (synthetic footprints, not counted)")
    print(f"coverage            {work_s:6.1f} s  ({n / work_s:,.0f} frames/s)  goal <= 60 s")
    print(f"peak RSS            {rss_gb:6.2f} GB (whole process)  goal <= 2 GB")
    print(f"naive (extrapolated){naive:7.1f} s  from {sample.num_rows:,} frames")
    print(f"speed-up            {naive / work_s:6.1f} x")


if __name__ == "__main__":
    main()
