"""Output files: which format a writer writes to a path, by its extension, the one translation
of a failed write into :class:`~vigia.errors.OutputError`, and the one atomic replacement of a
file."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from os import PathLike
from pathlib import Path

from vigia.errors import OutputError, OutputFormatError

__all__ = ["output_error", "output_format", "replace_atomically", "writing"]


def output_format(path: str | PathLike[str], formats: Mapping[str, str], what: str) -> str:
    """The format a writer of ``what`` writes to ``path``, by its extension (case-insensitive).

    ``formats`` maps each accepted extension (``".parquet"``) to a format name; any other
    extension raises :class:`~vigia.errors.OutputFormatError`, and a folder that does not
    exist or cannot be written :class:`~vigia.errors.OutputError`, before anything is written.
    """
    suffix = Path(path).suffix.lower()
    try:
        fmt = formats[suffix]
    except KeyError:
        accepted = ", ".join(dict.fromkeys(formats))
        raise OutputFormatError(
            f"{what} output {str(path)!r}: the extension must be {accepted}"
            f" (not {suffix or 'none'})"
        ) from None
    folder = Path(path).parent
    if not folder.is_dir():
        raise OutputError(f"{what} output {str(path)!r}: no such folder {str(folder)!r}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{what} output {str(path)!r}: folder {str(folder)!r} is not writable")
    return fmt


def output_error(exc: OSError, path: str | PathLike[str], what: str) -> OutputError:
    """The :class:`~vigia.errors.OutputError` of a failed write of ``what`` to ``path``."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    return OutputError(f"{what} output {str(path)!r} cannot be written: {reason}")


@contextmanager
def writing(path: str | PathLike[str], what: str) -> Iterator[None]:
    """Run a write of ``what`` to ``path``: an :class:`OSError` becomes an
    :class:`~vigia.errors.OutputError` naming the path (one line for the CLI, exit 2)."""
    try:
        yield
    except OSError as exc:
        raise output_error(exc, path, what) from exc


def replace_atomically(path: str | PathLike[str], write: Callable[[Path], object]) -> None:
    """Replace ``path`` with what ``write`` writes to the temporary path it is given (in the
    same folder), flushed to disk, then renamed over ``path``: readers see the old file or the
    whole new one, never part of it. The temporary file is removed when ``write`` fails."""
    path = Path(path)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
