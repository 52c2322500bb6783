"""One exception hierarchy for the whole of Vigía.

Every error that comes from bad input carries the byte offset (from the start of the
source) where the problem was found, when there is one, so that an analyst can locate it.
"""

from __future__ import annotations

from collections.abc import Mapping
from os import PathLike
from pathlib import Path


class VigiaError(Exception):
    """Base class of every error Vigía raises on purpose."""

    def __init__(self, message: str, *, offset: int | None = None) -> None:
        self.message = message
        self.offset = offset
        super().__init__(message if offset is None else f"{message} (at byte offset {offset})")


# --- KLV -------------------------------------------------------------------------------------
class KLVError(VigiaError):
    """Malformed KLV: keys, BER lengths, local sets."""


class BERError(KLVError):
    """A BER length or BER-OID that cannot be read (truncated or over-long)."""


class TruncatedError(KLVError):
    """The bytes end before the structure they announce."""


class ChecksumError(KLVError):
    """A packet whose checksum does not match its bytes."""


class ItemError(KLVError):
    """An item whose length or content does not fit its definition."""


class UnknownKeyError(KLVError):
    """A 16-byte key that is not one Vigía decodes."""


# --- Transport -------------------------------------------------------------------------------
class TransportError(VigiaError):
    """Malformed MPEG-2 transport stream (sync, PSI, PES)."""


class SourceError(VigiaError):
    """A source that cannot be opened or recognised (file, UDP address)."""


# --- Later stages ----------------------------------------------------------------------------
class GeoError(VigiaError):
    """Invalid geometry input (DEM, polygons, parameters)."""


class ConsentError(VigiaError):
    """An area-of-interest / consent file that cannot be accepted."""


# --- Output files ----------------------------------------------------------------------------
class OutputFormatError(VigiaError):
    """An output file whose extension names no format the writer can write."""


def output_format(path: str | PathLike[str], formats: Mapping[str, str], what: str) -> str:
    """The format a writer of ``what`` writes to ``path``, by its extension (case-insensitive).

    ``formats`` maps each accepted extension (``".parquet"``) to a format name; any other
    extension raises :class:`OutputFormatError` before anything is written.
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
