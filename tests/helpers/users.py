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
        SeedUser("ana", "correct-horse-battery-1", "analyst", "VIGIA"),
        SeedUser("alex", "correct-horse-battery-2", "analyst", "VIGIA"),
        SeedUser("sam", "correct-horse-battery-3", "supervisor", "VIGIA"),
        SeedUser("sofia", "correct-horse-battery-4", "supervisor", "VIGIA"),
        SeedUser("semar.enlace", "correct-horse-battery-5", "partner-liaison", "SEMAR"),
        SeedUser("semar.oficial", "correct-horse-battery-6", "partner-officer", "SEMAR"),
        SeedUser("fgr.enlace", "correct-horse-battery-7", "partner-liaison", "FGR"),
    )
}
