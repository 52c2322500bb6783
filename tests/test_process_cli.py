"""The process stage through the CLI: footprints, coverage, compliance, inspect --geo."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import shapely
from typer.testing import CliRunner

from vigia.cli import app
from vigia.coverage import demo_aois_path
from vigia.scenario.sortie import write_sample_sortie

runner = CliRunner()


@pytest.fixture(scope="module")
def sortie(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sample_sortie(tmp_path_factory.mktemp("s") / "sortie.ts", minutes=1.0)


def test_footprints_parquet_and_geojson(sortie: Path, tmp_path: Path) -> None:
    out = tmp_path / "fp.parquet"
    res = runner.invoke(app, ["footprints", str(sortie), "-o", str(out), "--terrain-height", "60"])
    assert res.exit_code == 0, res.output
    table = pq.read_table(out)
    assert table.num_rows == 1800
    for col in ("time", "center_lat", "corner4_lon", "slant_range_m", "gsd_m", "valid", "reason"):
        assert col in table.column_names
    assert all(table["valid"].to_pylist())
    geo = json.loads(pq.read_metadata(out).metadata[b"geo"])
    assert geo["primary_column"] == "footprint"
    polys = shapely.from_wkb(table["footprint"].to_numpy(zero_copy_only=False))
    centres = shapely.points(table["center_lon"].to_numpy(), table["center_lat"].to_numpy())
    assert shapely.contains(polys, centres).all()
    # The stream's frame centre was computed for terrain at 60 m HAE: ours agrees to metres.
    lat = table["center_lat"].to_numpy()
    tel = runner.invoke(app, ["inspect", str(sortie), "--json", "--geo", "--terrain-height", "60"])
    report = json.loads(tel.output)
    assert report["geo_vs_platform"]["frame_center"]["n"] == 1800
    assert report["geo_vs_platform"]["frame_center"]["median_m"] < 3.0
    assert report["geo_vs_platform"]["corners"]["p95_m"] < 3.0
    assert np.all((lat > 24.5) & (lat < 25.2))
    gj = tmp_path / "fp.geojson"
    res = runner.invoke(app, ["footprints", str(sortie), "-o", str(gj)])
    assert res.exit_code == 0, res.output
    fc = json.loads(gj.read_text())
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 1800
    assert fc["features"][0]["geometry"]["type"] == "Polygon"
    # the time property is ISO 8601 (it read "...24.000000.%fZ" before)
    iso = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z")
    assert all(iso.fullmatch(f["properties"]["time"]) for f in fc["features"])
    times = [datetime.fromisoformat(f["properties"]["time"]) for f in fc["features"]]
    assert all(t.tzinfo is not None for t in times) and times == sorted(times)
    assert times[-1] - times[0] > timedelta(seconds=30)


def test_coverage_and_map(sortie: Path, tmp_path: Path) -> None:
    cells = tmp_path / "cells.parquet"
    png = tmp_path / "map.png"
    res = runner.invoke(
        app,
        [
            "coverage",
            str(sortie),
            "-o",
            str(cells),
            "--png",
            str(png),
            "--aois",
            str(demo_aois_path()),
        ],
    )
    assert res.exit_code == 0, res.output
    table = pq.read_table(cells)
    assert table.num_rows > 100
    assert min(table["passes"].to_pylist()) >= 1
    assert png.stat().st_size > 10_000 and png.read_bytes()[:4] == b"\x89PNG"


def test_compliance_json(sortie: Path) -> None:
    res = runner.invoke(app, ["compliance", str(sortie), "--aois", str(demo_aois_path()), "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    assert report["frames_total"] == 1800
    assert (
        report["frames_consented"] + report["frames_withheld"] + report["frames_undetermined"]
        == 1800
    )
    assert 0.0 <= report["consented_fraction"] <= 1.0


def test_invalid_aoi_file_is_refused_by_name(sortie: Path, tmp_path: Path) -> None:
    bad = tmp_path / "aois.geojson"
    bad.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {
                            "name": "Bowtie",
                            "authority": "SEDENA",
                            "consent_from": "2026-01-01T00:00:00Z",
                            "consent_until": "2026-12-31T00:00:00Z",
                        },
                        "geometry": {
                            "type": "Polygon",
                            "coordinates": [
                                [[-107, 24], [-106, 25], [-106, 24], [-107, 25], [-107, 24]]
                            ],
                        },
                    }
                ],
            }
        )
    )
    res = runner.invoke(app, ["compliance", str(sortie), "--aois", str(bad)])
    assert res.exit_code == 2
    assert "Bowtie" in res.output


@pytest.mark.slow
def test_plan_and_compare_cli(sortie: Path, tmp_path: Path) -> None:
    from vigia.plan import demo_plan_aois_path

    plan_path = tmp_path / "plan.geojson"
    res = runner.invoke(
        app,
        [
            "plan",
            "run",
            "--aois",
            str(demo_plan_aois_path()),
            "--base",
            "24.764,-107.474",
            "--start",
            "2026-03-14T19:00:00-07:00",
            "-o",
            str(plan_path),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert 0 < summary["endurance_fraction"] <= 1
    assert summary["duration_h"] > 0
    assert any(x["code"] == "nominated" for x in summary["left_out"])
    doc = json.loads(plan_path.read_text())
    kinds = {f["properties"]["kind"] for f in doc["features"]}
    assert {"transit", "lane"} <= kinds
    assert plan_path.with_suffix(".kml").read_text().lstrip().startswith("<?xml")
    res = runner.invoke(app, ["plan", "compare", str(plan_path), str(sortie), "--json"])
    assert res.exit_code == 0, res.output
    cmp = json.loads(res.output)
    assert cmp, "comparison summary is empty"
    res = runner.invoke(
        app,
        [
            "plan",
            "run",
            "--aois",
            str(demo_plan_aois_path()),
            "--base",
            "x",
            "--start",
            "2026-03-14T19:00:00-07:00",
        ],
    )
    assert res.exit_code == 2
