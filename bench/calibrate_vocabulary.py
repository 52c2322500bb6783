"""Estimate the vocabulary's per-look rates from scenario runs with ground truth.

For every site matched to a known place (a laboratory or a decoy) and every adequate look at its
H3 cell that could have seen an indicator (right sensor; thermal only at night), count whether
the look saw it. ``p_seen_if_present`` is the share of such looks that saw the indicator at
places that have the feature; ``p_present`` the share of places that have it. The real program
would do the same with the partner's feedback (labs dismantled, nothing found) as ground truth.

Usage (data directories kept by ``vigia scenario evaluate --keep DIR``)::

    vigia scenario evaluate --seed 21 --keep /tmp/ev21
    python bench/calibrate_vocabulary.py --seed 21=/tmp/ev21 ...
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict

import h3
import numpy as np
import pyarrow as pa

from vigia.app.evaluate import match_sites
from vigia.exploit.scoring import looks_by_cell
from vigia.exploit.vocabulary import default_vocabulary
from vigia.scenario.world import build_world
from vigia.store.catalog import Catalog


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", action="append", required=True, help="SEED=DIR")
    a = ap.parse_args()
    voc = default_vocabulary()
    gap = round(voc.scoring.pass_gap_s * 1e6)
    looks_n: dict[tuple[str, str], int] = defaultdict(int)
    seen_n: dict[tuple[str, str], int] = defaultdict(int)
    places: dict[tuple[str, str], list[bool]] = defaultdict(list)
    for spec in a.seed:
        seed, d = spec.split("=")
        world = build_world(int(seed))
        cat = Catalog(d + "/data")
        sites = cat.sites().to_pylist()
        objs = world.objects.to_pylist()
        obs = cat.observations()
        looks = looks_by_cell(cat.coverage_passes(), voc.scoring.adequate_gsd_m)
        for si, oi, _ in match_sites(sites, objs, 50.0):
            s, o = sites[si], objs[oi]
            cls = "lab" if o["kind"] == "lab" else "other"
            so = obs.filter(pa.compute.equal(obs.column("site_id"), s["site_id"]))
            t = np.asarray(so.column("time").cast(pa.int64()))
            ind = np.asarray(so.column("indicator").to_pylist(), dtype=object)
            cell = h3.str_to_int(h3.latlng_to_cell(s["lat"], s["lon"], 10))
            for i in voc.indicators:
                present = o[f"p_{i.code}"] > 0
                places[(cls, i.code)].append(present)
                if not present:
                    continue
                for lk in looks.get(cell, []):
                    if not i.applies(lk.sensor_bits, lk.light_bits):
                        continue
                    during = (t >= lk.t0 - gap) & (t <= lk.t1 + gap)
                    looks_n[(cls, i.code)] += 1
                    seen_n[(cls, i.code)] += int(np.any(during & (ind == i.code)))
    out = {}
    for i in voc.indicators:
        out[i.code] = {
            cls: {
                "p_present": round(float(np.mean(places[(cls, i.code)])), 3),
                "p_seen_if_present": round(
                    seen_n[(cls, i.code)] / max(1, looks_n[(cls, i.code)]), 3
                ),
                "looks": looks_n[(cls, i.code)],
            }
            for cls in ("lab", "other")
        }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
