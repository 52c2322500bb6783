"""Who may read a data directory: its owner only.

The data directory is created ``0700`` and the SQLite database (with its ``-wal`` / ``-shm``,
which SQLite creates with the database's own mode) ``0600``, at creation, by ``os.open`` /
``os.mkdir`` modes and a ``chmod`` right after (never ``os.umask``, which is process-wide and
unsafe in threads), before anything is written to them. An existing database that others may
read is tightened when it is opened, with a log line.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

__all__ = ["PRIVATE_DIR_MODE", "PRIVATE_FILE_MODE", "create_private_file", "private_dir", "tighten"]

log = logging.getLogger(__name__)

#: Mode of the data directory (owner only).
PRIVATE_DIR_MODE = 0o700
#: Mode of the database and any secret file (owner read/write only).
PRIVATE_FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create the directory ``path`` (and its missing parents) ``0700`` if it is missing; an
    existing directory is left as it is. Returns ``path``."""
    path = Path(path)
    if path.is_dir():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, PRIVATE_DIR_MODE)
        os.chmod(path, PRIVATE_DIR_MODE)  # whatever the umask
    return path


def create_private_file(path: Path) -> bool:
    """Create the empty file ``path`` with mode ``0600`` (True), unless it exists (False: then
    it is :func:`tighten`-ed)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        tighten(path)
        return False
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)  # whatever the umask
    finally:
        os.close(fd)
    return True


def tighten(path: Path) -> bool:
    """Make an existing file that group or others may access owner-only (``0600``), with a
    warning; True when its mode was changed. A missing file is left alone."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return False
    if not mode & 0o077:
        return False
    os.chmod(path, mode & 0o700 | 0o600)
    log.warning("%s was readable by others (mode %04o): now %04o", path, mode, mode & 0o700 | 0o600)
    return True
