"""The MAC-chained audit log detects altered and removed entries on both back ends.

Since migration 0003 the audit rows are append-only: each tampering test first drops the
triggers (:func:`tests.helpers.audit.drop_audit_guards`), as the database owner could.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pytest
from sqlalchemy import func, select, text

from tests.helpers.audit import drop_audit_guards
from tests.helpers.users import SEED_USERS
from vigia.app.admin import audit_verify
from vigia.store import (
    GENESIS_HASH,
    AuditEntry,
    Store,
    User,
    audit,
    canonical_json,
    list_sites,
    sync_sites,
    verify_audit,
)
from vigia.store.audit import SCHEME_HMAC, AuditRecord, entry_hash
from vigia.store.auditlog import RawAppender
from vigia.times import iso_time_fixed_us


@pytest.fixture
def history(store: Store, users: dict[str, User], make_sites: Callable[..., pa.Table]) -> int:
    """A few audited operations; returns the number of entries."""
    with store.transaction() as s:
        sync_sites(s, make_sites(2))
    for name in ("ana", "sam", "alex"):
        with store.transaction() as s:
            list_sites(s, users[name])
    with store.transaction() as s:
        audit(s, "ana", "note", "site", "S00000000", {"texto": "señal térmica", "n": 1.5})
    with store.read_only() as s:
        n: int = s.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
    return n


def _verify(store: Store):  # type: ignore[no-untyped-def]
    assert store.audit_key is not None
    with store.read_only() as s:
        return verify_audit(s, store.audit_key)


def test_intact_chain(store: Store, history: int) -> None:
    report = store.verify_audit()
    assert report.ok, report.message
    assert report.entries == report.last_seq == history
    assert history == len(SEED_USERS) + 5  # 7 seed users, sync, 3 list reads, the note
    with store.read_only() as s:
        entries = s.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars().all()
    assert entries[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))
    last = entries[-1]
    assert last.details == {"texto": "señal térmica", "n": 1.5}
    # The hash is HMAC-SHA256 with the store's key over the canonical JSON of the entry
    # followed by prev_hash.
    assert store.audit_key is not None
    assert {e.scheme for e in entries} == {SCHEME_HMAC}
    doc = {
        "seq": last.seq,
        "time": last.time.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor": last.actor,
        "action": last.action,
        "object_type": last.object_type,
        "object_id": last.object_id,
        "details": last.details,
    }
    assert last.hash == store.audit_key.mac(canonical_json(doc) + last.prev_hash)


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_log SET actor = 'mallory' WHERE seq = 9",
        "UPDATE audit_log SET details = '{\"site_ids\": []}' WHERE seq = 9",
        "UPDATE audit_log SET object_id = 'S99999999' WHERE seq = 9",
        "UPDATE audit_log SET details = 'null' WHERE seq = 9",
        "UPDATE audit_log SET time = {later} WHERE seq = 9",
    ],
)
def test_altered_entry_is_found(store: Store, history: int, sql: str) -> None:
    later = {
        "sqlite": "strftime('%Y-%m-%d %H:%M:%f', time, '+1 second')",
        "postgresql": "time + interval '1 second'",
    }[store.backend]
    with store.engine.begin() as conn:
        drop_audit_guards(conn)
        conn.execute(text(sql.replace("{later}", later)))
    report = _verify(store)
    assert not report.ok
    assert (report.first_bad_seq, report.problem) == (9, "altered")
    assert "entry 9 was altered" in report.message


def test_removed_entry_is_found(store: Store, history: int) -> None:
    with store.engine.begin() as conn:
        drop_audit_guards(conn)
        conn.execute(text("DELETE FROM audit_log WHERE seq IN (10, 11)"))
    report = _verify(store)
    assert (report.ok, report.first_bad_seq, report.problem) == (False, 10, "removed")
    assert "10..11 are missing" in report.message


def test_removed_last_entries_are_found(store: Store, history: int) -> None:
    with store.engine.begin() as conn:
        drop_audit_guards(conn)
        conn.execute(text("DELETE FROM audit_log WHERE seq = :s"), {"s": history})
    report = _verify(store)
    assert (report.ok, report.first_bad_seq, report.problem) == (False, history, "removed")


def test_renumbered_and_rehashed_entries_are_found(store: Store, history: int) -> None:
    # Remove entry 5, then shift 6.. down by one and re-hash each shifted entry by itself:
    # the sequence is gap-free and every entry matches its own hash, but the chain breaks.
    with store.engine.begin() as conn:
        drop_audit_guards(conn)
        conn.execute(text("DELETE FROM audit_log WHERE seq = 5"))
        rows = conn.execute(
            select(AuditEntry).where(AuditEntry.seq > 5).order_by(AuditEntry.seq)
        ).all()
        for r in rows:
            new_seq = r.seq - 1
            h = entry_hash(
                new_seq,
                r.time,
                r.actor,
                r.action,
                r.object_type,
                r.object_id,
                r.details,
                r.prev_hash,
            )
            conn.execute(
                text("UPDATE audit_log SET seq = :n, hash = :h WHERE seq = :o"),
                {"n": new_seq, "h": h, "o": r.seq},
            )
    report = _verify(store)
    assert (report.ok, report.first_bad_seq, report.problem) == (False, 5, "removed")
    assert "does not chain" in report.message


def test_concurrent_appends_keep_one_chain(store: Store) -> None:
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            for i in range(15):
                with store.transaction() as s:
                    audit(s, name, "note", "test", str(i))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f"user{k}",)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    report = _verify(store)
    assert report.ok, report.message
    assert report.entries == len(SEED_USERS) + 45


def test_cli_audit_verify(data_dir: Path, store: Store, history: int) -> None:
    lines: list[str] = []
    assert audit_verify(data_dir, echo=lines.append) == 0
    assert lines == [f"OK: audit log intact: {history} entries"]
    with store.engine.begin() as conn:
        drop_audit_guards(conn)
        conn.execute(text("UPDATE audit_log SET action = 'nothing' WHERE seq = 3"))
    lines.clear()
    assert audit_verify(data_dir, echo=lines.append) == 1
    assert lines == ["FAILED at entry 3 (altered): entry 3 was altered (its MAC does not match)"]


class _Undo(Exception):
    """Rolls back a transaction on purpose."""


def _row(e: AuditEntry) -> tuple[object, ...]:
    return (
        e.seq,
        iso_time_fixed_us(e.time),
        e.actor,
        e.action,
        e.object_type,
        e.object_id,
        e.details,
        e.prev_hash,
        e.hash,
    )


def test_audit_and_group_commit_build_identical_entries(store: Store) -> None:
    # The same records appended after the same head, once by audit() (then rolled back) and
    # once by the API's RawAppender, give the same rows and hashes, and the chain verifies.
    t = datetime(2026, 5, 10, 8, 3, 7, 123456, tzinfo=timezone(timedelta(hours=-6)))
    records = [
        AuditRecord(
            "ana", "read", "site", None, {"texto": "señal térmica", "at": t, "k": (1, 2)}, t
        ),
        AuditRecord("sam", "note", "site", 42, {}, t + timedelta(seconds=1)),
        AuditRecord("alex", "read", "chip", "O1", {"n": 1.5, "tags": {"b", "a"}}, t),
    ]
    with pytest.raises(_Undo), store.transaction() as s:
        by_audit = [
            _row(audit(s, r.actor, r.action, r.object_type, r.object_id, r.details, now=r.time))
            for r in records
        ]
        raise _Undo
    assert store.audit_key is not None
    appender = RawAppender(store.engine, store.audit_key)
    try:
        last = appender.append(records)
    finally:
        appender.reset()
    with store.read_only() as s:
        stored = s.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars().all()
    by_appender = [_row(e) for e in stored[-len(records) :]]
    assert by_appender == by_audit
    assert last == by_audit[-1][0] == len(SEED_USERS) + len(records)
    assert by_audit[0][1] == "2026-05-10T14:03:07.123456Z"
    assert by_audit[0][5] == "*" and by_audit[1][5] == "42"
    assert _verify(store).ok
