"""Footprint throughput: vigia.geo.footprints on 1M synthetic rows vs a per-row pymap3d loop.

Run: ``.venv/bin/python bench/bench_footprints.py [--rows 1000000] [--sample 2000]``.
Prints rows/s for both and their ratio (goals: >= 1M rows/s on one core, >= 50x pymap3d).
The pymap3d loop does per row what footprints does: build the sensor rotation, then five
``pymap3d.los.lookAtSpheroid`` calls (centre and four corners); its rate is measured on a sample
and extrapolated. Threads of the BLAS/OpenMP pools are pinned to one.
"""

from __future__ import annotations

import argparse
import math
import os
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import pymap3d.los  # noqa: E402

from vigia.geo import footprints  # noqa: E402
from vigia.geo.geoid import geoid_undulation_m  # noqa: E402


def synthetic_rows(n: int, seed: int = 7) -> dict[str, np.ndarray]:
    """ST 0601 columns of ``n`` plausible MQ-9-class rows over Mexico."""
    rng = np.random.default_rng(seed)
    hfov = rng.uniform(0.5, 30.0, n)
    return {
        "precision_time_stamp": np.arange(n, dtype=np.int64) * 33_333 + 1_700_000_000_000_000,
        "sensor_latitude": rng.uniform(15.0, 31.0, n),
        "sensor_longitude": rng.uniform(-116.0, -88.0, n),
        "sensor_true_altitude": rng.uniform(4000.0, 8000.0, n),
        "platform_heading_angle": rng.uniform(0.0, 360.0, n),
        "platform_pitch_angle": rng.uniform(-5.0, 5.0, n),
        "platform_roll_angle": rng.uniform(-15.0, 15.0, n),
        "sensor_relative_azimuth_angle": rng.uniform(0.0, 360.0, n),
        "sensor_relative_elevation_angle": rng.uniform(-89.0, -20.0, n),
        "sensor_relative_roll_angle": rng.uniform(0.0, 2.0, n),
        "sensor_horizontal_field_of_view": hfov,
        "sensor_vertical_field_of_view": hfov * 9.0 / 16.0,
    }


def _zyx(yaw: float, pitch: float, roll: float) -> np.ndarray:
    y, p, r = math.radians(yaw), math.radians(pitch), math.radians(roll)
    rz = np.array([[math.cos(y), -math.sin(y), 0], [math.sin(y), math.cos(y), 0], [0, 0, 1]])
    ry = np.array([[math.cos(p), 0, math.sin(p)], [0, 1, 0], [-math.sin(p), 0, math.cos(p)]])
    rx = np.array([[1, 0, 0], [0, math.cos(r), -math.sin(r)], [0, math.sin(r), math.cos(r)]])
    return rz @ ry @ rx


def pymap3d_row(cols: dict[str, np.ndarray], i: int) -> list[tuple[float, float]]:
    """Centre and four corners of row ``i`` with pymap3d, one ray at a time."""
    lat = float(cols["sensor_latitude"][i])
    lon = float(cols["sensor_longitude"][i])
    h = float(cols["sensor_true_altitude"][i]) + float(geoid_undulation_m(lat, lon))
    r = _zyx(
        cols["platform_heading_angle"][i],
        cols["platform_pitch_angle"][i],
        cols["platform_roll_angle"][i],
    ) @ _zyx(
        cols["sensor_relative_azimuth_angle"][i],
        cols["sensor_relative_elevation_angle"][i],
        cols["sensor_relative_roll_angle"][i],
    )
    tx = math.tan(math.radians(cols["sensor_horizontal_field_of_view"][i]) / 2)
    ty = math.tan(math.radians(cols["sensor_vertical_field_of_view"][i]) / 2)
    out = []
    for u, v in ((0, 0), (-1, -1), (1, -1), (1, 1), (-1, 1)):
        n, e, d = r @ np.array([1.0, u * tx, v * ty])
        az = math.degrees(math.atan2(e, n)) % 360.0
        tilt = math.degrees(math.atan2(math.hypot(n, e), d))
        la, lo, _ = pymap3d.los.lookAtSpheroid(lat, lon, h, az, tilt)
        out.append((float(la), float(lo)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    cols = synthetic_rows(args.rows)
    footprints(synthetic_rows(1000))  # warm-up: geoid grid load, imports
    best = float("inf")
    result = {}
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        result = footprints(cols, frame_width_px=1280, frame_height_px=720)
        best = min(best, time.perf_counter() - t0)
    ours = args.rows / best
    valid = int(result["valid"].sum())

    t0 = time.perf_counter()
    for i in range(args.sample):
        pymap3d_row(cols, i)
    loop = args.sample / (time.perf_counter() - t0)

    print(f"rows: {args.rows:,} ({valid:,} fully valid), best of {args.repeat}")
    print(f"vigia.geo.footprints  : {ours:12,.0f} rows/s  ({best:.3f} s, centre + 4 corners + GSD)")
    print(
        f"pymap3d per-row loop  : {loop:12,.0f} rows/s  (sample of {args.sample:,}, extrapolated)"
    )
    print(f"ratio                 : {ours / loop:12,.0f} x")


if __name__ == "__main__":
    main()
