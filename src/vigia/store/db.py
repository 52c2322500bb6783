"""Opening the store: SQLite in the data directory by default, PostgreSQL + PostGIS by URL.

``open_store()`` picks the database (explicit ``url`` > ``VIGIA_DATABASE_URL`` > SQLite file
``<data_dir>/vigia.db``, created owner-only: :mod:`vigia.store.files`), applies the Alembic
migrations shipped in the package, and returns a :class:`Store` whose
:meth:`Store.transaction` yields a Session inside one transaction.

On SQLite every write transaction starts with ``BEGIN IMMEDIATE`` (one writer at a time, so the
audit chain cannot fork and no transaction fails half-way on a lock upgrade); the database runs
in WAL mode so that readers do not wait for writers.

The store also holds the two files of the audit trail that live outside the database (see
:mod:`vigia.store.auditkey`): the MAC key (``$VIGIA_AUDIT_KEY_FILE`` or ``<data_dir>/.audit.key``)
and the checkpoint log (``<data_dir>/audit-checkpoints.log``). ``<data_dir>`` is the one given,
else the SQLite file's directory, else ``./vigia-data``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from vigia.errors import AuditKeyError, StoreError
from vigia.store.audit import (
    AUDIT_KEY_INFO,
    SCHEME_HMAC,
    AuditReport,
    pop_checkpoint,
    verify_audit,
)
from vigia.store.auditkey import (
    CHECKPOINTS_FILENAME,
    AuditKey,
    CheckpointLog,
    create_key,
    key_path,
    load_key,
)
from vigia.store.files import create_private_file, private_dir, tighten
from vigia.store.models import AuditEntry, AuditHead

__all__ = [
    "DATABASE_URL_ENV",
    "DEFAULT_DATA_DIR",
    "Store",
    "current_revision",
    "database_url",
    "db_error_summary",
    "head_revision",
    "make_engine",
    "open_store",
    "upgrade",
]

DATABASE_URL_ENV = "VIGIA_DATABASE_URL"
DEFAULT_DATA_DIR = Path("vigia-data")
DB_FILENAME = "vigia.db"
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
#: SQLite waits this long for the write lock before giving up (ms).
SQLITE_BUSY_TIMEOUT_MS = 30_000


def database_url(data_dir: Path | str | None = None, url: str | None = None) -> str:
    """The URL ``open_store`` would use: ``url``, else ``$VIGIA_DATABASE_URL``, else SQLite."""
    if url:
        return url
    env = os.environ.get(DATABASE_URL_ENV, "").strip()
    if env:
        return env
    directory = Path(data_dir) if data_dir is not None else DEFAULT_DATA_DIR
    return f"sqlite+pysqlite:///{(directory / DB_FILENAME).absolute()}"


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    # The driver must not open transactions by itself: the "begin" hook below does it.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA foreign_keys = ON")
    cur.execute("PRAGMA journal_mode = WAL")
    cur.execute("PRAGMA synchronous = NORMAL")
    cur.close()


def _sqlite_on_begin(conn: Connection) -> None:
    mode = "DEFERRED" if conn.get_execution_options().get("vigia_read_only") else "IMMEDIATE"
    conn.exec_driver_sql(f"BEGIN {mode}")


def make_engine(url: str) -> Engine:
    """An Engine for ``url`` with the settings Vigía needs (SQLite pragmas, pool)."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"not a database URL: {exc}") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise StoreError("an in-memory SQLite database cannot be shared; give a file")
        engine = create_engine(
            parsed,
            connect_args={"check_same_thread": False},
            pool_size=8,
            max_overflow=16,
            hide_parameters=True,
        )
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    if backend == "postgresql":
        return create_engine(
            parsed,
            pool_size=8,
            max_overflow=16,
            pool_pre_ping=True,
            connect_args={"application_name": "vigia"},
            hide_parameters=True,
        )
    raise StoreError(f"unsupported database {backend!r}: use sqlite or postgresql+psycopg")


def db_error_summary(exc: BaseException) -> str:
    """What may be logged of a database error: its type, the driver's error type and the kind of
    statement (``OperationalError (sqlite3.OperationalError) in INSERT``), never the statement's
    parameters nor the driver's message (which may quote values)."""
    text = type(exc).__name__
    orig = getattr(exc, "orig", None)
    if orig is not None:
        text += f" ({type(orig).__module__}.{type(orig).__name__})"
    if isinstance(exc, StatementError) and exc.statement:
        words = exc.statement.split(None, 1)
        if words:
            text += f" in {words[0].upper()[:16]}"
    return text


def _alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The newest migration revision shipped with this version of Vigía."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise StoreError("no migrations found")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for an empty database)."""
    with engine.connect() as conn:
        rev: str | None = MigrationContext.configure(conn).get_current_revision()
        conn.rollback()
        return rev


def upgrade(engine_or_url: Engine | str, revision: str = "head") -> None:
    """Apply the migrations up to ``revision`` (idempotent)."""
    engine = make_engine(engine_or_url) if isinstance(engine_or_url, str) else engine_or_url
    try:
        with engine.begin() as conn:
            command.upgrade(_alembic_config(conn), revision)
    finally:
        if isinstance(engine_or_url, str):
            engine.dispose()


def downgrade(engine_or_url: Engine | str, revision: str) -> None:
    """Undo migrations down to ``revision`` ('base' empties the schema; PostGIS stays)."""
    engine = make_engine(engine_or_url) if isinstance(engine_or_url, str) else engine_or_url
    try:
        with engine.begin() as conn:
            command.downgrade(_alembic_config(conn), revision)
    finally:
        if isinstance(engine_or_url, str):
            engine.dispose()


class Store:
    """An open store: an Engine and the transactions over it. Close it (or use ``with``).

    ``audit_key`` MACs the audit entries (a store without one cannot write any:
    :class:`AuditKeyError`); ``checkpoints`` is the checkpoint log the head is appended to.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        audit_key: AuditKey | None = None,
        checkpoints: CheckpointLog | None = None,
        audit_key_path: Path | None = None,
    ) -> None:
        self.engine = engine
        self.backend: str = engine.dialect.name
        self.audit_key = audit_key
        self.audit_key_path = audit_key_path or (audit_key.path if audit_key else None)
        self.checkpoints = checkpoints
        info: dict[str, Any] = {AUDIT_KEY_INFO: audit_key} if audit_key is not None else {}
        self._sessions = sessionmaker(engine, expire_on_commit=False, info=info)
        self._read_sessions = sessionmaker(
            engine.execution_options(vigia_read_only=True), expire_on_commit=False, info=info
        )

    @property
    def url(self) -> str:
        """The database URL with any password hidden."""
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A Session in one transaction: committed on success, rolled back on any error.

        Every service that writes (audit entries included) runs inside one of these. When its
        entries passed a checkpoint, the head is appended to the checkpoint log after commit.
        """
        with self._sessions() as session:
            with session.begin():
                yield session
            due = pop_checkpoint(session)
        if due is not None and self.audit_key is not None and self.checkpoints is not None:
            self.checkpoints.append(self.audit_key, *due)

    @contextmanager
    def read_only(self) -> Iterator[Session]:
        """A Session for reads that write nothing, not even audit entries (e.g. token checks).

        It is rolled back at the end; on SQLite it does not take the write lock.
        """
        with self._read_sessions() as session:
            yield session  # closing the session rolls back; loaded objects stay usable

    def require_audit_key(self) -> AuditKey:
        """The audit key (:class:`AuditKeyError` when the store has none)."""
        if self.audit_key is None:
            raise AuditKeyError(
                f"the audit key file {self.audit_key_path} is missing: the audit log cannot be "
                "verified or written (restore the key from its backup)"
            )
        return self.audit_key

    def verify_audit(self, checkpoints: CheckpointLog | None = None) -> AuditReport:
        """Walk the audit chain with the key, against the checkpoint log ``checkpoints`` (the
        store's own by default); see :func:`vigia.store.audit.verify_audit`."""
        key = self.require_audit_key()
        log = checkpoints if checkpoints is not None else self.checkpoints
        lines = log.read(key) if log is not None else []
        with self.read_only() as session:
            return verify_audit(session, key, checkpoints=lines)

    def checkpoint(self) -> tuple[int, str]:
        """Append the current head of the audit log to the checkpoint log; returns (seq, hash)."""
        key = self.require_audit_key()
        with self.read_only() as session:
            head = session.execute(select(AuditHead.seq, AuditHead.hash)).one()
        seq, h = int(head[0]), str(head[1])
        if self.checkpoints is not None:
            self.checkpoints.append(key, seq, h)
        return seq, h

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(
    data_dir: Path | str | None = None,
    url: str | None = None,
    *,
    create: bool = True,
    migrate: bool = True,
    audit_key: Literal["create", "load"] = "create",
) -> Store:
    """Open (and by default create and migrate) the store.

    ``url`` wins over ``$VIGIA_DATABASE_URL``, which wins over the SQLite file
    ``<data_dir>/vigia.db`` (``data_dir`` defaults to ``./vigia-data``). With ``create=False``
    a missing SQLite file is an error instead of a new empty store. The audit key is loaded,
    and with ``audit_key='create'`` created when there is none yet (:class:`AuditKeyError`
    when it is missing although the log holds keyed entries: a new key would hide them);
    with ``'load'`` a missing key leaves the store without one (``vigia audit verify``).
    """
    resolved = database_url(data_dir, url)
    engine = make_engine(resolved)
    audit_dir = Path(data_dir) if data_dir is not None else DEFAULT_DATA_DIR
    if engine.dialect.name == "sqlite":
        db_path = Path(engine.url.database or "")
        if data_dir is None:
            audit_dir = db_path.parent
        if not db_path.exists():
            if not create:
                engine.dispose()
                raise StoreError(f"no Vigía store at {db_path}")
            private_dir(db_path.parent)
            create_private_file(db_path)  # SQLite gives its -wal and -shm the same mode
        for path in (db_path, *(db_path.with_name(db_path.name + s) for s in ("-wal", "-shm"))):
            tighten(path)
    try:
        if migrate and current_revision(engine) != head_revision():
            upgrade(engine)
    except StoreError:
        engine.dispose()
        raise
    except Exception as exc:
        engine.dispose()
        raise StoreError(
            f"cannot open the store at {engine.url.render_as_string(hide_password=True)}: {exc}"
        ) from exc
    kpath = key_path(audit_dir)
    try:
        key = load_key(kpath)
        if key is None and audit_key == "create":
            if _has_keyed_entries(engine):
                raise AuditKeyError(
                    f"the audit key file {kpath} is missing but the audit log holds keyed "
                    "entries: restore the key (a new one would hide them)"
                )
            key = create_key(kpath)
    except AuditKeyError:
        engine.dispose()
        raise
    return Store(
        engine,
        audit_key=key,
        checkpoints=CheckpointLog(audit_dir / CHECKPOINTS_FILENAME),
        audit_key_path=kpath,
    )


def _has_keyed_entries(engine: Engine) -> bool:
    with engine.execution_options(vigia_read_only=True).connect() as conn:
        found = conn.execute(
            select(AuditEntry.seq).where(AuditEntry.scheme == SCHEME_HMAC).limit(1)
        ).first()
        conn.rollback()
    return found is not None
