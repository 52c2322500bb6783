"""MISB ST 1201 floating-point to integer mapping (IMAPA / IMAPB), scalar and vectorised.

A value ``x`` in ``[a, b]`` is mapped to an unsigned integer of ``L`` bytes:

    bPow = ceil(log2(b - a))          dPow = 8 L - 1
    sF = 2 ** (dPow - bPow)           sR = 2 ** (bPow - dPow)
    zOffset = sF a - floor(sF a)      when a < 0 < b, else 0
    forward:  y = floor(sF (x - a) + zOffset)
    reverse:  x = sR (y - zOffset) + a

The most significant bit of ``y`` is 0 for a mapped number (the single word ``1000...0`` is
also a number: it is reached by ``x = b`` when ``b - a`` is a power of two). Otherwise the
five top bits name a special value (ST 1201 "special value bit patterns"):

    11001 +Infinity       11101 -Infinity
    11010 +quiet NaN      11110 -quiet NaN
    11011 +signaling NaN  11111 -signaling NaN
    11000 user defined    11100 MISB defined (0xE0.. below minimum, 0xE1.. above maximum)
    10xxx reserved

The low bits of a NaN or user-defined word (an identifier) are not kept on decode.
Arithmetic is IEEE binary64, as in the standard's reference test vectors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import numpy as np
import numpy.typing as npt

from vigia.errors import ItemError

__all__ = [
    "ImapParams",
    "ImapSpecial",
    "decode_imapb_bytes",
    "encode_imapb",
    "imap_forward",
    "imap_forward_array",
    "imap_reverse",
    "imap_reverse_array",
    "imapa_length",
    "imapa_params",
    "imapb_params",
]

MAX_LENGTH = 8


class ImapSpecial(Enum):
    """Non-numeric ST 1201 code words."""

    POSITIVE_INFINITY = "+inf"
    NEGATIVE_INFINITY = "-inf"
    POSITIVE_QUIET_NAN = "+qnan"
    NEGATIVE_QUIET_NAN = "-qnan"
    POSITIVE_SIGNALING_NAN = "+snan"
    NEGATIVE_SIGNALING_NAN = "-snan"
    BELOW_MINIMUM = "below-minimum"
    ABOVE_MAXIMUM = "above-maximum"
    MISB_DEFINED = "misb-defined"
    USER_DEFINED = "user-defined"
    RESERVED = "reserved"


# Five-bit prefix -> kind (the 0b11100 family is split further by its first byte).
_PREFIX_KIND: dict[int, ImapSpecial] = {
    0b11001: ImapSpecial.POSITIVE_INFINITY,
    0b11101: ImapSpecial.NEGATIVE_INFINITY,
    0b11010: ImapSpecial.POSITIVE_QUIET_NAN,
    0b11110: ImapSpecial.NEGATIVE_QUIET_NAN,
    0b11011: ImapSpecial.POSITIVE_SIGNALING_NAN,
    0b11111: ImapSpecial.NEGATIVE_SIGNALING_NAN,
    0b11000: ImapSpecial.USER_DEFINED,
    0b11100: ImapSpecial.MISB_DEFINED,
}

# Kind -> first byte of its canonical code word (all other bytes zero).
_CANONICAL_FIRST_BYTE: dict[ImapSpecial, int] = {
    ImapSpecial.POSITIVE_INFINITY: 0xC8,
    ImapSpecial.NEGATIVE_INFINITY: 0xE8,
    ImapSpecial.POSITIVE_QUIET_NAN: 0xD0,
    ImapSpecial.NEGATIVE_QUIET_NAN: 0xF0,
    ImapSpecial.POSITIVE_SIGNALING_NAN: 0xD8,
    ImapSpecial.NEGATIVE_SIGNALING_NAN: 0xF8,
    ImapSpecial.USER_DEFINED: 0xC0,
    ImapSpecial.BELOW_MINIMUM: 0xE0,
    ImapSpecial.ABOVE_MAXIMUM: 0xE1,
}


@dataclass(frozen=True, slots=True)
class ImapParams:
    """Constants of one ST 1201 mapping of ``[a, b]`` onto ``length`` bytes."""

    a: float
    b: float
    length: int
    bPow: int
    dPow: int
    sF: float
    sR: float
    zOffset: float

    @property
    def max_code(self) -> int:
        """Largest code word of a mapped number (``2 ** dPow``)."""
        return 1 << self.dPow


def _ceil_log2(x: float) -> int:
    """Exact ``ceil(log2(x))`` of a positive finite binary64 value."""
    mantissa, exponent = math.frexp(x)  # x = mantissa * 2**exponent, 0.5 <= mantissa < 1
    return exponent - 1 if mantissa == 0.5 else exponent


def _floor_log2(x: float) -> int:
    """Exact ``floor(log2(x))`` of a positive finite binary64 value."""
    _, exponent = math.frexp(x)
    return exponent - 1


def _check_range(a: float, b: float) -> float:
    if not (math.isfinite(a) and math.isfinite(b)):
        raise ItemError(f"IMAP range bounds must be finite, got [{a}, {b}]")
    span = float(b) - float(a)
    if not span > 0.0 or not math.isfinite(span):
        raise ItemError(f"IMAP range [{a}, {b}] is empty or too wide")
    return span


def imapb_params(a: float, b: float, length: int) -> ImapParams:
    """Constants of IMAPB: range ``[a, b]`` (caller's units) on ``length`` bytes (1..8)."""
    if isinstance(length, bool) or not isinstance(length, int) or not 1 <= length <= MAX_LENGTH:
        raise ItemError(f"IMAP length must be 1..{MAX_LENGTH} bytes, got {length!r}")
    a = float(a)
    b = float(b)
    span = _check_range(a, b)
    b_pow = _ceil_log2(span)
    d_pow = 8 * length - 1
    s_f = math.ldexp(1.0, d_pow - b_pow)
    s_r = math.ldexp(1.0, b_pow - d_pow)
    z_offset = 0.0
    if a < 0.0 < b:
        scaled = s_f * a
        z_offset = scaled - math.floor(scaled)
    return ImapParams(a, b, length, b_pow, d_pow, s_f, s_r, z_offset)


def imapa_length(a: float, b: float, precision: float) -> int:
    """Byte length IMAPA selects for ``[a, b]`` with resolution ``precision`` (same units)."""
    span = _check_range(float(a), float(b))
    g = float(precision)
    if not (math.isfinite(g) and 0.0 < g < span):
        raise ItemError(f"IMAP precision must be in (0, b - a), got {precision!r}")
    bits = _ceil_log2(span) - _floor_log2(g) + 1
    length = (bits + 7) // 8
    if length > MAX_LENGTH:
        raise ItemError(f"range [{a}, {b}] at precision {g} needs {length} bytes (max 8)")
    return length


def imapa_params(a: float, b: float, precision: float) -> ImapParams:
    """Constants of IMAPA: the IMAPB mapping on the length :func:`imapa_length` selects."""
    return imapb_params(a, b, imapa_length(a, b, precision))


# --- scalar -----------------------------------------------------------------------------------
def _special_code(kind: ImapSpecial, length: int) -> int:
    first = _CANONICAL_FIRST_BYTE.get(kind)
    if first is None:
        raise ItemError(f"IMAP special value {kind.name} has no canonical encoding")
    return first << (8 * (length - 1))


def _classify(raw: int, length: int) -> ImapSpecial | None:
    """Kind of a code word, ``None`` for a mapped number."""
    bits = 8 * length
    if raw >> (bits - 1) == 0 or raw == 1 << (bits - 1):
        return None
    if raw >> (bits - 2) == 0b10:
        return ImapSpecial.RESERVED
    kind = _PREFIX_KIND[raw >> (bits - 5)]
    if kind is ImapSpecial.MISB_DEFINED and raw & ((1 << (bits - 8)) - 1) == 0:
        first = raw >> (bits - 8)
        if first == 0xE0:
            return ImapSpecial.BELOW_MINIMUM
        if first == 0xE1:
            return ImapSpecial.ABOVE_MAXIMUM
    return kind


def imap_forward(value: float | ImapSpecial, params: ImapParams) -> int:
    """Map ``value`` (units of ``[a, b]``) to its code word; ``inf``/``nan`` map to specials.

    A finite value outside ``[a, b]`` raises :class:`ItemError`.
    """
    if isinstance(value, ImapSpecial):
        return _special_code(value, params.length)
    x = float(value)
    if math.isnan(x):
        kind = (
            ImapSpecial.NEGATIVE_QUIET_NAN
            if math.copysign(1.0, x) < 0
            else ImapSpecial.POSITIVE_QUIET_NAN
        )
        return _special_code(kind, params.length)
    if math.isinf(x):
        kind = ImapSpecial.POSITIVE_INFINITY if x > 0 else ImapSpecial.NEGATIVE_INFINITY
        return _special_code(kind, params.length)
    if not params.a <= x <= params.b:
        raise ItemError(f"value {x} is outside the IMAP range [{params.a}, {params.b}]")
    return math.floor(params.sF * (x - params.a) + params.zOffset)


def imap_reverse(raw: int, params: ImapParams) -> float | ImapSpecial:
    """Value (units of ``[a, b]``) of code word ``raw``, or the :class:`ImapSpecial` it names."""
    if not 0 <= raw < 1 << (8 * params.length):
        raise ItemError(f"IMAP code word {raw} does not fit in {params.length} bytes")
    kind = _classify(raw, params.length)
    if kind is not None:
        return kind
    return params.sR * (raw - params.zOffset) + params.a


def decode_imapb_bytes(data: bytes, a: float, b: float) -> float | ImapSpecial:
    """Decode big-endian IMAPB bytes over ``[a, b]``; the length is ``len(data)``."""
    params = imapb_params(a, b, len(data))
    return imap_reverse(int.from_bytes(data, "big"), params)


def encode_imapb(value: float | ImapSpecial, a: float, b: float, length: int) -> bytes:
    """Encode ``value`` as ``length`` big-endian IMAPB bytes over ``[a, b]``."""
    params = imapb_params(a, b, length)
    return imap_forward(value, params).to_bytes(length, "big")


# --- vectorised -------------------------------------------------------------------------------
def imap_reverse_array(
    raw: npt.ArrayLike, params: ImapParams
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Values of many code words (uint64) and a mask of special ones (value NaN there)."""
    codes = np.asarray(raw, dtype=np.uint64)
    bits = 8 * params.length
    top = codes >> np.uint64(bits - 1)
    if params.length < MAX_LENGTH:
        in_range = codes < np.uint64(1 << bits)
        if not bool(np.all(in_range)):
            raise ItemError(f"IMAP code words do not fit in {params.length} bytes")
    special = (top != 0) & (codes != np.uint64(1 << (bits - 1)))
    values = params.sR * (codes.astype(np.float64) - params.zOffset) + params.a
    values = np.where(special, np.nan, values)
    return values, special


def imap_forward_array(values: npt.ArrayLike, params: ImapParams) -> npt.NDArray[np.uint64]:
    """Code words (uint64) of many values; ``inf``/``nan`` become specials.

    Any finite value outside ``[a, b]`` raises :class:`ItemError`.
    """
    x = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(x)
    outside = finite & ((x < params.a) | (x > params.b))
    if bool(np.any(outside)):
        first = int(np.flatnonzero(outside.ravel())[0])
        raise ItemError(
            f"value {x.ravel()[first]} (index {first}) is outside the IMAP range "
            f"[{params.a}, {params.b}]"
        )
    shift = 8 * (params.length - 1)
    scaled = np.floor(params.sF * (np.where(finite, x, params.a) - params.a) + params.zOffset)
    codes = scaled.astype(np.uint64)
    nan = np.isnan(x)
    negative = np.signbit(x)

    def word(kind: ImapSpecial) -> np.uint64:
        return np.uint64(_CANONICAL_FIRST_BYTE[kind] << shift)

    codes = np.where(x == np.inf, word(ImapSpecial.POSITIVE_INFINITY), codes)
    codes = np.where(x == -np.inf, word(ImapSpecial.NEGATIVE_INFINITY), codes)
    codes = np.where(nan & ~negative, word(ImapSpecial.POSITIVE_QUIET_NAN), codes)
    codes = np.where(nan & negative, word(ImapSpecial.NEGATIVE_QUIET_NAN), codes)
    return codes.astype(np.uint64)
