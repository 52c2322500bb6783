"""Revisit scheduling: intervals met where endurance allows, unmet ones reported with reasons."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from vigia.coverage.solar import solar_elevation_deg
from vigia.errors import VigiaError
from vigia.plan import demo_plan_aois_path, schedule_revisits
from vigia.times import parse_time_us

BASE = (24.7645, -107.4747)
START = "2026-05-10T06:00:00-07:00"
END = "2026-05-14T06:00:00-07:00"
H_US = 3_600_000_000


@pytest.fixture(scope="module")
def schedule() -> Any:
    doc = json.loads(demo_plan_aois_path().read_text(encoding="utf-8"))
    # an area far beyond the aircraft's reach (Yucatán), and one asking for a visit every 6 h
    doc["features"].append(
        {
            "type": "Feature",
            "properties": {
                "name": "Lejana",
                "authority": "SEDENA",
                "consent_from": "2026-01-01T00:00:00Z",
                "consent_until": "2026-12-31T00:00:00Z",
                "revisit_h": 48,
            },
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[-89.7, 20.9], [-89.6, 20.9], [-89.6, 21.0], [-89.7, 20.9]]],
            },
        }
    )
    for f in doc["features"]:
        if f["properties"]["name"] == "Jesús María – Culiacancito":
            f["properties"]["revisit_h"] = 6
    short = {
        "name": "mq9-12h",
        "cruise_tas_kt": 170.0,
        "endurance_h": 12.0,
        "reserve_h": 1.0,
        "altitude_m": 7000.0,
        "altitude_min_m": 6000.0,
        "altitude_max_m": 8000.0,
        "depression_deg": 60.0,
        "max_bank_deg": 20.0,
        "sensors": {
            "EO": {"width_px": 1920, "hfov_min_deg": 0.6, "hfov_max_deg": 30.0, "default_gsd_m": 1},
            "IR": {"width_px": 1280, "hfov_min_deg": 0.9, "hfov_max_deg": 34.0, "default_gsd_m": 2},
        },
    }
    return schedule_revisits(doc, BASE, START, END, short, turnaround_h=3.0)


def requirement(schedule: Any, name: str) -> Any:
    return next(r for r in schedule.requirements if r.aoi == name)


def test_48h_requirements_met_and_checked_independently(schedule: Any) -> None:
    t0, t1 = parse_time_us(START, "s"), parse_time_us(END, "e")
    visits: dict[str, list[int]] = {}
    for s in schedule.sorties:
        assert s.endurance_fraction <= 1
        for p in s.planned:
            visits.setdefault(p.aoi.name, []).append(p.arrive_us)
    for name in ("Culiacán – Tepuche", "Sierra de Badiraguato"):
        r = requirement(schedule, name)
        assert r.status == "met", r.reason
        marks = [t0, *sorted(visits[name]), t1]
        assert max(np.diff(marks)) <= 48 * H_US + 60_000_000
    # sorties do not overlap, turnaround respected
    for a, b in zip(schedule.sorties, schedule.sorties[1:], strict=False):
        assert b.start_us >= a.end_us + 3 * H_US - 1


def test_ir_area_visited_at_night(schedule: Any) -> None:
    r = requirement(schedule, "Culiacán – Tepuche")
    assert r.visits_us
    for s in schedule.sorties:
        for p in s.planned:
            if p.aoi.name == "Culiacán – Tepuche":
                c = p.aoi.aoi.geometry.centroid
                for t in (p.arrive_us, p.leave_us):
                    assert solar_elevation_deg(c.y, c.x, t) <= -6
                assert p.pattern.setting.band == "IR"


def test_unmet_requirements_are_reported_with_reasons(schedule: Any) -> None:
    unmet = {r.aoi: r for r in schedule.unmet}
    assert "Lejana" in unmet and "beyond reach" in unmet["Lejana"].reason
    six = unmet["Jesús María – Culiacancito"]
    assert "exceeds the 6 h revisit interval" in six.reason and six.max_gap_h > 6
    summary = schedule.summary()
    assert {u["aoi"] for u in summary["unmet"]} == set(unmet)
    nominated = requirement(schedule, "Mocorito – El Valle (propuesta)")
    assert nominated.status == "not_consented" and "nominated" in nominated.reason
    expired = requirement(schedule, "Cosalá – San José de las Bocas")
    assert expired.status == "not_consented"


def test_schedule_refuses_reversed_horizon() -> None:
    with pytest.raises(VigiaError):
        schedule_revisits(demo_plan_aois_path(), BASE, END, START)
