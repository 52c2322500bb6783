"""Real KLV fixtures (``tests/data/realdata``): every source works with every command, and the
terrain a footprint meets is never silently the ellipsoid at 0 m."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tests.helpers.data import data_path
from vigia.cli import app

runner = CliRunner()

RAW_KLV = ("Cheyenne.bin", "predator.klv", "HD_H264_06011_TS_ASYN_V1_001.klv")


def real(name: str) -> Path:
    """A real fixture (provenance in ``tests/data/realdata/SOURCES.md``)."""
    return data_path("realdata", name)


def test_ingest_accepts_raw_klv_and_says_chips_are_skipped(tmp_path: Path) -> None:
    args = ["ingest", *(str(real(n)) for n in RAW_KLV), "--data-dir", str(tmp_path), "--json"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert res.exception is None
    report = json.loads(res.stdout)
    assert [i["status"] for i in report["inputs"]] == ["ingested"] * len(RAW_KLV)
    assert all(i["packets"] > 0 for i in report["inputs"])
    assert all(i["chips"] == 0 for i in report["inputs"])
    for name in RAW_KLV:
        assert any(name in w and "chips" in w and "skipped" in w for w in report["warnings"])
