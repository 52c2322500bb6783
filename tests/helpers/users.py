"""The users every test database holds (created once per session by ``tests/conftest.py``)."""

from __future__ import annotations

from dataclasses import dataclass


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
