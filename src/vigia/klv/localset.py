"""KLV packets and local sets, scalar form: split, build, checksum.

A *packet* is ``key (16 bytes) | BER length | value``; a *local set* value is a sequence of
``BER-OID tag | BER length | value`` items. These functions are the reference path used for
single packets, sub-sets (ST 0102 in item 48, ST 0903 in item 74) and encoding; whole streams
go through the vectorised decoder in :mod:`vigia.klv.batch`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from vigia.errors import ChecksumError, ItemError, TruncatedError
from vigia.klv.ber import decode_ber_length, decode_ber_oid, encode_ber_length, encode_ber_oid
from vigia.klv.keys import KEY_LENGTH, read_key


@dataclass(frozen=True, slots=True)
class KLVPacket:
    """One top-level KLV packet: its key, value bytes and byte offset in the source."""

    key: bytes
    value: bytes
    offset: int
    header_length: int

    @property
    def length(self) -> int:
        """Total encoded size in bytes (key + BER length + value)."""
        return self.header_length + len(self.value)


@dataclass(frozen=True, slots=True)
class LocalSetItem:
    """One item of a local set: its tag, value bytes and offset of the tag byte."""

    tag: int
    value: bytes
    offset: int


def read_packet(data: bytes | memoryview, pos: int = 0) -> KLVPacket:
    """Read the KLV packet that starts at ``pos``."""
    key = read_key(data, pos)
    length, vpos = decode_ber_length(data, pos + KEY_LENGTH)
    if vpos + length > len(data):
        raise TruncatedError(
            f"packet announces {length} value bytes, only {len(data) - vpos} remain", offset=pos
        )
    return KLVPacket(key, bytes(data[vpos : vpos + length]), pos, vpos - pos)


def iter_local_set(value: bytes | memoryview, base_offset: int = 0) -> Iterator[LocalSetItem]:
    """Yield the items of a local set value; raise a typed error at the first damaged one."""
    pos = 0
    n = len(value)
    while pos < n:
        start = pos
        tag, pos = decode_ber_oid(value, pos)
        length, pos = decode_ber_length(value, pos)
        if pos + length > n:
            raise TruncatedError(
                f"item {tag} announces {length} bytes, only {n - pos} remain",
                offset=base_offset + start,
            )
        yield LocalSetItem(tag, bytes(value[pos : pos + length]), base_offset + start)
        pos += length


def encode_item(tag: int, value: bytes) -> bytes:
    """Encode one local-set item as ``tag | BER length | value``."""
    return encode_ber_oid(tag) + encode_ber_length(len(value)) + value


def encode_local_set(items: Iterable[tuple[int, bytes]]) -> bytes:
    """Concatenate encoded items (in the order given)."""
    return b"".join(encode_item(tag, value) for tag, value in items)


def encode_packet(key: bytes, value: bytes) -> bytes:
    """Wrap ``value`` in a KLV packet with ``key`` and the shortest BER length."""
    if len(key) != KEY_LENGTH:
        raise ItemError(f"a Universal Key has 16 bytes, got {len(key)}")
    return key + encode_ber_length(len(value)) + value


# --- Checksums --------------------------------------------------------------------------------
def st0601_checksum(data: bytes | memoryview) -> int:
    """ST 0601 running 16-bit checksum: bytes at even offsets weigh 256, odd ones 1, mod 2^16.

    ``data`` is the packet from the first key byte up to and including the checksum item's
    tag and length bytes (everything but the two checksum value bytes).
    """
    even = sum(data[0::2])
    odd = sum(data[1::2])
    return (even * 256 + odd) & 0xFFFF


def crc16_ccitt(data: bytes | memoryview, initial: int = 0xFFFF) -> int:
    """CRC-16-CCITT (polynomial 0x1021, initial value 0xFFFF), for the universal-set forms."""
    crc = initial
    for byte in bytes(data):
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def verify_trailing_checksum(
    packet: bytes | memoryview, *, algorithm: str = "st0601", offset: int = 0
) -> int:
    """Check the ``01 02 xx xx`` checksum item at the end of a packet; return its value.

    Raises :class:`ChecksumError` when absent or wrong. ``algorithm`` is ``"st0601"`` (running
    16-bit sum) or ``"crc16"`` (CRC-16-CCITT).
    """
    if len(packet) < KEY_LENGTH + 5 or bytes(packet[-4:-2]) != b"\x01\x02":
        raise ChecksumError("packet does not end with a checksum item (tag 1)", offset=offset)
    stored = int.from_bytes(packet[-2:], "big")
    body = packet[:-2]
    computed = st0601_checksum(body) if algorithm == "st0601" else crc16_ccitt(body)
    if stored != computed:
        raise ChecksumError(
            f"checksum mismatch: packet says 0x{stored:04x}, bytes give 0x{computed:04x}",
            offset=offset,
        )
    return stored


def with_checksum(
    key: bytes, items: Iterable[tuple[int, bytes]], *, algorithm: str = "st0601"
) -> bytes:
    """Build a packet from ``items`` (without tag 1) and append the checksum item last."""
    body = encode_local_set(items)
    total_value = len(body) + 4
    head = key + encode_ber_length(total_value) + body + b"\x01\x02"
    value = st0601_checksum(head) if algorithm == "st0601" else crc16_ccitt(head)
    return head + value.to_bytes(2, "big")
