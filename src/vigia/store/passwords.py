"""The password policy, checked when a password is set (account creation, change).

A password is refused when it is:

* shorter than :data:`MIN_PASSWORD_LENGTH` (12) or longer than :data:`MAX_PASSWORD_LENGTH`
  characters;
* one of the 10,000 most common passwords (``data/common-passwords.txt``, compared without
  case);
* a common password with only digits or symbols around it (``password1234``, ``Summer2024!``);
* equal to, or containing, the username (without case);
* one character or one short sequence repeated (``aaaaaaaaaaaa``, ``abcabcabcabc``).

``data/common-passwords.txt`` is the first 10,000 entries of the ``passwords`` frequency list
of zxcvbn 4.4.28 (MIT licence; the list is ranked from Mark Burnett's 10 million leaked
passwords, the corpus behind SecLists' ``10k-most-common.txt``), one lower-case password a line.
"""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files

from vigia.errors import WeakPassword

__all__ = [
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "check_password",
    "common_passwords",
    "password_problems",
]

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
_REPEATED = re.compile(r"(.+?)\1+", re.DOTALL)
_AROUND = re.compile(r"^[\W\d_]*(.*?)[\W\d_]*$", re.DOTALL)


@cache
def common_passwords() -> frozenset[str]:
    """The 10,000 most common passwords, lower-case."""
    text = (files("vigia.store") / "data" / "common-passwords.txt").read_text(encoding="utf-8")
    return frozenset(line for line in text.splitlines() if line)


def password_problems(password: str, username: str | None = None) -> list[str]:
    """What the policy finds wrong with ``password`` for the account ``username`` (empty when
    it is accepted). The messages never repeat the password."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return [f"password must have at least {MIN_PASSWORD_LENGTH} characters"]
    if len(password) > MAX_PASSWORD_LENGTH:
        return [f"password must have at most {MAX_PASSWORD_LENGTH} characters"]
    lower = password.lower()
    common = common_passwords()
    problems = []
    if lower in common:
        problems.append("password is one of the 10,000 most common passwords")
    else:
        match = _AROUND.match(lower)
        core = match.group(1) if match else lower
        if core != lower and core in common:
            problems.append(
                "password is a common password with digits or symbols added "
                "(like 'password1234'): choose a passphrase of unrelated words"
            )
    if username and username.lower() in lower:
        problems.append("password must not contain the username")
    if _REPEATED.fullmatch(password):
        problems.append("password must not be one character or one short sequence repeated")
    return problems


def check_password(password: str, username: str | None = None) -> None:
    """Raise :class:`~vigia.errors.WeakPassword` listing every problem of ``password``."""
    problems = password_problems(password, username)
    if problems:
        raise WeakPassword(problems)
