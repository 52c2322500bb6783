"""Consent fails closed, everywhere and retroactively.

* What cannot be placed on the ground is 'undetermined', never consented: a stream none of whose
  frames has a footprint (the MISB sample whose item 6 pitch is the error value in every packet)
  is not compliant, its verdict is ``undetermined`` and ``vigia compliance`` exits non-zero.
* ``vigia compliance`` exits 0 only for ``compliant`` (3: not_compliant, 4: undetermined).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.helpers.data import data_path
from vigia.app.process import iter_footprints
from vigia.cli import app
from vigia.cli.errors import EXIT_NOT_COMPLIANT, EXIT_UNDETERMINED
from vigia.coverage import demo_aois_path
from vigia.coverage.consent import UNDETERMINED, consent_status, load_aois
from vigia.footprints import TerrainOptions
from vigia.scenario.sortie import write_sample_sortie
from vigia.telemetry.source import TelemetryReader
from vigia.times import format_time_us

runner = CliRunner()

#: MISB ST 0601 sample: 2,748 packets, item 6 (platform pitch) the error value in every one.
NO_PITCH = ("realdata", "HD_H264_06011_TS_ASYN_V1_001.klv")


def _compliance(*args: str) -> tuple[int, str]:
    res = runner.invoke(app, ["compliance", *args])
    return res.exit_code, res.output


def _revoked(aois: dict[str, Any], at_us: int) -> dict[str, Any]:
    """``aois`` with every feature revoked at ``at_us``."""
    out = json.loads(json.dumps(aois))
    for feat in out["features"]:
        feat["properties"].update(state="revoked", revoked_at=format_time_us(at_us))
    return out


@pytest.fixture(scope="module")
def sortie(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sample_sortie(tmp_path_factory.mktemp("s") / "sortie.ts", minutes=1.0)


# --- a frame that cannot be placed on the ground ------------------------------------------------
def test_frames_without_a_footprint_are_undetermined() -> None:
    registry = load_aois(demo_aois_path())
    reader = TelemetryReader(str(data_path(*NO_PITCH)))
    status = np.concatenate(
        [consent_status(fp, registry) for fp in iter_footprints(reader, TerrainOptions())]
    )
    assert status.size == 2748
    assert set(status.tolist()) == {UNDETERMINED}


def test_no_placeable_frame_is_undetermined_and_exits_non_zero() -> None:
    src = str(data_path(*NO_PITCH))
    code, text = _compliance(src, "--aois", str(demo_aois_path()), "--json")
    assert code == EXIT_UNDETERMINED == 4, text
    report = json.loads(text)
    assert report["verdict"] == "undetermined"
    assert report["compliant"] is False
    assert report["frames_total"] == report["frames_undetermined"] == 2748
    assert report["frames_consented"] == 0
    assert report["undetermined_by_reason"] == {"missing_items": 2748}
    code, text = _compliance(src, "--aois", str(demo_aois_path()))
    assert code == EXIT_UNDETERMINED, text
    assert "UNDETERMINED" in text and "COMPLIANT" not in text.replace("NOT COMPLIANT", "")
    assert "missing_items" in text


def test_not_compliant_exits_non_zero(sortie: Path, tmp_path: Path) -> None:
    # every AOI revoked before the sortie: every frame it took is outside consent
    aois = json.loads(demo_aois_path().read_text(encoding="utf-8"))
    revoked = tmp_path / "revoked.geojson"
    revoked.write_text(json.dumps(_revoked(aois, 1_000_000)))  # 1970: before anything
    code, text = _compliance(str(sortie), "--aois", str(revoked), "--json")
    assert code == EXIT_NOT_COMPLIANT == 3, text
    report = json.loads(text)
    assert report["verdict"] == "not_compliant" and report["compliant"] is False
    assert report["frames_withheld"] == 1800 and report["frames_consented"] == 0
    code, text = _compliance(str(sortie), "--aois", str(revoked))
    assert code == EXIT_NOT_COMPLIANT and "NOT COMPLIANT" in text


def test_compliant_exits_zero(sortie: Path) -> None:
    code, text = _compliance(str(sortie), "--aois", str(demo_aois_path()), "--json")
    assert code == 0, text
    report = json.loads(text)
    assert report["verdict"] == "compliant" and report["compliant"] is True
    assert report["frames_consented"] == report["frames_total"] == 1800
    assert report["undetermined_by_reason"] == {}
