"""Consent: loading and refusing AOI files, windows, revocation, footprints, the release gate."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers.coverage import footprints, quad_table
from vigia.coverage import demo_aois_path
from vigia.coverage.consent import (
    CONSENTED,
    UNDETERMINED,
    WITHHELD,
    apply_consent,
    consent_status,
    consented_mask,
    load_aois,
    require_releasable,
)
from vigia.errors import ConsentError
from vigia.times import parse_time_us

SQUARE = [[[-107.5, 24.7], [-107.3, 24.7], [-107.3, 24.9], [-107.5, 24.9], [-107.5, 24.7]]]
FROM = "2026-03-01T00:00:00-07:00"
UNTIL = "2026-09-01T00:00:00-07:00"
T_FROM = parse_time_us(FROM, "t")
T_UNTIL = parse_time_us(UNTIL, "t")


def feature(coords: Any = None, gtype: str = "Polygon", **props: Any) -> dict[str, Any]:
    base = {"name": "Zona A", "authority": "SEDENA", "consent_from": FROM, "consent_until": UNTIL}
    base.update(props)
    return {
        "type": "Feature",
        "properties": {k: v for k, v in base.items() if v is not None},
        "geometry": {"type": gtype, "coordinates": SQUARE if coords is None else coords},
    }


def collection(*feats: dict[str, Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(feats)}


# --- loading ------------------------------------------------------------------------------------
def test_demo_file_loads_with_its_states() -> None:
    reg = load_aois(demo_aois_path())
    assert len(reg) == 4
    assert {a.state for a in reg} == {"consented", "expired", "revoked"}
    assert {a.authority for a in reg} >= {"SEDENA", "FGR", "Gobierno de Sinaloa"}
    revoked = next(a for a in reg if a.state == "revoked")
    assert revoked.window_us[1] == revoked.revoked_at_us
    # The registry writes itself back as GeoJSON that loads to the same windows.
    again = load_aois(json.loads(json.dumps(reg.to_geojson())))
    assert [a.window_us for a in again] == [a.window_us for a in reg]


BAD_FEATURES = {
    "point geometry": feature([-107.4, 24.8], gtype="Point"),
    "line geometry": feature([[-107.4, 24.8], [-107.3, 24.9]], gtype="LineString"),
    "self-intersecting": feature(
        [[[-107.5, 24.7], [-107.3, 24.9], [-107.3, 24.7], [-107.5, 24.9], [-107.5, 24.7]]]
    ),
    "empty polygon": feature([]),
    "zero area": feature([[[-107.5, 24.7], [-107.3, 24.7], [-107.4, 24.7], [-107.5, 24.7]]]),
    "lat/lon swapped": feature([[[24.7, -107.5], [24.7, -107.3], [24.9, -107.3], [24.7, -107.5]]]),
    "not finite": feature([[[-107.5, 24.7], [-107.3, 24.7], ["x", 24.9], [-107.5, 24.7]]]),
    "no consent_from": feature(consent_from=None),
    "no consent_until": feature(consent_until=None),
    "until before from": feature(consent_from=UNTIL, consent_until=FROM),
    "until equals from": feature(consent_until=FROM),
    "naive time": feature(consent_from="2026-03-01T00:00:00"),
    "date only": feature(consent_until="2026-09-01"),
    "not a time": feature(consent_until="next spring"),
    "no authority": feature(authority=None),
    "no name": feature(name=None),
    "unknown state": feature(state="approved"),
    "revoked without date": feature(state="revoked"),
    "naive revocation": feature(state="revoked", revoked_at="2026-05-01T12:00:00"),
}


@pytest.mark.parametrize("case", sorted(BAD_FEATURES))
def test_bad_feature_is_refused_by_index_and_name(case: str) -> None:
    good = feature(name="Buena")
    bad = copy.deepcopy(BAD_FEATURES[case])
    name = bad["properties"].get("name")
    with pytest.raises(ConsentError) as info:
        load_aois(collection(good, bad))
    msg = str(info.value)
    assert "feature 1" in msg
    assert (repr(name) if name else "unnamed") in msg
    assert "feature 0" not in msg


def test_every_bad_feature_is_named_at_once() -> None:
    with pytest.raises(ConsentError) as info:
        load_aois(collection(BAD_FEATURES["point geometry"], feature(), BAD_FEATURES["no name"]))
    assert "feature 0" in str(info.value) and "feature 2" in str(info.value)


@pytest.mark.parametrize(
    "text", ["not json {", "[1, 2]", '{"type": "Feature"}', '{"type": "FeatureCollection"}']
)
def test_non_geojson_files_are_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "aois.geojson"
    path.write_text(text)
    with pytest.raises(ConsentError):
        load_aois(path)
    with pytest.raises(ConsentError):
        load_aois(tmp_path / "missing.geojson")


def test_multipolygon_with_hole() -> None:
    outer = [[-107.6, 24.6], [-107.2, 24.6], [-107.2, 25.0], [-107.6, 25.0], [-107.6, 24.6]]
    hole = [
        [-107.45, 24.75],
        [-107.35, 24.75],
        [-107.35, 24.85],
        [-107.45, 24.85],
        [-107.45, 24.75],
    ]
    far = [[[-106.0, 24.0], [-105.9, 24.0], [-105.9, 24.1], [-106.0, 24.0]]]
    reg = load_aois(collection(feature([[outer, hole], far], gtype="MultiPolygon")))
    t = np.full(3, T_FROM + 1)
    got = reg.is_consented([24.65, 24.8, 24.03], [-107.5, -107.4, -105.95], t)
    assert got.tolist() == [True, False, True]


# --- windows ------------------------------------------------------------------------------------
def test_window_is_half_open_at_its_boundaries() -> None:
    reg = load_aois(collection(feature()))
    t = np.array([T_FROM - 1, T_FROM, T_UNTIL - 1, T_UNTIL])
    assert reg.is_consented(np.full(4, 24.8), np.full(4, -107.4), t).tolist() == [
        False,
        True,
        True,
        False,
    ]
    # Offsets are honoured: 00:00-07:00 is 07:00Z.
    assert parse_time_us("2026-03-01T07:00:00Z", "t") == T_FROM


def test_revocation_is_effective_immediately() -> None:
    rev = "2026-05-01T12:00:00-07:00"
    t_rev = parse_time_us(rev, "t")
    reg = load_aois(collection(feature(state="revoked", revoked_at=rev)))
    t = np.array([t_rev - 1, t_rev, t_rev + 1, T_UNTIL - 1])
    assert reg.is_consented(np.full(4, 24.8), np.full(4, -107.4), t).tolist() == [
        True,
        False,
        False,
        False,
    ]
    aoi = reg.aois[0]
    assert aoi.status_at(t_rev - 1) == "consented" and aoi.status_at(t_rev) == "revoked"
    # A revoked_at is honoured even when the state was not updated.
    reg2 = load_aois(collection(feature(revoked_at=rev)))
    assert not reg2.is_consented(24.8, -107.4, t_rev).any()


def test_nominated_is_never_consented_and_expired_keeps_its_history() -> None:
    reg = load_aois(collection(feature(state="nominated")))
    assert not reg.is_consented(24.8, -107.4, T_FROM + 10).any()
    assert reg.aois[0].status_at(T_FROM + 10) == "nominated"
    reg = load_aois(collection(feature(state="expired")))
    assert reg.is_consented(24.8, -107.4, T_FROM + 10).all()
    assert not reg.is_consented(24.8, -107.4, T_UNTIL).any()
    assert reg.aois[0].status_at(T_FROM - 1) == "pending"
    assert reg.aois[0].status_at(T_UNTIL) == "expired"


def test_points_outside_or_missing_are_not_consented() -> None:
    reg = load_aois(collection(feature()))
    got = reg.is_consented([24.8, 25.5, np.nan, 24.7], [-107.4, -107.4, -107.4, -107.4], T_FROM)
    assert got.tolist() == [True, False, False, True]  # the edge belongs to the area


# --- oracle -------------------------------------------------------------------------------------
def _random_registry(seed: int) -> tuple[Any, list[tuple[Any, int, int]]]:
    rng = np.random.default_rng(seed)
    feats, truth = [], []
    for i in range(4):
        cx, cy = -107.4 + rng.uniform(-0.2, 0.2), 24.8 + rng.uniform(-0.2, 0.2)
        ang = 2 * np.pi * np.arange(7) / 7 + rng.uniform(0, 0.8, 7)
        r = rng.uniform(0.03, 0.15, 7)
        ring = [[cx + a * np.cos(b), cy + a * np.sin(b)] for a, b in zip(r, ang, strict=True)]
        ring.append(ring[0])
        start = T_FROM + int(rng.integers(0, 10**9))
        end = start + int(rng.integers(10**8, 10**10))
        from vigia.coverage.consent import format_time_us

        feats.append(
            feature(
                [ring],
                name=f"Z{i}",
                consent_from=format_time_us(start),
                consent_until=format_time_us(end),
            )
        )
        truth.append((shapely.Polygon(ring), start, end))
    return load_aois(collection(*feats)), truth


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_vectorised_points_equal_per_item_oracle(seed: int) -> None:
    reg, truth = _random_registry(seed)
    rng = np.random.default_rng(seed + 1)
    n = 400
    lat = 24.8 + rng.uniform(-0.35, 0.35, n)
    lon = -107.4 + rng.uniform(-0.35, 0.35, n)
    t = T_FROM + rng.integers(-(10**8), 2 * 10**10, n)
    want = [
        any(g.intersects(shapely.Point(x, y)) and s <= tt < e for g, s, e in truth)
        for x, y, tt in zip(lon, lat, t, strict=True)
    ]
    assert reg.is_consented(lat, lon, t).tolist() == want


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000))
def test_vectorised_footprints_equal_per_item_oracle(seed: int) -> None:
    reg, truth = _random_registry(seed)
    rng = np.random.default_rng(seed + 2)
    n = 150
    lat = 24.8 + rng.uniform(-0.3, 0.3, n)
    lon = -107.4 + rng.uniform(-0.3, 0.3, n)
    t = T_FROM + rng.integers(-(10**8), 2 * 10**10, n)
    table = footprints(lat, lon, t, half_m=rng.uniform(100, 6000, n), rotation_deg=30.0)
    got = consent_status(table, reg)
    for i in range(n):
        corners = [
            (table[f"corner{k}_lon"][i].as_py(), table[f"corner{k}_lat"][i].as_py())
            for k in range(1, 5)
        ]
        fp = shapely.Polygon(corners)
        area = shapely.union_all([g for g, s, e in truth if s <= t[i] < e])
        want = CONSENTED if (not area.is_empty and area.covers(fp)) else WITHHELD
        assert got[i] == want


# --- footprints ---------------------------------------------------------------------------------
def test_footprint_crossing_the_aoi_edge_is_withheld() -> None:
    reg = load_aois(collection(feature()))
    t = [T_FROM + 1] * 3
    # Inside; straddling the east edge (-107.3); wholly outside.
    table = footprints([24.8, 24.8, 24.8], [-107.4, -107.301, -107.2], t, half_m=300.0)
    assert consent_status(table, reg).tolist() == [CONSENTED, WITHHELD, WITHHELD]
    # Inside, but before the window opened or after it closed.
    late = footprints([24.8, 24.8], [-107.4, -107.4], [T_FROM - 1, T_UNTIL])
    assert consent_status(late, reg).tolist() == [WITHHELD, WITHHELD]


def test_footprint_across_two_adjacent_aois_needs_both_open() -> None:
    west = [[[-107.5, 24.7], [-107.4, 24.7], [-107.4, 24.9], [-107.5, 24.9], [-107.5, 24.7]]]
    east = [[[-107.4, 24.7], [-107.3, 24.7], [-107.3, 24.9], [-107.4, 24.9], [-107.4, 24.7]]]
    mid = "2026-06-01T00:00:00Z"
    reg = load_aois(
        collection(feature(west, name="Oeste"), feature(east, name="Este", consent_until=mid))
    )
    t_mid = parse_time_us(mid, "t")
    table = footprints([24.8, 24.8], [-107.4, -107.4], [t_mid - 1, t_mid], half_m=400.0)
    assert consent_status(table, reg).tolist() == [CONSENTED, WITHHELD]


def test_unusable_footprints_are_undetermined() -> None:
    reg = load_aois(collection(feature()))
    ok = [(-107.41, 24.79), (-107.39, 24.79), (-107.39, 24.81), (-107.41, 24.81)]
    bow = [(-107.41, 24.79), (-107.39, 24.81), (-107.39, 24.79), (-107.41, 24.81)]
    table = quad_table([ok, bow, ok], [T_FROM + 1] * 3)
    table = table.set_column(
        table.schema.get_field_index("valid"), "valid", pa.array([True, True, False])
    )
    assert consent_status(table, reg).tolist() == [CONSENTED, UNDETERMINED, UNDETERMINED]


# --- the gate -----------------------------------------------------------------------------------
def test_apply_consent_and_require_releasable() -> None:
    reg = load_aois(collection(feature()))
    table = footprints([24.8, 24.8, 24.8], [-107.4, -107.301, -107.4], [T_FROM, T_FROM, T_UNTIL])
    with pytest.raises(ConsentError, match="apply_consent"):
        require_releasable(table)
    marked = apply_consent(table, reg)
    assert marked["consent_status"].to_pylist() == [CONSENTED, WITHHELD, WITHHELD]
    assert (~consented_mask(table, reg)).tolist() == [False, True, True]
    out = require_releasable(marked)
    assert out.num_rows == 1 and out["consent_status"].to_pylist() == [CONSENTED]
    # Re-applying with another registry recomputes, never trusts the old column.
    none = load_aois(collection())
    assert set(apply_consent(marked, none)["consent_status"].to_pylist()) == {WITHHELD}
    assert require_releasable(apply_consent(marked, none)).num_rows == 0


def test_point_tables_use_the_same_rule() -> None:
    reg = load_aois(collection(feature()))
    pts = {
        "lat": np.array([24.8, 24.8, np.nan]),
        "lon": np.array([-107.4, -107.0, -107.4]),
        "time": np.array([T_FROM, T_FROM, T_FROM]),
    }
    assert apply_consent(pts, reg)["consent_status"].to_pylist() == [
        CONSENTED,
        WITHHELD,
        UNDETERMINED,
    ]
    with pytest.raises(ConsentError):
        apply_consent({"lat": [24.8], "lon": [-107.4]}, reg)
