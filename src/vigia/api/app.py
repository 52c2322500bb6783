"""The FastAPI application of ``vigia serve``: routes, errors, limits and the web UI.

:func:`create_app` opens the store of a data directory (SQLite file there by default,
PostgreSQL by URL), mirrors ``sites.parquet`` into it when the file is newer than the last sync,
and serves the JSON API under ``/api`` (OpenAPI at ``/openapi.json``) and the web UI
(``web/index.html`` at ``/``, ``web/static/`` at ``/static``).

Every error is JSON ``{"detail": "clear message"}``: 401 not logged in, 403 role not allowed,
404 not found (or not released to the user's agency), 409 wrong state, 410 withdrawn,
413 body too large, 422 invalid input (:data:`STATUS_OF` maps :mod:`vigia.errors` to these).
Bad input never gives a 500.

Every audit entry a request writes carries the client address (the socket peer, set by
:class:`ClientAddress`), and a 401, 403 or 404 on a route naming an object (``/api/.../{id}``)
is audited as 'denied' with the status, so probing for other agencies' ids leaves a trace.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vigia.api import (
    routes_admin,
    routes_auth,
    routes_imagery,
    routes_marks,
    routes_products,
    routes_sites,
    routes_sorties,
)
from vigia.api.fastpath import PartnerSitesFastPath
from vigia.api.state import ApiState, sync_if_newer
from vigia.app.delivery import parse_tak
from vigia.errors import (
    AuditUnavailable,
    AuthError,
    CatalogBusy,
    Conflict,
    Gone,
    LoginThrottled,
    MarkingError,
    NotFound,
    PermissionDenied,
    ProductError,
    RenderError,
    RenderUnavailable,
    TearlineError,
    ValidationError,
    VigiaError,
)
from vigia.share.render import inline_style_hashes
from vigia.store import audit_client, db_error_summary, open_store
from vigia.store.audit import AuditRecord
from vigia.store.users import ANONYMOUS

__all__ = [
    "DENIED_STATUSES",
    "MAX_BODY_BYTES",
    "WEB_DIR",
    "ClientAddress",
    "SecurityHeaders",
    "content_security_policy",
    "create_app",
]

log = logging.getLogger("vigia.api")

#: Largest request body accepted (bytes): larger ones get 413.
MAX_BODY_BYTES = 1 << 20
WEB_DIR = Path(__file__).parent / "web"

#: The HTTP status of each error class of :mod:`vigia.errors` an API request can raise (the first
#: listed class the error is an instance of; any other :class:`VigiaError` is 400).
STATUS_OF: tuple[tuple[type[VigiaError], int], ...] = (
    (LoginThrottled, 429),
    (AuthError, 401),
    (PermissionDenied, 403),
    (NotFound, 404),
    (Conflict, 409),
    (Gone, 410),
    (ValidationError, 422),
    (TearlineError, 422),
    (ProductError, 422),
    (MarkingError, 422),
    (RenderError, 422),
    (AuditUnavailable, 503),
    (RenderUnavailable, 503),
    (CatalogBusy, 503),
)
#: ``Retry-After`` (s) of a 503 because another writer holds the data directory.
CATALOG_BUSY_RETRY_S = 5


def _error(status: int, detail: str, **extra: Any) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"detail": detail, **extra}, status_code=status, headers=headers)


def _loc(loc: Sequence[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


#: At most this many validation errors are listed in a 422 (the rest are counted).
MAX_VALIDATION_ERRORS = 20
#: Longest location or message of one listed validation error (characters; longer ones are cut).
MAX_VALIDATION_TEXT = 120
#: Largest 422 body (bytes, about): errors stop being listed once they would take more.
MAX_VALIDATION_BYTES = 8192


def _clip(text: str, limit: int = MAX_VALIDATION_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def capped_errors(errors: Sequence[Any]) -> tuple[list[dict[str, Any]], int]:
    """The pydantic errors a 422 lists (``loc``, ``msg``, ``type``; never the ``input`` sent):
    at most :data:`MAX_VALIDATION_ERRORS`, each text cut to :data:`MAX_VALIDATION_TEXT`
    characters, about :data:`MAX_VALIDATION_BYTES` in all; and how many were left out."""
    shown: list[dict[str, Any]] = []
    budget = MAX_VALIDATION_BYTES // 2  # the other half for the one-line detail
    for e in errors[:MAX_VALIDATION_ERRORS]:
        loc = [p if isinstance(p, int) else _clip(str(p), 64) for p in e.get("loc", ())]
        item = {
            "loc": loc,
            "msg": _clip(str(e.get("msg", ""))),
            "type": _clip(str(e.get("type", "")), 64),
        }
        budget -= 2 * sum(len(str(p)) + 4 for p in loc) + len(item["msg"]) + len(item["type"]) + 40
        if budget < 0:
            break
        shown.append(item)
    return shown, len(errors) - len(shown)


def validation_message(errors: Sequence[Any], more: int = 0) -> str:
    """Pydantic errors as one line: ``body.seizures[0].unit: Input should be 'count', ...``
    (``more``: how many errors are not listed, said at the end)."""
    parts = []
    for e in errors:
        loc = _loc(e.get("loc", ()))
        parts.append(f"{loc}: {e.get('msg', 'invalid')}" if loc else str(e.get("msg", "invalid")))
    if more:
        parts.append(f"and {more} more error{'s' if more > 1 else ''}")
    return "; ".join(parts) or "invalid request"


#: Statuses audited as a denied read when the route names an object.
DENIED_STATUSES = frozenset({401, 403, 404})


async def _audit_denied(request: Request, status: int, message: str) -> Response | None:
    """Audit a refusal of an object-naming API route (None), or the 503 when that fails."""
    params = request.scope.get("path_params") or {}
    if status not in DENIED_STATUSES or not params or not request.url.path.startswith("/api/"):
        return None
    name, value = list(params.items())[-1]
    obj_type = str(name).removesuffix("_id")
    actor = str(getattr(request.state, "vigia_actor", ANONYMOUS))
    details = {
        "status": status,
        "method": request.method,
        "path": request.url.path[:256],
        "reason": message[:200],
    }
    state: ApiState = request.app.state.vigia
    record = AuditRecord(actor, "denied", obj_type[:32], str(value)[:64], details)
    try:
        await state.sink.append(record)  # group commit, as the partner's hot reads
    except Exception:
        log.exception("a denied request could not be audited")
        return _error(503, "the audit log cannot be written; try again")
    return None


async def _vigia_error(request: Request, exc: Exception) -> Response:
    status, message = 400, exc.message if isinstance(exc, VigiaError) else str(exc)
    for cls, code in STATUS_OF:
        if isinstance(exc, cls):
            status = code
            break
    failed = await _audit_denied(request, status, message)
    if failed is not None:
        return failed
    if isinstance(exc, ValidationError):
        return _error(status, exc.message, problems=exc.problems)
    resp = _error(status, message)
    if isinstance(exc, (LoginThrottled, RenderUnavailable)):
        resp.headers["Retry-After"] = str(exc.retry_after_s)
    elif isinstance(exc, CatalogBusy):
        resp.headers["Retry-After"] = str(CATALOG_BUSY_RETRY_S)
    return resp


async def _request_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors, more = capped_errors(exc.errors())
    return _error(422, validation_message(errors, more), errors=errors, more_errors=more)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    limit = request.app.state.vigia.max_body_bytes
    detail = f"request body larger than {limit} bytes" if exc.status_code == 413 else exc.detail
    failed = await _audit_denied(request, exc.status_code, str(detail))
    if failed is not None:
        return failed
    resp = _error(exc.status_code, str(detail))
    if exc.headers:
        resp.headers.update(exc.headers)
    return resp


#: Longest query string accepted (bytes): longer ones get 414.
MAX_QUERY_BYTES = 4096
#: Most query parameters accepted: more get 400.
MAX_QUERY_PARAMS = 32


class BodyLimit:
    """Refuse request bodies larger than ``max_bytes`` with 413, whether the size is announced
    (``Content-Length``) or only found while reading (a chunked body); and query strings longer
    than :data:`MAX_QUERY_BYTES` (414) or with more than :data:`MAX_QUERY_PARAMS` parameters
    (400), before any route parses them."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query: bytes = scope.get("query_string", b"")
        if len(query) > MAX_QUERY_BYTES:
            msg = f"query string longer than {MAX_QUERY_BYTES} bytes"
            await _error(414, msg)(scope, receive, send)
            return
        if query.count(b"&") + query.count(b";") >= MAX_QUERY_PARAMS:
            msg = f"more than {MAX_QUERY_PARAMS} query parameters"
            await _error(400, msg)(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    announced = int(value)
                except ValueError:
                    await _error(400, "Content-Length is not a number")(scope, receive, send)
                    return
                if announced > self.max_bytes:
                    await self._too_large()(scope, receive, send)
                    return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise StarletteHTTPException(413)
            return message

        await self.app(scope, limited, send)

    def _too_large(self) -> JSONResponse:
        return _error(413, f"request body larger than {self.max_bytes} bytes")


def content_security_policy() -> str:
    """The Content-Security-Policy of every response: everything from the app's own origin
    only (nothing from the internet, no inline script, no framing); images also from
    ``data:`` and ``blob:`` URLs (chips, renderings); inline styles only those of the HTML
    rendering of a product, by their hashes (a rendering opened from the UI is a ``blob:``
    page under the UI's policy)."""
    styles = " ".join(("'self'", *inline_style_hashes()))
    return (
        "default-src 'self'; script-src 'self'; "
        f"style-src {styles}; img-src 'self' data: blob:; font-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    )


#: Strict-Transport-Security sent on responses served over TLS (one year, in seconds).
HSTS_MAX_AGE_S = 31_536_000


class SecurityHeaders:
    """Add the security headers to every response of the app (API, static files, web UI,
    errors, the partner fast path): CSP, ``X-Content-Type-Options: nosniff``,
    ``X-Frame-Options: DENY``, ``Referrer-Policy: no-referrer``; ``Cache-Control: no-store``
    under ``/api`` (and on ``/openapi.json``); ``Strict-Transport-Security`` over TLS."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.common = [
            (b"content-security-policy", content_security_policy().encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        add = list(self.common)
        if path.startswith("/api/") or path in ("/api", "/openapi.json"):
            add.append((b"cache-control", b"no-store"))
        if scope.get("scheme") == "https":
            add.append((b"strict-transport-security", f"max-age={HSTS_MAX_AGE_S}".encode()))
        names = {name for name, _ in add}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(n, v) for n, v in message.get("headers", ()) if n.lower() not in names]
                message = {**message, "headers": [*kept, *add]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class ClientAddress:
    """Sets the client address of each HTTP request (the socket peer, ``request.client.host``;
    a proxy in front is not looked through) for the audit entries made while serving it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        with audit_client(str(client[0]) if client else None):
            await self.app(scope, receive, send)


async def _database_error(request: Request, exc: Exception) -> Response:
    # the error's kind only: its message quotes the statement and may quote values sent
    log.error("database error: %s", db_error_summary(exc))
    return _error(503, "the database is unavailable or busy; try again")


def create_app(
    data_dir: Path,
    *,
    database_url: str | None = None,
    tak: str | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    sync: bool = True,
) -> FastAPI:
    """The API over the data directory ``data_dir``.

    ``database_url`` picks the store (else ``$VIGIA_DATABASE_URL``, else the SQLite file in
    ``data_dir``); ``tak`` (``tcp://HOST:PORT`` or ``ssl://HOST:PORT?cafile=..``) is the
    partner TAK server released sites are pushed to. With ``sync`` the store mirrors
    ``<data_dir>/sites.parquet`` when the file is newer than the last sync.
    """
    data_dir = Path(data_dir)
    store = open_store(data_dir, database_url)
    if sync:
        try:
            sync_if_newer(store, data_dir)
        except VigiaError as exc:
            log.error("sites.parquet not mirrored into the store: %s", exc)
    state = ApiState(
        data_dir=data_dir,
        store=store,
        tak=parse_tak(tak) if tak else None,
        max_body_bytes=max_body_bytes,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        state.close()

    app = FastAPI(
        title="Vigía",
        summary="Sites, products, releases and partner feedback of the Vigía PED system",
        version="0.1.0",
        lifespan=lifespan,
        # No /docs or /redoc: FastAPI's pages load Swagger UI / ReDoc from a CDN (nothing is
        # fetched from the internet, and the CSP refuses it); /openapi.json stays.
        docs_url=None,
        redoc_url=None,
    )
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(PartnerSitesFastPath, state=state)
    app.add_middleware(ClientAddress)  # its records of the fast path carry the address too
    app.add_middleware(SecurityHeaders)  # the outermost: its headers are on every response
    app.state.vigia = state
    for exc_cls in (VigiaError,):
        app.add_exception_handler(exc_cls, _vigia_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(OperationalError, _database_error)
    app.add_exception_handler(DBAPIError, _database_error)
    modules = (
        routes_auth,
        routes_sites,
        routes_products,
        routes_admin,
        routes_sorties,
        routes_marks,
        routes_imagery,
    )
    for module in modules:
        app.include_router(module.router)

    index = WEB_DIR / "index.html"
    static = WEB_DIR / "static"
    if static.is_dir():
        app.mount("/static", StaticFiles(directory=static), name="static")

    @app.get("/", include_in_schema=False, response_model=None)
    async def home() -> Response:
        if index.is_file():
            return FileResponse(index, media_type="text/html")
        return JSONResponse({"detail": "Vigía API: see /openapi.json"})

    return app
