"""Throttling of logins, per account and per client address, with exponential back-off.

Every login attempt is first *claimed* (:func:`claim_login`, in its own committed transaction,
before the password is verified): it counts one attempt for the account key
(``user:<username>``, whether the user exists or not) and one for the address key
(``addr:<host>``). A key's first :data:`FREE_ATTEMPTS` (5) attempts are free; from the 5th on,
each attempt blocks the key for 1 s, 2 s, 4 s, ... (:func:`backoff_s`), capped at
:data:`ACCOUNT_CAP_S` (60 s) for an account and :data:`ADDRESS_CAP_S` (15 min) for an address.
While either key is blocked, the attempt is refused with
:class:`~vigia.errors.LoginThrottled` (HTTP 429 with ``Retry-After``) *before* the password is
verified, and it is not counted. A successful login clears both keys (:func:`clear_login`); a
key nobody tried for :data:`FORGET_AFTER_S` (24 h) is forgotten.

So one address gets 5 guesses, then about one per back-off period (at most 96 a day at the cap);
a stranger guessing at an account from many addresses holds its owner back by at most 60 s,
never locks it out, and gets at most one guess a minute at it.

Why in the store: the workers of ``vigia serve`` share only the store and the data directory,
and several hosts may share one PostgreSQL; the store's row locks (``SELECT ... FOR UPDATE``;
``BEGIN IMMEDIATE`` on SQLite) make concurrent attempts count one after the other, so a burst
of parallel guesses cannot all pass the check before the first is counted.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vigia.errors import LoginThrottled
from vigia.store.models import LoginThrottle

__all__ = [
    "ACCOUNT_CAP_S",
    "ADDRESS_CAP_S",
    "FORGET_AFTER_S",
    "FREE_ATTEMPTS",
    "backoff_s",
    "claim_login",
    "clear_login",
    "login_keys",
]

#: Attempts of one key before the back-off starts.
FREE_ATTEMPTS = 5
#: Block after the FREE_ATTEMPTS-th attempt (s); it doubles with every further attempt.
FIRST_BACKOFF_S = 1
#: Longest block of an account (s): low, so that a stranger cannot keep its owner out.
ACCOUNT_CAP_S = 60
#: Longest block of a client address (s).
ADDRESS_CAP_S = 15 * 60
#: A key without attempts for this long starts again from zero (s).
FORGET_AFTER_S = 24 * 3600
_KEY_CHARS = 128


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC)


def backoff_s(attempts: int, cap_s: int) -> int:
    """How long (s) a key is blocked after its ``attempts``-th attempt: 0 before
    :data:`FREE_ATTEMPTS`, then 1, 2, 4, ... up to ``cap_s``."""
    if attempts < FREE_ATTEMPTS:
        return 0
    doublings = attempts - FREE_ATTEMPTS
    if doublings >= cap_s.bit_length():
        return cap_s
    return min(FIRST_BACKOFF_S << doublings, cap_s)


def login_keys(username: str, address: str | None) -> dict[str, int]:
    """The throttle keys of a login attempt and the cap (s) of each, in lock order."""
    keys = {f"user:{username}"[:_KEY_CHARS]: ACCOUNT_CAP_S}
    if address:
        keys[f"addr:{address}"[:_KEY_CHARS]] = ADDRESS_CAP_S
    return dict(sorted(keys.items()))


def _locked_row(session: Session, key: str, now: datetime) -> LoginThrottle:
    row = session.get(LoginThrottle, key, with_for_update=True)
    if row is not None:
        return row
    try:
        with session.begin_nested():
            row = LoginThrottle(key=key, attempts=0, blocked_until=None, last_attempt_at=now)
            session.add(row)
        return row
    except IntegrityError:  # inserted meanwhile by another transaction
        return session.get_one(LoginThrottle, key, with_for_update=True, populate_existing=True)


def claim_login(
    session: Session, username: str, address: str | None, *, now: datetime | None = None
) -> None:
    """Count one login attempt for ``username`` from ``address`` (the client's host), or raise
    :class:`LoginThrottled` (counting nothing) while either key is blocked.

    Call it in its own transaction, committed before the password is verified, so that a failed
    verification stays counted.
    """
    t = _now(now)
    keys = login_keys(username, address)
    session.execute(
        delete(LoginThrottle).where(
            LoginThrottle.last_attempt_at < t - timedelta(seconds=FORGET_AFTER_S),
            LoginThrottle.key.not_in(list(keys)),
        )
    )
    rows = [(_locked_row(session, key, t), cap_s) for key, cap_s in keys.items()]
    wait_s = max(
        (
            (row.blocked_until - t).total_seconds()
            for row, _ in rows
            if row.blocked_until is not None and row.blocked_until > t
        ),
        default=0.0,
    )
    if wait_s > 0:
        retry = max(1, math.ceil(wait_s))
        raise LoginThrottled(
            f"too many failed logins for this account or from this address: try again in {retry} s",
            retry_after_s=retry,
        )
    for row, cap_s in rows:
        if row.last_attempt_at < t - timedelta(seconds=FORGET_AFTER_S):
            row.attempts = 0
        row.attempts += 1
        row.last_attempt_at = t
        block_s = backoff_s(row.attempts, cap_s)
        row.blocked_until = t + timedelta(seconds=block_s) if block_s else None
    session.flush()


def clear_login(session: Session, username: str, address: str | None) -> None:
    """Forget the attempts of ``username`` and ``address`` (after a successful login)."""
    keys = list(login_keys(username, address))
    session.execute(delete(LoginThrottle).where(LoginThrottle.key.in_(keys)))
