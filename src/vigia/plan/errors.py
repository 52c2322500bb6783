"""The planning stage's error: bad platform profiles and plan inputs that are not about consent."""

from __future__ import annotations

from vigia.errors import VigiaError


class PlanError(VigiaError):
    """A platform profile, base, start time or plan file that cannot be used."""
