"""Errors of the store: one class per way a request can be refused."""

from __future__ import annotations

from collections.abc import Sequence

from vigia.errors import VigiaError

__all__ = [
    "AuthError",
    "Conflict",
    "Gone",
    "NotFound",
    "PermissionDenied",
    "StoreError",
    "ValidationError",
]


class StoreError(VigiaError):
    """Base class of every error of :mod:`vigia.store`."""


class AuthError(StoreError):
    """Unknown user, wrong password, or a token that is unknown, expired or revoked."""


class PermissionDenied(StoreError):
    """The user is known but their role or agency does not allow the operation."""


class NotFound(StoreError):
    """No such object, or not one the user is allowed to see."""


class Conflict(StoreError):
    """The object is not in a state that allows the operation (e.g. releasing twice)."""


class Gone(StoreError):
    """The object was given to the user once and has been withdrawn (e.g. a release)."""


class ValidationError(StoreError):
    """Bad input; ``problems`` lists every problem found (nothing was written)."""

    def __init__(self, problems: str | Sequence[str]) -> None:
        self.problems: list[str] = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))
