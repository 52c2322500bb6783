"""``vigia serve``: the API and web UI with uvicorn.

The store is migrated and ``sites.parquet`` mirrored once, then uvicorn starts ``workers``
processes (default: one per CPU core, at most 4), each building the app from the environment
(:func:`app_from_env`). Workers share nothing but the store and the data directory: their
caches follow the store through the generation file (:mod:`vigia.api.cache`).
"""

from __future__ import annotations

import gc
import os
from pathlib import Path

from fastapi import FastAPI

from vigia.api.app import create_app
from vigia.api.state import sync_if_newer
from vigia.store import DATABASE_URL_ENV, open_store

__all__ = ["DATA_DIR_ENV", "TAK_ENV", "app_from_env", "default_workers", "serve"]

DATA_DIR_ENV = "VIGIA_API_DATA_DIR"
TAK_ENV = "VIGIA_API_TAK"


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
) -> None:
    """Serve the API and web UI of ``data_dir`` on ``host:port`` until interrupted."""
    import uvicorn

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
        timeout_keep_alive=30,
    )
