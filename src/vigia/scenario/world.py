"""The synthetic world of the Vigía scenario: consented AOIs in the hills east of Culiacán and the
places inside them (clandestine laboratories and the farms, ranches and houses that look like
them from the air), deterministic from a seed.

Ground truth for evaluation lives here; what a sortie sees of it is simulated by
:mod:`vigia.scenario.flights`.

Indicator probabilities
-----------------------
Each object has, for every indicator code of the vocabulary, the probability that the indicator
is visible on one pass over it at adequate resolution (``p_<code>``). Decoys get them from
:data:`DECOY_PASS_PROBABILITIES`, laboratories from :data:`LAB_PASS_PROBABILITIES`, chosen so
that the likelihood ratios ``P(seen | lab) / P(seen | not lab)`` of the vocabulary hold on
average for the decoy mix :data:`DECOY_MIX` (see :meth:`World.likelihood_ratios`). The world is
the truth and does not read the ratios: tuning the vocabulary does not change it.

Not every place has every feature: a feature is present with the rate of
:data:`LAB_FEATURE_RATE` / :data:`DECOY_FEATURE_RATE` and its probability is scaled up where
present, which keeps the mean. ``thermal_hotspot_night`` is only seen at night, on IR, on nights
when the place is active (``activity`` is the fraction of nights it is).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from vigia.errors import ScenarioError
from vigia.exploit.vocabulary import Vocabulary, default_vocabulary
from vigia.geo import Dem
from vigia.geo.wgs84 import radii_of_curvature_m
from vigia.scenario.relief import Relief, build_relief
from vigia.times import format_time_us, parse_time_us

__all__ = [
    "DECOY_KINDS",
    "DECOY_MIX",
    "DECOY_PASS_PROBABILITIES",
    "KINDS",
    "LAB_PASS_PROBABILITIES",
    "AoiSpec",
    "ScenarioError",
    "World",
    "build_world",
    "lab_pass_probabilities",
]


KINDS: Final = ("lab", "farm", "ranch", "building")
DECOY_KINDS: Final = ("farm", "ranch", "building")
#: Share of each decoy kind among the decoys.
DECOY_MIX: Final = {"farm": 0.4, "ranch": 0.3, "building": 0.3}

#: Mean per-pass probability that a decoy shows each indicator (looked at adequately, right
#: sensor; thermal: on an active night). Farms: fields, agricultural drums, sheds, pickups;
#: ranches: corrals and sheds, vehicles, cooking fires; houses: heat and lights at night.
DECOY_PASS_PROBABILITIES: Final[Mapping[str, Mapping[str, float]]] = {
    "farm": {
        "tarp_structure": 0.10,
        "chemical_containers": 0.20,
        "remote_vehicle_cluster": 0.12,
        "thermal_hotspot_night": 0.05,
        "vegetation_clearing": 0.40,
        "improvised_structure": 0.25,
        "burn_waste_pit": 0.10,
    },
    "ranch": {
        "tarp_structure": 0.08,
        "chemical_containers": 0.06,
        "remote_vehicle_cluster": 0.25,
        "thermal_hotspot_night": 0.20,
        "vegetation_clearing": 0.15,
        "improvised_structure": 0.30,
        "burn_waste_pit": 0.12,
    },
    "building": {
        "tarp_structure": 0.04,
        "chemical_containers": 0.04,
        "remote_vehicle_cluster": 0.15,
        "thermal_hotspot_night": 0.25,
        "vegetation_clearing": 0.04,
        "improvised_structure": 0.20,
        "burn_waste_pit": 0.04,
    },
}
#: Mean per-pass probability that a laboratory shows each indicator (thermal: on an active
#: night). Chosen as likelihood ratio x mean decoy probability with the ratios of vocabulary
#: 2026.1 (tarp 6, drums 4, vehicles 2, thermal 5, clearing 1.8, improvised 2, pit 4) and the
#: decoy mix above; thermal also divided by the mean activity of laboratories (0.643).
LAB_PASS_PROBABILITIES: Final[Mapping[str, float]] = {
    "tarp_structure": 0.456,
    "chemical_containers": 0.44,
    "remote_vehicle_cluster": 0.336,
    "thermal_hotspot_night": 0.796,
    "vegetation_clearing": 0.3906,
    "improvised_structure": 0.5,
    "burn_waste_pit": 0.352,
}
DEFAULT_LAB_PASS_PROBABILITY: Final = 0.3
#: Fraction of laboratories that have each feature at all (the rest never show it).
LAB_FEATURE_RATE: Final = {
    "tarp_structure": 0.85,
    "chemical_containers": 0.85,
    "remote_vehicle_cluster": 0.7,
    "thermal_hotspot_night": 0.95,
    "vegetation_clearing": 0.8,
    "improvised_structure": 0.7,
    "burn_waste_pit": 0.75,
}
#: Fraction of decoys that have a given feature at all.
DECOY_FEATURE_RATE: Final = 0.6
#: Cap of a per-pass probability.
MAX_PASS_PROBABILITY: Final = 0.95
#: Fraction of nights active: (low, high) of a uniform draw, per kind; dormant laboratories.
ACTIVITY_RANGE: Final = {
    "lab": (0.5, 0.95),
    "farm": (0.1, 0.4),
    "ranch": (0.6, 0.9),
    "building": (0.5, 0.9),
}
DORMANT_LAB_RATE: Final = 0.12
DORMANT_ACTIVITY_RANGE: Final = (0.0, 0.1)
#: Default feature rate for an indicator code not listed above (a custom vocabulary).
_DEFAULT_RATE: Final = 0.8
#: Feature offsets from the object's centre: one-sigma east/north (m), capped.
FEATURE_OFFSET_SIGMA_M: Final = 6.0
FEATURE_OFFSET_MAX_M: Final = 15.0

#: Minimum distance between two objects (m).
MIN_SEPARATION_M: Final = 300.0
#: Objects keep this far inside their AOI's search box (m).
BOX_MARGIN_M: Final = 150.0
#: A consented AOI extends this far beyond its search box, so that frames aimed at the box stay
#: inside consent (m).
AOI_BUFFER_M: Final = 900.0
#: Local midnight (MST, UTC-7) of the first day of the campaign.
CAMPAIGN_START: Final = "2026-03-02T00:00:00-07:00"
CAMPAIGN_DAYS: Final = 14


@dataclass(frozen=True)
class AoiSpec:
    """A consented area: a search box (where objects are and sensors aim) and its polygon.

    ``center_lat``/``center_lon`` (deg) and ``half_east_m``/``half_north_m`` (m) define the
    search box; the consented polygon is the box grown by :data:`AOI_BUFFER_M`.
    """

    name: str
    authority: str
    reference: str
    center_lat: float
    center_lon: float
    half_east_m: float
    half_north_m: float
    consent_from: str
    consent_until: str

    def box_local_m(self, origin: tuple[float, float]) -> tuple[float, float, float, float]:
        """Search box in local metres about ``origin``: (east0, north0, east1, north1)."""
        e, n = to_local_m(self.center_lat, self.center_lon, origin)
        return (
            float(e) - self.half_east_m,
            float(n) - self.half_north_m,
            float(e) + self.half_east_m,
            float(n) + self.half_north_m,
        )

    def polygon_lonlat(self) -> list[list[float]]:
        """Closed ring of the consented polygon, [lon, lat] pairs (GeoJSON order)."""
        origin = (self.center_lat, self.center_lon)
        he = self.half_east_m + AOI_BUFFER_M
        hn = self.half_north_m + AOI_BUFFER_M
        cut = 0.2 * min(he, hn)  # one clipped corner: areas are not drawn with a ruler
        e = np.array([-he, he, he, he - cut, -he, -he])
        n = np.array([-hn, -hn, hn - cut, hn, hn, -hn])
        lat, lon = from_local_m(e, n, origin)
        return [[round(float(a), 7), round(float(b), 7)] for a, b in zip(lon, lat, strict=True)]


def to_local_m(
    lat: npt.ArrayLike, lon: npt.ArrayLike, origin: tuple[float, float]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """East and north (m) of points (deg) on a local plane about ``origin`` (lat, lon deg).

    An equirectangular plane with the radii of curvature at the origin: within 30 km its
    distances are right to better than 0.1 %, plenty for laying out a world.
    """
    m, n = radii_of_curvature_m(origin[0])
    lat_a = np.asarray(lat, np.float64)
    lon_a = np.asarray(lon, np.float64)
    north = np.radians(lat_a - origin[0]) * m
    east = np.radians(lon_a - origin[1]) * n * math.cos(math.radians(origin[0]))
    return east, north


def from_local_m(
    east: npt.ArrayLike, north: npt.ArrayLike, origin: tuple[float, float]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Latitude and longitude (deg) of local east/north metres about ``origin``."""
    m, n = radii_of_curvature_m(origin[0])
    lat = origin[0] + np.degrees(np.asarray(north, np.float64) / m)
    lon = origin[1] + np.degrees(
        np.asarray(east, np.float64) / (n * math.cos(math.radians(origin[0])))
    )
    return lat, lon


def default_aois() -> tuple[AoiSpec, ...]:
    """The three consented areas of the scenario, in the hills north-east and east of Culiacán
    (well outside the city, whose eastern edge is near -107.36)."""
    common = {
        "consent_from": "2026-02-01T00:00:00-07:00",
        "consent_until": "2026-05-01T00:00:00-07:00",
    }
    return (
        AoiSpec(
            "Tepuche – lomas del sur",
            "SEDENA",
            "SCN-SEDENA-2026-031",
            24.912,
            -107.333,
            2300.0,
            2000.0,
            **common,
        ),
        AoiSpec(
            "Imala – valle del Tamazula",
            "FGR",
            "SCN-FGR-2026-007",
            24.866,
            -107.245,
            2000.0,
            2300.0,
            **common,
        ),
        AoiSpec(
            "Sanalona – poniente",
            "Gobierno de Sinaloa",
            "SCN-SIN-2026-012",
            24.800,
            -107.276,
            2000.0,
            1800.0,
            **common,
        ),
    )


def lab_pass_probabilities(vocabulary: Vocabulary | None = None) -> dict[str, float]:
    """Mean per-pass probability that a laboratory shows each indicator of the vocabulary
    (thermal: on an active night); :data:`DEFAULT_LAB_PASS_PROBABILITY` for codes the scenario
    does not know."""
    voc = default_vocabulary() if vocabulary is None else vocabulary
    return {c: LAB_PASS_PROBABILITIES.get(c, DEFAULT_LAB_PASS_PROBABILITY) for c in voc.codes}


@dataclass(frozen=True)
class World:
    """The scenario's ground truth.

    ``objects`` columns: ``object_id`` (str), ``kind`` ('lab', 'farm', 'ranch', 'building'),
    ``aoi`` (name), ``lat``/``lon`` (deg), ``h_m`` (m HAE), ``activity`` (fraction of nights
    active), ``dormant`` (bool, laboratories only), then per indicator code ``p_<code>`` (per-pass
    probability, see the module docstring) and ``<code>_east_m``/``<code>_north_m`` (where on
    the site the feature is, metres from the object's position).
    """

    seed: int
    terrain_height_m: float
    """Mean ground height over the AOIs' search boxes (m HAE): the constant height a pipeline
    without a DEM or a stream elevation would be told."""
    origin_lat: float
    origin_lon: float
    campaign_start_us: int
    """Local midnight of the campaign's first day (µs since 1970, UTC)."""
    campaign_days: int
    aois: tuple[AoiSpec, ...]
    objects: pa.Table
    indicator_codes: tuple[str, ...]
    relief: Relief
    """The hills and valleys (:mod:`vigia.scenario.relief`); objects sit on them."""

    def dem(self) -> Dem:
        """The world's ground as a :class:`vigia.geo.Dem` (in memory), the truth of every line
        of sight of the scenario."""
        return self.relief.dem()

    def write_dem(self, path: str | Path) -> Path:
        """Write the world's ground as a DEM GeoTIFF (EPSG:4326, float32 metres above mean sea
        level, covering the AOIs with a wide margin) for ``--dem``; returns the path."""
        return self.relief.write_dem(path)

    def ground_height_m(self, lat: npt.ArrayLike, lon: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Ground height above the WGS84 ellipsoid (m) at (lat, lon) deg."""
        return self.relief.ellipsoid_height_m(lat, lon)

    @property
    def origin(self) -> tuple[float, float]:
        """(lat, lon) of the local metric plane's origin (deg)."""
        return (self.origin_lat, self.origin_lon)

    @property
    def n_objects(self) -> int:
        """Number of objects (laboratories and decoys)."""
        return int(self.objects.num_rows)

    def column(self, name: str) -> np.ndarray:
        """One column of :attr:`objects` as a NumPy array."""
        return self.objects.column(name).to_numpy(zero_copy_only=False)

    def is_lab(self) -> npt.NDArray[np.bool_]:
        """Boolean mask of the laboratories."""
        return np.asarray(self.column("kind") == "lab", bool)

    def probabilities(self) -> npt.NDArray[np.float64]:
        """(n_objects, n_indicators) per-pass probabilities in :attr:`indicator_codes` order."""
        return np.stack([self.column(f"p_{c}") for c in self.indicator_codes], axis=1).astype(
            np.float64
        )

    def feature_offsets_m(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """(n_objects, n_indicators) east and north offsets (m) of each feature."""
        e = np.stack([self.column(f"{c}_east_m") for c in self.indicator_codes], axis=1)
        n = np.stack([self.column(f"{c}_north_m") for c in self.indicator_codes], axis=1)
        return e.astype(np.float64), n.astype(np.float64)

    def likelihood_ratios(self) -> dict[str, float]:
        """Per indicator, mean P(seen on a pass | lab) / mean P(seen | decoy) of this world
        (thermal weighted by activity): to compare with the vocabulary's."""
        lab = self.is_lab()
        act = self.column("activity").astype(float)
        voc = default_vocabulary()
        out: dict[str, float] = {}
        for code in self.indicator_codes:
            p = self.column(f"p_{code}").astype(float)
            if code in voc and voc[code].night_only:
                p = p * act
            num = float(p[lab].mean()) if lab.any() else math.nan
            den = float(p[~lab].mean()) if (~lab).any() else math.nan
            out[code] = num / den if den > 0 else math.inf
        return out

    def aois_geojson(self) -> dict[str, Any]:
        """The consented AOIs as a GeoJSON FeatureCollection for
        :func:`vigia.coverage.consent.load_aois`."""
        feats = []
        for a in self.aois:
            feats.append(
                {
                    "type": "Feature",
                    "properties": {
                        "name": a.name,
                        "authority": a.authority,
                        "state": "consented",
                        "consent_from": a.consent_from,
                        "consent_until": a.consent_until,
                        "reference": a.reference,
                    },
                    "geometry": {"type": "Polygon", "coordinates": [a.polygon_lonlat()]},
                }
            )
        return {
            "type": "FeatureCollection",
            "name": f"Vigía scenario AOIs — Culiacán oriente (synthetic, seed {self.seed})",
            "features": feats,
        }

    def truth(self) -> list[dict[str, Any]]:
        """The laboratories, for evaluation: id, position, AOI, activity, dormancy and the
        indicators they can show (per-pass probabilities above zero)."""
        rows = self.objects.to_pylist()
        out = []
        for r in rows:
            if r["kind"] != "lab":
                continue
            out.append(
                {
                    "object_id": r["object_id"],
                    "lat": r["lat"],
                    "lon": r["lon"],
                    "h_m": r["h_m"],
                    "aoi": r["aoi"],
                    "activity": r["activity"],
                    "dormant": r["dormant"],
                    "indicators": {
                        c: round(r[f"p_{c}"], 4) for c in self.indicator_codes if r[f"p_{c}"] > 0
                    },
                }
            )
        return out

    def to_json(self, *, indent: int | None = 1) -> str:
        """The whole world as JSON: parameters, AOIs, every object, and the laboratories."""
        doc = {
            "seed": self.seed,
            "terrain_height_m": self.terrain_height_m,
            "relief": asdict(self.relief),
            "origin": {"lat": self.origin_lat, "lon": self.origin_lon},
            "campaign_start": format_time_us(self.campaign_start_us),
            "campaign_days": self.campaign_days,
            "indicator_codes": list(self.indicator_codes),
            "aois": self.aois_geojson(),
            "objects": self.objects.to_pylist(),
            "labs": self.truth(),
        }
        return json.dumps(doc, indent=indent, ensure_ascii=False)


def _place(
    rng: np.random.Generator,
    boxes: list[tuple[float, float, float, float]],
    counts: list[int],
    min_sep_m: float,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Dart throwing: ``counts[j]`` points in box ``j``, all pairs at least ``min_sep_m`` apart."""
    pts_e: list[float] = []
    pts_n: list[float] = []
    box_of: list[int] = []
    for j, (box, count) in enumerate(zip(boxes, counts, strict=True)):
        e0, n0, e1, n1 = box
        placed = 0
        for _ in range(200):  # batches of candidates
            if placed == count:
                break
            cand_e = rng.uniform(e0 + BOX_MARGIN_M, e1 - BOX_MARGIN_M, 64)
            cand_n = rng.uniform(n0 + BOX_MARGIN_M, n1 - BOX_MARGIN_M, 64)
            for ce, cn in zip(cand_e, cand_n, strict=True):
                if placed == count:
                    break
                if pts_e:
                    d2 = (np.asarray(pts_e) - ce) ** 2 + (np.asarray(pts_n) - cn) ** 2
                    if d2.min() < min_sep_m * min_sep_m:
                        continue
                pts_e.append(float(ce))
                pts_n.append(float(cn))
                box_of.append(j)
                placed += 1
        if placed < count:
            raise ScenarioError(
                f"cannot place {count} objects {min_sep_m:g} m apart in AOI #{j} "
                f"(placed {placed}); ask for fewer objects"
            )
    return np.asarray(pts_e), np.asarray(pts_n), np.asarray(box_of, np.int64)


def build_world(
    seed: int,
    labs: int = 25,
    decoys: int = 40,
    *,
    vocabulary: Vocabulary | None = None,
) -> World:
    """Build the scenario world: 3 consented AOIs east of Culiacán over hills and valleys
    (:func:`vigia.scenario.relief.build_relief`), ``labs`` laboratories and ``decoys`` decoys
    (farms, ranches, buildings in the :data:`DECOY_MIX` shares) on the ground, placed at least
    :data:`MIN_SEPARATION_M` apart inside the AOIs' search boxes. Deterministic: the same
    arguments give the same world."""
    if labs < 0 or decoys < 0:
        raise ScenarioError("labs and decoys must not be negative")
    voc = default_vocabulary() if vocabulary is None else vocabulary
    codes = voc.codes
    rng = np.random.default_rng([seed, 0x5747])
    aois = default_aois()
    origin = (
        float(np.mean([a.center_lat for a in aois])),
        float(np.mean([a.center_lon for a in aois])),
    )
    boxes = [a.box_local_m(origin) for a in aois]

    # Kinds, shuffled so that ids say nothing about kinds.
    n_farm = round(decoys * DECOY_MIX["farm"])
    n_ranch = round(decoys * DECOY_MIX["ranch"])
    n_building = decoys - n_farm - n_ranch
    kinds = np.array(
        ["lab"] * labs + ["farm"] * n_farm + ["ranch"] * n_ranch + ["building"] * n_building,
        dtype=object,
    )
    n = kinds.size
    kinds = kinds[rng.permutation(n)]

    # Objects per AOI in proportion to the search areas.
    areas = np.array([(b[2] - b[0]) * (b[3] - b[1]) for b in boxes])
    share = areas / areas.sum() * n
    counts = np.floor(share).astype(int)
    for j in np.argsort(-(share - counts))[: n - counts.sum()]:
        counts[j] += 1
    east, north, box_of = _place(rng, boxes, counts.tolist(), MIN_SEPARATION_M)
    lat, lon = from_local_m(east, north, origin)
    relief = build_relief(seed, origin, boxes)
    ground = relief.ellipsoid_height_m(lat, lon)

    # Activity.
    is_lab = kinds == "lab"
    activity = np.zeros(n)
    for kind, (lo, hi) in ACTIVITY_RANGE.items():
        sel = kinds == kind
        activity[sel] = rng.uniform(lo, hi, int(sel.sum()))
    dormant = is_lab & (rng.random(n) < DORMANT_LAB_RATE)
    activity[dormant] = rng.uniform(*DORMANT_ACTIVITY_RANGE, int(dormant.sum()))

    # Per-pass probabilities.
    lab_mean = lab_pass_probabilities(voc)
    cols: dict[str, Any] = {
        "object_id": [f"OBJ-{i + 1:03d}" for i in range(n)],
        "kind": kinds.tolist(),
        "aoi": [aois[j].name for j in box_of],
        "lat": lat,
        "lon": lon,
        "h_m": ground,
        "activity": activity,
        "dormant": dormant,
    }
    draws = rng.random((n, len(codes)))
    for i, code in enumerate(codes):
        p = np.zeros(n)
        lab_rate = LAB_FEATURE_RATE.get(code, _DEFAULT_RATE)
        has_lab = is_lab & (draws[:, i] < lab_rate)
        p[has_lab] = min(MAX_PASS_PROBABILITY, lab_mean[code] / lab_rate)
        for kind in DECOY_KINDS:
            base = DECOY_PASS_PROBABILITIES[kind].get(code, 0.05)
            has = (kinds == kind) & (draws[:, i] < DECOY_FEATURE_RATE)
            p[has] = min(MAX_PASS_PROBABILITY, base / DECOY_FEATURE_RATE)
        cols[f"p_{code}"] = p
    off = rng.normal(0.0, FEATURE_OFFSET_SIGMA_M, (n, len(codes), 2))
    norm = np.hypot(off[..., 0], off[..., 1])
    off *= np.minimum(1.0, FEATURE_OFFSET_MAX_M / np.maximum(norm, 1e-9))[..., None]
    for i, code in enumerate(codes):
        cols[f"{code}_east_m"] = off[:, i, 0]
        cols[f"{code}_north_m"] = off[:, i, 1]
    return World(
        seed=int(seed),
        terrain_height_m=_mean_ground_m(relief, boxes, origin),
        origin_lat=origin[0],
        origin_lon=origin[1],
        campaign_start_us=parse_time_us(CAMPAIGN_START, "campaign start"),
        campaign_days=CAMPAIGN_DAYS,
        aois=aois,
        objects=pa.table(cols),
        indicator_codes=codes,
        relief=relief,
    )


def _mean_ground_m(
    relief: Relief, boxes: list[tuple[float, float, float, float]], origin: tuple[float, float]
) -> float:
    """Mean ground height (m HAE) over the search boxes, area-weighted, to the decimetre."""
    hs, ws = [], []
    for e0, n0, e1, n1 in boxes:
        e, n = np.meshgrid(np.linspace(e0, e1, 41), np.linspace(n0, n1, 41))
        lat, lon = from_local_m(e, n, origin)
        hs.append(float(np.mean(relief.ellipsoid_height_m(lat, lon))))
        ws.append((e1 - e0) * (n1 - n0))
    return round(float(np.average(hs, weights=ws)), 1)
