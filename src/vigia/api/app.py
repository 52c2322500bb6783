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
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vigia.api import routes_admin, routes_auth, routes_products, routes_sites
from vigia.api.fastpath import PartnerSitesFastPath
from vigia.api.state import ApiState, sync_if_newer
from vigia.app.delivery import parse_tak
from vigia.errors import (
    AuditUnavailable,
    AuthError,
    Conflict,
    Gone,
    MarkingError,
    NotFound,
    PermissionDenied,
    ProductError,
    RenderError,
    TearlineError,
    ValidationError,
    VigiaError,
)
from vigia.store import audit, audit_client, open_store
from vigia.store.users import ANONYMOUS

__all__ = ["DENIED_STATUSES", "MAX_BODY_BYTES", "WEB_DIR", "ClientAddress", "create_app"]

log = logging.getLogger("vigia.api")

#: Largest request body accepted (bytes): larger ones get 413.
MAX_BODY_BYTES = 1 << 20
WEB_DIR = Path(__file__).parent / "web"

#: The HTTP status of each error class of :mod:`vigia.errors` an API request can raise (the first
#: listed class the error is an instance of; any other :class:`VigiaError` is 400).
STATUS_OF: tuple[tuple[type[VigiaError], int], ...] = (
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
)


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


def validation_message(errors: Sequence[Any]) -> str:
    """Pydantic errors as one line: ``body.seizures[0].unit: Input should be 'count', ...``."""
    parts = []
    for e in errors:
        loc = _loc(e.get("loc", ()))
        parts.append(f"{loc}: {e.get('msg', 'invalid')}" if loc else str(e.get("msg", "invalid")))
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

    def write() -> None:
        with state.store.transaction() as s:
            audit(s, actor, "denied", obj_type[:32], str(value)[:64], details)

    try:
        await run_in_threadpool(write)
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
    return _error(status, message)


async def _request_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    return _error(422, validation_message(exc.errors()), errors=errors)


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


class BodyLimit:
    """Refuse request bodies larger than ``max_bytes`` with 413, whether the size is announced
    (``Content-Length``) or only found while reading."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
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
    log.error("database error: %s", exc)
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
    )
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(PartnerSitesFastPath, state=state)
    app.add_middleware(ClientAddress)  # outermost: the fast path's records carry it too
    app.state.vigia = state
    for exc_cls in (VigiaError,):
        app.add_exception_handler(exc_cls, _vigia_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(OperationalError, _database_error)
    app.add_exception_handler(DBAPIError, _database_error)
    for module in (routes_auth, routes_sites, routes_products, routes_admin):
        app.include_router(module.router)

    index = WEB_DIR / "index.html"
    static = WEB_DIR / "static"
    if static.is_dir():
        app.mount("/static", StaticFiles(directory=static), name="static")

    @app.get("/", include_in_schema=False, response_model=None)
    async def home() -> Response:
        if index.is_file():
            return FileResponse(index, media_type="text/html")
        return JSONResponse({"detail": "Vigía API: see /docs and /openapi.json"})

    return app
