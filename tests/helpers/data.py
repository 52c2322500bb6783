"""The test data that travels with the tests (``tests/data``, provenance in ``SOURCES.md``)."""

from __future__ import annotations

from pathlib import Path

#: ``tests/data``: MISB example packets (``klv/``) and ST 1201 vectors (``st1201/``).
DATA_DIR = Path(__file__).resolve().parents[1] / "data"


def data_path(*parts: str) -> Path:
    """A file under ``tests/data``; fails loudly when it is missing (the data is committed)."""
    path = DATA_DIR.joinpath(*parts)
    if not path.is_file():
        raise FileNotFoundError(f"test data missing: {path} (see tests/data/SOURCES.md)")
    return path
