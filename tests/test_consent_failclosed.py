"""Consent fails closed, everywhere and retroactively.

* What cannot be placed on the ground is 'undetermined', never consented: a stream none of whose
  frames has a footprint (the MISB sample whose item 6 pitch is the error value in every packet)
  is not compliant, its verdict is ``undetermined`` and ``vigia compliance`` exits non-zero.
* ``vigia compliance`` exits 0 only for ``compliant`` (3: not_compliant, 4: undetermined).
* A changed AOI file is applied again to everything already held by the next ``vigia ingest``,
  even with no new input: the catalog is then the one a fresh ingest under that file writes, and
  the change is recorded in the manifest.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import shapely
from typer.testing import CliRunner

from tests.helpers.data import data_path
from vigia.app.process import iter_footprints
from vigia.cli import app
from vigia.cli.errors import EXIT_NOT_COMPLIANT, EXIT_UNDETERMINED
from vigia.coverage import demo_aois_path
from vigia.coverage.consent import UNDETERMINED, consent_status, load_aois
from vigia.exploit.observations import usable_mask
from vigia.footprints import TerrainOptions
from vigia.klv.encode import encode_table
from vigia.scenario import build_world, fly_sorties
from vigia.scenario.sortie import write_sample_sortie
from vigia.store.catalog import Catalog
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
def _platform_geometry(name: str) -> bool:
    return name.startswith(("frame_center_lat", "frame_center_lon", "offset_corner", "corner_"))


@pytest.fixture(scope="module")
def unplaceable(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The MISB sample (its pitch is the error value in every packet) without the platform's own
    frame centre and corners: no frame of it can be placed on the ground."""
    tel = pa.concat_tables(list(TelemetryReader(str(data_path(*NO_PITCH)))))
    tel = tel.drop_columns([c for c in tel.column_names if _platform_geometry(c)])
    path = tmp_path_factory.mktemp("u") / "unplaceable.klv"
    path.write_bytes(encode_table(tel))
    return path


def test_frames_without_a_footprint_are_undetermined(unplaceable: Path) -> None:
    registry = load_aois(demo_aois_path())
    for source, all_invalid in ((str(unplaceable), True), (str(data_path(*NO_PITCH)), False)):
        # a constant terrain: the stream has no frame-centre elevation once the corners are gone
        fps = list(iter_footprints(TelemetryReader(source), TerrainOptions(terrain_height_m=0.0)))
        status = np.concatenate([consent_status(fp, registry) for fp in fps])
        valid = np.concatenate([fp["valid"].to_numpy(zero_copy_only=False) for fp in fps])
        assert status.size == 2748
        assert set(status[~valid].tolist()) == {UNDETERMINED}  # never consented, never withheld
        assert "consented" not in set(status.tolist())
        assert bool((~valid).all()) is all_invalid


def test_no_placeable_frame_is_undetermined_and_exits_non_zero(unplaceable: Path) -> None:
    src = str(unplaceable)
    aois = ("--aois", str(demo_aois_path()), "--terrain-height", "0")
    code, text = _compliance(src, *aois, "--json")
    assert code == EXIT_UNDETERMINED == 4, text
    report = json.loads(text)
    assert report["verdict"] == "undetermined"
    assert report["compliant"] is False
    assert report["frames_total"] == report["frames_undetermined"] == 2748
    assert report["frames_consented"] == 0
    assert report["undetermined_by_reason"] == {"missing_items": 2748}
    code, text = _compliance(src, *aois)
    assert code == EXIT_UNDETERMINED, text
    assert "UNDETERMINED" in text and "COMPLIANT" not in text.replace("NOT COMPLIANT", "")
    assert "missing_items" in text
    # The sample itself, placed by the platform's own corners, lies outside every AOI.
    code, text = _compliance(str(data_path(*NO_PITCH)), "--aois", str(demo_aois_path()), "--json")
    assert code == EXIT_NOT_COMPLIANT and json.loads(text)["frames_consented"] == 0


def test_not_compliant_exits_non_zero(sortie: Path, tmp_path: Path) -> None:
    # every AOI revoked as it opened: every frame the sortie took is outside consent
    aois = json.loads(demo_aois_path().read_text(encoding="utf-8"))
    revoked = tmp_path / "revoked.geojson"
    for feat in aois["features"]:  # revoked the instant consent began: an empty window
        props = feat["properties"]
        props.update(state="revoked", revoked_at=props["consent_from"])
    revoked.write_text(json.dumps(aois))
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


# --- retroactive consent ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def flown(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], dict[str, Any], int]:
    """Two short scenario sorties, the world's AOIs and the first sortie's start (µs)."""
    world = build_world(5)
    files = fly_sorties(world, tmp_path_factory.mktemp("sorties"), 2, minutes=2.0)
    return [f.path for f in files], world.aois_geojson(), min(f.start_us for f in files)


def _ingest(*args: str) -> None:
    res = runner.invoke(app, ["ingest", *args])
    assert res.exit_code == 0, res.output


def _inside(table: pa.Table, aois: dict[str, Any]) -> np.ndarray:
    area = shapely.union_all([a.geometry for a in load_aois(aois)])
    lat = np.asarray(table.column("lat").to_numpy(zero_copy_only=False), float)
    lon = np.asarray(table.column("lon").to_numpy(zero_copy_only=False), float)
    ok = np.isfinite(lat) & np.isfinite(lon)
    out = np.zeros(lat.size, bool)
    out[ok] = shapely.intersects_xy(area, lon[ok], lat[ok])
    return out


def test_a_revocation_applies_to_everything_held(
    flown: tuple[list[Path], dict[str, Any], int], tmp_path: Path
) -> None:
    paths, aois, first_us = flown
    given = tmp_path / "aois.geojson"
    given.write_text(json.dumps(aois))
    data = tmp_path / "data"
    _ingest(*map(str, paths), "--aois", str(given), "--data-dir", str(data))
    cat = Catalog(data)
    assert cat.sites().num_rows > 0
    assert usable_mask(cat.observations()).sum() > 0
    before = cat.manifest()

    # the same file, revoked back to before every sortie; no new input
    given.write_text(json.dumps(_revoked(aois, first_us - 3_600_000_000)))
    _ingest("--aois", str(given), "--data-dir", str(data))
    obs, sites = cat.observations(), cat.sites()
    assert usable_mask(obs).sum() == 0
    assert not (usable_mask(obs) & _inside(obs, aois)).any()
    assert sites.num_rows == 0 or not _inside(sites, aois).any()
    assert set(obs.column("site_id").to_pylist()) == {None}

    # identical to a fresh ingest under the revoked file
    fresh = Catalog(tmp_path / "fresh")
    _ingest(*map(str, paths), "--aois", str(given), "--data-dir", str(fresh.root))
    assert obs.equals(fresh.observations())
    assert sites.equals(fresh.sites())
    assert cat.coverage_passes().equals(fresh.coverage_passes())

    # the change is recorded: the AOI file's hash and what changed
    after = cat.manifest()
    assert after["aois"]["sha256"] != before["aois"]["sha256"]
    assert after["aois"]["sha256"] == fresh.manifest()["aois"]["sha256"]
    change = after["consent_changes"][-1]
    assert change["from_sha256"] == before["aois"]["sha256"]
    assert change["to_sha256"] == after["aois"]["sha256"]
    n_was_consented = int((before_status := change["observations"]).get("consented->withheld", 0))
    assert n_was_consented > 0 and "consented->consented" not in before_status
    assert change["sites_before"] > 0 and change["sites_after"] == 0

    # the same file again changes nothing and records nothing
    _ingest("--aois", str(given), "--data-dir", str(data))
    assert cat.manifest()["consent_changes"] == after["consent_changes"]


def test_an_edited_kept_aoi_file_is_applied_again(
    flown: tuple[list[Path], dict[str, Any], int], tmp_path: Path
) -> None:
    paths, aois, first_us = flown
    data = tmp_path / "data"
    given = tmp_path / "aois.geojson"
    given.write_text(json.dumps(aois))
    _ingest(*map(str, paths), "--aois", str(given), "--data-dir", str(data))
    cat = Catalog(data)
    assert cat.sites().num_rows > 0
    # the copy kept in the data directory is revoked; the next ingest (no --aois) applies it
    cat.aois_path.write_text(json.dumps(_revoked(aois, first_us - 3_600_000_000)))
    _ingest(*map(str, paths), "--data-dir", str(data))
    assert cat.sites().num_rows == 0
    assert usable_mask(cat.observations()).sum() == 0
    assert cat.manifest()["consent_changes"][-1]["sites_after"] == 0
