"""Shared fixtures: a fresh store database per test, on SQLite and on PostgreSQL + PostGIS.

The PostgreSQL cluster (``tests/helpers/pgcluster.py``) is started once per session, only when a
test asks for it, and stopped at the end. If it cannot start, the PostgreSQL variants are skipped,
unless ``VIGIA_REQUIRE_PG=1`` (set by ``make test``), in which case they fail. An existing
server can be used instead with ``VIGIA_TEST_PG_URL=postgresql+psycopg://USER:PW@HOST:PORT/postgres``
(a role allowed to create databases; PostGIS must be installed there).

Each test gets a copy of a template database that is migrated and holds the users of
``SEED_USERS`` (``tests/helpers/users.py``; password hashing is slow on purpose, so it is done
once per session).
"""

from __future__ import annotations

import atexit
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from sqlalchemy import Engine, create_engine, select
from sqlalchemy.engine import make_url

from tests.helpers.api import Api, open_api
from tests.helpers.pgcluster import PgCluster, PgUnavailable
from tests.helpers.sites import SITE_SCHEMA, site_row
from tests.helpers.users import SEED_USERS
from vigia.store import Store, User, create_user, open_store
from vigia.store.auditkey import AUDIT_KEY_FILE_ENV

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "postgresql: runs against the test PostgreSQL + PostGIS cluster (also slow)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The PostgreSQL variants are also ``slow``: ``pytest -m "not slow"`` runs the store and
    API tests on SQLite only, without starting the cluster; ``make test`` runs both."""
    for item in items:
        if item.get_closest_marker("postgresql") is not None:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", autouse=True)
def audit_key_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One audit MAC key for the whole session (``$VIGIA_AUDIT_KEY_FILE``), so that the entries
    of the template databases verify in every copy; tests that need another key or none
    override the variable with ``monkeypatch``."""
    path = tmp_path_factory.mktemp("audit-key") / ".audit.key"
    old = os.environ.get(AUDIT_KEY_FILE_ENV)
    os.environ[AUDIT_KEY_FILE_ENV] = str(path)
    yield path
    if old is None:
        os.environ.pop(AUDIT_KEY_FILE_ENV, None)
    else:
        os.environ[AUDIT_KEY_FILE_ENV] = old


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
@pytest.fixture
def make_sites() -> Callable[..., pa.Table]:
    """``make_sites(n=3, **overrides)`` or ``make_sites(rows=[{...}, ...])``: a table with the
    schema of ``sites.parquet`` (site ids ``S00000000``, ``S00000001``, ...)."""

    def make(n: int = 3, rows: list[dict[str, Any]] | None = None, **overrides: Any) -> pa.Table:
        if rows is None:
            rows = [site_row(i, **overrides) for i in range(n)]
        else:
            rows = [site_row(i, **r) for i, r in enumerate(rows)]
        return pa.Table.from_pylist(rows, schema=SITE_SCHEMA)

    return make


# --- the HTTP API --------------------------------------------------------------------------------
@pytest.fixture
def api(data_dir: Path, database_url: str) -> Iterator[Api]:
    """The API over a fresh data directory and database (both backends)."""
    yield from open_api(data_dir, database_url)
