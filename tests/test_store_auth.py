"""Users, passwords and bearer tokens."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from tests.conftest import SEED_USERS
from vigia.store import (
    TOKEN_TTL,
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
