"""Users, passwords and bearer tokens."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from tests.helpers.users import SEED_USERS
from vigia.cli import app
from vigia.store import (
    TOKEN_TTL,
    AuditEntry,
    AuthError,
    Conflict,
    NotFound,
    PermissionDenied,
    Store,
    Token,
    User,
    ValidationError,
    authenticate,
    create_agency,
    create_user,
    list_users,
    revoke_token,
    set_active,
    set_password,
    user_for_token,
)

NOW = datetime(2026, 5, 10, 12, 0, tzinfo=UTC)


def test_password_is_stored_as_argon2_only(store: Store) -> None:
    with store.transaction() as s:
        create_user(s, "nuevo.oficial", "una-contraseña-larga", "partner-officer", "SEDENA")
    with store.read_only() as s:
        stored = s.execute(
            select(User.password_hash, User.language).where(User.username == "nuevo.oficial")
        ).one()
    assert stored.password_hash.startswith("$argon2id$")
    assert "una-contraseña-larga" not in stored.password_hash
    assert stored.language == "es"  # partner users default to Spanish


def test_authenticate_issues_a_hashed_expiring_token(store: Store) -> None:
    ana = SEED_USERS["ana"]
    with store.transaction() as s:
        issued = authenticate(s, "ana", ana.password, now=NOW)
    assert issued.expires_at == NOW + TOKEN_TTL == NOW + timedelta(hours=12)
    assert issued.user.username == "ana"
    with store.read_only() as s:
        hashes = s.execute(select(Token.token_hash)).scalars().all()
        assert hashes == [hashlib.sha256(issued.token.encode()).hexdigest()]
        # The clear token is nowhere in the database.
        dump = s.execute(text("SELECT * FROM tokens")).all()
        assert issued.token not in repr(dump)
        user = user_for_token(s, issued.token, now=NOW + timedelta(hours=11, minutes=59))
        assert user.username == "ana" and user.role == "analyst" and user.agency_code == "VIGIA"
        with pytest.raises(AuthError, match="expired"):
            user_for_token(s, issued.token, now=NOW + timedelta(hours=12))
        with pytest.raises(AuthError, match="unknown token"):
            user_for_token(s, issued.token + "x", now=NOW)


def test_wrong_password_unknown_and_disabled_users(store: Store) -> None:
    with store.transaction() as s:
        with pytest.raises(AuthError, match="wrong username or password"):
            authenticate(s, "ana", "not-the-password")
        with pytest.raises(AuthError, match="wrong username or password"):
            authenticate(s, "nobody", "whatever-password")
        with pytest.raises(AuthError, match="wrong username or password"):
            authenticate(s, "ana", "x" * 5000)
    with store.transaction() as s:
        issued = authenticate(s, "alex", SEED_USERS["alex"].password)
    with store.transaction() as s:
        sam = s.execute(select(User).where(User.username == "sam")).scalar_one()
        ana = s.execute(select(User).where(User.username == "ana")).scalar_one()
        with pytest.raises(PermissionDenied):
            set_active(s, ana, "alex", False)
        set_active(s, sam, "alex", False)
    with store.transaction() as s:
        with pytest.raises(AuthError):
            user_for_token(s, issued.token)
        with pytest.raises(AuthError, match="wrong username or password"):
            authenticate(s, "alex", SEED_USERS["alex"].password)


def test_revoked_tokens_and_password_change(store: Store, users: dict[str, User]) -> None:
    with store.transaction() as s:
        first = authenticate(s, "semar.enlace", SEED_USERS["semar.enlace"].password)
        second = authenticate(s, "semar.enlace", SEED_USERS["semar.enlace"].password)
    with store.transaction() as s:
        revoke_token(s, first.token)
    with store.read_only() as s:
        with pytest.raises(AuthError, match="revoked"):
            user_for_token(s, first.token)
        assert user_for_token(s, second.token).username == "semar.enlace"
    with store.transaction() as s:  # the user object comes from another session
        set_password(s, users["semar.enlace"], "brand-new-password-1")
    with store.transaction() as s:
        with pytest.raises(AuthError, match="revoked"):
            user_for_token(s, second.token)
        with pytest.raises(AuthError):
            authenticate(s, "semar.enlace", SEED_USERS["semar.enlace"].password)
        assert authenticate(s, "semar.enlace", "brand-new-password-1").user.agency_code == "SEMAR"


def test_create_user_validation(store: Store) -> None:
    with store.transaction() as s:
        with pytest.raises(ValidationError) as err:
            create_user(s, "X", "short", "admin", "SEMAR", language="fr")
        problems = " | ".join(err.value.problems)
        for part in ("username", "role 'admin'", "language 'fr'", "at least 12"):
            assert part in problems
        with pytest.raises(NotFound, match="unknown agency"):
            create_user(s, "someone", "long-enough-password", "analyst", "CIA")
        with pytest.raises(Conflict, match="already exists"):
            create_user(s, "ana", "long-enough-password", "analyst", "VIGIA")
        with pytest.raises(ValidationError, match="three-letter"):
            create_agency(s, "CBP", "Customs and Border Protection", "US")
        agency = create_agency(s, "AMO", "Air and Marine Operations", "USA")
        assert agency.country == "USA"


def test_who_may_create_users(store: Store) -> None:
    with store.transaction() as s:
        by_name = {u.username: u for u in s.execute(select(User)).scalars()}
        liaison, officer, ana = by_name["semar.enlace"], by_name["semar.oficial"], by_name["ana"]
        made = create_user(
            s, "semar.nuevo", "long-enough-password", "partner-officer", "SEMAR", actor=liaison
        )
        assert made.agency_code == "SEMAR"
        with pytest.raises(PermissionDenied):
            create_user(s, "fgr.x", "long-enough-password", "partner-officer", "FGR", actor=liaison)
        with pytest.raises(PermissionDenied):
            create_user(s, "semar.y", "long-enough-password", "supervisor", "SEMAR", actor=liaison)
        with pytest.raises(PermissionDenied):
            create_user(
                s, "semar.z", "long-enough-password", "partner-officer", "SEMAR", actor=officer
            )
        with pytest.raises(PermissionDenied):
            create_user(s, "new.analyst", "long-enough-password", "analyst", "VIGIA", actor=ana)
        assert s.execute(select(func.count()).select_from(User)).scalar_one() == len(SEED_USERS) + 1
        assert len(list_users(s, by_name["sam"])) == len(SEED_USERS) + 1
        assert [u.username for u in list_users(s, liaison)] == [
            "semar.enlace",
            "semar.nuevo",
            "semar.oficial",
        ]
        with pytest.raises(PermissionDenied):
            list_users(s, officer)


# --- vigia users -------------------------------------------------------------------------------
def _users(data_dir: Path, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(app, ["users", *args, "--data-dir", str(data_dir)], input=stdin)


def _signs_in(store: Store, username: str, password: str) -> bool:
    try:
        with store.transaction() as s:
            authenticate(s, username, password)
    except AuthError:
        return False
    return True


@pytest.mark.slow
def test_users_cli(data_dir: Path, store: Store) -> None:
    """`vigia users add|list|passwd|disable|enable` on the store of a data directory."""
    r = _users(data_dir, "add", "semar.nuevo", "--role", "partner-officer", "--agency", "SEMAR")
    assert r.exit_code == 0, r.output
    generated = re.search(r"\(shown once\): (\S+)", r.output)
    assert generated is not None and _signs_in(store, "semar.nuevo", generated.group(1))

    args = ("add", "ana.dos", "--role", "analyst", "--agency", "VIGIA", "--name", "Ana Dos")
    r = _users(data_dir, *args, "--password-stdin", stdin="una-clave-bastante-larga\n")
    assert r.exit_code == 0 and "shown once" not in r.output, r.output
    assert _signs_in(store, "ana.dos", "una-clave-bastante-larga")

    with store.read_only() as s:
        before = s.scalar(select(func.count()).select_from(User))
    for bad in (
        ("add", "x.y", "--role", "admin", "--agency", "SEMAR"),  # unknown role
        ("add", "semar.nuevo", "--role", "analyst", "--agency", "VIGIA"),  # taken
        ("add", "z.z", "--role", "analyst", "--agency", "NOPE"),  # unknown agency
        ("passwd", "nadie"),
        ("disable", "nadie"),
    ):
        r = _users(data_dir, *bad)
        assert r.exit_code == 2 and "error" in r.output, (bad, r.output)
    r = _users(data_dir, "add", "z.z", "--role", "analyst", "--agency", "VIGIA",
               "--password-stdin", stdin="short\n")  # fmt: skip
    assert r.exit_code == 2 and "at least" in r.output
    with store.read_only() as s:
        assert s.scalar(select(func.count()).select_from(User)) == before

    r = _users(data_dir, "list", "--json")
    assert r.exit_code == 0, r.output
    listed = {u["username"]: u for u in json.loads(r.output)}
    assert listed["semar.nuevo"] == {
        "username": "semar.nuevo",
        "role": "partner-officer",
        "agency": "SEMAR",
        "display_name": "semar.nuevo",
        "language": "es",
        "active": True,
    }
    assert listed["ana.dos"]["display_name"] == "Ana Dos" and listed["ana.dos"]["language"] == "en"
    assert "hash" not in r.output

    r = _users(data_dir, "passwd", "semar.nuevo")
    assert r.exit_code == 0, r.output
    new = re.search(r"\(shown once\): (\S+)", r.output)
    assert new is not None and new.group(1) != generated.group(1)
    assert not _signs_in(store, "semar.nuevo", generated.group(1))
    assert _signs_in(store, "semar.nuevo", new.group(1))

    with store.transaction() as s:
        token = authenticate(s, "ana.dos", "una-clave-bastante-larga").token
    assert _users(data_dir, "disable", "ana.dos").exit_code == 0
    assert not _signs_in(store, "ana.dos", "una-clave-bastante-larga")
    with store.transaction() as s, pytest.raises(AuthError):
        user_for_token(s, token)
    assert _users(data_dir, "enable", "ana.dos").exit_code == 0
    assert _signs_in(store, "ana.dos", "una-clave-bastante-larga")
    with store.read_only() as s:
        actors = s.execute(
            select(AuditEntry.actor, AuditEntry.action).where(AuditEntry.object_id == "ana.dos")
        ).all()
    assert ("system", "disable") in actors and ("system", "enable") in actors


def test_roles_and_agencies_go_together(store: Store) -> None:
    """Staff roles only in the owning agency, partner roles only in partner agencies."""
    with store.transaction() as s:
        before = s.execute(select(func.count()).select_from(User)).scalar_one()
        for name, role, agency in (
            ("semar.analista", "analyst", "SEMAR"),
            ("semar.super", "supervisor", "SEMAR"),
            ("vigia.enlace", "partner-liaison", "VIGIA"),
            ("vigia.oficial", "partner-officer", "VIGIA"),
        ):
            with pytest.raises(ValidationError, match="agency"):
                create_user(s, name, "long-enough-password", role, agency)
        assert s.execute(select(func.count()).select_from(User)).scalar_one() == before
        create_user(s, "gn.oficial", "long-enough-password", "partner-officer", "GN")
        create_user(s, "new.analyst", "long-enough-password", "analyst", "VIGIA")
