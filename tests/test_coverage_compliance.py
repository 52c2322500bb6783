"""Compliance report: area fractions against shapely, spans, per-AOI summaries, rendering."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa
import pyproj
import shapely
from rich.console import Console

from tests.helpers.coverage import footprints
from vigia.coverage import compliance, load_aois
from vigia.times import format_time_us, parse_time_us

SQUARE = [[-107.5, 24.7], [-107.3, 24.7], [-107.3, 24.9], [-107.5, 24.9], [-107.5, 24.7]]
FROM = "2026-03-01T00:00:00Z"
UNTIL = "2026-09-01T00:00:00Z"
T_FROM, T_UNTIL = parse_time_us(FROM, "t"), parse_time_us(UNTIL, "t")
US = 1_000_000


def registry(*extra: dict[str, Any]) -> Any:
    feats = [
        {
            "type": "Feature",
            "properties": {
                "name": "Zona A",
                "authority": "FGR",
                "consent_from": FROM,
                "consent_until": UNTIL,
            },
            "geometry": {"type": "Polygon", "coordinates": [SQUARE]},
        },
        *extra,
    ]
    return load_aois({"type": "FeatureCollection", "features": feats})


def area_km2(geom: Any) -> float:
    """Area on a local Lambert azimuthal equal-area projection."""
    c = geom.centroid
    laea = pyproj.Transformer.from_crs(
        "EPSG:4326", f"+proj=laea +lat_0={c.y} +lon_0={c.x} +ellps=WGS84", always_xy=True
    )
    return float(
        shapely.transform(geom, lambda xy: np.column_stack(laea.transform(*xy.T))).area / 1e6
    )


def polygon_of(table: pa.Table, i: int) -> Any:
    return shapely.Polygon(
        [
            (table[f"corner{k}_lon"][i].as_py(), table[f"corner{k}_lat"][i].as_py())
            for k in range(1, 5)
        ]
    )


def test_area_fraction_matches_shapely_on_a_footprint_across_the_edge() -> None:
    # A 6.5 km x 5 km footprint centred 1 km inside the east edge (-107.3).
    k = np.cos(np.deg2rad(24.8))
    lon = -107.3 - 1000 / (111_320 * k)
    table = footprints([24.8], [lon], [T_FROM + 10 * US], half_m=2500.0, aspect=1.3)
    rep = compliance(table, registry())
    fp = polygon_of(table, 0)
    aoi = shapely.Polygon(SQUARE)
    want_obs = area_km2(fp)
    want_out = area_km2(fp.difference(aoi))
    assert abs(rep.observed_km2 - want_obs) < 0.03 * want_obs
    assert abs(rep.out_of_consent_km2 - want_out) < 0.03 * want_obs
    assert abs(rep.consented_fraction - (1 - want_out / want_obs)) < 0.03
    assert (rep.frames_total, rep.frames_withheld, rep.frames_consented) == (1, 1, 0)
    assert not rep.compliant
    [span] = rep.spans
    assert span.n_frames == 1 and abs(span.area_km2 - rep.out_of_consent_km2) < 1e-9
    assert all(len(c) == 15 for c in span.cells)  # H3 strings
    [summary] = rep.aois
    assert abs(summary.in_window_km2 - area_km2(fp.intersection(aoi))) < 0.03 * want_obs
    assert summary.outside_window_km2 == 0


def test_inside_the_area_but_outside_the_window_is_out_of_consent() -> None:
    table = footprints([24.8], [-107.4], [T_UNTIL + 5 * US], half_m=800.0)
    rep = compliance(table, registry())
    assert rep.consented_fraction == 0.0 and rep.out_of_consent_km2 == rep.observed_km2 > 0
    [summary] = rep.aois
    assert summary.in_window_km2 == 0 and summary.outside_window_km2 == summary.observed_km2


def test_fully_consented_sortie_is_compliant() -> None:
    n = 300
    t = T_FROM + np.arange(n) * US // 30
    table = footprints(np.full(n, 24.8), np.linspace(-107.45, -107.35, n), t, half_m=300.0)
    rep = compliance(table, registry())
    assert rep.compliant and rep.consented_fraction == 1.0 and rep.spans == ()
    assert rep.frames_consented == n
    assert "COMPLIANT" in rep.to_text() and "NOT COMPLIANT" not in rep.to_text()


def test_spans_group_out_of_consent_frames_in_time() -> None:
    hz = 30

    def run(lon: float, t0_s: float, secs: float) -> pa.Table:
        n = int(secs * hz)
        t = T_FROM + round(t0_s * US) + np.arange(n) * US // hz
        return footprints(np.full(n, 24.8), np.full(n, lon), t, half_m=300.0)

    inside, outside = -107.4, -107.2
    chunks = [
        run(inside, 0, 60),
        run(outside, 100, 30),
        run(inside, 130, 60),
        run(outside, 1000, 10),
        run(outside, 1050, 10),
    ]
    rep = compliance(chunks, registry(), span_gap_s=120.0)
    assert [s.n_frames for s in rep.spans] == [900, 600]
    first, second = rep.spans
    assert first.start_us == T_FROM + 100 * US
    assert second.start_us == T_FROM + 1000 * US and second.end_us < T_FROM + 1061 * US
    assert first.cells and set(first.cells) == set(second.cells)  # the same ground, twice
    d = json.loads(json.dumps(rep.to_dict()))
    assert d["frames_withheld"] == 1500 and d["spans"][0]["start"] == format_time_us(first.start_us)
    # Whole or in chunks, the same report.
    assert compliance(pa.concat_tables(chunks), registry(), span_gap_s=120.0) == rep


def test_window_closing_in_the_middle_of_a_run() -> None:
    """Consent ends at T_UNTIL: frames before it are consented, after it withheld, exactly."""
    n = 90
    t = T_UNTIL - 15 * US // 10 + np.arange(n) * US // 30  # 1.5 s before .. 1.5 s after
    table = footprints(np.full(n, 24.8), np.full(n, -107.4), t, half_m=300.0)
    rep = compliance(table, registry(), step_s=2.0)
    assert rep.frames_withheld == int(np.count_nonzero(t >= T_UNTIL))
    [span] = rep.spans
    assert span.start_us == int(t[t >= T_UNTIL][0])
    assert span.area_km2 > 0


def test_rendering() -> None:
    table = footprints([24.8, 24.8], [-107.4, -107.2], [T_FROM, T_FROM + US], half_m=300.0)
    rep = compliance(table, registry())
    text = rep.to_text()
    assert "NOT COMPLIANT" in text and "Zona A" in text and "FGR" in text
    console = Console(record=True, width=120)
    console.print(rep.to_rich())
    assert "Zona A" in console.export_text()
    assert str(rep) == text


def test_nothing_observed() -> None:
    rep = compliance(footprints([], [], []), registry())
    assert rep.observed_km2 == 0 and rep.consented_fraction is None and rep.spans == ()
    assert rep.aois[0].first_seen_us is None
