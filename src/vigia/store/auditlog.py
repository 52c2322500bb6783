"""Audit entries of the API's hot read paths, appended in groups (group commit).

Every read of sites, products and actions must leave an entry in the MAC-chained audit log
(:mod:`vigia.store.audit`). Most routes call the store's services, which append their entry in
the same transaction as the read. The partner's site list is read far more often than anything
else; for it a request hands its entry to an :class:`AuditSink` and waits until the entry is
*committed*: a writer thread takes every entry waiting at that moment, appends them all to the
chain in one transaction (:class:`RawAppender`), and then releases the requests. A response is
therefore never sent before its audit entry is committed, and the cost of a transaction is shared
by every request of the group.

:class:`RawAppender` builds its rows with the same function as :func:`vigia.store.audit.audit`
(:func:`vigia.store.audit.chain_rows`, with the store's key) and locks the head row for the
whole transaction, so :func:`vigia.store.audit.verify_audit` checks both kinds of entries alike.
A record carries the client address of the request it was made in (``AuditRecord.client``, from
:func:`vigia.store.audit.audit_client`), and a group that passes a checkpoint appends the head
to the checkpoint log after its commit, like :meth:`vigia.store.Store.transaction`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Dialect, Engine, Table, bindparam, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from vigia.errors import AuditUnavailable
from vigia.store import AuditEntry, Store, db_error_summary
from vigia.store.audit import AuditRecord, chain_rows, crosses_checkpoint
from vigia.store.auditkey import AuditKey, CheckpointLog
from vigia.store.models import AuditHead

__all__ = ["AuditRecord", "AuditSink", "AuditUnavailable", "RawAppender"]

log = logging.getLogger(__name__)

#: Primary key of the single row of ``audit_head``.
_HEAD_ID = 1
#: Most entries appended in one transaction.
MAX_BATCH = 1000
#: Longest wait for SQLite's write lock before a group fails (s).
SQLITE_LOCK_WAIT_S = 30.0
#: How long the writer waits after the first entry of a group for more to arrive (s).
LINGER_S = 0.002


_ENTRIES: Table = AuditEntry.__table__  # type: ignore[assignment]
_HEAD: Table = AuditHead.__table__  # type: ignore[assignment]


class _Statement:
    """A Core statement compiled once for a dialect, run on a raw DB-API cursor."""

    def __init__(self, stmt: Any, dialect: Dialect) -> None:
        compiled = stmt.compile(dialect=dialect)
        self.sql: str = compiled.string
        self.positions: Sequence[str] | None = compiled.positiontup
        self.defaults: dict[str, Any] = dict(compiled.params)
        self.procs = {
            c.key: c.type.dialect_impl(dialect).bind_processor(dialect) for c in _ENTRIES.c
        }

    def params(self, values: Mapping[str, Any]) -> Any:
        bound = dict(self.defaults)
        for k, v in values.items():
            proc = self.procs.get(k)
            bound[k] = proc(v) if proc is not None else v
        if self.positions is not None:
            return tuple(bound[k] for k in self.positions)
        return bound


class RawAppender:
    """Appends groups of entries on one DB-API connection, with statements compiled once.

    Same chain as :func:`vigia.store.audit.audit`: the head row is locked for the whole
    transaction (``BEGIN IMMEDIATE`` on SQLite, ``SELECT ... FOR UPDATE`` on PostgreSQL), the
    entries are chained in order (MAC-ed with ``key``) and inserted with one ``executemany``,
    and the head moves to the last one; passing a checkpoint appends the head to
    ``checkpoints`` after the commit.
    """

    def __init__(
        self, engine: Engine, key: AuditKey, checkpoints: CheckpointLog | None = None
    ) -> None:
        self.engine = engine
        self.key = key
        self.checkpoints = checkpoints
        dialect = engine.dialect
        self.sqlite = dialect.name == "sqlite"
        self._head = _Statement(
            select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == _HEAD_ID).with_for_update(),
            dialect,
        )
        self._insert = _Statement(insert(_ENTRIES), dialect)
        self._move = _Statement(
            update(_HEAD)
            .where(_HEAD.c.id == _HEAD_ID)
            .values(seq=bindparam("new_seq"), hash=bindparam("new_hash")),
            dialect,
        )
        self._conn: Any = None

    def append(self, records: Sequence[AuditRecord]) -> int:
        """Append ``records`` in one transaction; returns the last sequence number."""
        if self._conn is None:
            self._conn = self.engine.raw_connection()
            if self.sqlite:
                # Waits for the write lock are ours (below): SQLite's own busy handler sleeps
                # in steps of up to 100 ms, far longer than a group commit holds the lock.
                self._conn.cursor().execute("PRAGMA busy_timeout = 0")
        conn = self._conn
        try:
            cur = conn.cursor()
            if self.sqlite:
                self._begin_immediate(cur)
            cur.execute(self._head.sql, self._head.params({}))
            seq, prev = cur.fetchone()
            rows = chain_rows(int(seq), str(prev), records, self.key)
            if rows:
                cur.executemany(self._insert.sql, [self._insert.params(r) for r in rows])
                last = rows[-1]
                cur.execute(
                    self._move.sql,
                    self._move.params({"new_seq": last["seq"], "new_hash": last["hash"]}),
                )
            conn.commit()
            cur.close()
        except Exception:
            self.reset()
            raise
        if not rows:
            return int(seq)
        last = rows[-1]
        if self.checkpoints is not None and crosses_checkpoint(int(seq), int(last["seq"])):
            self.checkpoints.append(self.key, int(last["seq"]), str(last["hash"]))
        return int(last["seq"])

    @staticmethod
    def _begin_immediate(cur: Any) -> None:
        deadline = time.monotonic() + SQLITE_LOCK_WAIT_S
        pause = 0.0002
        while True:
            try:
                cur.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if time.monotonic() > deadline:
                    raise
                time.sleep(pause)
                pause = min(pause * 1.5, 0.002)

    def reset(self) -> None:
        """Roll back and drop the connection (a new one is taken next time)."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        with contextlib.suppress(Exception):
            conn.rollback()
        with contextlib.suppress(Exception):
            conn.invalidate()
        with contextlib.suppress(Exception):
            conn.close()


@dataclass(slots=True)
class _Pending:
    record: AuditRecord
    loop: asyncio.AbstractEventLoop | None
    future: asyncio.Future[None] | None
    done: threading.Event | None = None
    error: BaseException | None = None


_STOP = object()


class AuditSink:
    """Group commit of audit entries: one writer thread, one transaction per group."""

    def __init__(
        self, store: Store, *, max_batch: int = MAX_BATCH, linger_s: float = LINGER_S
    ) -> None:
        self._store = store
        self._appender = RawAppender(store.engine, store.require_audit_key(), store.checkpoints)
        self._max_batch = max_batch
        self._linger_s = linger_s
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False

    def _ensure_thread(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._closed:
                raise AuditUnavailable("the audit writer is stopped")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="vigia-audit-writer", daemon=True
                )
                self._thread.start()

    async def append(self, record: AuditRecord) -> None:
        """Queue ``record`` and return once it is committed (:class:`AuditUnavailable` if not)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self._ensure_thread()
        self._queue.put(_Pending(record, loop, fut))
        await fut

    def append_sync(self, record: AuditRecord) -> None:
        """Blocking form of :meth:`append`, for code running in a worker thread."""
        done = threading.Event()
        item = _Pending(record, None, None, done)
        self._ensure_thread()
        self._queue.put(item)
        done.wait()
        if item.error is not None:
            raise AuditUnavailable(f"the audit log cannot be written: {item.error}")

    def close(self) -> None:
        """Write what is queued, then stop the writer thread."""
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._queue.put(_STOP)
            thread.join(timeout=30)
        self._appender.reset()

    # --- the writer thread --------------------------------------------------------------------
    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is _STOP:
                return
            batch: list[_Pending] = [first]
            if self._linger_s > 0:
                time.sleep(self._linger_s)  # let the group grow (the wait releases the GIL)
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                batch.append(item)
            error: BaseException | None = None
            try:
                self._appender.append([p.record for p in batch])
            except Exception as exc:
                if isinstance(exc, SQLAlchemyError):  # its message may quote the values
                    log.error(
                        "audit append failed for %d entries: %s", len(batch), db_error_summary(exc)
                    )
                else:
                    log.exception("audit append failed for %d entries", len(batch))
                error = exc
            self._release(batch, error)

    @staticmethod
    def _release(batch: list[_Pending], error: BaseException | None) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
        for p in batch:
            if p.loop is not None and p.future is not None:
                by_loop.setdefault(p.loop, []).append(p.future)
            elif p.done is not None:
                p.error = error
                p.done.set()
        for loop, futures in by_loop.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(_resolve, futures, error)


def _resolve(futures: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for fut in futures:
        if fut.done():
            continue
        if error is None:
            fut.set_result(None)
        else:
            fut.set_exception(AuditUnavailable(f"the audit log cannot be written: {error}"))
