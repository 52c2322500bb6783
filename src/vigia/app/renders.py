"""Renders that cannot block anyone: a bounded pool of worker processes with a time limit, and a
cache of renderings by version in the data directory.

A request reads what its rendering needs (:class:`~vigia.app.products.RenderInput`) in a short
read transaction and commits its audit entry; :meth:`RenderPool.render` then renders with no
database transaction open: from the cache when this version was rendered before, else in one of
``workers`` worker processes (a burst of renders waits in the pool's queue). A rendering not
made within ``timeout_s`` (waiting included) is :class:`~vigia.errors.RenderUnavailable`
(503 with ``Retry-After``); a worker interrupts a rendering that runs past ``timeout_s``.

Cached files are named by :meth:`RenderInput.key`, the SHA-256 of every input of the rendering
and of the viewer's tearline class (``staff``, ``partner:<AGENCY>``): a changed product, or
another viewer class, is another key, so a cached rendering is never served stale or to another
class of viewer. Files are written atomically (temporary file, then rename).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from concurrent.futures import BrokenExecutor, Executor, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from types import FrameType

from vigia.app.products import Rendered, RenderInput, render_bytes
from vigia.errors import RenderUnavailable
from vigia.outputs import replace_atomically

__all__ = [
    "DEFAULT_RENDER_TIMEOUT_S",
    "DEFAULT_RENDER_WORKERS",
    "RENDERS_DIR",
    "RETRY_AFTER_S",
    "RenderCache",
    "RenderPool",
    "Renderer",
]

log = logging.getLogger(__name__)

#: Worker processes of a pool.
DEFAULT_RENDER_WORKERS = 2
#: Longest a request waits for its rendering, queue included (s).
DEFAULT_RENDER_TIMEOUT_S = 30.0
#: What a refused client is told to wait before trying again (s).
RETRY_AFTER_S = 10
#: The cache's folder in the data directory.
RENDERS_DIR = "renders"
#: How much lower than the server's the workers' CPU priority is (``nice`` increment).
WORKER_NICE = 10

#: A function from a rendering's input to its bytes (picklable, for worker processes).
Renderer = Callable[[RenderInput], bytes]


class RenderCache:
    """Renderings by :meth:`RenderInput.key` under ``root`` (``<data_dir>/renders``)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        """The file of rendering ``key``."""
        return self.root / key[:2] / f"{key}.bin"

    def get(self, key: str) -> bytes | None:
        """The cached rendering ``key``, or None."""
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError:
            return None

    def put(self, key: str, data: bytes) -> None:
        """Store rendering ``key`` atomically: readers see the whole file or none."""
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_atomically(path, lambda tmp: tmp.write_bytes(data))


def _worker_init() -> None:
    """In a new worker process: renders yield the CPU to the server's requests."""
    with contextlib.suppress(OSError, AttributeError):
        os.nice(WORKER_NICE)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise TimeoutError("rendering interrupted: past its time limit")


def _render_limited(renderer: Renderer, inp: RenderInput, limit_s: float) -> bytes:
    """``renderer(inp)`` in a worker process, interrupted after ``limit_s`` seconds of running
    (so that a runaway rendering frees its worker)."""
    main = threading.current_thread() is threading.main_thread()
    if not main or not hasattr(signal, "setitimer"):
        return renderer(inp)
    previous = signal.signal(signal.SIGALRM, _interrupt)
    signal.setitimer(signal.ITIMER_REAL, limit_s)
    try:
        return renderer(inp)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class RenderPool:
    """Renders in at most ``workers`` worker processes (threads with ``processes=False``), each
    request waiting at most ``timeout_s``, through the cache in ``cache_dir`` (none: no cache).

    The executor starts with the first rendering; :meth:`close` stops it (the app's lifespan).
    ``renderer`` is the rendering function (:func:`vigia.app.products.render_bytes`); another
    one must be picklable (a module-level function) for worker processes.
    """

    def __init__(
        self,
        cache_dir: Path | None,
        *,
        workers: int = DEFAULT_RENDER_WORKERS,
        timeout_s: float = DEFAULT_RENDER_TIMEOUT_S,
        renderer: Renderer = render_bytes,
        processes: bool = True,
    ) -> None:
        if workers < 1 or timeout_s <= 0:
            raise ValueError("a render pool needs at least one worker and a positive time limit")
        self.cache = RenderCache(cache_dir) if cache_dir is not None else None
        self.workers = workers
        self.timeout_s = timeout_s
        self.renderer = renderer
        self.processes = processes
        self._executor: Executor | None = None
        self._lock = threading.Lock()
        self._closed = False

    def _pool(self) -> Executor:
        with self._lock:
            if self._closed:
                raise RenderUnavailable("the server is stopping", retry_after_s=RETRY_AFTER_S)
            if self._executor is None:
                if self.processes:
                    # forkserver: the server's threads and connections are not forked
                    self._executor = ProcessPoolExecutor(
                        self.workers,
                        mp_context=multiprocessing.get_context("forkserver"),
                        initializer=_worker_init,
                    )
                else:
                    self._executor = ThreadPoolExecutor(self.workers, "vigia-render")
            return self._executor

    def cached(self, inp: RenderInput, key: str | None = None) -> Rendered | None:
        """The cached rendering of ``inp``, or None (blocking: file I/O)."""
        if self.cache is None:
            return None
        data = self.cache.get(key or inp.key())
        return None if data is None else Rendered(data, inp.media_type, inp.filename)

    async def render(self, inp: RenderInput) -> Rendered:
        """The rendering of ``inp``: cached, else made by a worker within the time limit
        (:class:`RenderUnavailable` past it). No database transaction is involved."""
        key = await asyncio.to_thread(inp.key)
        hit = await asyncio.to_thread(self.cached, inp, key)
        if hit is not None:
            return hit
        fut = self._pool().submit(_render_limited, self.renderer, inp, self.timeout_s)
        try:
            data = await asyncio.wait_for(asyncio.wrap_future(fut), self.timeout_s)
        except TimeoutError:
            fut.cancel()  # still queued: it never runs
            raise RenderUnavailable(
                f"the rendering of {inp.product_id} ({inp.fmt}) took longer than "
                f"{self.timeout_s:g} s: try again later",
                retry_after_s=RETRY_AFTER_S,
            ) from None
        except BrokenExecutor:  # a worker died (killed, out of memory): start afresh next time
            log.error("render worker pool broken: restarting it")
            with self._lock:
                broken, self._executor = self._executor, None
            if broken is not None:
                broken.shutdown(wait=False, cancel_futures=True)
            raise RenderUnavailable(
                "the render workers stopped: try again", retry_after_s=RETRY_AFTER_S
            ) from None
        if self.cache is not None:
            await asyncio.to_thread(self.cache.put, key, data)
        return Rendered(data, inp.media_type, inp.filename)

    def close(self) -> None:
        """Stop the workers (renderings still queued are cancelled)."""
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
