"""Benchmark of the sortie planner: 50 random consented AOIs over Sinaloa/Durango, one MQ-9 sortie.

Goals: plan in <= 5 s; predicted coverage >= 95 % of the consented AOI area when endurance allows;
no lane outside consented area. Run: ``.venv/bin/python bench/bench_plan.py [--n 50] [--seed 7]``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from typing import Any

import numpy as np
import shapely

from vigia.plan import plan_sortie

BASE = (24.7645, -107.4747)  # Culiacán
START = "2026-05-10T06:00:00-07:00"
M_PER_DEG = 111_320.0


def random_aois(n: int, seed: int) -> dict[str, Any]:
    """``n`` convex AOIs, 8-40 km², centres in Sinaloa/Durango within ~300 km of Culiacán."""
    rng = np.random.default_rng(seed)
    feats = []
    while len(feats) < n:
        lat = rng.uniform(23.6, 26.4)
        lon = rng.uniform(-108.4, -105.4)
        r_m = rng.uniform(1_800.0, 3_600.0)
        ang = np.sort(rng.uniform(0, 2 * math.pi, 9))
        rad = r_m * rng.uniform(0.75, 1.25, ang.size)
        k = math.cos(math.radians(lat))
        pts = np.column_stack(
            [lon + rad * np.cos(ang) / (M_PER_DEG * k), lat + rad * np.sin(ang) / M_PER_DEG]
        )
        hull = shapely.convex_hull(shapely.multipoints(pts))
        ring = np.asarray(shapely.get_coordinates(hull.exterior), float).round(6).tolist()
        feats.append(
            {
                "type": "Feature",
                "properties": {
                    "name": f"AOI-{len(feats):02d}",
                    "authority": "SEDENA",
                    "consent_from": "2026-01-01T00:00:00-07:00",
                    "consent_until": "2026-12-31T00:00:00-07:00",
                    "priority": int(rng.integers(1, 4)),
                    "sensor": "any",
                },
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        )
    return {"type": "FeatureCollection", "features": feats}


def main() -> None:
    """Plan, time, check and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    doc = random_aois(args.n, args.seed)
    plan_sortie(doc, BASE, START)  # warm-up (imports, pyproj database)
    t0 = time.perf_counter()
    plan = plan_sortie(doc, BASE, START)
    dt = time.perf_counter() - t0
    s = plan.summary()
    geoms = {
        f["properties"]["name"]: shapely.from_geojson(json.dumps(f["geometry"]))
        for f in doc["features"]
    }
    lanes = [f for f in plan.features if f["properties"]["kind"] == "lane"]
    outside = sum(
        not geoms[f["properties"]["aoi"]]
        .buffer(1e-7)
        .covers(shapely.linestrings(f["geometry"]["coordinates"]))
        for f in lanes
    )
    print(f"AOIs                 {args.n} (seed {args.seed})")
    print(f"time to plan         {dt:.2f} s   (goal <= 5 s)")
    print(f"AOIs planned         {len(s['aois_planned'])}, left out {len(s['left_out'])}")
    print(f"lanes                {len(lanes)}, outside consented area: {outside}")
    print(f"coverage_fraction    {s['coverage_fraction']:.4f}   (goal >= 0.95)")
    print(f"consented area       {s['consented_area_km2']:.1f} km²")
    print(f"duration             {s['duration_h']:.2f} h, distance {s['distance_km']:.0f} km")
    print(f"endurance_fraction   {s['endurance_fraction']:.3f}")
    print(f"predicted H3 cells   {s['cells']} (res {s['h3_res']})")
    for lo in s["left_out"]:
        print(f"  left out: {lo['message']}")
    ok = dt <= 5.0 and s["coverage_fraction"] >= 0.95 and outside == 0
    print(f"goals met            {'yes' if ok else 'NO'}")


if __name__ == "__main__":
    main()
