"""End-to-end evaluation on the synthetic world: how well do we find the laboratories?

``evaluate`` builds the world of a seed, flies its sorties into real MPEG-TS files (ST 0601 +
ST 0903), runs the whole pipeline from those files (:func:`vigia.app.ingest.ingest`), then
matches candidate sites to laboratories one-to-one, nearest first, within ``match_m`` (50 m):

* ``recall``: matched laboratories / laboratories;
* ``precision``: matched candidates / candidates (a second site on the same laboratory is a
  false positive);
* ``median_error_m``, ``p90_error_m``: distance from matched sites to their laboratory;
* ``lab_offset_median_m``, ``lab_offset_p90_m``: per laboratory, the distance to its site (of
  the sites, candidate or not, nearer to it than to any other place and within 1 km, the one
  with the most observations): the localisation error without the 50 m cut of the match (1 km
  where there is none);
* ``median_passes_to_detection``: for each matched laboratory, how many looks at it (coverage
  passes over its H3 cell at any GSD) it took until the evidence gathered so far made its site
  a candidate.

The world has relief (hills and valleys of several hundred metres), and the pipeline is given
its DEM (the ``terrain.tif`` the sorties are flown with). ``by_terrain`` scores the same
sorties ingested with each terrain of :data:`TERRAINS`: the DEM (the figures above), the
streams' own frame-centre elevation (items 25 / 78, one height per frame), and a constant
height (the world's mean ground height over the search boxes, m HAE): what geolocation loses
without a DEM.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h3
import numpy as np
import pyarrow as pa

from vigia.app.ingest import ingest
from vigia.exploit.fusion import passes_of
from vigia.exploit.scoring import DetectionPass, looks_by_cell, site_terms
from vigia.exploit.vocabulary import Vocabulary, default_vocabulary
from vigia.footprints import TerrainOptions
from vigia.outputs import writing
from vigia.scenario.flights import SCENARIO_POSE_SIGMAS, fly_sorties
from vigia.scenario.world import World, build_world
from vigia.store.catalog import Catalog

__all__ = ["TERRAINS", "evaluate", "match_sites"]

MATCH_M = 50.0
#: How far from a laboratory :func:`_lab_offsets_m` looks for its site (m).
OFFSET_SEARCH_M = 1000.0
#: The terrains ``by_terrain`` compares (:data:`vigia.footprints.TERRAIN_SOURCES` names).
TERRAINS = ("dem", "stream_elevation", "constant")


def _dist_m(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> Any:
    k = np.cos(np.radians((np.asarray(lat1) + np.asarray(lat2)) / 2))
    return np.hypot(
        (np.asarray(lat1) - lat2) * 110_950.0, (np.asarray(lon1) - lon2) * 111_320.0 * k
    )


def match_sites(
    sites: list[dict[str, Any]], labs: list[dict[str, Any]], match_m: float = MATCH_M
) -> list[tuple[int, int, float]]:
    """One-to-one matches (site index, lab index, distance m), nearest pairs first."""
    if not sites or not labs:
        return []
    slat = np.array([s["lat"] for s in sites])
    slon = np.array([s["lon"] for s in sites])
    llat = np.array([x["lat"] for x in labs])
    llon = np.array([x["lon"] for x in labs])
    d = _dist_m(slat[:, None], slon[:, None], llat[None, :], llon[None, :])
    pairs = np.argwhere(d <= match_m)
    order = np.argsort(d[pairs[:, 0], pairs[:, 1]], kind="stable")
    used_s: set[int] = set()
    used_l: set[int] = set()
    out = []
    for si, li in pairs[order].tolist():
        if si in used_s or li in used_l:
            continue
        used_s.add(si)
        used_l.add(li)
        out.append((si, li, float(d[si, li])))
    return out


def _passes_to_detection(
    site: dict[str, Any], obs: pa.Table, looks: pa.Table, vocab: Vocabulary
) -> int | None:
    """Looks at the site's cell (any GSD) until its evidence so far made it a candidate."""
    sc = vocab.scoring
    gap = round(sc.pass_gap_s * 1e6)
    threshold = math.log(sc.candidate_probability / (1 - sc.candidate_probability))
    rows = sorted(
        obs.select(["time", "indicator", "confidence", "night"]).to_pylist(),
        key=lambda r: r["time"],
    )
    if not rows:
        return None
    t = [int(r["time"].timestamp() * 1e6) for r in rows]
    cell = h3.str_to_int(h3.latlng_to_cell(site["lat"], site["lon"], 10))
    lk = looks.filter(pa.compute.equal(looks.column("cell"), pa.scalar(cell, pa.uint64())))
    all_t0 = np.asarray(lk.column("t0").cast(pa.int64()).to_numpy(), np.int64)
    adequate = looks_by_cell(lk, sc.adequate_gsd_m).get(cell, [])
    pid = passes_of(np.zeros(len(t), np.int64), np.asarray(t, np.int64), gap)
    starts = np.flatnonzero(np.diff(pid, prepend=-1)).tolist()  # rows are in time order
    ends = [*starts[1:], len(t)]
    passes: list[DetectionPass] = []
    for a, b in zip(starts, ends, strict=True):
        seen: dict[str, float] = {}
        for r in rows[a:b]:
            c = 0.5 if r["confidence"] is None else float(r["confidence"])
            seen[r["indicator"]] = max(seen.get(r["indicator"], 0.0), c)
        passes.append(DetectionPass(t[a], t[b - 1], seen, any(bool(r["night"]) for r in rows[a:b])))
        t_end = t[b - 1]
        so_far = [x for x in adequate if x.t0 <= t_end + gap]
        terms, _ = site_terms(vocab, passes, so_far)
        if sum(x["log_lr"] for x in terms) >= threshold:
            return int(np.sum(all_t0 <= t_end + gap)) or len(passes)
    return None


def evaluate(
    seed: int,
    *,
    labs: int = 25,
    decoys: int = 40,
    sorties: int = 6,
    work_dir: str | Path | None = None,
    match_m: float = MATCH_M,
    vocab: Vocabulary | None = None,
    log: Callable[[str], None] | None = None,
    terrains: tuple[str, ...] = TERRAINS,
) -> dict[str, Any]:
    """Build, fly, ingest and score the scenario of ``seed``; the figures of the module
    docstring as a JSON-ready dict. ``work_dir`` keeps the streams and the data directories
    (``data`` with the DEM, ``data-<terrain>`` for the others; default: a temporary directory,
    removed afterwards). ``terrains``: which of :data:`TERRAINS` ``by_terrain`` scores (the
    DEM always; each other one is one more ingest of the same streams)."""
    unknown = set(terrains) - set(TERRAINS)
    if unknown:
        raise ValueError(f"unknown terrains {sorted(unknown)}; choose from {list(TERRAINS)}")
    vocab = vocab or default_vocabulary()
    say = log or (lambda _msg: None)
    with tempfile.TemporaryDirectory(prefix="vigia-eval-") as tmp:
        root = Path(work_dir) if work_dir is not None else Path(tmp)
        with writing(root, "evaluation"):
            root.mkdir(parents=True, exist_ok=True)
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        world = build_world(seed, labs=labs, decoys=decoys, vocabulary=vocab)
        files = fly_sorties(world, root / "sorties", sorties=sorties, seed=seed)
        timings["fly_s"] = round(time.perf_counter() - t0, 2)
        say(f"flew {len(files)} sorties in {timings['fly_s']} s")
        dem_path = files[0].dem_path if files else world.write_dem(root / "terrain.tif")
        assert dem_path is not None
        options = {
            "dem": TerrainOptions(dem_path=str(dem_path)),
            "stream_elevation": TerrainOptions(use_stream_elevation=True),
            "constant": TerrainOptions(terrain_height_m=world.terrain_height_m),
        }
        by_terrain: dict[str, dict[str, Any]] = {}
        result: dict[str, Any] = {}
        report = None
        for name in ("dem", *(t for t in TERRAINS if t in terrains and t != "dem")):
            t0 = time.perf_counter()
            cat = Catalog(root / ("data" if name == "dem" else f"data-{name}"))
            rep = ingest(
                [f.path for f in files],
                cat,
                aois=world.aois_geojson(),
                terrain=options[name],
                sigmas=SCENARIO_POSE_SIGMAS,
                vocab=vocab,
                chips=False,
            )
            key = "pipeline_s" if name == "dem" else f"pipeline_{name}_s"
            timings[key] = round(time.perf_counter() - t0, 2)
            say(f"ingested with terrain {name} in {timings[key]} s: {rep.sites} sites")
            scored = _score(world, cat, vocab, match_m)
            by_terrain[name] = {k: scored[k] for k in TERRAIN_FIGURES}
            if name == "dem":
                result, report = scored, rep
        assert report is not None
        result.update(
            {
                "seed": seed,
                "labs": labs,
                "decoys": decoys,
                "sorties": sorties,
                "packets": sum(i.packets for i in report.inputs),
                "observations": report.observations,
                "sites": report.sites,
                "terrain_height_m": world.terrain_height_m,
                "by_terrain": by_terrain,
                "timings": timings,
            }
        )
        return result


#: The figures ``by_terrain`` gives per terrain.
TERRAIN_FIGURES = (
    "recall",
    "precision",
    "median_error_m",
    "p90_error_m",
    "lab_offset_median_m",
    "lab_offset_p90_m",
    "candidates",
    "matched",
)


def _lab_offsets_m(world: World, sites: pa.Table) -> np.ndarray:
    """Per laboratory, the distance (m) to its site: of the sites (candidate or not) nearer to
    it than to any other place of the world and within :data:`OFFSET_SEARCH_M`, the one that
    gathered most observations (``OFFSET_SEARCH_M`` when there is none)."""
    is_lab = world.is_lab()
    if not is_lab.any():
        return np.empty(0)
    lat = np.asarray(sites.column("lat").to_numpy(zero_copy_only=False), float)
    lon = np.asarray(sites.column("lon").to_numpy(zero_copy_only=False), float)
    n_obs = np.asarray(sites.column("n_observations").to_numpy(zero_copy_only=False), float)
    d = _dist_m(lat[:, None], lon[:, None], world.column("lat")[None], world.column("lon")[None])
    out = np.full(world.n_objects, OFFSET_SEARCH_M)
    if lat.size:
        owner = np.argmin(d, axis=1)
        dist = d[np.arange(lat.size), owner]
        for k in np.flatnonzero(is_lab):
            mine = np.flatnonzero((owner == k) & (dist <= OFFSET_SEARCH_M))
            if mine.size:
                out[k] = float(dist[mine[np.argmax(n_obs[mine])]])
    return out[is_lab]


def _score(world: World, cat: Catalog, vocab: Vocabulary, match_m: float) -> dict[str, Any]:
    sites_t = cat.sites()
    cand = [s for s in sites_t.to_pylist() if s["candidate"]]
    labs = world.truth()
    matches = match_sites(cand, labs, match_m)
    errors = np.array([m[2] for m in matches])
    obs = cat.observations()
    looks = cat.coverage_passes()
    ptd = []
    for si, _li, _d in matches:
        s = cand[si]
        so = obs.filter(pa.compute.equal(obs.column("site_id"), s["site_id"]))
        k = _passes_to_detection(s, so, looks, vocab)
        if k is not None:
            ptd.append(k)
    kinds = world.objects.column("kind").to_pylist()
    decoys_t = [
        {"lat": a, "lon": b}
        for a, b, k in zip(
            world.objects.column("lat").to_pylist(),
            world.objects.column("lon").to_pylist(),
            kinds,
            strict=True,
        )
        if k != "lab"
    ]
    unmatched = [cand[i] for i in range(len(cand)) if i not in {m[0] for m in matches}]
    on_decoys = len(match_sites(unmatched, decoys_t, match_m))
    n_c = len(cand)
    offsets = _lab_offsets_m(world, sites_t)
    return {
        "recall": round(len(matches) / len(labs), 4) if labs else None,
        "precision": round(len(matches) / n_c, 4) if n_c else None,
        "median_error_m": round(float(np.median(errors)), 2) if errors.size else None,
        "p90_error_m": round(float(np.percentile(errors, 90)), 2) if errors.size else None,
        "median_passes_to_detection": float(np.median(ptd)) if ptd else None,
        "candidates": n_c,
        "matched": len(matches),
        "false_positives_on_decoys": on_decoys,
        "false_positives_elsewhere": n_c - len(matches) - on_decoys,
        "lab_offset_median_m": round(float(np.median(offsets)), 2) if offsets.size else None,
        "lab_offset_p90_m": round(float(np.percentile(offsets, 90)), 2) if offsets.size else None,
        "missed_labs": [
            labs[i]["object_id"] for i in range(len(labs)) if i not in {m[1] for m in matches}
        ],
        "match_m": match_m,
    }
