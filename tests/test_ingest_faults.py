"""Ingest is a transaction: every injected fault converges to the uninterrupted result.

Each case runs ``vigia ingest`` in a subprocess that is killed (SIGKILL) at a deterministic hook
point of the catalog writer (``VIGIA_FAULT``, :func:`vigia.store.catalog.fault_point`) or made
to fail there as a full disk would (``enospc:STEP``), then runs it again without the fault, and
compares the data directory with that of an uninterrupted ingest of the same inputs: the same
sites with the same probabilities, the same row counts, the same manifest inputs. Two ingests
at once, a truncated file, and taking an input out again are checked the same way.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from vigia.coverage import demo_aois_path
from vigia.scenario import build_world, fly_sorties
from vigia.store.catalog import FAULT_ENV, Catalog

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sorties(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    d = tmp_path_factory.mktemp("sorties")
    return [s.path for s in fly_sorties(build_world(5), d, 2, minutes=2.0)]


def vigia(
    *args: str | Path, fault: str | None = None, timeout_s: float = 300
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != FAULT_ENV}
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("VIGIA_DEM", None)
    if fault is not None:
        env[FAULT_ENV] = fault
    return subprocess.run(
        [sys.executable, "-m", "vigia.cli", *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def ingest(data: Path, *inputs: Path, fault: str | None = None, extra: tuple[str, ...] = ()) -> Any:
    return vigia(
        "ingest", *inputs, "--data-dir", data, "--aois", demo_aois_path(), *extra, fault=fault
    )


def snapshot(data: Path) -> dict[str, Any]:
    """What an uninterrupted ingest must equal: sites (all columns but the explanation text
    order-insensitively), row counts and the manifest's inputs."""
    cat = Catalog(data)
    sites = cat.sites().sort_by("site_id")
    manifest = cat.manifest()
    return {
        "sites": sites.select(
            ["site_id", "probability", "log_odds", "candidate", "n_observations", "n_passes"]
        ).to_pylist(),
        "observations": cat.observations().num_rows,
        "coverage_passes": cat.coverage_passes().num_rows,
        "coverage": pq.read_table(cat.path("coverage")).num_rows,
        "inputs": sorted(manifest["inputs"]),
        "txn_left": cat.txn_dir.exists(),
    }


@pytest.fixture(scope="module")
def baseline(sorties: list[Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    data = tmp_path_factory.mktemp("baseline") / "data"
    res = ingest(data, sorties[0])
    assert res.returncode == 0, res.stderr
    res = ingest(data, sorties[1])
    assert res.returncode == 0, res.stderr
    snap = snapshot(data)
    assert snap["sites"] and snap["coverage_passes"] > 0 and not snap["txn_left"]
    return snap


@pytest.fixture(scope="module")
def first_only(sorties: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory holding the first sortie only."""
    data = tmp_path_factory.mktemp("first") / "data"
    res = ingest(data, sorties[0])
    assert res.returncode == 0, res.stderr
    return data


#: Every hook point of a run that ingests one new sortie into a directory holding another.
STEPS = [
    "staged:aois.geojson",
    "staged:coverage_passes.parquet",
    "staged:coverage.parquet",
    "staged:observations.parquet",
    "staged:sites.parquet",
    "staged:ingested.json",
    "commit:before",
    "commit",
    "applied:aois.geojson",
    "applied:coverage.parquet",
    "applied:coverage_passes.parquet",
    "applied:ingested.json",
    "applied:observations.parquet",
    "applied:sites.parquet",
    "done",
]


@pytest.mark.slow
@pytest.mark.parametrize("step", STEPS)
def test_kill_at_every_step_converges(
    step: str, sorties: list[Path], first_only: Path, baseline: dict[str, Any], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    shutil.copytree(first_only, data)
    before = snapshot(data)
    res = ingest(data, sorties[1], fault=step)
    assert res.returncode == -signal.SIGKILL, (res.returncode, res.stderr[-2000:])
    # a reader in between sees all of the run or none of it
    now = snapshot(data)
    committed = step.startswith(("applied:", "done")) or step == "commit"
    want = baseline if committed else before
    assert {k: v for k, v in now.items() if k != "txn_left"} == {
        k: v for k, v in want.items() if k != "txn_left"
    }
    res = ingest(data, sorties[1])
    assert res.returncode == 0, res.stderr
    assert snapshot(data) == baseline


def test_kill_before_the_commit_point_leaves_the_directory_as_it_was(
    sorties: list[Path], first_only: Path, baseline: dict[str, Any], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    shutil.copytree(first_only, data)
    before = snapshot(data)
    res = ingest(data, sorties[1], fault="staged:sites.parquet")
    assert res.returncode == -signal.SIGKILL
    assert snapshot(data) == {**before, "txn_left": True}
    res = ingest(data, sorties[1])
    assert res.returncode == 0, res.stderr
    assert snapshot(data) == baseline


def test_kill_after_the_commit_point_is_finished_by_the_next_run(
    sorties: list[Path], first_only: Path, baseline: dict[str, Any], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    shutil.copytree(first_only, data)
    res = ingest(data, sorties[1], fault="applied:coverage_passes.parquet")
    assert res.returncode == -signal.SIGKILL
    assert snapshot(data) == {**baseline, "txn_left": True}  # readers see the staged files
    res = ingest(data)  # nothing new: the run only finishes the transaction
    assert res.returncode == 0, res.stderr
    assert snapshot(data) == baseline


@pytest.mark.parametrize("step", ["staged:observations.parquet", "commit:before"])
def test_a_full_disk_commits_nothing(
    step: str, sorties: list[Path], first_only: Path, baseline: dict[str, Any], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    shutil.copytree(first_only, data)
    before = snapshot(data)
    res = ingest(data, sorties[1], fault=f"enospc:{step}")
    assert res.returncode == 2, res.stderr
    assert "No space left on device" in res.stdout + res.stderr
    assert "nothing of this run was committed" in res.stdout + res.stderr
    assert "Traceback" not in res.stdout + res.stderr
    assert snapshot(data) == before
    res = ingest(data, sorties[1])
    assert res.returncode == 0, res.stderr
    assert snapshot(data) == baseline


def test_a_second_writer_is_refused_while_the_first_holds_the_lock(
    sorties: list[Path], first_only: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    shutil.copytree(first_only, data)
    before = snapshot(data)
    with Catalog(data).writer():
        res = ingest(data, sorties[1])
        assert res.returncode == 2
        assert "another ingest is writing to" in res.stdout + res.stderr
        assert "Traceback" not in res.stdout + res.stderr
        # readers never wait for writers
        assert snapshot(data) == before


def test_two_ingests_at_once_lose_nothing(
    sorties: list[Path], baseline: dict[str, Any], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    env_args = ("--wait", "240")
    procs = []
    for s in sorties:
        env = {k: v for k, v in os.environ.items() if k not in (FAULT_ENV, "VIGIA_DEM")}
        env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
        cmd = [sys.executable, "-m", "vigia.cli", "ingest", str(s), "--data-dir", str(data)]
        cmd += ["--aois", str(demo_aois_path()), *env_args]
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()[-2000:]
    assert snapshot(data) == baseline


def _truncated(sortie: Path, tmp_path: Path, fraction: float = 0.503) -> Path:
    """A copy of ``sortie`` cut short mid-packet, as a half-finished copy leaves it."""
    raw = sortie.read_bytes()
    cut = int(len(raw) * fraction)
    if cut % 188 == 0:
        cut += 1
    path = tmp_path / sortie.name  # the same name: the copy that was still being made
    path.write_bytes(raw[:cut])
    return path


def test_a_truncated_file_is_not_committed_then_the_whole_one_is(
    sorties: list[Path], first_only: Path, baseline: dict[str, Any], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    shutil.copytree(first_only, data)
    before = snapshot(data)
    half = _truncated(sorties[1], tmp_path)
    res = ingest(data, half, extra=("--json",))
    assert res.returncode == 2, res.stderr
    report = json.loads(res.stdout)
    (rep,) = report["inputs"]
    assert rep["status"] == "truncated"
    assert rep["truncated"]["at_byte"] < rep["truncated"]["size_bytes"] == half.stat().st_size
    assert 0 < rep["truncated"]["packets_read"] == rep["packets"]
    assert any("--accept-truncated" in w for w in report["warnings"])
    assert snapshot(data) == before
    res = ingest(data, sorties[1])
    assert res.returncode == 0, res.stderr
    assert snapshot(data) == baseline


def test_an_accepted_truncated_file_is_taken_out_again(
    sorties: list[Path], first_only: Path, baseline: dict[str, Any], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    shutil.copytree(first_only, data)
    half = _truncated(sorties[1], tmp_path)
    res = ingest(data, half, extra=("--accept-truncated", "--json"))
    assert res.returncode == 0, res.stderr
    half_sha = json.loads(res.stdout)["inputs"][0]["sha256"]
    res = ingest(data, sorties[1])
    assert res.returncode == 0, res.stderr
    # both held: the passes of the cut copy count once (keyed: sortie, cell, start)
    assert snapshot(data)["coverage_passes"] == baseline["coverage_passes"]
    res = ingest(data, extra=("--remove", half_sha[:12]))
    assert res.returncode == 0, res.stderr
    assert snapshot(data) == baseline


def test_removing_an_input_equals_never_having_ingested_it(
    sorties: list[Path], first_only: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    shutil.copytree(first_only, data)
    res = ingest(data, sorties[1])
    assert res.returncode == 0, res.stderr
    res = ingest(data, extra=("--remove", str(sorties[1]), "--json"))
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["removed"][0]["path"] == str(sorties[1])
    assert {k: v for k, v in snapshot(data).items()} == snapshot(first_only)
    res = ingest(data, extra=("--remove", "no-such-input.ts"))
    assert res.returncode == 2 and "no such input" in res.stdout + res.stderr
