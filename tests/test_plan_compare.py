"""Plan versus flown on a synthetic flown set: covered, missed and out-of-plan cells and km²."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely
from h3.api import numpy_int as h3n

from vigia.coverage import coverage_from_footprints
from vigia.plan import compare_plan, plan_sortie
from vigia.times import parse_time_us

BASE = (24.7645, -107.4747)
START = "2026-05-10T06:00:00-07:00"
AREA = [[[-107.45, 24.88], [-107.38, 24.88], [-107.38, 24.94], [-107.45, 24.94], [-107.45, 24.88]]]
DOC = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {
                "name": "Zona",
                "authority": "SEDENA",
                "consent_from": "2026-01-01T00:00:00-07:00",
                "consent_until": "2026-12-31T00:00:00-07:00",
            },
            "geometry": {"type": "Polygon", "coordinates": AREA},
        }
    ],
}


M_PER_DEG = 111_320.0


def footprints(
    lat: Any, lon: Any, time_us: Any, *, half_m: Any = 300.0, aspect: float = 1.0
) -> pa.Table:
    """Axis-aligned rectangular frames (half-size ``half_m`` metres) centred on lat/lon."""
    lat, lon = np.asarray(lat, float), np.asarray(lon, float)
    n = lat.size
    half = np.broadcast_to(np.asarray(half_m, float), (n,))
    k = np.cos(np.deg2rad(lat))
    cols: dict[str, Any] = {
        "time": pa.array(np.asarray(time_us, np.int64), pa.timestamp("us", tz="UTC")),
        "center_lat": lat,
        "center_lon": lon,
    }
    for c, (a, b) in enumerate([(-1, -1), (1, -1), (1, 1), (-1, 1)], start=1):
        cols[f"corner{c}_lat"] = lat + b * half / M_PER_DEG
        cols[f"corner{c}_lon"] = lon + a * half * aspect / (M_PER_DEG * k)
    cols["slant_range_m"] = np.full(n, 8000.0)
    cols["gsd_m"] = np.full(n, 1.0)
    cols["valid"] = np.ones(n, bool)
    cols["reason"] = pa.array([""] * n)
    return pa.table(cols)


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    p = plan_sortie(DOC, BASE, START)
    out = tmp_path_factory.mktemp("cmp") / "plan.geojson"
    p.write_geojson(out)
    return p, out


def frames_along(plan: Any, fraction: float) -> pa.Table:
    """Footprints flown along the first ``fraction`` of the lanes, at their planned times."""
    lanes = [f for f in plan.features if f["properties"]["kind"] == "lane"]
    lanes = lanes[: max(1, int(len(lanes) * fraction))]
    lat, lon, t, half = [], [], [], []
    for f in lanes:
        line = shapely.linestrings(f["geometry"]["coordinates"])
        n = max(2, int(line.length / 0.0015))
        pts = shapely.line_interpolate_point(line, np.linspace(0, 1, n), normalized=True)
        xy = shapely.get_coordinates(pts)
        t0 = parse_time_us(f["properties"]["start"], "s")
        t1 = parse_time_us(f["properties"]["end"], "e")
        lon += xy[:, 0].tolist()
        lat += xy[:, 1].tolist()
        t += np.linspace(t0, t1 - 1, n).astype(np.int64).tolist()
        half += [f["properties"]["swath_m"] / 2 * 0.9] * n
    return footprints(lat, lon, t, half_m=np.array(half), aspect=1.0)


def test_half_flown_plan(plan: tuple[Any, Path]) -> None:
    p, path = plan
    flown = frames_along(p, 0.5)
    cmp = compare_plan(path, flown)
    # independent expectation: the coverage stage's own cells of the same frames
    expect = np.asarray(coverage_from_footprints(flown).column("cell").to_numpy(), np.uint64)
    assert np.array_equal(np.sort(cmp.flown), np.unique(expect))
    assert np.array_equal(np.sort(cmp.planned), np.sort(p.cells))
    assert cmp.covered.size + cmp.missed.size == cmp.planned.size
    assert cmp.covered.size + cmp.out_of_plan.size == cmp.flown.size
    assert 0.2 < cmp.covered_fraction < 0.8 and cmp.missed.size > 0
    s = cmp.summary()
    area = h3n.cell_area(cmp.planned[0], "km^2")
    assert s["covered"]["km2"] == pytest.approx(cmp.covered.size * area, rel=0.01)
    assert s["per_aoi"][0]["aoi"] == "Zona"
    t = cmp.cells_table()
    assert set(t.column("status").to_pylist()) <= {"covered", "missed", "out_of_plan"}


def test_out_of_plan_and_consent(plan: tuple[Any, Path], tmp_path: Path) -> None:
    p, path = plan
    inside = frames_along(p, 1.0)
    t = parse_time_us(START, "s") + 3_600_000_000
    outside = footprints([24.60, 24.61], [-107.20, -107.20], [t, t + 1_000_000], half_m=400.0)
    flown = pa.concat_tables([inside, outside])
    f = tmp_path / "flown.parquet"
    pq.write_table(flown, f)
    plain = compare_plan(path, [f])
    assert plain.out_of_plan.size > 0 and plain.covered_fraction > 0.95
    # through the consent rule: frames outside consented area are withheld, not out of plan
    ruled = compare_plan(path, [f], aois=DOC)
    assert ruled.withheld_frames == 2
    assert ruled.out_of_plan.size < plain.out_of_plan.size
    assert ruled.covered.size == plain.covered.size


def test_cells_table_input_and_finer_resolution(plan: tuple[Any, Path]) -> None:
    p, path = plan
    cells = p.cells
    half = cells[: cells.size // 2]
    extra = np.array([h3n.latlng_to_cell(24.5, -107.0, 10)], np.uint64)
    cmp = compare_plan(path, pa.table({"cell": np.concatenate([half, extra])}))
    assert cmp.covered.size == half.size
    assert cmp.missed.size == cells.size - half.size
    assert cmp.out_of_plan.tolist() == extra.tolist()
    fine = np.array([h3n.cell_to_center_child(c, 12) for c in half[:100]], np.uint64)
    cmp12 = compare_plan(p, pa.table({"cell": fine}))
    assert cmp12.covered.size == 100
    polys = [shapely.box(-107.44, 24.89, -107.42, 24.90)]
    assert compare_plan(p, polys).covered.size > 0
