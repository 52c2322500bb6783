"""Output files: which format a writer writes to a path, by its extension."""

from __future__ import annotations

from collections.abc import Mapping
from os import PathLike
from pathlib import Path

from vigia.errors import OutputFormatError

__all__ = ["output_format"]


def output_format(path: str | PathLike[str], formats: Mapping[str, str], what: str) -> str:
    """The format a writer of ``what`` writes to ``path``, by its extension (case-insensitive).

    ``formats`` maps each accepted extension (``".parquet"``) to a format name; any other
    extension raises :class:`~vigia.errors.OutputFormatError` before anything is written.
    """
    suffix = Path(path).suffix.lower()
    try:
        return formats[suffix]
    except KeyError:
        accepted = ", ".join(dict.fromkeys(formats))
        raise OutputFormatError(
            f"{what} output {str(path)!r}: the extension must be {accepted}"
            f" (not {suffix or 'none'})"
        ) from None
