"""The MAC-chained audit log.

Each entry stores ``hash = HMAC-SHA256(key, canonical JSON of the entry + prev_hash)`` where the
entry is ``{seq, time, actor, action, object_type, object_id, details}``, ``prev_hash`` is the
hash of the entry before (64 zeros for the first) and the key is the store's
:class:`~vigia.store.auditkey.AuditKey`, a file outside the database. Canonical JSON: keys
sorted, no spaces, UTF-8, times as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``. Entries written by versions
before the key have ``scheme = 'sha256'`` (plain SHA-256 of the same text); they verify as they
are, but once a keyed entry (``scheme = 'hmac-sha256'``) appears, an unkeyed one after it is a
rewrite. The ``audit_head`` row holds the last seq and hash; appending locks it (the chain never
forks). Every :data:`CHECKPOINT_EVERY` entries, the head is also appended to the checkpoint log
(:class:`~vigia.store.auditkey.CheckpointLog`) outside the database, and :func:`verify_audit`
checks the chain against it.

:func:`audit` is called by every service in the same transaction as the change or read it
records, so an entry exists exactly when the thing it describes happened. :func:`chain_rows` is
the one place where entries are normalised, MAC-ed and chained; :func:`audit` and the API's group
commit (:mod:`vigia.store.auditlog`) both build their rows with it. The API sets the client
address of a request with :func:`audit_client`; every record made meanwhile carries it in its
details as ``client``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import PurePath
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigia.errors import AuditKeyError, ValidationError
from vigia.store.auditkey import AuditKey, Checkpoint
from vigia.store.models import AuditEntry, AuditHead
from vigia.times import iso_time_fixed_us

__all__ = [
    "AUDIT_KEY_INFO",
    "CHECKPOINT_EVERY",
    "GENESIS_HASH",
    "SCHEME_HMAC",
    "SCHEME_SHA256",
    "AuditRecord",
    "AuditReport",
    "audit",
    "audit_client",
    "canonical_json",
    "chain_rows",
    "crosses_checkpoint",
    "current_client",
    "entry_hash",
    "entry_mac",
    "lock_audit",
    "pop_checkpoint",
    "verify_audit",
]

GENESIS_HASH = "0" * 64
_HEAD_ID = 1
#: Scheme of the entries written before the key: plain SHA-256 (anyone can recompute it).
SCHEME_SHA256 = "sha256"
#: Scheme of every new entry: HMAC-SHA256 with the store's audit key.
SCHEME_HMAC = "hmac-sha256"
#: The head is appended to the checkpoint log every this many entries.
CHECKPOINT_EVERY = 1000
#: Key of the :class:`AuditKey` in ``Session.info`` (set by :class:`vigia.store.Store`).
AUDIT_KEY_INFO = "vigia.audit_key"
_DUE_INFO = "vigia.audit_checkpoint_due"

_client: ContextVar[str | None] = ContextVar("vigia_audit_client", default=None)


@contextmanager
def audit_client(host: str | None) -> Iterator[None]:
    """Within the block, every :class:`AuditRecord` made carries ``host`` as its client."""
    token = _client.set(host)
    try:
        yield
    finally:
        _client.reset(token)


def current_client() -> str | None:
    """The client address set by :func:`audit_client` (None outside a request)."""
    return _client.get()


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


def _entry_text(
    seq: int,
    time: datetime,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    details: Mapping[str, Any] | None,
    prev_hash: str,
) -> str:
    entry = {
        "seq": seq,
        "time": iso_time_fixed_us(time),
        "actor": actor,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "details": details,
    }
    return canonical_json(entry) + prev_hash


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
    """SHA-256 (hex) of the canonical JSON of the entry followed by ``prev_hash`` (the public,
    unkeyed scheme of entries written before the key, :data:`SCHEME_SHA256`)."""
    text = _entry_text(seq, time, actor, action, object_type, object_id, details, prev_hash)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def entry_mac(
    key: AuditKey,
    seq: int,
    time: datetime,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    details: Mapping[str, Any] | None,
    prev_hash: str,
) -> str:
    """HMAC-SHA256 (hex) with ``key`` of the same text as :func:`entry_hash` (the scheme
    :data:`SCHEME_HMAC` of every new entry)."""
    return key.mac(
        _entry_text(seq, time, actor, action, object_type, object_id, details, prev_hash)
    )


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One entry to append: who did what to which object, when, with details.

    ``object_id`` None stands for a list ('*'); ``time`` is stored in UTC; ``client`` is the
    address of the client the entry was made for (the one of :func:`audit_client` by default),
    stored in the details as ``client``.
    """

    actor: str
    action: str
    object_type: str
    object_id: str | int | None
    details: Mapping[str, Any] = field(default_factory=dict)
    time: datetime = field(default_factory=lambda: datetime.now(UTC))
    client: str | None = field(default_factory=current_client)


def chain_rows(
    seq: int, prev: str, records: Sequence[AuditRecord], key: AuditKey
) -> list[dict[str, Any]]:
    """The ``audit_log`` rows of ``records`` chained after entry ``seq`` whose hash is ``prev``.

    Each row maps column names to values: details normalised through canonical JSON (with the
    record's ``client`` when it has one), time in UTC, '*' for a None object id, ``prev_hash``
    the hash of the row before, ``hash`` from :func:`entry_mac` with ``key`` and ``scheme``
    :data:`SCHEME_HMAC`. Raises :class:`ValidationError` when details are not JSON.
    """
    rows: list[dict[str, Any]] = []
    for r in records:
        raw = dict(r.details)
        if r.client is not None:
            raw["client"] = r.client
        try:
            details: dict[str, Any] = json.loads(canonical_json(raw))
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"audit details are not JSON: {exc}") from exc
        t = r.time.astimezone(UTC)
        seq += 1
        object_id = "*" if r.object_id is None else str(r.object_id)
        h = entry_mac(key, seq, t, r.actor, r.action, r.object_type, object_id, details, prev)
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
                "scheme": SCHEME_HMAC,
            }
        )
        prev = h
    return rows


def crosses_checkpoint(before_seq: int, after_seq: int) -> bool:
    """True when appending entries ``before_seq + 1 .. after_seq`` passes a multiple of
    :data:`CHECKPOINT_EVERY` (the head is then appended to the checkpoint log)."""
    return after_seq // CHECKPOINT_EVERY > before_seq // CHECKPOINT_EVERY


def session_key(session: Session) -> AuditKey:
    """The audit key of ``session`` (:class:`AuditKeyError` when its store has none)."""
    key = session.info.get(AUDIT_KEY_INFO)
    if not isinstance(key, AuditKey):
        raise AuditKeyError("no audit key: this store was opened without one and cannot audit")
    return key


def pop_checkpoint(session: Session) -> tuple[int, str] | None:
    """The (seq, hash) to append to the checkpoint log once ``session`` has committed, if its
    entries passed a checkpoint (and forget it)."""
    due: tuple[int, str] | None = session.info.pop(_DUE_INFO, None)
    return due


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
    key = session_key(session)
    head = lock_audit(session)
    record = AuditRecord(actor, action, obj_type, obj_id, details or {}, now or datetime.now(UTC))
    (row,) = chain_rows(head.seq, head.hash, [record], key)
    entry = AuditEntry(**row)
    session.add(entry)
    if crosses_checkpoint(head.seq, entry.seq) or _DUE_INFO in session.info:
        session.info[_DUE_INFO] = (entry.seq, entry.hash)
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
    """'altered' (MAC mismatch), 'rewritten' (recomputed without the key, or against a
    checkpoint), 'removed' (sequence gap, broken chain, truncated end), 'reset' (the head moved
    back) or 'checkpoint' (a checkpoint line that is not genuine)."""
    message: str
    last_hash: str = GENESIS_HASH
    """Hash of the last entry read."""
    checkpoints: int = 0
    """Checkpoints compared."""


def _span(first: int, last: int) -> str:
    return f"{first}" if first == last else f"{first}..{last}"


def verify_audit(
    session: Session,
    key: AuditKey,
    *,
    checkpoints: Sequence[Checkpoint] = (),
    batch: int = 5000,
) -> AuditReport:
    """Walk the whole chain with ``key`` and report the first altered, rewritten or removed
    entry; ``checkpoints`` (from the checkpoint log) must each match an entry of the chain."""
    head = session.execute(
        select(AuditHead).where(AuditHead.id == _HEAD_ID).execution_options(populate_existing=True)
    ).scalar_one_or_none()
    expected_seq = 1
    prev = GENESIS_HASH
    n = 0
    keyed = False
    valid = [c for c in checkpoints if c.valid]
    cps: dict[int, list[Checkpoint]] = {}
    for c in valid:
        cps.setdefault(c.seq, []).append(c)

    def bad(seq: int, problem: str, message: str) -> AuditReport:
        return AuditReport(False, n, expected_seq - 1, seq, problem, message, prev, len(valid))

    for c in checkpoints:
        if not c.valid:
            return bad(
                0,
                "checkpoint",
                f"checkpoint line {c.line} is not genuine (unreadable, or its MAC does not "
                "match the audit key)",
            )

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
            AuditEntry.scheme,
        )
        .order_by(AuditEntry.seq)
        .execution_options(yield_per=batch)
    )
    for seq, t, actor, action, otype, oid, details, prev_hash, stored, scheme in rows:
        if seq != expected_seq:
            if seq < expected_seq:
                return bad(seq, "altered", f"entry {seq} is out of order")
            return bad(
                expected_seq, "removed", f"audit entries {_span(expected_seq, seq - 1)} are missing"
            )
        if prev_hash != prev:
            return bad(
                seq,
                "removed",
                f"entry {seq} does not chain to entry {seq - 1} "
                "(an entry was removed or replaced before it)",
            )
        public = entry_hash(seq, t, actor, action, otype, oid, details, prev_hash)
        if scheme == SCHEME_HMAC:
            mac = entry_mac(key, seq, t, actor, action, otype, oid, details, prev_hash)
            if not hmac.compare_digest(mac, stored):
                if public == stored:
                    return bad(
                        seq,
                        "rewritten",
                        f"entry {seq} was rewritten: its hash is the public SHA-256, "
                        "not the keyed MAC",
                    )
                return bad(seq, "altered", f"entry {seq} was altered (its MAC does not match)")
            keyed = True
        elif scheme == SCHEME_SHA256 and not keyed:
            if public != stored:
                return bad(seq, "altered", f"entry {seq} was altered (its hash does not match)")
        elif scheme == SCHEME_SHA256:
            return bad(
                seq,
                "rewritten",
                f"entry {seq} is unkeyed after keyed entries: the chain was rewritten from there",
            )
        else:
            return bad(seq, "altered", f"entry {seq} has an unknown scheme {scheme!r}")
        for c in cps.get(seq, ()):
            if c.hash != stored:
                return bad(
                    seq,
                    "rewritten",
                    f"entry {seq} differs from checkpoint line {c.line} of {c.time}: "
                    "the chain was rewritten",
                )
        prev = stored
        expected_seq += 1
        n += 1
    last = expected_seq - 1
    newest = max((c.seq for c in valid), default=0)
    if newest > last:
        return AuditReport(
            False,
            n,
            last,
            last + 1,
            "removed",
            f"the checkpoint log records entry {newest} but the audit log ends at entry {last}: "
            f"entries {_span(last + 1, newest)} were deleted",
            prev,
            len(valid),
        )
    if head is None:
        return AuditReport(
            False, n, last, 1, "removed", "the audit head record is missing", prev, len(valid)
        )
    if head.seq > last:
        return AuditReport(
            False,
            n,
            last,
            last + 1,
            "removed",
            f"audit entries {_span(last + 1, head.seq)} are missing",
            prev,
            len(valid),
        )
    if head.seq < last:
        return AuditReport(
            False,
            n,
            last,
            head.seq + 1,
            "reset",
            f"the audit head was reset to entry {head.seq}, but the chain goes on to entry {last}",
            prev,
            len(valid),
        )
    if head.hash != prev:
        return AuditReport(
            False,
            n,
            last,
            last,
            "altered",
            f"the end of the chain (entry {last}) was altered",
            prev,
            len(valid),
        )
    return AuditReport(
        True, n, last, None, None, f"audit log intact: {n} entries", prev, len(valid)
    )
