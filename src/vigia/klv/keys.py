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

#: MISB ST 0806 Remote Video Terminal Local Set.
ST0806_KEY = bytes.fromhex("060e2b34020b01010e01030102000000")
#: MISB EG 0104 Predator UAV Basic Universal Metadata Set (legacy, replaced by ST 0601).
EG0104_KEY = bytes.fromhex("060e2b34020101010e01010201010000")

#: Families of KLV metadata by the designator bytes of their key (bytes 8 on; bytes 4..7, the
#: set coding and version, differ between encoders: ST 0102 comes as 02 03 and as 02 0B).
_FAMILY_PREFIXES: tuple[tuple[bytes, str], ...] = (
    (bytes.fromhex("0e01030101"), "ST 0601"),
    (bytes.fromhex("0e01030102"), "ST 0806"),
    (bytes.fromhex("0e01030306"), "ST 0903"),
    (bytes.fromhex("0e01030302"), "ST 0102"),
    (bytes.fromhex("020802"), "ST 0102"),  # the universal-set form
    (bytes.fromhex("0e0101020101"), "EG 0104"),
    # ST 0801 photogrammetry: its defined-length packs (exterior and interior orientation,
    # sensor calibration, …) under 0E 01 03 01 03..0C and 0E 01 03 02.
    *((bytes.fromhex(f"0e010301{b:02x}"), "ST 0801") for b in range(3, 13)),
    (bytes.fromhex("0e010302"), "ST 0801"),
)

#: Every family :func:`key_family` names (unknown keys are named by their hex).
FAMILIES = ("ST 0601", "ST 0903", "ST 0102", "EG 0104", "ST 0801", "ST 0806")

KEY_NAMES: dict[bytes, str] = {
    ST0601_KEY: "ST 0601 UAS Datalink Local Set",
    ST0903_KEY: "ST 0903 VMTI Local Set",
    ST0102_KEY: "ST 0102 Security Local Set",
    ST0806_KEY: "ST 0806 Remote Video Terminal Local Set",
    EG0104_KEY: "EG 0104 Predator UAV Basic Universal Set",
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


def key_family(key: bytes) -> str:
    """The metadata family of a 16-byte key (one of :data:`FAMILIES`), else the key's hex."""
    if len(key) == KEY_LENGTH and key[:4] == UL_PREFIX and key[4] == 0x02:
        tail = key[8:]
        for prefix, family in _FAMILY_PREFIXES:
            if tail.startswith(prefix):
                return family
    return key.hex()
