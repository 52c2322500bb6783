"""Sortie planner: checked independently (coverage rebuilt from lanes and swaths with shapely)."""

from __future__ import annotations

import copy
import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from h3.api import numpy_int as h3n
from pyproj import Transformer

from vigia.coverage import demo_aois_path, load_aois
from vigia.coverage.solar import solar_elevation_deg
from vigia.errors import ConsentError
from vigia.plan import (
    PlanError,
    available_platforms,
    demo_plan_aois_path,
    load_planning_aois,
    load_platform,
    parse_base,
    plan_sortie,
)
from vigia.times import parse_time_us

BASE = (24.7645, -107.4747)  # Culiacán
START = "2026-05-10T06:00:00-07:00"  # daylight in Sinaloa
T_START = parse_time_us(START, "t")
H_US = 3_600_000_000
SQUARE = [[[-107.5, 24.7], [-107.4, 24.7], [-107.4, 24.8], [-107.5, 24.8], [-107.5, 24.7]]]


def feature(name: str, coords: Any = None, **props: Any) -> dict[str, Any]:
    base = {
        "name": name,
        "authority": "SEDENA",
        "consent_from": "2026-01-01T00:00:00-07:00",
        "consent_until": "2026-12-31T00:00:00-07:00",
    }
    base.update(props)
    return {
        "type": "Feature",
        "properties": {k: v for k, v in base.items() if v is not None},
        "geometry": {"type": "Polygon", "coordinates": SQUARE if coords is None else coords},
    }


def collection(*feats: dict[str, Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(feats)}


def left_out(plan: Any) -> dict[str, dict[str, Any]]:
    return {lo["aoi"]: lo for lo in plan.summary()["left_out"]}


def laea(lat0: float, lon0: float) -> Transformer:
    return Transformer.from_crs(
        "EPSG:4326", f"+proj=laea +lat_0={lat0} +lon_0={lon0} +ellps=WGS84 +units=m", always_xy=True
    )


def project(geom: Any, tr: Transformer) -> Any:
    return shapely.transform(geom, lambda a: np.column_stack(tr.transform(a[:, 0], a[:, 1])))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str, Any], Path]:
    plan = plan_sortie(demo_aois_path(), BASE, START, "mq9")
    out = tmp_path_factory.mktemp("plan") / "plan.geojson"
    plan.write_geojson(out)
    return plan, json.loads(out.read_text(encoding="utf-8")), out


# --- platform -----------------------------------------------------------------------------------
def test_mq9_profile_and_swath_formula() -> None:
    p = load_platform("mq9")
    assert "mq9" in available_platforms()
    assert p.cruise_tas_kt == pytest.approx(170)
    assert p.endurance_h == pytest.approx(24)
    assert 6000 <= p.altitude_m <= 8000
    s = p.sensor_setting("EO", target_gsd_m=1.0)
    theta = math.radians(p.depression_deg)
    r = p.altitude_m / math.sin(theta)
    hfov = math.radians(s.hfov_deg)
    assert r * hfov / p.sensors["EO"].width_px / math.sqrt(math.sin(theta)) == pytest.approx(1.0)
    assert s.swath_m == pytest.approx(2 * r * math.tan(hfov / 2))
    assert s.meets_target
    # higher ground: closer, so a wider field of view for the same GSD (and about the same
    # swath: width_px pixels of about one GSD each)
    hi = p.sensor_setting("EO", 1.0, ground_elevation_m=2000)
    assert hi.hfov_deg > s.hfov_deg and hi.gsd_m == pytest.approx(1.0)
    assert hi.swath_m == pytest.approx(s.swath_m, rel=0.02)
    # finer than the sensor can reach from this height: reported, not hidden
    assert not p.sensor_setting("EO", 0.01).meets_target


def test_platform_from_file_and_bad_profiles(tmp_path: Path) -> None:
    doc = json.loads(json.dumps(load_platform().__dict__, default=lambda o: o.__dict__))
    doc["name"] = "slow"
    doc["cruise_tas_kt"] = 90.0
    f = tmp_path / "slow.json"
    f.write_text(json.dumps(doc))
    assert load_platform(f).tas_mps == pytest.approx(90 * 1852 / 3600)
    bad = dict(doc, endurance_h=-1)
    with pytest.raises(PlanError, match="endurance_h"):
        load_platform(bad)
    with pytest.raises(PlanError, match="unknown platform"):
        load_platform("no-such-aircraft")


# --- the demo plan, checked independently --------------------------------------------------------
def test_demo_plan_geojson_shape(demo: tuple[Any, dict[str, Any], Path]) -> None:
    _plan, doc, _ = demo
    kinds = {f["properties"]["kind"] for f in doc["features"]}
    assert kinds <= {"transit", "lane", "orbit"} and {"transit", "lane"} <= kinds
    for f in doc["features"]:
        assert f["geometry"]["type"] == "LineString"
        if f["properties"]["kind"] == "lane":
            assert f["properties"]["swath_m"] > 0
    s = doc["vigia_plan"]
    for key in ("coverage_fraction", "endurance_fraction", "duration_h", "left_out"):
        assert key in s


def test_demo_plan_coverage_recomputed_with_shapely(demo: tuple[Any, dict[str, Any], Path]) -> None:
    plan, doc, _ = demo
    reg = load_aois(demo_aois_path())
    consented = shapely.union_all([a.geometry for a in reg if a.active(T_START)])
    c = consented.centroid
    tr = laea(c.y, c.x)
    swaths = [
        shapely.buffer(
            project(shapely.linestrings(f["geometry"]["coordinates"]), tr),
            f["properties"]["swath_m"] / 2,
            cap_style="flat",
        )
        for f in doc["features"]
        if f["properties"]["kind"] == "lane"
    ]
    area = project(shapely.segmentize(consented, 0.005), tr)
    fraction = shapely.union_all(swaths).intersection(area).area / area.area
    assert fraction >= 0.95
    assert fraction == pytest.approx(doc["vigia_plan"]["coverage_fraction"], abs=0.01)
    assert plan.coverage_fraction >= 0.95


def test_no_lane_or_swath_outside_consented_area(demo: tuple[Any, dict[str, Any], Path]) -> None:
    _plan, doc, _ = demo
    reg = load_aois(demo_aois_path())
    lanes = [f for f in doc["features"] if f["properties"]["kind"] == "lane"]
    assert lanes
    for f in lanes:
        aoi = reg[f["properties"]["aoi"]]
        line = shapely.linestrings(f["geometry"]["coordinates"])
        assert aoi.geometry.buffer(1e-7).covers(line), f["properties"]
        # the swath too, in metres, with 1 m of tolerance
        c = aoi.geometry.centroid
        tr = laea(c.y, c.x)
        swath = shapely.buffer(project(line, tr), f["properties"]["swath_m"] / 2, cap_style="flat")
        assert project(shapely.segmentize(aoi.geometry, 0.005), tr).buffer(1.0).covers(swath)
        # and at the planned times, through the consent rule itself
        xy = np.asarray(f["geometry"]["coordinates"])
        t0 = parse_time_us(f["properties"]["start"], "s")
        t1 = parse_time_us(f["properties"]["end"], "e")
        for t in (t0, t1 - 1):
            assert reg.is_consented(xy[:, 1], xy[:, 0], np.full(len(xy), t)).all()


def test_demo_plan_respects_endurance_and_time_order(
    demo: tuple[Any, dict[str, Any], Path],
) -> None:
    _plan, doc, _ = demo
    p = load_platform()
    s = doc["vigia_plan"]
    assert 0 < s["endurance_fraction"] <= 1
    assert s["duration_h"] <= p.endurance_h - p.reserve_h
    prev = T_START
    for f in doc["features"]:
        t0 = parse_time_us(f["properties"]["start"], "s")
        t1 = parse_time_us(f["properties"]["end"], "e")
        assert prev - 1 <= t0 <= t1
        prev = t1
    assert (prev - T_START) / H_US == pytest.approx(s["duration_h"], abs=1e-3)
    legs = [f for f in doc["features"] if f["properties"]["kind"] == "transit"]
    assert legs[0]["properties"]["from"] == "base" and legs[-1]["properties"]["to"] == "base"
    first = legs[0]["geometry"]["coordinates"][0]
    assert first == pytest.approx([BASE[1], BASE[0]], abs=1e-6)
    # time = distance / TAS on every transit leg
    for f in legs:
        dt_s = (
            parse_time_us(f["properties"]["end"], "e")
            - parse_time_us(f["properties"]["start"], "s")
        ) / 1e6
        assert f["properties"]["distance_km"] * 1000 / p.tas_mps == pytest.approx(dt_s, abs=1.0)


def test_demo_plan_left_out_and_cells(demo: tuple[Any, dict[str, Any], Path]) -> None:
    plan, _doc, _ = demo
    lo = left_out(plan)
    assert set(lo) == {"Cosalá – San José de las Bocas"}
    assert lo["Cosalá – San José de las Bocas"]["code"] == "expired"
    assert "Cosalá" in lo["Cosalá – San José de las Bocas"]["message"]
    planned = {p.aoi.name for p in plan.planned}
    assert planned == {"Culiacán – Tepuche", "Sierra de Badiraguato", "Jesús María – Culiacancito"}
    # predicted cells: centres inside the consented AOIs, about the covered area
    cells = plan.cells_table().column("cell").to_numpy()
    assert cells.size == plan.summary()["cells"] > 0
    reg = load_aois(demo_aois_path())
    sample = cells[:: max(1, cells.size // 500)]
    ll = np.array([h3n.cell_to_latlng(c) for c in sample])
    assert reg.is_consented(ll[:, 0], ll[:, 1], np.full(len(ll), T_START)).all()
    km2 = cells.size * h3n.cell_area(cells[0], "km^2")
    assert km2 == pytest.approx(plan.covered_area_km2, rel=0.03)


def test_kml_output(demo: tuple[Any, dict[str, Any], Path], tmp_path: Path) -> None:
    plan, doc, _ = demo
    out = tmp_path / "plan.kml"
    plan.write_kml(out)
    root = ET.parse(out).getroot()
    ns = {"k": "http://www.opengis.net/kml/2.2"}
    assert len(root.findall(".//k:Placemark", ns)) == len(doc["features"])
    folders = {f.findtext("k:name", namespaces=ns) for f in root.findall(".//k:Folder", ns)}
    assert folders == {"transit", "lane"}


# --- consent states -----------------------------------------------------------------------------
def test_revocation_takes_effect_at_once() -> None:
    reg = load_planning_aois(demo_aois_path())
    name = "Culiacán – Tepuche"
    revoked = reg.revoke(name, T_START - H_US)
    plan = plan_sortie(revoked, BASE, START)
    lo = left_out(plan)[name]
    assert lo["code"] == "revoked" and name in lo["message"]
    assert name not in {p.aoi.name for p in plan.planned}
    # the same rule withholds what is seen there afterwards
    c = reg[name].aoi.geometry.representative_point()
    assert reg.consent.is_consented([c.y], [c.x], [T_START])[0]
    assert not revoked.consent.is_consented([c.y], [c.x], [T_START])[0]
    # revoked while the sortie flies, before the area could be finished: left out
    mid = reg.revoke(name, T_START + H_US)
    lo = left_out(plan_sortie(mid, BASE, START))[name]
    assert lo["code"] == "window" and "closes" in lo["reason"]
    # the registry written back keeps the revocation for every later stage
    again = load_planning_aois(revoked.to_geojson())
    assert again[name].aoi.status_at(T_START) == "revoked"


def test_nominated_expired_and_pending_are_left_out_with_reasons() -> None:
    doc = collection(
        feature("Propuesta", state="nominated"),
        feature("Vencida", consent_until="2026-02-01T00:00:00-07:00"),
        feature("Futura", consent_from="2026-07-01T00:00:00-07:00"),
        feature(
            "Buena",
            coords=[
                [[-107.3, 24.9], [-107.25, 24.9], [-107.25, 24.95], [-107.3, 24.95], [-107.3, 24.9]]
            ],
        ),
    )
    plan = plan_sortie(doc, BASE, START)
    lo = left_out(plan)
    assert lo["Propuesta"]["code"] == "nominated"
    assert lo["Vencida"]["code"] == "expired" and "expired" in lo["Vencida"]["message"]
    assert lo["Futura"]["code"] == "pending" and "opens" in lo["Futura"]["reason"]
    assert [p.aoi.name for p in plan.planned] == ["Buena"]


def test_bad_input_named_and_rest_still_planned() -> None:
    bowtie = [[[-107.5, 24.7], [-107.4, 24.8], [-107.4, 24.7], [-107.52, 24.83], [-107.5, 24.7]]]
    doc = collection(
        feature("Lazo", coords=bowtie),
        feature("Vacía", coords=[]),
        feature(
            "Al revés", consent_from="2026-06-01T00:00:00Z", consent_until="2026-05-01T00:00:00Z"
        ),
        feature("Buena"),
    )
    reg = load_planning_aois(doc)
    msgs = {p.name: p.message for p in reg.problems}
    assert "Self-intersection" in msgs["Lazo"] and "Lazo" in msgs["Lazo"]
    assert "Vacía" in msgs["Vacía"]
    assert "consent_until is not after consent_from" in msgs["Al revés"]
    plan = plan_sortie(doc, BASE, START)
    lo = left_out(plan)
    assert {lo[n]["code"] for n in ("Lazo", "Vacía", "Al revés")} == {"invalid"}
    assert [p.aoi.name for p in plan.planned] == ["Buena"]
    assert plan.coverage_fraction >= 0.95
    with pytest.raises(ConsentError):
        load_planning_aois({"type": "Feature"})


def test_bad_planning_properties_are_named() -> None:
    doc = collection(feature("Rara", priority=0), feature("Otra", sensor="radar"), feature("Buena"))
    reg = load_planning_aois(doc)
    msgs = {p.name: p.message for p in reg.problems}
    assert "priority" in msgs["Rara"] and "sensor" in msgs["Otra"]
    assert [a.name for a in reg] == ["Buena"]


def test_start_outside_every_window() -> None:
    plan = plan_sortie(demo_aois_path(), BASE, "2027-03-01T06:00:00-07:00")
    lo = left_out(plan)
    assert set(lo) == {a.name for a in load_aois(demo_aois_path())}
    assert all(v["code"] in ("expired", "revoked") for v in lo.values())
    assert not plan.planned and plan.coverage_fraction == 0.0
    assert plan.summary()["warnings"] and plan.duration_h == 0.0
    early = plan_sortie(demo_aois_path(), BASE, "2025-06-01T06:00:00-07:00")
    assert all(v["code"] == "pending" for v in left_out(early).values())


def test_beyond_reach_and_endurance() -> None:
    far = [[[-89.7, 20.9], [-89.6, 20.9], [-89.6, 21.0], [-89.7, 21.0], [-89.7, 20.9]]]  # Yucatán
    short = dict(load_platform().__dict__)
    short["sensors"] = {k: v.__dict__ for k, v in short["sensors"].items()}
    short.update(name="short", endurance_h=5.0, reserve_h=0.5)
    doc = copy.deepcopy(json.loads(demo_aois_path().read_text(encoding="utf-8")))
    doc["features"].append(feature("Lejana", coords=far))
    plan = plan_sortie(doc, BASE, START, short)
    lo = left_out(plan)
    assert lo["Lejana"]["code"] == "reach" and "beyond reach" in lo["Lejana"]["reason"]
    assert plan.duration_h <= 4.5 + 1e-6 and plan.endurance_fraction <= 1
    assert plan.planned and any(v["code"] == "endurance" for v in lo.values())


def test_window_closing_before_collection_ends() -> None:
    doc = collection(feature("Breve", consent_until="2026-05-10T06:05:00-07:00"))
    lo = left_out(plan_sortie(doc, BASE, START))["Breve"]
    assert lo["code"] == "window" and "closes" in lo["reason"] and "Breve" in lo["message"]


def test_priority_first_when_endurance_is_short() -> None:
    a = [[[-107.45, 24.9], [-107.40, 24.9], [-107.40, 24.95], [-107.45, 24.95], [-107.45, 24.9]]]
    b = [[[-107.35, 24.9], [-107.30, 24.9], [-107.30, 24.95], [-107.35, 24.95], [-107.35, 24.9]]]
    short = dict(load_platform().__dict__)
    short["sensors"] = {k: v.__dict__ for k, v in short["sensors"].items()}
    two = collection(feature("Baja", a, priority=3), feature("Alta", b, priority=1))
    both = plan_sortie(two, BASE, START).duration_h
    alone = plan_sortie(collection(feature("Alta", b, priority=1)), BASE, START).duration_h
    assert alone < both
    short.update(name="short", endurance_h=(alone + both) / 2 + 0.05, reserve_h=0.05)
    plan = plan_sortie(two, BASE, START, short)
    assert [p.aoi.name for p in plan.planned] == ["Alta"]
    assert left_out(plan)["Baja"]["code"] == "endurance"


def test_light_rules_and_stare_orbit() -> None:
    plan = plan_sortie(demo_plan_aois_path(), BASE, START)  # 06:00 local: daylight
    lo = left_out(plan)
    assert lo["Culiacán – Tepuche"]["code"] == "light"  # IR at night requested
    assert lo["Mocorito – El Valle (propuesta)"]["code"] == "nominated"
    orbits = [f for f in plan.features if f["properties"]["kind"] == "orbit"]
    assert len(orbits) == 1
    o = orbits[0]["properties"]
    assert o["aoi"] == "Tamazula – pista clandestina" and o["duration_min"] == pytest.approx(45)
    aoi = load_aois(demo_plan_aois_path())["Tamazula – pista clandestina"]
    assert aoi.geometry.contains(shapely.Point(o["aim_lon"], o["aim_lat"]))
    for p in plan.planned:
        mid = (p.arrive_us + p.leave_us) // 2
        c = p.aoi.aoi.geometry.centroid
        elev = float(solar_elevation_deg(c.y, c.x, mid))
        assert (elev > -6) == (p.pattern.setting.band == "EO")
    night = plan_sortie(demo_plan_aois_path(), BASE, "2026-05-10T21:00:00-07:00")
    assert "Culiacán – Tepuche" in {p.aoi.name for p in night.planned}
    assert all(p.pattern.setting.band == "IR" for p in night.planned)


def test_bad_base_and_start() -> None:
    assert parse_base("24.76, -107.47") == (24.76, -107.47)
    for bad in ("24.76", "a,b", "95,10"):
        with pytest.raises(PlanError):
            parse_base(bad)
    with pytest.raises(PlanError):
        plan_sortie(demo_aois_path(), (124.0, -107.0), START)
    with pytest.raises(PlanError, match="time zone"):
        plan_sortie(demo_aois_path(), BASE, "2026-05-10T06:00:00")
