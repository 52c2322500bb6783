"""The hash-chained audit log.

Each entry stores ``hash = SHA-256(canonical JSON of the entry + prev_hash)`` where the entry is
``{seq, time, actor, action, object_type, object_id, details}`` and ``prev_hash`` is the hash of
the entry before (64 zeros for the first). Canonical JSON: keys sorted, no spaces, UTF-8, times
as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``. The ``audit_head`` row holds the last seq and hash; appending
locks it (the chain never forks) and verifying compares the end of the chain with it.

:func:`audit` is called by every service in the same transaction as the change or read it
records, so an entry exists exactly when the thing it describes happened. :func:`chain_rows` is
the one place where entries are normalised, hashed and chained; :func:`audit` and the API's group
commit (:mod:`vigia.store.auditlog`) both build their rows with it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import PurePath
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigia.errors import ValidationError
from vigia.store.models import AuditEntry, AuditHead
from vigia.times import iso_time_fixed_us

__all__ = [
    "GENESIS_HASH",
    "AuditRecord",
    "AuditReport",
    "audit",
    "canonical_json",
    "chain_rows",
    "entry_hash",
    "lock_audit",
    "verify_audit",
]

GENESIS_HASH = "0" * 64
_HEAD_ID = 1


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise TypeError("naive datetime in audit details")
        return iso_time_fixed_us(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return sorted(value) if isinstance(value, set | frozenset) else list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def canonical_json(obj: Any) -> str:
    """Canonical JSON text: sorted keys, no spaces, no NaN, non-ASCII kept as UTF-8."""
    return json.dumps(
        obj,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=_default,
    )


def entry_hash(
    seq: int,
    time: datetime,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    details: Mapping[str, Any] | None,
    prev_hash: str,
) -> str:
    """SHA-256 (hex) of the canonical JSON of the entry followed by ``prev_hash``."""
    entry = {
        "seq": seq,
        "time": iso_time_fixed_us(time),
        "actor": actor,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "details": details,
    }
    return hashlib.sha256((canonical_json(entry) + prev_hash).encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One entry to append: who did what to which object, when, with details.

    ``object_id`` None stands for a list ('*'); ``time`` is stored in UTC.
    """

    actor: str
    action: str
    object_type: str
    object_id: str | int | None
    details: Mapping[str, Any] = field(default_factory=dict)
    time: datetime = field(default_factory=lambda: datetime.now(UTC))


def chain_rows(seq: int, prev: str, records: Sequence[AuditRecord]) -> list[dict[str, Any]]:
    """The ``audit_log`` rows of ``records`` chained after entry ``seq`` whose hash is ``prev``.

    Each row maps column names to values: details normalised through canonical JSON, time in
    UTC, '*' for a None object id, ``prev_hash`` the hash of the row before and ``hash`` from
    :func:`entry_hash`. Raises :class:`ValidationError` when details are not JSON.
    """
    rows: list[dict[str, Any]] = []
    for r in records:
        try:
            details: dict[str, Any] = json.loads(canonical_json(dict(r.details)))
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"audit details are not JSON: {exc}") from exc
        t = r.time.astimezone(UTC)
        seq += 1
        object_id = "*" if r.object_id is None else str(r.object_id)
        h = entry_hash(seq, t, r.actor, r.action, r.object_type, object_id, details, prev)
        rows.append(
            {
                "seq": seq,
                "time": t,
                "actor": r.actor,
                "action": r.action,
                "object_type": r.object_type,
                "object_id": object_id,
                "details": details,
                "prev_hash": prev,
                "hash": h,
            }
        )
        prev = h
    return rows


def lock_audit(session: Session) -> AuditHead:
    """Lock the head of the audit log until the end of the transaction and return it.

    :func:`audit` takes this lock; services that change rows take it first, so that every
    writing transaction locks in the same order (audit head, then rows) and none deadlock.
    On SQLite the transaction already holds the database's write lock.
    """
    return session.execute(
        select(AuditHead)
        .where(AuditHead.id == _HEAD_ID)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()


def audit(
    session: Session,
    actor: str,
    action: str,
    obj_type: str,
    obj_id: str | int | None,
    details: Mapping[str, Any] | None = None,
    *,
    now: datetime | None = None,
) -> AuditEntry:
    """Append one entry to the audit log in the session's transaction and return it.

    ``actor`` is a username (or 'system', 'cli'); ``action`` a verb such as 'read', 'create',
    'approve', 'release'; ``obj_type``/``obj_id`` name the object ('*' for a list).
    """
    head = lock_audit(session)
    record = AuditRecord(actor, action, obj_type, obj_id, details or {}, now or datetime.now(UTC))
    (row,) = chain_rows(head.seq, head.hash, [record])
    entry = AuditEntry(**row)
    session.add(entry)
    head.seq = entry.seq
    head.hash = entry.hash
    session.flush()
    return entry


@dataclass(frozen=True)
class AuditReport:
    """Outcome of :func:`verify_audit`."""

    ok: bool
    entries: int
    """Entries read."""
    last_seq: int
    """Sequence number of the last entry read (0 when the log is empty)."""
    first_bad_seq: int | None
    """First sequence number that is altered or missing; None when ``ok``."""
    problem: str | None
    """'altered' (hash mismatch) or 'removed' (sequence gap, broken chain, truncated end)."""
    message: str


def verify_audit(session: Session, *, batch: int = 5000) -> AuditReport:
    """Walk the whole chain and report the first altered or removed entry."""
    head = session.execute(
        select(AuditHead).where(AuditHead.id == _HEAD_ID).execution_options(populate_existing=True)
    ).scalar_one_or_none()
    expected_seq = 1
    prev = GENESIS_HASH
    n = 0

    def bad(seq: int, problem: str, message: str) -> AuditReport:
        return AuditReport(False, n, expected_seq - 1, seq, problem, message)

    rows = session.execute(
        select(
            AuditEntry.seq,
            AuditEntry.time,
            AuditEntry.actor,
            AuditEntry.action,
            AuditEntry.object_type,
            AuditEntry.object_id,
            AuditEntry.details,
            AuditEntry.prev_hash,
            AuditEntry.hash,
        )
        .order_by(AuditEntry.seq)
        .execution_options(yield_per=batch)
    )
    for seq, t, actor, action, otype, oid, details, prev_hash, stored in rows:
        if seq != expected_seq:
            if seq < expected_seq:
                return bad(seq, "altered", f"entry {seq} is out of order")
            gap = f"{expected_seq}" if seq == expected_seq + 1 else f"{expected_seq}..{seq - 1}"
            return bad(expected_seq, "removed", f"audit entries {gap} are missing")
        if prev_hash != prev:
            return bad(
                seq,
                "removed",
                f"entry {seq} does not chain to entry {seq - 1} "
                "(an entry was removed or replaced before it)",
            )
        if entry_hash(seq, t, actor, action, otype, oid, details, prev_hash) != stored:
            return bad(seq, "altered", f"entry {seq} was altered (its hash does not match)")
        prev = stored
        expected_seq += 1
        n += 1
    last = expected_seq - 1
    if head is None:
        return AuditReport(False, n, last, 1, "removed", "the audit head record is missing")
    if head.seq != last or head.hash != prev:
        if head.seq > last:
            missing = f"{last + 1}" if head.seq == last + 1 else f"{last + 1}..{head.seq}"
            return AuditReport(
                False, n, last, last + 1, "removed", f"audit entries {missing} are missing"
            )
        return AuditReport(
            False, n, last, last, "altered", f"the end of the chain (entry {last}) was altered"
        )
    return AuditReport(True, n, last, None, None, f"audit log intact: {n} entries")
