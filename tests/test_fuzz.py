"""Coverage-guided fuzzing of the decoders with atheris, for a bounded number of inputs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris")

pytestmark = pytest.mark.slow

TARGET = Path(__file__).with_name("fuzz") / "fuzz_decoders.py"


def test_atheris_finds_no_crash(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(TARGET),
            "-runs=1500",
            "-max_len=2048",
            "-seed=1",
            f"-artifact_prefix={tmp_path}/",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Done 1500 runs" in proc.stderr
