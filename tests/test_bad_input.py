"""Bad input of every kind gets a clear typed error: a 4xx from the API, one line and exit 2
from the CLI; never a 5xx, a traceback or a hang."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHEYENNE = ROOT / "tests" / "data" / "realdata" / "Cheyenne.bin"


def _vigia(*args: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.setdefault("PYTHONPATH", str(ROOT / "src"))
    env.pop("VIGIA_DEM", None)
    return subprocess.run(
        [sys.executable, "-m", "vigia.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env=env,
        cwd=ROOT,
    )


def _one_line_error(r: subprocess.CompletedProcess[str], *names: str) -> None:
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    for name in names:
        assert name in lines[0], lines[0]


# --- output files the CLI cannot write ----------------------------------------------------------
MISSING = "/nonexistent/dir"
COMMANDS = {
    "telemetry": ["telemetry", str(CHEYENNE), "-o", f"{MISSING}/t.parquet"],
    "footprints": ["footprints", str(CHEYENNE), "--terrain-height", "1800", "-o"],
    "footprints-geojson": ["footprints", str(CHEYENNE), "--terrain-height", "1800", "-o"],
    "coverage": ["coverage", str(CHEYENNE), "--terrain-height", "1800", "-o"],
}
COMMANDS["footprints"].append(f"{MISSING}/f.parquet")
COMMANDS["footprints-geojson"].append(f"{MISSING}/f.geojson")
COMMANDS["coverage"].append(f"{MISSING}/c.parquet")


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_an_output_in_a_missing_folder_is_one_line_exit_2(name: str) -> None:
    args = COMMANDS[name]
    r = _vigia(*args, timeout_s=60)
    _one_line_error(r, args[-1])


def test_a_coverage_map_in_a_missing_folder_is_refused_before_reading(tmp_path: Path) -> None:
    out = tmp_path / "c.parquet"
    png = f"{MISSING}/map.png"
    r = _vigia("coverage", str(CHEYENNE), "-o", str(out), "--png", png, "--terrain-height", "1800")
    _one_line_error(r, png)
    assert not out.exists()


def test_telemetry_writer_failing_on_its_thread_ends_the_command(tmp_path: Path) -> None:
    """The folder exists but the output is a directory: the Parquet writer thread fails on its
    first and only chunk. The command used to wait forever for an end marker already taken."""
    target = tmp_path / "t.parquet"
    target.mkdir()
    r = _vigia("telemetry", str(CHEYENNE), "-o", str(target), timeout_s=30)
    _one_line_error(r, str(target))
