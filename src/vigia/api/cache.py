"""What the API keeps in memory between requests, and how it learns that it is stale.

A :class:`~vigia.store.generation.Generation` is a counter in a small memory-mapped file of the
data directory that every write of the API increments (after its transaction committed). Each
worker compares it with the value its caches were built at: a write in any worker invalidates
the caches of every worker at once. A TTL bounds how long anything written by other programs
(the CLI) can go unseen.

:class:`TokenCache` keeps, for a few seconds, which user a bearer token belongs to; an expired
token is refused from the cache too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from vigia.store import PARTNER_ROLES, User

__all__ = ["Principal", "TokenCache"]

#: How long a token -> user lookup is trusted without asking the store again (s).
TOKEN_TTL_S = 2.0


@dataclass(frozen=True, slots=True)
class Principal:
    """The user behind a request, detached from any database session."""

    id: int
    username: str
    display_name: str
    role: str
    agency_id: int
    agency_code: str
    language: str
    token_hash: str
    expires_at: datetime

    @property
    def is_partner(self) -> bool:
        """True for partner-liaison and partner-officer users."""
        return self.role in PARTNER_ROLES

    @classmethod
    def of(cls, user: User, token_hash: str, expires_at: datetime) -> Principal:
        """Snapshot of a store user (its agency must be loaded)."""
        return cls(
            id=user.id,
            username=user.username,
            display_name=user.display_name,
            role=user.role,
            agency_id=user.agency_id,
            agency_code=user.agency_code,
            language=user.language,
            token_hash=token_hash,
            expires_at=expires_at,
        )


class TokenCache:
    """token hash -> :class:`Principal`, trusted for :data:`TOKEN_TTL_S` within one generation."""

    def __init__(self, ttl_s: float = TOKEN_TTL_S, max_entries: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[str, tuple[Principal, float]] = {}
        self._generation: tuple[int, int] | None = None

    def get(self, token_hash: str, generation: tuple[int, int]) -> Principal | None:
        """The cached principal, or None when unknown, stale or expired."""
        if generation != self._generation:
            self._entries.clear()
            self._generation = generation
            return None
        hit = self._entries.get(token_hash)
        if hit is None:
            return None
        principal, cached_at = hit
        if time.monotonic() - cached_at > self.ttl_s or datetime.now(UTC) >= principal.expires_at:
            self._entries.pop(token_hash, None)
            return None
        return principal

    def put(self, principal: Principal, generation: tuple[int, int]) -> None:
        """Remember ``principal`` (built while ``generation`` was current)."""
        if generation != self._generation:
            self._entries.clear()
            self._generation = generation
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[principal.token_hash] = (principal, time.monotonic())

    def drop(self, token_hash: str) -> None:
        """Forget one token (log-out)."""
        self._entries.pop(token_hash, None)
