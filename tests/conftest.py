"""Shared fixtures: a fresh store database per test, on SQLite and on PostgreSQL + PostGIS.

The PostgreSQL cluster (``tests/helpers/pgcluster.py``) is started once per session, only when a
test asks for it, and stopped at the end. If it cannot start, the PostgreSQL variants are skipped,
unless ``VIGIA_REQUIRE_PG=1`` (set by ``make test``), in which case they fail. An existing
server can be used instead with ``VIGIA_TEST_PG_URL=postgresql+psycopg://USER:PW@HOST:PORT/postgres``
(a role allowed to create databases; PostGIS must be installed there).

Each test gets a copy of a template database that is migrated and holds the users of
``SEED_USERS`` (password hashing is slow on purpose, so it is done once per session).
"""

from __future__ import annotations

import atexit
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from sqlalchemy import Engine, create_engine, select
from sqlalchemy.engine import make_url

from tests.helpers.pgcluster import PgCluster, PgUnavailable
from vigia.store import Store, User, create_user, open_store

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]


@dataclass(frozen=True)
class SeedUser:
    """A user present in every test database."""

    username: str
    password: str
    role: str
    agency: str


SEED_USERS = {
    u.username: u
    for u in (
        SeedUser("ana", "ana-correct-horse-1", "analyst", "VIGIA"),
        SeedUser("alex", "alex-correct-horse-2", "analyst", "VIGIA"),
        SeedUser("sam", "sam-correct-horse-3", "supervisor", "VIGIA"),
        SeedUser("sofia", "sofia-correct-horse-4", "supervisor", "VIGIA"),
        SeedUser("semar.enlace", "semar-correct-horse-5", "partner-liaison", "SEMAR"),
        SeedUser("semar.oficial", "semar-correct-horse-6", "partner-officer", "SEMAR"),
        SeedUser("fgr.enlace", "fgr-correct-horse-7", "partner-liaison", "FGR"),
    )
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "postgresql: runs against the test PostgreSQL + PostGIS cluster"
    )


def _seed(store: Store) -> None:
    with store.transaction() as s:
        for u in SEED_USERS.values():
            create_user(s, u.username, u.password, u.role, u.agency, now=datetime.now(UTC))


# --- PostgreSQL ------------------------------------------------------------------------------
class PgServer:
    """A PostgreSQL server the tests may create databases on."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.admin: Engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")

    def url_for(self, database: str) -> str:
        return make_url(self.admin_url).set(database=database).render_as_string(False)

    def create(self, name: str, template: str | None = None) -> str:
        with self.admin.connect() as conn:
            if template:
                conn.exec_driver_sql(
                    f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY'
                )
            else:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        return self.url_for(name)

    def drop(self, name: str) -> None:
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """The session's PostgreSQL server (started on first use, stopped at the end)."""
    external = os.environ.get("VIGIA_TEST_PG_URL", "").strip()
    if external:
        server = PgServer(external)
        yield server
        server.admin.dispose()
        return
    cluster = PgCluster()
    try:
        cluster.start()
    except (PgUnavailable, OSError) as exc:
        cluster.stop()
        if os.environ.get("VIGIA_REQUIRE_PG") == "1":
            pytest.fail(f"PostgreSQL is required (VIGIA_REQUIRE_PG=1) but unavailable: {exc}")
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    atexit.register(cluster.stop)
    server = PgServer(cluster.url)
    try:
        yield server
    finally:
        server.admin.dispose()
        cluster.stop()


@pytest.fixture(scope="session")
def pg_template(pg_server: PgServer) -> Iterator[str]:
    """Name of a migrated, seeded template database."""
    name = f"vigia_tpl_{uuid.uuid4().hex[:8]}"
    store = open_store(url=pg_server.create(name))
    try:
        _seed(store)
    finally:
        store.close()
    yield name
    pg_server.drop(name)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of a migrated, seeded SQLite store file."""
    path = tmp_path_factory.mktemp("sqlite-template") / "vigia.db"
    store = open_store(url=f"sqlite+pysqlite:///{path}")
    try:
        _seed(store)
    finally:
        store.close()
    return path


# --- per-test databases ----------------------------------------------------------------------
@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """'sqlite' or 'postgresql'."""
    name: str = request.param
    return name


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a fresh, migrated database holding the users of ``SEED_USERS``.

    On SQLite the file is ``<tmp_path>/vigia.db``, so ``open_store(tmp_path)`` finds it too.
    """
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        shutil.copyfile(template, tmp_path / "vigia.db")
        yield f"sqlite+pysqlite:///{tmp_path / 'vigia.db'}"
        return
    server: PgServer = request.getfixturevalue("pg_server")
    tpl: str = request.getfixturevalue("pg_template")
    name = f"vigia_t_{uuid.uuid4().hex[:12]}"
    url = server.create(name, template=tpl)
    try:
        yield url
    finally:
        server.drop(name)


@pytest.fixture
def empty_database_url(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[str]:
    """URL of a fresh database with nothing in it (not even the migrations)."""
    if backend == "sqlite":
        yield f"sqlite+pysqlite:///{tmp_path / 'empty.db'}"
        return
    server: PgServer = request.getfixturevalue("pg_server")
    name = f"vigia_e_{uuid.uuid4().hex[:12]}"
    url = server.create(name)
    try:
        yield url
    finally:
        server.drop(name)


@pytest.fixture
def data_dir(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data directory whose store is the test database (PostgreSQL via VIGIA_DATABASE_URL)."""
    if database_url.startswith("postgresql"):
        monkeypatch.setenv("VIGIA_DATABASE_URL", database_url)
    else:
        monkeypatch.delenv("VIGIA_DATABASE_URL", raising=False)
    return tmp_path


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """The open store of the test database."""
    s = open_store(url=database_url)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def users(store: Store) -> dict[str, User]:
    """The seed users, loaded (detached objects usable after their session)."""
    with store.transaction() as s:
        return {u.username: u for u in s.execute(select(User)).scalars()}


# --- sites -----------------------------------------------------------------------------------
SITE_SCHEMA = pa.schema(
    [
        ("site_id", pa.string()),
        ("lat", pa.float64()),
        ("lon", pa.float64()),
        ("h_m", pa.float64()),
        ("ce90_m", pa.float64()),
        ("cov_ee_m2", pa.float64()),
        ("cov_en_m2", pa.float64()),
        ("cov_nn_m2", pa.float64()),
        ("log_odds", pa.float64()),
        ("probability", pa.float64()),
        ("candidate", pa.bool_()),
        ("status", pa.string()),
        ("new_since_previous_pass", pa.bool_()),
        ("previous_pass_time", pa.timestamp("us", tz="UTC")),
        ("first_seen", pa.timestamp("us", tz="UTC")),
        ("last_seen", pa.timestamp("us", tz="UTC")),
        ("n_observations", pa.int64()),
        ("n_passes", pa.int64()),
        ("n_sorties", pa.int64()),
        ("night_passes", pa.int64()),
        ("empty_passes", pa.int64()),
        ("indicators", pa.list_(pa.string())),
        ("sorties", pa.list_(pa.string())),
        ("aoi", pa.string()),
        ("vocabulary", pa.string()),
        ("explanation", pa.string()),
        ("assessment", pa.string()),
    ]
)

#: 2026-05-01 00:00 UTC: first_seen of the sites the factory makes.
T0 = datetime(2026, 5, 1, tzinfo=UTC)


def _site_row(i: int, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "site_id": f"S{i:08x}",
        "lat": 24.80 + 0.01 * i,
        "lon": -107.40 - 0.01 * i,
        "h_m": 120.0,
        "ce90_m": 18.5,
        "cov_ee_m2": 90.0,
        "cov_en_m2": 4.0,
        "cov_nn_m2": 110.0,
        "log_odds": 2.2,
        "probability": 0.9,
        "candidate": True,
        "status": "active",
        "new_since_previous_pass": False,
        "previous_pass_time": T0 + timedelta(days=1),
        "first_seen": T0,
        "last_seen": T0 + timedelta(days=2),
        "n_observations": 7,
        "n_passes": 3,
        "n_sorties": 2,
        "night_passes": 1,
        "empty_passes": 0,
        "indicators": ["tarp_cluster", "chemical_drums"],
        "sorties": ["MSN-SECRET-0001", "MSN-SECRET-0002"],
        "aoi": "Culiacán norte",
        "vocabulary": "indicators@1",
        "explanation": '[{"term": "prior", "detail": "", "log_lr": -4.0}]',
        "assessment": None,
    }
    row.update(overrides)
    return row


@pytest.fixture
def make_sites() -> Callable[..., pa.Table]:
    """``make_sites(n=3, **overrides)`` or ``make_sites(rows=[{...}, ...])``: a table with the
    schema of ``sites.parquet`` (site ids ``S00000000``, ``S00000001``, ...)."""

    def make(n: int = 3, rows: list[dict[str, Any]] | None = None, **overrides: Any) -> pa.Table:
        if rows is None:
            rows = [_site_row(i, **overrides) for i in range(n)]
        else:
            rows = [_site_row(i, **r) for i, r in enumerate(rows)]
        return pa.Table.from_pylist(rows, schema=SITE_SCHEMA)

    return make
