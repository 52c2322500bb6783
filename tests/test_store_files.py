"""A data directory is its owner's only: the directory 0700, the SQLite database and its
-wal/-shm 0600 from their creation, whatever the umask; an existing database others could read
is tightened when opened, with a log line."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from sqlalchemy import text

from vigia.store import open_store
from vigia.store.catalog import Catalog


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The most permissive umask (files 0666, directories 0777 unless the code says otherwise)."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def test_a_new_data_directory_and_database_are_owner_only(tmp_path: Path, open_umask: None) -> None:
    data_dir = tmp_path / "new" / "vigia-data"
    with open_store(data_dir) as store, store.transaction() as s:
        s.execute(text("CREATE TABLE probe (x INTEGER)"))
        s.execute(text("INSERT INTO probe VALUES (1)"))
        db = data_dir / "vigia.db"
        wal, shm = db.with_name("vigia.db-wal"), db.with_name("vigia.db-shm")
        assert wal.exists() and shm.exists()
        modes = {p.name: _mode(p) for p in (db, wal, shm)}
    assert _mode(data_dir) == 0o700
    assert modes == {"vigia.db": 0o600, "vigia.db-wal": 0o600, "vigia.db-shm": 0o600}


def test_the_catalog_creates_its_directory_owner_only(tmp_path: Path, open_umask: None) -> None:
    root = tmp_path / "catalog-dir"
    Catalog(root).write_table("sites", pa.table({"x": [1]}))
    assert _mode(root) == 0o700


def test_an_existing_readable_database_is_tightened_on_open(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    open_store(tmp_path).close()
    db = tmp_path / "vigia.db"
    wal = db.with_name("vigia.db-wal")
    wal.write_bytes(b"")
    os.chmod(db, 0o644)
    os.chmod(wal, 0o666)
    with caplog.at_level(logging.WARNING, logger="vigia.store"):
        open_store(tmp_path).close()
    assert _mode(db) == 0o600
    if wal.exists():
        assert _mode(wal) == 0o600
    assert any(
        "vigia.db was readable by others (mode 0644)" in r.getMessage() for r in caplog.records
    )
