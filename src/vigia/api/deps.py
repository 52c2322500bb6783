"""Dependencies of the routes: the app state, a store transaction, and who is asking.

:func:`bearer_of` is the one reader of the ``Authorization`` header (the dependencies, the
partner fast path and log-out all use it). ``Authorization: Bearer <token>`` is resolved to a
:class:`~vigia.api.cache.Principal` (a detached snapshot of the user); routes that hand the
user to a store service load it in their own transaction with :func:`actor`. Anonymous or
unknown tokens get 401, known users whose role may not use a route get 403.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine, Iterable, Iterator
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from vigia.api.cache import Principal
from vigia.api.state import ApiState
from vigia.store import AuthError, User

__all__ = [
    "BEARER_SECURITY",
    "BearerToken",
    "Partner",
    "Session_",
    "Staff",
    "State",
    "Supervisor",
    "Who",
    "actor",
    "bearer_of",
    "get_state",
    "principal_of",
    "require_role",
]

MAX_TOKEN_CHARS = 256
#: RFC 6750 ``b64token``: what a bearer token may be made of.
_TOKEN68 = re.compile(rb"[A-Za-z0-9\-._~+/]+=*")
LOG_IN_FIRST = "log in first: send the header 'Authorization: Bearer <token>'"
#: OpenAPI security requirement of routes that check the token without a dependency.
BEARER_SECURITY: list[dict[str, list[str]]] = [{"HTTPBearer": []}]
_bearer = HTTPBearer(
    auto_error=False,
    description="A token from POST /api/auth/login, as `Authorization: Bearer <token>`.",
)


async def get_state(request: Request) -> ApiState:
    """The :class:`ApiState` of the app."""
    state: ApiState = request.app.state.vigia
    return state


State = Annotated[ApiState, Depends(get_state)]


def _unauthorised(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


def bearer_of(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The bearer token of a request's raw ASGI headers (names lower-case, as ASGI gives them).

    Raises :class:`AuthError` unless there is exactly one ``Authorization`` header, of scheme
    ``Bearer`` (any case), whose token is 1 to :data:`MAX_TOKEN_CHARS` characters of RFC 6750
    ``b64token``.
    """
    values = [value for name, value in headers if name.lower() == b"authorization"]
    if not values:
        raise AuthError(LOG_IN_FIRST)
    if len(values) > 1:
        raise AuthError(f"send exactly one Authorization header, not {len(values)}")
    scheme, _, token = values[0].strip().partition(b" ")
    token = token.strip(b" \t")
    if scheme.lower() != b"bearer" or not token:
        raise AuthError(LOG_IN_FIRST)
    if len(token) > MAX_TOKEN_CHARS:
        raise AuthError(f"unknown token: longer than {MAX_TOKEN_CHARS} characters")
    if not _TOKEN68.fullmatch(token):
        raise AuthError("unknown token: not a bearer token")
    return token.decode("ascii")


async def principal_of(request: Request) -> Principal:
    """The logged-in user of ``request`` (401 when there is none), without the dependency
    machinery: the partner site list, the most frequent request, calls it directly."""
    try:
        token = bearer_of(request.headers.raw)
    except AuthError as exc:
        raise _unauthorised(exc.message) from None
    state: ApiState = request.app.state.vigia
    try:
        who = await state.principal(token)
    except AuthError as exc:
        raise _unauthorised(f"{exc.message}: log in again") from None
    request.state.vigia_actor = who.username  # the actor of an audited refusal
    return who


async def current_principal(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The logged-in user of the request (401 when there is none)."""
    return await principal_of(request)


Who = Annotated[Principal, Depends(current_principal)]


async def bearer_token(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The clear bearer token of the request, read by :func:`bearer_of` (``creds`` is only
    there for the OpenAPI description)."""
    try:
        return bearer_of(request.headers.raw)
    except AuthError as exc:
        raise _unauthorised(exc.message) from None


BearerToken = Annotated[str, Depends(bearer_token)]


def require_role(*roles: str, label: str) -> Callable[[Principal], Coroutine[Any, Any, Principal]]:
    """A dependency admitting only users whose role is one of ``roles`` (403 otherwise)."""

    async def check(who: Who) -> Principal:
        if who.role not in roles:
            raise HTTPException(403, f"only {label} may do this (you are {who.role})")
        return who

    return check


Staff = Annotated[
    Principal, Depends(require_role("analyst", "supervisor", label="analysts and supervisors"))
]
Supervisor = Annotated[Principal, Depends(require_role("supervisor", label="supervisors"))]
Partner = Annotated[
    Principal,
    Depends(require_role("partner-liaison", "partner-officer", label="partner users")),
]


def db_session(state: State) -> Iterator[Session]:
    """A store session in one transaction, committed before the response is sent."""
    with state.store.transaction() as session:
        yield session


Session_ = Annotated[Session, Depends(db_session, scope="function")]


def actor(session: Session, who: Principal) -> User:
    """The store's row of the requesting user, in ``session``."""
    user = session.get(User, who.id)
    if user is None or not user.active:
        raise _unauthorised("user disabled: log in again")
    return user
