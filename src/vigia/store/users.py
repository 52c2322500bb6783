"""Agencies, users, passwords (argon2) and bearer tokens (stored as SHA-256 only)."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vigia.errors import (
    AuthError,
    Conflict,
    NotFound,
    PermissionDenied,
    ValidationError,
    WeakPassword,
)
from vigia.store.audit import audit, lock_audit
from vigia.store.models import LANGUAGES, OWNER_AGENCY, PARTNER_ROLES, ROLES, Agency, Token, User
from vigia.store.passwords import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    check_password,
    password_problems,
)

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "TOKEN_TTL",
    "IssuedToken",
    "authenticate",
    "create_agency",
    "create_user",
    "get_agency",
    "get_user",
    "hash_token",
    "list_agencies",
    "list_users",
    "record_failed_login",
    "revoke_token",
    "revoke_user_tokens",
    "role_agency_problem",
    "set_active",
    "set_password",
    "user_for_token",
]

#: Default lifetime of a bearer token.
TOKEN_TTL = timedelta(hours=12)
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{2,63}")
_AGENCY_CODE = re.compile(r"[A-Z][A-Z0-9-]{1,15}")
_COUNTRY = re.compile(r"[A-Z]{3}")

_hasher = PasswordHasher()
#: Verified against when the username is unknown, so that timing does not tell.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC)


def hash_token(token: str) -> str:
    """SHA-256 (hex) of a bearer token: the only form in which tokens are stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# --- agencies --------------------------------------------------------------------------------
def get_agency(session: Session, code: str) -> Agency:
    """The agency with ``code`` (e.g. 'SEMAR'), or :class:`NotFound`."""
    agency = session.execute(select(Agency).where(Agency.code == code)).scalar_one_or_none()
    if agency is None:
        raise NotFound(f"unknown agency {code!r}")
    return agency


def visible_agency_id(session: Session, actor: User, agency: str) -> int:
    """Id of the agency ``agency`` (a code) whose releases ``actor`` may see: a partner user
    only their own (:class:`PermissionDenied`); :class:`NotFound` for an unknown code."""
    if actor.is_partner and actor.agency_code != agency:
        raise PermissionDenied(f"{actor.username} may not see what was released to {agency}")
    return get_agency(session, agency).id


def list_agencies(session: Session) -> list[Agency]:
    """Every agency, by code."""
    return list(session.execute(select(Agency).order_by(Agency.code)).scalars())


def create_agency(
    session: Session, code: str, name: str, country: str, *, actor: str = "system"
) -> Agency:
    """Add an agency; ``country`` is an ISO 3166 three-letter code ('MEX', 'USA')."""
    lock_audit(session)
    problems = []
    if not _AGENCY_CODE.fullmatch(code):
        problems.append(f"agency code {code!r} must be 2-16 upper-case letters, digits or '-'")
    if not _COUNTRY.fullmatch(country):
        problems.append(f"country {country!r} must be a three-letter ISO 3166 code like 'MEX'")
    if not name.strip():
        problems.append("agency name is empty")
    if problems:
        raise ValidationError(problems)
    if session.execute(select(Agency.id).where(Agency.code == code)).first():
        raise Conflict(f"agency {code!r} already exists")
    agency = Agency(code=code, name=name.strip(), country=country)
    session.add(agency)
    session.flush()
    audit(session, actor, "create", "agency", code, {"name": agency.name, "country": country})
    return agency


# --- users -----------------------------------------------------------------------------------
def get_user(session: Session, username: str) -> User:
    """The user called ``username``, or :class:`NotFound`."""
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        raise NotFound(f"unknown user {username!r}")
    return user


def list_users(session: Session, actor: User) -> list[User]:
    """Users by username: all for a supervisor, their agency's for a partner liaison."""
    q = select(User).order_by(User.username)
    if actor.role == "partner-liaison":
        q = q.where(User.agency_id == actor.agency_id)
    elif actor.role != "supervisor":
        raise PermissionDenied("only supervisors and partner liaisons may list users")
    return list(session.execute(q).scalars())


def role_agency_problem(role: str, agency_code: str) -> str | None:
    """The accounts rule: staff roles (analyst, supervisor) only in the owning agency
    (:data:`~vigia.store.models.OWNER_AGENCY`), partner roles only in partner agencies.
    Returns what is wrong, or ``None`` when ``role`` may belong to ``agency_code``."""
    if role in PARTNER_ROLES and agency_code == OWNER_AGENCY:
        return f"a {role} belongs to a partner agency, not to {OWNER_AGENCY}"
    if role in ROLES and role not in PARTNER_ROLES and agency_code != OWNER_AGENCY:
        return f"a {role} is program staff: their agency is {OWNER_AGENCY}, not {agency_code}"
    return None


def _may_manage(actor: User, role: str, agency: Agency) -> bool:
    if actor.role == "supervisor":
        return True
    return (
        actor.role == "partner-liaison"
        and role == "partner-officer"
        and agency.id == actor.agency_id
    )


def create_user(
    session: Session,
    username: str,
    password: str,
    role: str,
    agency: str,
    *,
    display_name: str | None = None,
    language: str | None = None,
    actor: User | None = None,
    now: datetime | None = None,
) -> User:
    """Create a user with an argon2-hashed password.

    ``agency`` is an agency code; ``language`` defaults to 'es' for partner roles and 'en'
    otherwise. The password must pass the policy of :mod:`vigia.store.passwords`
    (:class:`WeakPassword` otherwise). With an ``actor``, only a supervisor (anyone) or a
    partner liaison (officers of their own agency) may create users; without one the caller is
    the system (CLI, demo).
    """
    problems = []
    if not _USERNAME.fullmatch(username):
        problems.append(
            f"username {username!r} must be 3-64 lower-case letters, digits, '.', '_' or '-'"
        )
    if role not in ROLES:
        problems.append(f"role {role!r} is not one of {', '.join(ROLES)}")
    lang = language or ("es" if role in PARTNER_ROLES else "en")
    if lang not in LANGUAGES:
        problems.append(f"language {lang!r} is not one of {', '.join(LANGUAGES)}")
    weak = password_problems(password, username)
    if problems:
        raise ValidationError(problems + weak)
    if weak:
        raise WeakPassword(weak)
    agency_row = get_agency(session, agency)
    if actor is not None and not _may_manage(actor, role, agency_row):
        raise PermissionDenied(f"{actor.username} may not create {role} users of {agency}")
    mismatch = role_agency_problem(role, agency_row.code)
    if mismatch is not None:
        raise ValidationError(mismatch)
    if session.execute(select(User.id).where(User.username == username)).first():
        raise Conflict(f"user {username!r} already exists")
    password_hash = _hasher.hash(password)  # slow on purpose: before taking the audit lock
    lock_audit(session)
    user = User(
        username=username,
        display_name=(display_name or username).strip()[:200],
        role=role,
        agency_id=agency_row.id,
        password_hash=password_hash,
        language=lang,
        active=True,
        created_at=_now(now),
    )
    user.agency = agency_row
    session.add(user)
    try:
        session.flush()
    except IntegrityError as exc:  # created meanwhile by another transaction
        raise Conflict(f"user {username!r} already exists") from exc
    audit(
        session,
        actor.username if actor else "system",
        "create",
        "user",
        username,
        {"role": role, "agency": agency, "language": lang},
        now=now,
    )
    return user


def set_password(session: Session, user: User, password: str) -> None:
    """Replace ``user``'s password and revoke their tokens (:class:`WeakPassword` when the
    policy of :mod:`vigia.store.passwords` refuses it)."""
    check_password(password, user.username)
    password_hash = _hasher.hash(password)
    lock_audit(session)
    row = session.get_one(User, user.id)  # ``user`` may come from another session
    row.password_hash = password_hash
    revoke_user_tokens(session, row)
    audit(session, row.username, "set_password", "user", row.username)


def set_active(session: Session, actor: User | None, username: str, active: bool) -> User:
    """Enable or disable a user (supervisors only; ``actor`` None is the system, e.g. the CLI);
    disabling revokes their tokens."""
    lock_audit(session)
    if actor is not None and actor.role != "supervisor":
        raise PermissionDenied("only a supervisor may enable or disable users")
    user = get_user(session, username)
    user.active = active
    if not active:
        revoke_user_tokens(session, user)
    who = actor.username if actor else "system"
    audit(session, who, "enable" if active else "disable", "user", username)
    return user


# --- tokens ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class IssuedToken:
    """A bearer token as handed to the client: the only time the clear token exists."""

    token: str
    expires_at: datetime
    user: User


def authenticate(
    session: Session,
    username: str,
    password: str,
    *,
    ttl: timedelta = TOKEN_TTL,
    now: datetime | None = None,
) -> IssuedToken:
    """Check the password and issue a new bearer token (default lifetime 12 h).

    Raises :class:`AuthError` for an unknown or disabled user or a wrong password, with the
    same message in every case.
    """
    failure = AuthError("wrong username or password")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise failure
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        raise failure from None
    if user is None or not user.active:
        raise failure
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    t = _now(now)
    token = "vg_" + secrets.token_urlsafe(32)
    expires = t + ttl
    session.add(
        Token(
            token_hash=hash_token(token),
            user_id=user.id,
            created_at=t,
            expires_at=expires,
            revoked=False,
        )
    )
    session.flush()
    audit(session, username, "login", "user", username, {"expires_at": expires}, now=t)
    return IssuedToken(token, expires, user)


def user_for_token(session: Session, token: str, *, now: datetime | None = None) -> User:
    """The active user a bearer token belongs to; :class:`AuthError` if unknown, expired or
    revoked. Writes nothing, so it may run in :meth:`Store.read_only`."""
    row = session.execute(
        select(Token, User)
        .join(User, User.id == Token.user_id)
        .where(Token.token_hash == hash_token(token))
    ).first()
    if row is None:
        raise AuthError("unknown token")
    tok, user = row
    if tok.revoked:
        raise AuthError("token revoked")
    if _now(now) >= tok.expires_at:
        raise AuthError("token expired")
    if not user.active:
        raise AuthError("user disabled")
    return user


#: Actor of the entries of requests that no user is logged in for.
ANONYMOUS = "anonymous"


def revoke_token(session: Session, token: str, *, now: datetime | None = None) -> None:
    """Revoke one bearer token (log-out, audited as 'logout'); unknown tokens are ignored."""
    row = session.execute(
        select(Token, User.username)
        .join(User, User.id == Token.user_id)
        .where(Token.token_hash == hash_token(token))
    ).first()
    if row is None:
        return
    tok, username = row
    if not tok.revoked:
        t = _now(now)
        lock_audit(session)
        tok.revoked = True
        tok.revoked_at = t
        audit(session, username, "logout", "user", username, now=t)


def record_failed_login(
    session: Session, username: str, *, reason: str = "refused", now: datetime | None = None
) -> None:
    """Audit a refused log-in: the username tried (cut to 64 characters), never the password,
    and why (``refused``: unknown user or wrong password; ``throttled``: too many failures)."""
    tried = username[:64]
    details = {"username": tried, "reason": reason}
    audit(session, ANONYMOUS, "login_failed", "user", tried, details, now=_now(now))


def revoke_user_tokens(session: Session, user: User, *, now: datetime | None = None) -> int:
    """Revoke every live token of ``user``; returns how many."""
    result = session.execute(
        update(Token)
        .where(Token.user_id == user.id, Token.revoked.is_(False))
        .values(revoked=True, revoked_at=_now(now))
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
