"""Log in, log out, who am I."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from vigia.api.cache import Principal
from vigia.api.deps import BearerToken, State, Who
from vigia.api.schemas import COMMON_ERRORS, LoginIn, LoginOut, UserOut, error_responses
from vigia.store import (
    AuthError,
    LoginThrottled,
    authenticate,
    claim_login,
    clear_login,
    hash_token,
    record_failed_login,
    revoke_token,
)

router = APIRouter(prefix="/api", tags=["auth"], responses=error_responses(*COMMON_ERRORS))


def user_out(who: Principal) -> UserOut:
    """The public description of a user."""
    return UserOut(
        username=who.username,
        display_name=who.display_name,
        role=who.role,  # type: ignore[arg-type]
        agency=who.agency_code,
        language=who.language,  # type: ignore[arg-type]
    )


@router.post(
    "/auth/login",
    response_model=LoginOut,
    responses=error_responses(429),
)
def login(body: LoginIn, state: State, request: Request) -> LoginOut:
    """Check the password and issue a bearer token (valid 12 hours); failed attempts are
    throttled per account and per address (:mod:`vigia.store.throttle`) and audited."""
    address = request.client.host if request.client else None
    try:
        with state.store.transaction() as s:
            claim_login(s, body.username, address)  # 429 before the password is verified
        with state.store.transaction() as s:
            issued = authenticate(s, body.username, body.password)
            clear_login(s, body.username, address)
            principal = Principal.of(issued.user, hash_token(issued.token), issued.expires_at)
    except (AuthError, LoginThrottled) as exc:
        reason = "throttled" if isinstance(exc, LoginThrottled) else "refused"
        with state.store.transaction() as s:
            record_failed_login(s, body.username, reason=reason)
        raise
    return LoginOut(token=issued.token, expires_at=issued.expires_at, user=user_out(principal))


@router.post("/auth/logout", status_code=204, response_class=Response)
async def logout(who: Who, state: State, token: BearerToken) -> Response:
    """Revoke the token of this request."""

    def revoke() -> None:
        with state.store.transaction() as s:
            revoke_token(s, token)

    await run_in_threadpool(revoke)
    state.tokens.drop(who.token_hash)
    state.changed()
    return Response(status_code=204)


@router.get("/me", response_model=UserOut)
async def me(who: Who) -> UserOut:
    """The logged-in user."""
    return user_out(who)
