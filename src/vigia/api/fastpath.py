"""A fast path for the most frequent request: a partner listing their agency's sites.

``GET /api/sites`` by a partner user whose token is in the token cache is answered here, before
FastAPI's routing and dependency resolution: the body comes from the agency's
:class:`~vigia.api.partner.PartnerIndex` (gzip-compressed when the client accepts it) and the
read is audited (committed) like in the route.
Anything else — other paths and methods, staff users, unknown or uncached tokens, unexpected
query parameters — goes on to FastAPI unchanged, so every error response (401, 422, ...) and
the OpenAPI description stay those of the route in :mod:`vigia.api.routes_sites`.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from vigia.api.deps import bearer_of
from vigia.api.partner import accepts_gzip
from vigia.api.state import ApiState
from vigia.store import AuthError, hash_token
from vigia.store.auditlog import AuditUnavailable

__all__ = ["PartnerSitesFastPath"]

_PATH = "/api/sites"
_LANGS = {b"": None, b"lang=en": "en", b"lang=es": "es"}
_JSON_HEADERS = [(b"content-type", b"application/json"), (b"vary", b"Accept-Encoding")]


class PartnerSitesFastPath:
    """ASGI middleware answering cached partner ``GET /api/sites`` requests directly."""

    def __init__(self, app: ASGIApp, state: ApiState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != _PATH
            or scope["method"] != "GET"
            or scope.get("query_string", b"") not in _LANGS
        ):
            await self.app(scope, receive, send)
            return
        try:
            token = bearer_of(scope["headers"])
        except AuthError:  # the route answers 401 with the same message
            await self.app(scope, receive, send)
            return
        gz = any(
            accepts_gzip(value.decode("latin-1"))
            for name, value in scope["headers"]
            if name == b"accept-encoding"
        )
        state = self.state
        who = state.tokens.get(hash_token(token), state.generation.current())
        if who is None or not who.is_partner:
            await self.app(scope, receive, send)
            return
        lang = _LANGS[scope.get("query_string", b"")] or who.language
        idx = await state.partner_index(who)
        try:
            await state.sink.append(state.listing_record(who, idx))
        except AuditUnavailable:
            await self.app(scope, receive, send)  # the route answers 503 with its message
            return
        idx.published = True
        headers = [*_JSON_HEADERS]
        if gz:
            body = idx.body_gzip[lang]
            headers.append((b"content-encoding", b"gzip"))
        else:
            body = idx.body[lang]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
