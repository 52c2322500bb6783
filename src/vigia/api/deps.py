"""Dependencies of the routes: the app state, a store transaction, and who is asking.

``Authorization: Bearer <token>`` is resolved to a :class:`~vigia.api.cache.Principal` (a
detached snapshot of the user); routes that hand the user to a store service load it in their
own transaction with :func:`actor`. Anonymous or unknown tokens get 401, known users whose role
may not use a route get 403.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator
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
    "get_state",
    "principal_of",
    "require_role",
]

MAX_TOKEN_CHARS = 256
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


async def principal_of(request: Request) -> Principal:
    """The logged-in user of ``request`` (401 when there is none), without the dependency
    machinery: the partner site list, the most frequent request, calls it directly."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise _unauthorised("log in first: send the header 'Authorization: Bearer <token>'")
    if len(token) > MAX_TOKEN_CHARS:
        raise _unauthorised("unknown token")
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
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The clear bearer token of the request (after :func:`current_principal` accepted it)."""
    if creds is None:
        raise _unauthorised("log in first: send the header 'Authorization: Bearer <token>'")
    return creds.credentials


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
