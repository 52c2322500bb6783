"""The FastAPI application of ``vigia serve``: routes, errors, limits and the web UI.

:func:`create_app` opens the store of a data directory (SQLite file there by default,
PostgreSQL by URL), mirrors ``sites.parquet`` into it when the file is newer than the last sync,
and serves the JSON API under ``/api`` (OpenAPI at ``/openapi.json``) and the web UI
(``web/index.html`` at ``/``, ``web/static/`` at ``/static``).

Every error is JSON ``{"detail": "clear message"}``: 401 not logged in, 403 role not allowed,
404 not found (or not released to the user's agency), 409 wrong state, 410 withdrawn,
413 body too large, 422 invalid input (:data:`STATUS_OF` maps :mod:`vigia.errors` to these).
Bad input never gives a 500.
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
from vigia.store import db_error_summary, open_store

__all__ = ["MAX_BODY_BYTES", "WEB_DIR", "create_app"]

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


async def _vigia_error(request: Request, exc: Exception) -> Response:
    for cls, status in STATUS_OF:
        if isinstance(exc, cls):
            if isinstance(exc, ValidationError):
                return _error(status, exc.message, problems=exc.problems)
            return _error(status, exc.message)
    return _error(400, exc.message if isinstance(exc, VigiaError) else str(exc))


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
    )
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(PartnerSitesFastPath, state=state)
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
