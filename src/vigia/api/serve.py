"""``vigia serve``: the API and web UI with uvicorn.

The store is migrated and ``sites.parquet`` mirrored once, then uvicorn starts ``workers``
processes (default: one per CPU core, at most 4), each building the app from the environment
(:func:`app_from_env`). Workers share nothing but the store and the data directory: their
caches follow the store through the generation file (:mod:`vigia.api.cache`).

Every connection is bounded before the app sees it (:class:`BoundedHttpToolsProtocol`): the
request line and headers must arrive within :data:`HEADER_TIMEOUT_S` (else 408 and the
connection closes: a header that never ends does not hold a worker), in at most
:data:`MAX_HEADER_BYTES` and :data:`MAX_HEADERS` headers (431), with a target of at most
:data:`MAX_TARGET_BYTES` (414); an idle keep-alive connection closes after
:data:`KEEP_ALIVE_S`; a worker serves at most :data:`MAX_CONNECTIONS` connections at once (503
beyond). With ``tls_cert`` and ``tls_key`` it serves HTTPS only.
"""

from __future__ import annotations

import asyncio
import gc
import os
from pathlib import Path

from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from vigia.api.app import create_app
from vigia.api.state import sync_if_newer
from vigia.errors import SourceError
from vigia.store import DATABASE_URL_ENV, open_store

__all__ = [
    "DATA_DIR_ENV",
    "HEADER_TIMEOUT_S",
    "KEEP_ALIVE_S",
    "MAX_CONNECTIONS",
    "MAX_HEADERS",
    "MAX_HEADER_BYTES",
    "MAX_TARGET_BYTES",
    "TAK_ENV",
    "BoundedHttpToolsProtocol",
    "app_from_env",
    "check_tls",
    "default_workers",
    "serve",
]

DATA_DIR_ENV = "VIGIA_API_DATA_DIR"
TAK_ENV = "VIGIA_API_TAK"

#: Time a client has to send a request's line and headers (s), from connecting or from the
#: first byte of the request.
HEADER_TIMEOUT_S = 10.0
#: An idle keep-alive connection is closed after this long (s).
KEEP_ALIVE_S = 5
#: Largest request line + headers (bytes): larger get 431.
MAX_HEADER_BYTES = 16 * 1024
#: Most header fields in a request: more get 431.
MAX_HEADERS = 64
#: Longest request target, path and query (bytes): longer get 414.
MAX_TARGET_BYTES = 8 * 1024
#: Connections one worker serves at once (more get 503).
MAX_CONNECTIONS = 1000
#: Connections waiting to be accepted.
BACKLOG = 1024

_REASONS = {
    408: b"Request Timeout",
    414: b"URI Too Long",
    431: b"Request Header Fields Too Large",
}


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with bounds on what comes before the app (module doc):
    the time to send the request line and headers, their size and count, the target's size."""

    _head_deadline: asyncio.TimerHandle | None = None
    _head_bytes = 0
    _head_count = 0
    _refused: int | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the clock for the first request's head."""
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the clock."""
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Parse, then refuse (and close) if the head went past a bound."""
        if self._refused is None:
            super().data_received(data)
        if self._refused is not None:
            self._refuse(self._refused)

    def on_message_begin(self) -> None:
        """A new request: its head is counted and timed from here."""
        super().on_message_begin()
        self._head_bytes = self._head_count = 0
        if self._head_deadline is None:
            self._arm()

    def on_url(self, url: bytes) -> None:
        """Count the target."""
        self._head_bytes += len(url)
        if len(self.url) + len(url) > MAX_TARGET_BYTES:
            self._refused = self._refused or 414
            return
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        """Count the header."""
        self._head_bytes += len(name) + len(value) + 4
        self._head_count += 1
        if self._head_bytes > MAX_HEADER_BYTES or self._head_count > MAX_HEADERS:
            self._refused = self._refused or 431
            return
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        """The head is in, within its bounds: stop the clock and run the request."""
        if self._refused is not None:
            return
        self._disarm()
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        """Body bytes (none are taken for a refused request)."""
        if self._refused is None:
            super().on_body(body)

    def on_message_complete(self) -> None:
        """End of a request (nothing to do for a refused one)."""
        if self._refused is None:
            super().on_message_complete()

    def _arm(self) -> None:
        self._disarm()
        self._head_deadline = self.loop.call_later(HEADER_TIMEOUT_S, self._refuse, 408)

    def _disarm(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _refuse(self, status: int) -> None:
        self._disarm()
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete and status == 408:
            return  # a request is running: its response ends the connection's head wait
        reason = _REASONS[status]
        body = b'{"detail": "' + reason.lower() + b'"}'
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (status, reason, len(body), body)
        )
        self.transport.close()


def default_workers() -> int:
    """Worker processes: one per CPU core available to this process, 1 to 4."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    return max(1, min(n, 4))


def app_from_env() -> FastAPI:
    """The app of one worker: data directory, database and TAK target from the environment.

    Everything built at start-up (modules, SQLAlchemy metadata, vocabularies) is moved out of
    the garbage collector's reach (``gc.freeze``): otherwise a full collection walks it every
    so often and stalls the worker for a good part of a second.
    """
    app = create_app(
        Path(os.environ.get(DATA_DIR_ENV, "vigia-data")),
        tak=os.environ.get(TAK_ENV) or None,
    )
    gc.collect()
    gc.freeze()
    return app


def serve(
    data_dir: Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    workers: int | None = None,
    database_url: str | None = None,
    tak: str | None = None,
    log_level: str = "info",
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
) -> None:
    """Serve the API and web UI of ``data_dir`` on ``host:port`` until interrupted; over
    HTTPS with ``tls_cert`` and ``tls_key`` (PEM files; one without the other is refused)."""
    import uvicorn

    tls = check_tls(tls_cert, tls_key)
    data_dir = Path(data_dir).absolute()
    with open_store(data_dir, database_url) as store:
        sync_if_newer(store, data_dir)
    os.environ[DATA_DIR_ENV] = str(data_dir)
    if database_url:
        os.environ[DATABASE_URL_ENV] = database_url
    if tak:
        os.environ[TAK_ENV] = tak
    uvicorn.run(
        "vigia.api.serve:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers or default_workers(),
        log_level=log_level,
        access_log=False,
        server_header=False,
        http="vigia.api.serve:BoundedHttpToolsProtocol",
        timeout_keep_alive=KEEP_ALIVE_S,
        limit_concurrency=MAX_CONNECTIONS,
        backlog=BACKLOG,
        ssl_certfile=str(tls[0]) if tls else None,
        ssl_keyfile=str(tls[1]) if tls else None,
    )


def check_tls(cert: Path | None, key: Path | None) -> tuple[Path, Path] | None:
    """The certificate and key files to serve HTTPS with, or None for plain HTTP; refused
    (:class:`~vigia.errors.SourceError`) when only one is given or one is not a readable
    file."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        given, missing = ("--tls-cert", "--tls-key") if key is None else ("--tls-key", "--tls-cert")
        raise SourceError(f"{given} needs {missing} too (HTTPS needs both files)")
    for what, path in (("certificate", cert), ("key", key)):
        if not Path(path).is_file() or not os.access(path, os.R_OK):
            raise SourceError(f"TLS {what} {path} is not a readable file")
    return Path(cert), Path(key)
