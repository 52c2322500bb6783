"""BER lengths and BER-OID tags (SMPTE 336M / MISB ST 0107), scalar form.

The vectorised forms used on whole streams live in :mod:`vigia.klv.batch`.
"""

from __future__ import annotations

from vigia.errors import BERError, TruncatedError

#: The longest BER long-form length Vigía accepts (bytes of length field after the first).
MAX_BER_LENGTH_BYTES = 8
#: The longest BER-OID Vigía accepts, in bytes (enough for 56-bit values).
MAX_BER_OID_BYTES = 8


def decode_ber_length(data: bytes | memoryview, pos: int = 0) -> tuple[int, int]:
    """Read a BER length at ``pos``; return ``(length, position after the length field)``."""
    if pos >= len(data):
        raise TruncatedError("BER length expected, found end of data", offset=pos)
    first = data[pos]
    if first < 0x80:
        return first, pos + 1
    n = first & 0x7F
    if n == 0 or n > MAX_BER_LENGTH_BYTES:
        raise BERError(f"unsupported BER long-form length of {n} bytes", offset=pos)
    if pos + 1 + n > len(data):
        raise TruncatedError("BER long-form length is truncated", offset=pos)
    return int.from_bytes(data[pos + 1 : pos + 1 + n], "big"), pos + 1 + n


def encode_ber_length(length: int) -> bytes:
    """Encode ``length`` as the shortest BER length (short form below 128)."""
    if length < 0:
        raise BERError(f"negative length {length}")
    if length < 0x80:
        return bytes([length])
    n = (length.bit_length() + 7) // 8
    if n > MAX_BER_LENGTH_BYTES:
        raise BERError(f"length {length} too large for BER")
    return bytes([0x80 | n]) + length.to_bytes(n, "big")


def decode_ber_oid(data: bytes | memoryview, pos: int = 0) -> tuple[int, int]:
    """Read a BER-OID (7 bits a byte, high bit = more); return ``(value, next position)``."""
    value = 0
    for i in range(MAX_BER_OID_BYTES):
        if pos + i >= len(data):
            raise TruncatedError("BER-OID is truncated", offset=pos)
        byte = data[pos + i]
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, pos + i + 1
    raise BERError(f"BER-OID longer than {MAX_BER_OID_BYTES} bytes", offset=pos)


def encode_ber_oid(value: int) -> bytes:
    """Encode a non-negative integer as a BER-OID."""
    if value < 0:
        raise BERError(f"negative BER-OID {value}")
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))
