"""Fusion benchmark: 1M observations into sites, on one core.

Goal (issue 4): fusing 1M observations takes <= 30 s on one core. The observations are VMTI-like:
``--sites`` places seen on 10 passes each, every pass a tracked target reported on many frames,
with a per-pass pose bias and per-frame noise. Also timed in the same run:

* the same observations without tracker ids (every observation its own group: the worst case
  for the sequential association);
* a peer: brute-force nearest-site assignment with NumPy (each observation against every site,
  fixed 50 m radius, no uncertainty) on a subset over the same sites, scaled per observation.

Usage::

    python bench/bench_fusion.py --observations 1000000 --sites 5000
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import pyarrow as pa

from vigia.exploit.fusion import fuse
from vigia.exploit.observations import make_observations
from vigia.exploit.vocabulary import default_vocabulary


def build(n_obs: int, n_sites: int, seed: int, tracked: bool) -> tuple[pa.Table, np.ndarray]:
    rng = np.random.default_rng(seed)
    per = max(1, n_obs // n_sites)
    n = per * n_sites
    n_pass = 10
    per_pass = max(1, per // n_pass)
    slat = 24.8 + rng.uniform(-0.4, 0.4, n_sites)
    slon = -107.3 + rng.uniform(-0.4, 0.4, n_sites)
    site = np.repeat(np.arange(n_sites), per)
    pas = np.minimum(np.tile(np.arange(per) // per_pass, n_sites), n_pass - 1)
    sig = 15.0
    be = rng.normal(0, sig, (n_sites, n_pass))
    bn = rng.normal(0, sig, (n_sites, n_pass))
    de = be[site, pas] + rng.normal(0, 3, n)
    dn = bn[site, pas] + rng.normal(0, 3, n)
    lat = slat[site] + dn / 110_900
    lon = slon[site] + de / (111_320 * math.cos(math.radians(24.8)))
    t = (
        1_773_453_600_000_000
        + pas * 86_400_000_000
        + np.tile(np.arange(per) % per_pass, n_sites) * 500_000
        + site * 1_000
    )
    cols = {
        "time": t,
        "sortie": "BENCH",
        "source": "vmti",
        "indicator": "tarp_structure",
        "confidence": np.full(n, 0.8),
        "lat": lat,
        "lon": lon,
        "cov_ee_m2": np.full(n, sig**2 + 9),
        "cov_en_m2": np.zeros(n),
        "cov_nn_m2": np.full(n, sig**2 + 9),
        "night": np.zeros(n, bool),
        "obs_id": pa.array(np.char.add("o", np.arange(n).astype(str))),
        "geometry": pa.nulls(n, pa.binary()),
    }
    if tracked:
        cols["track_id"] = site * 100 + pas
    return make_observations(n, cols), site


def brute_force(table: pa.Table, radius_m: float = 50.0) -> float:
    """Seconds per observation of a NumPy nearest-site assignment (fixed radius)."""
    lat = table.column("lat").to_numpy()
    lon = table.column("lon").to_numpy()
    k = math.cos(math.radians(24.8))
    t0 = time.perf_counter()
    se: list[float] = []
    sn: list[float] = []
    sites_e = np.zeros(0)
    sites_n = np.zeros(0)
    for i in range(lat.size):
        e, n = lon[i] * 111_320 * k, lat[i] * 110_900
        if sites_e.size:
            d = np.hypot(sites_e - e, sites_n - n)
            j = int(np.argmin(d))
            if d[j] < radius_m:
                continue
        se.append(e)
        sn.append(n)
        sites_e, sites_n = np.asarray(se), np.asarray(sn)
    return (time.perf_counter() - t0) / lat.size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--observations", type=int, default=1_000_000)
    ap.add_argument("--sites", type=int, default=5_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--peer-subset", type=int, default=20_000)
    a = ap.parse_args()
    gate = default_vocabulary().scoring.gate_d2
    print(f"{a.observations:,} observations of {a.sites:,} sites, 10 passes each")
    results = {}
    for tracked in (True, False):
        table, truth = build(a.observations, a.sites, a.seed, tracked)
        t0 = time.perf_counter()
        f = fuse(table, gate_d2=gate)
        dt = time.perf_counter() - t0
        # purity: share of observations whose site's majority truth is their own
        idx = f.site_index
        maj = np.zeros(f.n_sites, np.int64)
        order = np.lexsort((truth, idx))
        maj[idx[order]] = truth[order]  # any member; sites are pure when purity is 1
        purity = float((maj[idx] == truth).mean())
        label = "tracked" if tracked else "untracked"
        results[label] = dt
        print(
            f"  fuse ({label:9s}): {dt:6.2f} s  {table.num_rows / dt / 1e3:8.0f}k obs/s  "
            f"{f.n_sites:,} sites  purity {purity:.4f}  median CE90 {np.median(f.ce90_m):.1f} m"
        )
    sub, _ = build(a.peer_subset, a.sites, a.seed, True)  # same sites, fewer looks each
    per_obs = brute_force(sub)
    peer_1m = per_obs * a.observations
    print(f"  peer: NumPy brute force, fixed radius: {per_obs * 1e6:.1f} µs/obs")
    for label, dt in results.items():
        print(f"  ratio vs peer ({label}): {peer_1m / dt:.1f}x faster")
    print(f"  goal: 1M observations <= 30 s: tracked {results['tracked']:.1f} s, "
          f"untracked {results['untracked']:.1f} s")  # fmt: skip


if __name__ == "__main__":
    main()
