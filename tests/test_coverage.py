"""Coverage accumulation: exactness against a per-frame H3 fill, passes, GSD, sensors, day/night."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import h3
import numpy as np
import pyarrow as pa
import pytest
from h3.api import basic_int as h3i
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers.coverage import CULIACAN, T0_US, footprints, orbit, quad_table
from vigia.coverage import (
    CoverageAccumulator,
    coverage_from_footprints,
    coverage_metadata,
    demo_aois_path,
    load_aois,
    plot_coverage,
    read_cells,
    write_cells,
)
from vigia.errors import GeoError

US = 1_000_000


def oracle(table: pa.Table, res: int = 10) -> dict[int, int]:
    """Frames per cell by one H3 polygon fill per frame (the naive way)."""
    counts: dict[int, int] = defaultdict(int)
    lat = [table.column(f"corner{k}_lat").to_numpy() for k in range(1, 5)]
    lon = [table.column(f"corner{k}_lon").to_numpy() for k in range(1, 5)]
    for i in range(table.num_rows):
        poly = h3.LatLngPoly([(lat[k][i], lon[k][i]) for k in range(4)])
        for c in h3.polygon_to_cells(poly, res):
            counts[h3.str_to_int(c)] += 1
    return dict(counts)


def as_counts(cells: pa.Table) -> dict[int, int]:
    return dict(zip(cells["cell"].to_pylist(), cells["n_frames"].to_pylist(), strict=True))


@pytest.mark.parametrize("step_s", [0.1, 1.0, 5.0])
def test_exact_against_per_frame_h3_fill(step_s: float) -> None:
    table = orbit(1500, seed=3)
    cells = coverage_from_footprints(table, step_s=step_s)
    assert as_counts(cells) == oracle(table)
    meta = coverage_metadata(cells)
    assert meta["h3_res"] == 10 and meta["frames_used"] == 1500 and meta["frames_unusable"] == 0


def test_other_resolution() -> None:
    table = orbit(300, seed=5)
    assert as_counts(coverage_from_footprints(table, res=11)) == oracle(table, 11)


ring_pt = st.tuples(st.floats(-400, 400), st.floats(-400, 400))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.lists(ring_pt, min_size=4, max_size=4), min_size=1, max_size=25),
    st.floats(0.0, 0.99),
)
def test_random_quads_in_one_run_are_exact(
    quads: list[list[tuple[float, float]]], span: float
) -> None:
    """Arbitrary (also non-convex, jumping) quadrilaterals inside one run: exact counts."""
    k = np.cos(np.deg2rad(CULIACAN[0]))
    corners = [
        [(CULIACAN[1] + x / (111_320 * k), CULIACAN[0] + y / 111_320) for x, y in q] for q in quads
    ]
    times = T0_US + np.round(np.linspace(0, span, len(quads)) * US).astype(np.int64)
    table = quad_table(corners, times)
    from vigia.coverage._frames import read_frames

    ok = read_frames(table).ok
    table = table.filter(pa.array(ok))
    cells = coverage_from_footprints(table)
    want = oracle(table)
    got = as_counts(cells)
    if want:
        assert got == want
    elif table.num_rows:  # every footprint smaller than a cell: the cell under it is kept
        assert cells.num_rows == 1


def test_chunks_in_any_order_give_the_same_table() -> None:
    table = orbit(3000, seed=7)
    whole = coverage_from_footprints(table)
    parts = [table.slice(i, 700) for i in range(0, 3000, 700)]
    shuffled = coverage_from_footprints([parts[k] for k in (3, 0, 4, 2, 1)])
    assert shuffled.equals(whole)
    assert int(np.max(whole["passes"].to_numpy())) >= 1


def _at(seconds: list[float], **kw: object) -> pa.Table:
    n = len(seconds)
    t = T0_US + np.round(np.asarray(seconds) * US).astype(np.int64)
    return footprints([CULIACAN[0]] * n, [CULIACAN[1]] * n, t, **kw)  # type: ignore[arg-type]


def test_passes_are_split_by_gaps() -> None:
    # 0 s; 120 s (gap exactly 120 s: same pass); 240.000001 s (new pass); 250 s (same).
    table = _at([0.0, 120.0, 240.000001, 250.0])
    cells = coverage_from_footprints(table, pass_gap_s=120.0)
    assert set(cells["passes"].to_pylist()) == {2}
    assert set(cells["n_frames"].to_pylist()) == {4}
    first = cells["first_seen"].cast(pa.int64()).to_numpy()
    last = cells["last_seen"].cast(pa.int64()).to_numpy()
    assert (first == T0_US).all() and (last == T0_US + 250 * US).all()
    assert set(coverage_from_footprints(table, pass_gap_s=15.0)["passes"].to_pylist()) == {3}
    # A 30 Hz stare of 10 minutes is one pass, whatever the run length.
    stare = _at(list(np.arange(0, 600, 1 / 30)))
    assert set(coverage_from_footprints(stare, step_s=0.5)["passes"].to_pylist()) == {1}


def test_passes_merge_across_chunks() -> None:
    table = _at([0.0, 60.0, 130.0, 400.0])
    chunks = [table.slice(0, 2), table.slice(2, 1), table.slice(3, 1)]
    assert set(coverage_from_footprints(chunks)["passes"].to_pylist()) == {2}


def test_step_must_not_exceed_gap() -> None:
    with pytest.raises(GeoError):
        CoverageAccumulator(step_s=200.0, pass_gap_s=120.0)
    with pytest.raises(GeoError):
        CoverageAccumulator(step_s=0.0)


def test_small_footprint_marks_the_cell_below() -> None:
    cells = coverage_from_footprints(_at([0.0, 0.5], half_m=5.0))
    assert cells["cell"].to_pylist() == [h3i.latlng_to_cell(*CULIACAN, 10)]
    assert cells["n_frames"].to_pylist() == [2]


def test_unusable_frames_do_not_count() -> None:
    good = _at([0.0])
    bad = _at([1.0, 2.0, 3.0], valid=np.array([False, True, True]))
    lat1 = bad["corner1_lat"].to_numpy().copy()
    lat1[1] = np.nan  # missing corner
    bad = bad.set_column(bad.schema.get_field_index("corner1_lat"), "corner1_lat", pa.array(lat1))
    # Frame 3: corners 2 and 3 swapped, a bow-tie.
    la2, la3 = bad["corner2_lat"].to_numpy().copy(), bad["corner3_lat"].to_numpy().copy()
    la2[2], la3[2] = la3[2], la2[2]
    bad = bad.set_column(bad.schema.get_field_index("corner2_lat"), "corner2_lat", pa.array(la2))
    bad = bad.set_column(bad.schema.get_field_index("corner3_lat"), "corner3_lat", pa.array(la3))
    cells = coverage_from_footprints([good, bad])
    assert set(cells["n_frames"].to_pylist()) == {1}
    meta = coverage_metadata(cells)
    assert (meta["frames_in"], meta["frames_used"], meta["frames_unusable"]) == (4, 1, 3)


def test_best_gsd_sensors_and_missing_gsd() -> None:
    eo = _at([0.0, 1.0], gsd_m=0.8, sensor="EO Nose")
    ir = _at([500.0], gsd_m=0.4, sensor="IR Wide")
    cells = coverage_from_footprints([eo, ir])
    assert set(cells["best_gsd_m"].to_pylist()) == {0.4}
    assert all(cells["seen_eo"].to_pylist()) and all(cells["seen_ir"].to_pylist())
    only_eo = coverage_from_footprints(eo)
    assert not any(only_eo["seen_ir"].to_pylist())
    unknown = coverage_from_footprints(_at([0.0], gsd_m=np.nan, sensor="Sensor 7"))
    assert unknown["best_gsd_m"].null_count == unknown.num_rows
    assert not any(unknown["seen_eo"].to_pylist()) and not any(unknown["seen_ir"].to_pylist())


def test_day_and_night_flags() -> None:
    # T0 is 2026-06-01 00:00Z; local solar noon at Culiacán is about 19:10Z, midnight 07:10Z.
    noon = _at([19.2 * 3600])
    midnight = _at([7.2 * 3600])
    c = coverage_from_footprints(noon)
    assert all(c["seen_day"].to_pylist()) and not any(c["seen_night"].to_pylist())
    c = coverage_from_footprints(midnight)
    assert all(c["seen_night"].to_pylist()) and not any(c["seen_day"].to_pylist())
    c = coverage_from_footprints([noon, midnight])
    assert all(c["seen_day"].to_pylist()) and all(c["seen_night"].to_pylist())


def test_sorties_do_not_share_runs() -> None:
    a = _at([0.0], sortie="A")
    b = _at([0.2], sortie="B")
    cells = coverage_from_footprints(pa.concat_tables([a, b]))
    assert set(cells["n_frames"].to_pylist()) == {2}


def test_cells_round_trip_through_parquet(tmp_path: Path) -> None:
    cells = coverage_from_footprints(orbit(200))
    path = tmp_path / "cells.parquet"
    write_cells(cells, path)
    back = read_cells(path)
    assert back.equals(cells)
    assert coverage_metadata(back) == coverage_metadata(cells)
    assert json.loads(back.schema.metadata[b"vigia.coverage"])["pass_gap_s"] == 120.0


def test_empty_input() -> None:
    cells = coverage_from_footprints(orbit(0))
    assert cells.num_rows == 0 and cells.schema.field("cell").type == pa.uint64()


@pytest.mark.parametrize("by", ["passes", "gsd"])
def test_plot_coverage_writes_a_png(tmp_path: Path, by: str) -> None:
    table = orbit(600, seed=1)
    gsd = table["gsd_m"].to_numpy().copy()
    gsd[:100] = np.nan
    table = table.set_column(table.schema.get_field_index("gsd_m"), "gsd_m", pa.array(gsd))
    cells = coverage_from_footprints(table)
    out = plot_coverage(
        cells, tmp_path / "map.png", aois=load_aois(demo_aois_path()), by=by, at_us=T0_US
    )
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


def test_plot_coverage_handles_empty_and_bad_mode(tmp_path: Path) -> None:
    empty = coverage_from_footprints(orbit(0))
    assert plot_coverage(empty, tmp_path / "e.png").stat().st_size > 0
    with pytest.raises(GeoError):
        plot_coverage(empty, tmp_path / "x.png", by="colour")
