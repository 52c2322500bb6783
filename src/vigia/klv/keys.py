"""16-byte SMPTE Universal Labels used by the MISB metadata Vigía reads."""

from __future__ import annotations

from vigia.errors import TruncatedError

#: Every SMPTE UL starts with these four bytes (object identifier + UL size).
UL_PREFIX = bytes.fromhex("060e2b34")
KEY_LENGTH = 16

#: MISB ST 0601 UAS Datalink Local Set.
ST0601_KEY = bytes.fromhex("060e2b34020b01010e01030101000000")
#: MISB ST 0903 VMTI Local Set.
ST0903_KEY = bytes.fromhex("060e2b34020b01010e01030306000000")
#: MISB ST 0102 Security Metadata Local Set (stand-alone form).
ST0102_KEY = bytes.fromhex("060e2b34020b01010e01030302000000")

KEY_NAMES: dict[bytes, str] = {
    ST0601_KEY: "ST 0601 UAS Datalink Local Set",
    ST0903_KEY: "ST 0903 VMTI Local Set",
    ST0102_KEY: "ST 0102 Security Local Set",
}


def read_key(data: bytes | memoryview, pos: int = 0) -> bytes:
    """Return the 16-byte key at ``pos``."""
    if pos + KEY_LENGTH > len(data):
        raise TruncatedError("16-byte Universal Key is truncated", offset=pos)
    return bytes(data[pos : pos + KEY_LENGTH])


def is_universal_label(key: bytes) -> bool:
    """True when ``key`` has the SMPTE UL prefix."""
    return len(key) == KEY_LENGTH and key[:4] == UL_PREFIX


def key_name(key: bytes) -> str:
    """Human name of a key Vigía knows, else its hex."""
    return KEY_NAMES.get(key, key.hex())
