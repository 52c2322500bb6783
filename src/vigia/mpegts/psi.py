"""Program-specific information (PAT, PMT) and the descriptors that mark KLV streams.

Pure functions over section bytes: CRC-32/MPEG-2, section assembly across TS packets, PAT and
PMT parsing and building, and the rule that decides whether an elementary stream carries KLV
(ST 1402: stream_type 0x06 + ``KLVA`` registration descriptor = asynchronous carriage,
stream_type 0x15 + metadata_descriptor with format ``KLVA`` = synchronous carriage).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

PAT_PID = 0x0000
NULL_PID = 0x1FFF
TABLE_PAT = 0x00
TABLE_PMT = 0x02

STREAM_TYPE_PRIVATE_PES = 0x06
STREAM_TYPE_METADATA_PES = 0x15
STREAM_TYPE_MPEG2_VIDEO = 0x02
STREAM_TYPE_H264 = 0x1B

DESC_REGISTRATION = 0x05
DESC_METADATA_POINTER = 0x25
DESC_METADATA = 0x26
DESC_METADATA_STD = 0x27

KLVA = b"KLVA"


def _make_crc_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        c = i << 24
        for _ in range(8):
            c = ((c << 1) ^ 0x04C11DB7) if c & 0x80000000 else (c << 1)
        table.append(c & 0xFFFFFFFF)
    return tuple(table)


_CRC_TABLE = _make_crc_table()


def crc32_mpeg2(data: bytes | bytearray | memoryview) -> int:
    """CRC-32/MPEG-2 (polynomial 0x04C11DB7, initial 0xFFFFFFFF, not reflected, no final xor).

    Over a whole section including its trailing CRC the result is 0.
    """
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for b in bytes(data):
        crc = ((crc << 8) & 0xFFFFFFFF) ^ table[((crc >> 24) ^ b) & 0xFF]
    return crc


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """An elementary stream of interest: its PID, stream_type, KLV carriage and program."""

    pid: int
    stream_type: int
    carriage: str  # 'async' (0x06 + KLVA) or 'sync' (0x15 metadata AUs)
    program_number: int
    metadata_service_id: int | None = None


@dataclass(slots=True)
class ElementaryStream:
    """One entry of a PMT's elementary-stream loop."""

    stream_type: int
    pid: int
    descriptors: list[tuple[int, bytes]] = field(default_factory=list)


@dataclass(slots=True)
class ProgramMap:
    """A parsed PMT section."""

    program_number: int
    version: int
    pcr_pid: int
    descriptors: list[tuple[int, bytes]]
    streams: list[ElementaryStream]


class SectionAssembler:
    """Reassemble PSI sections of one PID from TS payloads (handles pointer_field, spans)."""

    __slots__ = ("_active", "_buf")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._active = False

    @property
    def idle(self) -> bool:
        """True when no section is partly assembled."""
        return not self._active

    def reset(self) -> None:
        """Forget a partly assembled section (after packet loss)."""
        self._buf.clear()
        self._active = False

    def push(self, payload: bytes, pusi: bool) -> list[bytes]:
        """Add one TS payload; return the sections it completed (CRC not checked here)."""
        out: list[bytes] = []
        if pusi:
            if not payload:
                self.reset()
                return out
            ptr = payload[0]
            if self._active:
                self._buf += payload[1 : 1 + ptr]
                self._drain(out)
            self._buf = bytearray(payload[1 + ptr :])
            self._active = True
            self._drain(out)
        elif self._active:
            self._buf += payload
            self._drain(out)
        return out

    def _drain(self, out: list[bytes]) -> None:
        buf = self._buf
        while self._active:
            if not buf or buf[0] == 0xFF:
                self.reset()
                return
            if len(buf) < 3:
                return
            total = 3 + (((buf[1] & 0x0F) << 8) | buf[2])
            if len(buf) < total:
                return
            out.append(bytes(buf[:total]))
            del buf[:total]


def iter_descriptors(data: bytes) -> Iterator[tuple[int, bytes]]:
    """Yield ``(tag, body)`` of each descriptor in a descriptor loop (stops at a truncated one)."""
    pos = 0
    n = len(data)
    while pos + 2 <= n:
        tag, length = data[pos], data[pos + 1]
        if pos + 2 + length > n:
            return
        yield tag, data[pos + 2 : pos + 2 + length]
        pos += 2 + length


def check_section(section: bytes) -> bool:
    """True when a long-form section is complete and its CRC-32/MPEG-2 is right."""
    return len(section) >= 12 and (section[1] & 0x80) != 0 and crc32_mpeg2(section) == 0


def parse_pat(section: bytes) -> dict[int, int] | None:
    """Program number -> PMT PID of a PAT section (program 0, the NIT, left out); None if bad."""
    if section[0] != TABLE_PAT or not check_section(section):
        return None
    out: dict[int, int] = {}
    body = section[8:-4]
    for i in range(0, len(body) - 3, 4):
        program = (body[i] << 8) | body[i + 1]
        pid = ((body[i + 2] & 0x1F) << 8) | body[i + 3]
        if program != 0:
            out[program] = pid
    return out


def parse_pmt(section: bytes) -> ProgramMap | None:
    """Parse a PMT section; None when it is not a PMT or its CRC is wrong."""
    if section[0] != TABLE_PMT or not check_section(section):
        return None
    program = (section[3] << 8) | section[4]
    version = (section[5] >> 1) & 0x1F
    pcr_pid = ((section[8] & 0x1F) << 8) | section[9]
    pinfo = ((section[10] & 0x0F) << 8) | section[11]
    end = len(section) - 4
    pos = 12 + pinfo
    descs = list(iter_descriptors(section[12 : min(pos, end)]))
    streams: list[ElementaryStream] = []
    while pos + 5 <= end:
        stype = section[pos]
        pid = ((section[pos + 1] & 0x1F) << 8) | section[pos + 2]
        esl = ((section[pos + 3] & 0x0F) << 8) | section[pos + 4]
        es_desc = section[pos + 5 : min(pos + 5 + esl, end)]
        streams.append(ElementaryStream(stype, pid, list(iter_descriptors(es_desc))))
        pos += 5 + esl
    return ProgramMap(program, version, pcr_pid, descs, streams)


def _metadata_format_identifier(body: bytes) -> tuple[bytes | None, int | None]:
    """(metadata_format_identifier, metadata_service_id) of a metadata(_pointer)_descriptor."""
    if len(body) < 3:
        return None, None
    pos = 2
    if body[0:2] == b"\xff\xff":
        pos += 4
    if pos >= len(body):
        return None, None
    fmt = body[pos]
    pos += 1
    ident: bytes | None = bytes([fmt])
    if fmt == 0xFF:
        ident = body[pos : pos + 4] if pos + 4 <= len(body) else None
        pos += 4
    service = body[pos] if pos < len(body) else None
    return ident, service


def klv_carriage(stream_type: int, descriptors: list[tuple[int, bytes]]) -> tuple[str, int | None]:
    """``('async'|'sync'|'', service_id)`` for an elementary stream ('' = not KLV).

    0x06 needs a ``KLVA`` registration descriptor. 0x15 is KLV when its metadata_descriptor says
    format ``KLVA`` (or, leniently, when it has no metadata_descriptor and no other registration).
    """
    regs = [body[:4] for tag, body in descriptors if tag == DESC_REGISTRATION]
    if stream_type == STREAM_TYPE_PRIVATE_PES:
        return ("async", None) if KLVA in regs else ("", None)
    if stream_type == STREAM_TYPE_METADATA_PES:
        metas = [_metadata_format_identifier(b) for t, b in descriptors if t == DESC_METADATA]
        if metas:
            for ident, service in metas:
                if ident == KLVA:
                    return "sync", service
            return "", None
        if not regs or KLVA in regs:
            return "sync", None
    return "", None


# --- building (muxer side) --------------------------------------------------------------------
def descriptor(tag: int, body: bytes) -> bytes:
    """Encode one descriptor."""
    return bytes([tag, len(body)]) + body


def long_section(table_id: int, table_id_ext: int, version: int, body: bytes) -> bytes:
    """Wrap ``body`` in a long-form section (syntax indicator set) with its CRC-32/MPEG-2."""
    length = 5 + len(body) + 4
    head = bytes(
        [
            table_id,
            0xB0 | ((length >> 8) & 0x0F),
            length & 0xFF,
            (table_id_ext >> 8) & 0xFF,
            table_id_ext & 0xFF,
            0xC1 | ((version & 0x1F) << 1),
            0x00,
            0x00,
        ]
    )
    sec = head + body
    return sec + crc32_mpeg2(sec).to_bytes(4, "big")


def build_pat(programs: dict[int, int], transport_stream_id: int = 1, version: int = 0) -> bytes:
    """PAT section for ``{program_number: pmt_pid}``."""
    body = b"".join(
        bytes([(p >> 8) & 0xFF, p & 0xFF, 0xE0 | ((pid >> 8) & 0x1F), pid & 0xFF])
        for p, pid in sorted(programs.items())
    )
    return long_section(TABLE_PAT, transport_stream_id, version, body)


def build_pmt(
    program_number: int,
    pcr_pid: int,
    streams: list[ElementaryStream],
    program_descriptors: bytes = b"",
    version: int = 0,
) -> bytes:
    """PMT section listing ``streams`` (descriptors given as ``(tag, body)`` pairs)."""
    body = bytearray(
        [
            0xE0 | ((pcr_pid >> 8) & 0x1F),
            pcr_pid & 0xFF,
            0xF0 | ((len(program_descriptors) >> 8) & 0x0F),
            len(program_descriptors) & 0xFF,
        ]
    )
    body += program_descriptors
    for es in streams:
        desc = b"".join(descriptor(t, b) for t, b in es.descriptors)
        body += bytes(
            [
                es.stream_type,
                0xE0 | ((es.pid >> 8) & 0x1F),
                es.pid & 0xFF,
                0xF0 | ((len(desc) >> 8) & 0x0F),
                len(desc) & 0xFF,
            ]
        )
        body += desc
    return long_section(TABLE_PMT, program_number, version, bytes(body))


def klv_es_descriptors(carriage: str, service_id: int = 0) -> list[tuple[int, bytes]]:
    """ES-loop descriptors for a KLV stream: KLVA registration (async) or ST 1402 metadata
    descriptor + metadata_std_descriptor (sync)."""
    if carriage == "async":
        return [(DESC_REGISTRATION, KLVA)]
    # metadata_descriptor: application format 0xFFFF + 'KLVA', format 0xFF + 'KLVA',
    # service id, decoder_config_flags 000, DSM-CC flag 0, reserved 1111.
    meta = b"\xff\xff" + KLVA + b"\xff" + KLVA + bytes([service_id & 0xFF, 0x0F])
    # metadata_std_descriptor: input leak rate, buffer size, output leak rate (22 bits each).
    std = bytes.fromhex("c00000c00000c00000")
    return [(DESC_METADATA, meta), (DESC_METADATA_STD, std)]


def metadata_pointer_descriptor(program_number: int, service_id: int = 0) -> bytes:
    """Program-loop metadata_pointer_descriptor for synchronous KLV in the same TS."""
    body = (
        b"\xff\xff"
        + KLVA
        + b"\xff"
        + KLVA
        + bytes([service_id & 0xFF, 0x1F, (program_number >> 8) & 0xFF, program_number & 0xFF])
    )
    return descriptor(DESC_METADATA_POINTER, body)
