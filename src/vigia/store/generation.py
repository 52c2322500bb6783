"""A cross-process change counter of a data directory: who caches what the store holds learns
from it that the cache is stale (the API's workers; the demo, which writes the store directly).
"""

from __future__ import annotations

import contextlib
import fcntl
import mmap
import os
import struct
import threading
from pathlib import Path

__all__ = ["GENERATION_FILE", "Generation"]

GENERATION_FILE = ".vigia-api-generation"


class Generation:
    """A cross-process change counter in a small file (``<data_dir>/.vigia-api-generation``).

    The file is memory-mapped (shared), so reading the counter is a memory read; :meth:`bump`
    increments it under an exclusive ``flock``. Where the file cannot be mapped (read-only data
    directory), only this process's own writes are seen.
    """

    SIZE = 8

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / GENERATION_FILE
        self._local = 0
        self._lock = threading.Lock()
        self._map: mmap.mmap | None = None
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            return
        try:
            if os.fstat(fd).st_size < self.SIZE:
                os.ftruncate(fd, self.SIZE)
            self._map = mmap.mmap(fd, self.SIZE)
        except (OSError, ValueError):
            self._map = None
        finally:
            os.close(fd)

    def current(self) -> tuple[int, int]:
        """An opaque value that changes whenever :meth:`bump` ran in any process."""
        shared = struct.unpack_from("<Q", self._map, 0)[0] if self._map is not None else 0
        return (shared, self._local)

    def bump(self) -> None:
        """Tell every worker that the store changed (call after the commit)."""
        with self._lock:
            self._local += 1
            if self._map is None:
                return
            with contextlib.suppress(OSError), open(self.path, "rb") as fp:
                fcntl.flock(fp.fileno(), fcntl.LOCK_EX)
                try:
                    value = struct.unpack_from("<Q", self._map, 0)[0]
                    struct.pack_into("<Q", self._map, 0, (value + 1) & 0xFFFF_FFFF_FFFF_FFFF)
                finally:
                    fcntl.flock(fp.fileno(), fcntl.LOCK_UN)
