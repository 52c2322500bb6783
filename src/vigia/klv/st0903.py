"""MISB ST 0903 VMTI (Video Moving Target Indicator) Local Set, revisions .3 to .6.

Revisions before .4 (local set version, item 4, below 4) encoded reals differently, and real
encoders of that time wrote the time stamp without its leading zero byte: with such a version
the FOVs (items 11, 12) are unsigned integers of up to 2 bytes mapped linearly onto 0..180°, the
VTarget offsets (items 10, 11, 13..16) signed integers of 1 to 3 bytes mapped linearly onto
±19.2° (-2^23 is the error value, read as NaN), and the time stamp takes 1 to 8 bytes. A packet
without a version is read as the current revisions.

The same value bytes arrive stand-alone (a KLV packet with :data:`~vigia.klv.keys.ST0903_KEY`,
ending in a checksum item) or embedded as the value of ST 0601 item 74 (no checksum).

VMTI local set items:

    1  checksum (running 16-bit sum, as ST 0601)   2  precision time stamp, µs since 1970
    3  system name, UTF-8                          4  local set version
    5  total targets detected in the frame         6  number of targets reported
    7  motion imagery frame number                 8  frame width, pixels
    9  frame height, pixels                        10 source sensor, UTF-8
    11 horizontal FOV, IMAPB(0, 180, 2) degrees    12 vertical FOV, IMAPB(0, 180, 2) degrees
    13 MIIS core identifier (kept raw)             101 VTarget series
    102 algorithm series (raw)                     103 ontology series (raw)

A VTarget series is a run of packs, each ``BER length | BER-OID target id | local set``:

    1  centroid pixel number        2  bounding box top-left pixel number
    3  bounding box bottom-right pixel number     4  priority (1 highest)
    5  confidence level, %          6  history (times detected before)
    7  percentage of target pixels  8  colour, R G B bytes
    9  intensity                    10/11 location offset lat/lon, IMAPB(-19.2, 19.2, 3) deg
    12 height above ellipsoid, IMAPB(-900, 19000, 2) m
    13/14 bounding box top-left lat/lon offset, IMAPB(-19.2, 19.2, 3) deg
    15/16 bounding box bottom-right lat/lon offset, same mapping
    17 target location (pack: lat IMAPB(-90, 90, 4), lon IMAPB(-180, 180, 4),
       HAE IMAPB(-900, 19000, 2) m, then optionally sigma east/north/up IMAPB(0, 650, 2) m,
       then optionally rho east-north/east-up/north-up IMAPB(-1, 1, 2))
    18 target boundary series (raw)  19/20 centroid row/column, pixels
    21 FPA index (raw)               22 algorithm id
    23 detection status (ST 0903.6)  101..107 VMask, VObject, VFeature, VTracker, VChip,
                                         VChip series, VObject series (kept raw)

Pixel numbers are 1-based, row-major: ``pixel = column + (row - 1) * frame_width``.
Offsets in degrees are relative to the ST 0601 frame centre.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum
from typing import TypeVar, overload

import numpy as np
import numpy.typing as npt

from vigia.errors import ItemError, KLVError, TruncatedError
from vigia.klv.ber import decode_ber_length, decode_ber_oid, encode_ber_length, encode_ber_oid
from vigia.klv.imap import ImapParams, ImapSpecial, imap_forward, imap_reverse, imapb_params
from vigia.klv.keys import ST0903_KEY
from vigia.klv.localset import (
    encode_local_set,
    iter_local_set,
    read_packet,
    verify_trailing_checksum,
    with_checksum,
)

__all__ = [
    "DetectionStatus",
    "TargetLocation",
    "VTarget",
    "VmtiPacket",
    "decode_vmti",
    "decode_vmti_packet",
    "encode_vmti",
    "encode_vmti_packet",
    "encode_vtarget",
    "iter_vmti_packets",
    "pixel_to_row_col",
    "row_col_to_pixel",
]

ImapValue = float | ImapSpecial

FOV = imapb_params(0.0, 180.0, 2)
OFFSET = imapb_params(-19.2, 19.2, 3)
HAE = imapb_params(-900.0, 19000.0, 2)
LATITUDE = imapb_params(-90.0, 90.0, 4)
LONGITUDE = imapb_params(-180.0, 180.0, 4)
SIGMA = imapb_params(0.0, 650.0, 2)
RHO = imapb_params(-1.0, 1.0, 2)

#: VTarget tags whose values are sub-local-sets or series kept raw.
RAW_SUBPACK_TAGS = frozenset(range(101, 108))


class DetectionStatus(IntEnum):
    """VTarget item 23 (ST 0903.6): state of the detection."""

    INACTIVE = 0
    ACTIVE_MOVING = 1
    DROPPED = 2
    ACTIVE_STOPPED = 3
    ACTIVE_COASTING = 4


@dataclass(frozen=True, slots=True)
class TargetLocation:
    """VTarget item 17: WGS84 position (degrees, metres HAE) with optional sigmas and rhos."""

    latitude_deg: ImapValue
    longitude_deg: ImapValue
    hae_m: ImapValue
    sigma_east_m: ImapValue | None = None
    sigma_north_m: ImapValue | None = None
    sigma_up_m: ImapValue | None = None
    rho_east_north: ImapValue | None = None
    rho_east_up: ImapValue | None = None
    rho_north_up: ImapValue | None = None


@dataclass(frozen=True, slots=True)
class VTarget:
    """One VTarget pack; ``None`` marks an item the sensor did not send."""

    target_id: int
    centroid_pixel: int | None = None
    bbox_top_left_pixel: int | None = None
    bbox_bottom_right_pixel: int | None = None
    priority: int | None = None
    confidence_pct: int | None = None
    history: int | None = None
    target_pixels_pct: int | None = None
    color_rgb: tuple[int, int, int] | None = None
    intensity: int | None = None
    location_offset_lat_deg: ImapValue | None = None
    location_offset_lon_deg: ImapValue | None = None
    hae_m: ImapValue | None = None
    bbox_top_left_lat_offset_deg: ImapValue | None = None
    bbox_top_left_lon_offset_deg: ImapValue | None = None
    bbox_bottom_right_lat_offset_deg: ImapValue | None = None
    bbox_bottom_right_lon_offset_deg: ImapValue | None = None
    location: TargetLocation | None = None
    boundary_series: bytes | None = None
    centroid_row: int | None = None
    centroid_column: int | None = None
    fpa_index: bytes | None = None
    algorithm_id: int | None = None
    detection_status: DetectionStatus | None = None
    #: Items 101..107 (VMask, VObject, VFeature, VTracker, VChip, series), raw, as read.
    sub_packs: tuple[tuple[int, bytes], ...] = ()
    #: Items of tags this module does not know, raw, as read.
    unknown_items: tuple[tuple[int, bytes], ...] = ()


@dataclass(frozen=True, slots=True)
class VmtiPacket:
    """A decoded VMTI local set; ``None`` marks an item that was not present."""

    checksum: int | None = None
    timestamp_us: int | None = None
    system_name: str | None = None
    version: int | None = None
    total_targets_detected: int | None = None
    targets_reported: int | None = None
    frame_number: int | None = None
    frame_width: int | None = None
    frame_height: int | None = None
    source_sensor: str | None = None
    horizontal_fov_deg: ImapValue | None = None
    vertical_fov_deg: ImapValue | None = None
    miis_id: bytes | None = None
    targets: tuple[VTarget, ...] = ()
    algorithm_series: bytes | None = None
    ontology_series: bytes | None = None
    unknown_items: tuple[tuple[int, bytes], ...] = ()
    #: VTarget packs that could not be decoded and were skipped (lenient mode).
    malformed_targets: int = 0


# --- pixel numbers ----------------------------------------------------------------------------
_N = TypeVar("_N", int, npt.NDArray[np.integer])


@overload
def pixel_to_row_col(pixel: int, frame_width: int) -> tuple[int, int]: ...
@overload
def pixel_to_row_col(
    pixel: npt.NDArray[np.integer], frame_width: int
) -> tuple[npt.NDArray[np.integer], npt.NDArray[np.integer]]: ...
def pixel_to_row_col(
    pixel: int | npt.NDArray[np.integer], frame_width: int
) -> tuple[int, int] | tuple[npt.NDArray[np.integer], npt.NDArray[np.integer]]:
    """1-based (row, column) of a 1-based row-major pixel number (scalar or array)."""
    if frame_width <= 0:
        raise ItemError(f"frame width must be positive, got {frame_width}")
    if isinstance(pixel, np.ndarray):
        zero = pixel - 1
        return zero // frame_width + 1, zero % frame_width + 1
    row0, col0 = divmod(int(pixel) - 1, frame_width)
    return row0 + 1, col0 + 1


def row_col_to_pixel(row: _N, column: _N, frame_width: int) -> _N:
    """1-based row-major pixel number of 1-based (row, column) (scalar or array)."""
    if frame_width <= 0:
        raise ItemError(f"frame width must be positive, got {frame_width}")
    return column + (row - 1) * frame_width


# --- small codecs -----------------------------------------------------------------------------
def _uint(value: bytes, tag: int, offset: int, min_len: int, max_len: int) -> int:
    if not min_len <= len(value) <= max_len:
        want = str(min_len) if min_len == max_len else f"{min_len}..{max_len}"
        raise ItemError(f"ST 0903 item {tag} needs {want} bytes, has {len(value)}", offset=offset)
    return int.from_bytes(value, "big")


def _text(value: bytes, tag: int, offset: int) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ItemError(f"ST 0903 item {tag} is not UTF-8 text", offset=offset) from exc


def _imap(value: bytes, params: ImapParams, tag: int, offset: int) -> ImapValue:
    if len(value) != params.length:
        raise ItemError(
            f"ST 0903 item {tag} needs {params.length} bytes, has {len(value)}", offset=offset
        )
    return imap_reverse(int.from_bytes(value, "big"), params)


#: First revision with IMAPB reals (before: the linear mappings of :func:`_legacy_offset`).
IMAPB_VERSION = 4
_LEGACY_OFFSET_ERROR = -(1 << 23)


def _legacy_offset(value: bytes, tag: int, offset: int) -> float:
    """A VTarget offset of ST 0903.3 and before: signed 1..3 bytes mapped onto ±19.2°."""
    if not 1 <= len(value) <= 3:
        raise ItemError(f"ST 0903 item {tag} needs 1..3 bytes, has {len(value)}", offset=offset)
    v = int.from_bytes(value, "big", signed=True)
    if v == _LEGACY_OFFSET_ERROR:
        return float("nan")
    return v * 19.2 / ((1 << 23) - 1)


def _legacy_fov(value: bytes, tag: int, offset: int) -> float:
    """A field of view of ST 0903.3 and before: unsigned 1..2 bytes mapped onto 0..180°."""
    return _uint(value, tag, offset, 1, 2) * 180.0 / 65535.0


def _imap_bytes(value: ImapValue, params: ImapParams) -> bytes:
    """IMAPB bytes of ``value``; a decoded value is re-encoded to the word it came from.

    With a zero offset the lowest word decodes slightly below ``a``; such decoded values
    are accepted here too, so that decode -> encode gives back the original bytes.
    """
    if isinstance(value, float) and math.isfinite(value):
        guess = round(params.sF * (value - params.a) + params.zOffset)
        for code in (guess, guess - 1, guess + 1):
            if 0 <= code <= params.max_code and imap_reverse(code, params) == value:
                return code.to_bytes(params.length, "big")
    return imap_forward(value, params).to_bytes(params.length, "big")


def _uint_bytes(value: int, name: str, max_len: int = 8) -> bytes:
    if value < 0:
        raise ItemError(f"{name} must not be negative, got {value}")
    n = max(1, (value.bit_length() + 7) // 8)
    if n > max_len:
        raise ItemError(f"{name} {value} does not fit {max_len} bytes")
    return value.to_bytes(n, "big")


_LOCATION_PARAMS = (LATITUDE, LONGITUDE, HAE, SIGMA, SIGMA, SIGMA, RHO, RHO, RHO)
_LOCATION_WIDTHS = (4, 4, 2, 2, 2, 2, 2, 2, 2)


def _decode_location(value: bytes, offset: int) -> TargetLocation:
    if len(value) not in (10, 16, 22):
        raise ItemError(
            f"ST 0903 target location needs 10, 16 or 22 bytes, has {len(value)}", offset=offset
        )
    out: list[ImapValue] = []
    pos = 0
    for params, width in zip(_LOCATION_PARAMS, _LOCATION_WIDTHS, strict=True):
        if pos >= len(value):
            break
        out.append(imap_reverse(int.from_bytes(value[pos : pos + width], "big"), params))
        pos += width
    return TargetLocation(*out)


def _encode_location(loc: TargetLocation) -> bytes:
    values = [
        loc.latitude_deg,
        loc.longitude_deg,
        loc.hae_m,
        loc.sigma_east_m,
        loc.sigma_north_m,
        loc.sigma_up_m,
        loc.rho_east_north,
        loc.rho_east_up,
        loc.rho_north_up,
    ]
    sigmas, rhos = values[3:6], values[6:9]
    count = 3
    if all(v is not None for v in sigmas):
        count = 9 if all(v is not None for v in rhos) else 6
    elif any(v is not None for v in sigmas + rhos):
        raise ItemError("target location sigmas are all given or all omitted; rhos need sigmas")
    if count == 6 and any(v is not None for v in rhos):
        raise ItemError("target location rhos are all given or all omitted")
    out = b""
    for value, params in zip(values[:count], _LOCATION_PARAMS[:count], strict=True):
        if value is None:
            raise ItemError("target location needs latitude, longitude and HAE")
        out += _imap_bytes(value, params)
    return out


# --- VTarget ----------------------------------------------------------------------------------
_VT_UINT: dict[int, tuple[str, int, int]] = {
    1: ("centroid_pixel", 1, 6),
    2: ("bbox_top_left_pixel", 1, 6),
    3: ("bbox_bottom_right_pixel", 1, 6),
    4: ("priority", 1, 1),
    5: ("confidence_pct", 1, 1),
    6: ("history", 1, 2),
    7: ("target_pixels_pct", 1, 1),
    9: ("intensity", 1, 3),
    19: ("centroid_row", 1, 4),
    20: ("centroid_column", 1, 4),
    22: ("algorithm_id", 1, 3),
}
_VT_IMAP: dict[int, tuple[str, ImapParams]] = {
    10: ("location_offset_lat_deg", OFFSET),
    11: ("location_offset_lon_deg", OFFSET),
    12: ("hae_m", HAE),
    13: ("bbox_top_left_lat_offset_deg", OFFSET),
    14: ("bbox_top_left_lon_offset_deg", OFFSET),
    15: ("bbox_bottom_right_lat_offset_deg", OFFSET),
    16: ("bbox_bottom_right_lon_offset_deg", OFFSET),
}
_VT_RAW: dict[int, str] = {18: "boundary_series", 21: "fpa_index"}


def _decode_vtarget(pack: bytes, base_offset: int, legacy: bool = False) -> VTarget:
    """Decode one VTarget pack body (``target id | local set``); ``legacy``: a packet of
    revision .3 or before."""
    target_id, pos = decode_ber_oid(pack, 0)
    out: dict[str, object] = {}
    sub: list[tuple[int, bytes]] = []
    unknown: list[tuple[int, bytes]] = []
    seen: set[int] = set()
    for item in iter_local_set(pack[pos:], base_offset + pos):
        tag, raw, off = item.tag, item.value, item.offset
        if tag in seen and tag not in RAW_SUBPACK_TAGS:
            raise ItemError(f"VTarget {target_id} item {tag} appears twice", offset=off)
        seen.add(tag)
        if tag in _VT_UINT:
            name, lo, hi = _VT_UINT[tag]
            number = _uint(raw, tag, off, lo, hi)
            if tag in (5, 7) and number > 100:
                raise ItemError(f"VTarget {target_id} item {tag} is {number} %", offset=off)
            out[name] = number
        elif tag in _VT_IMAP:
            name, params = _VT_IMAP[tag]
            if legacy and params is OFFSET:
                out[name] = _legacy_offset(raw, tag, off)
            else:
                out[name] = _imap(raw, params, tag, off)
        elif tag in _VT_RAW:
            out[_VT_RAW[tag]] = raw
        elif tag == 8:
            if len(raw) != 3:
                raise ItemError(f"VTarget colour needs 3 bytes, has {len(raw)}", offset=off)
            out["color_rgb"] = (raw[0], raw[1], raw[2])
        elif tag == 17:
            out["location"] = _decode_location(raw, off)
        elif tag == 23:
            code = _uint(raw, tag, off, 1, 1)
            if code not in DetectionStatus._value2member_map_:
                raise ItemError(f"unknown VTarget detection status {code}", offset=off)
            out["detection_status"] = DetectionStatus(code)
        elif tag in RAW_SUBPACK_TAGS:
            sub.append((tag, raw))
        else:
            unknown.append((tag, raw))
    return VTarget(target_id, **out, sub_packs=tuple(sub), unknown_items=tuple(unknown))  # type: ignore[arg-type]


def encode_vtarget(target: VTarget) -> bytes:
    """Encode one VTarget pack body (``target id | local set``), items in tag order."""
    items: list[tuple[int, bytes]] = []
    for tag, (name, _, hi) in _VT_UINT.items():
        number = getattr(target, name)
        if number is not None:
            items.append((tag, _uint_bytes(number, name, hi)))
    for tag, (name, params) in _VT_IMAP.items():
        value = getattr(target, name)
        if value is not None:
            items.append((tag, _imap_bytes(value, params)))
    for tag, name in _VT_RAW.items():
        raw = getattr(target, name)
        if raw is not None:
            items.append((tag, bytes(raw)))
    if target.color_rgb is not None:
        if len(target.color_rgb) != 3 or not all(0 <= c <= 255 for c in target.color_rgb):
            raise ItemError(f"colour must be three bytes, got {target.color_rgb}")
        items.append((8, bytes(target.color_rgb)))
    if target.location is not None:
        items.append((17, _encode_location(target.location)))
    if target.detection_status is not None:
        items.append((23, bytes([int(DetectionStatus(target.detection_status))])))
    items.extend(target.sub_packs)
    items.extend(target.unknown_items)
    items.sort(key=lambda it: it[0])
    return encode_ber_oid(target.target_id) + encode_local_set(items)


def _decode_target_series(
    series: bytes, base_offset: int, strict: bool, legacy: bool = False
) -> tuple[tuple[VTarget, ...], int]:
    targets: list[VTarget] = []
    malformed = 0
    pos = 0
    while pos < len(series):
        start = pos
        try:
            length, body = decode_ber_length(series, pos)
            if length == 0:
                raise ItemError("empty VTarget pack", offset=base_offset + start)
            if body + length > len(series):
                raise TruncatedError(
                    f"VTarget pack announces {length} bytes, only {len(series) - body} remain",
                    offset=base_offset + start,
                )
        except KLVError:
            if strict:
                raise
            malformed += 1  # the rest of the series cannot be delimited
            break
        pos = body + length
        try:
            targets.append(_decode_vtarget(series[body:pos], base_offset + body, legacy))
        except KLVError:
            if strict:
                raise
            malformed += 1
    return tuple(targets), malformed


# --- VMTI local set ---------------------------------------------------------------------------
_TOP_UINT: dict[int, tuple[str, int, int]] = {
    2: ("timestamp_us", 8, 8),
    4: ("version", 1, 2),
    5: ("total_targets_detected", 1, 3),
    6: ("targets_reported", 1, 3),
    7: ("frame_number", 1, 3),
    8: ("frame_width", 1, 3),
    9: ("frame_height", 1, 3),
}
_TOP_TEXT: dict[int, str] = {3: "system_name", 10: "source_sensor"}
_TOP_FOV: dict[int, str] = {11: "horizontal_fov_deg", 12: "vertical_fov_deg"}
_TOP_RAW: dict[int, str] = {13: "miis_id", 102: "algorithm_series", 103: "ontology_series"}


def decode_vmti(value: bytes, base_offset: int = 0, *, strict: bool = False) -> VmtiPacket:
    """Decode VMTI local-set value bytes (stand-alone packet value or ST 0601 item 74).

    Lenient mode skips damaged VTarget packs and counts them in ``malformed_targets``;
    strict mode raises. Damage outside the target series raises in both modes. Only
    :class:`~vigia.errors.VigiaError` subclasses are raised, with byte offsets.
    """
    out: dict[str, object] = {}
    unknown: list[tuple[int, bytes]] = []
    seen: set[int] = set()
    malformed = 0
    targets: tuple[VTarget, ...] = ()
    value = bytes(value)
    items = list(iter_local_set(value, base_offset))
    version = next((_uint(it.value, 4, it.offset, 1, 2) for it in items if it.tag == 4), None)
    legacy = version is not None and version < IMAPB_VERSION
    for item in items:
        tag, raw, off = item.tag, item.value, item.offset
        if tag in seen:
            raise ItemError(f"VMTI item {tag} appears twice", offset=off)
        seen.add(tag)
        if tag == 1:
            out["checksum"] = _uint(raw, tag, off, 2, 2)
        elif tag in _TOP_UINT:
            name, lo, hi = _TOP_UINT[tag]
            out[name] = _uint(raw, tag, off, 1 if legacy else lo, hi)
        elif tag in _TOP_TEXT:
            out[_TOP_TEXT[tag]] = _text(raw, tag, off)
        elif tag in _TOP_FOV:
            fov = _legacy_fov(raw, tag, off) if legacy else _imap(raw, FOV, tag, off)
            out[_TOP_FOV[tag]] = fov
        elif tag in _TOP_RAW:
            out[_TOP_RAW[tag]] = raw
        elif tag == 101:
            start = off + _item_header_length(value, off - base_offset)
            targets, malformed = _decode_target_series(raw, start, strict, legacy)
        else:
            unknown.append((tag, raw))
    return VmtiPacket(
        **out,  # type: ignore[arg-type]
        targets=targets,
        unknown_items=tuple(unknown),
        malformed_targets=malformed,
    )


def _item_header_length(value: bytes, pos: int) -> int:
    """Size of the ``tag | BER length`` header of the local-set item starting at ``pos``."""
    _, after_tag = decode_ber_oid(value, pos)
    _, after_len = decode_ber_length(value, after_tag)
    return after_len - pos


def _vmti_items(pkt: VmtiPacket) -> list[tuple[int, bytes]]:
    items: list[tuple[int, bytes]] = []
    for tag, (name, lo, hi) in _TOP_UINT.items():
        number = getattr(pkt, name)
        if number is not None:
            raw = _uint_bytes(number, name, hi)
            items.append((tag, raw.rjust(lo, b"\x00")))
    for tag, name in _TOP_TEXT.items():
        text = getattr(pkt, name)
        if text is not None:
            items.append((tag, text.encode("utf-8")))
    for tag, name in _TOP_FOV.items():
        fov = getattr(pkt, name)
        if fov is not None:
            items.append((tag, _imap_bytes(fov, FOV)))
    for tag, name in _TOP_RAW.items():
        raw = getattr(pkt, name)
        if raw is not None:
            items.append((tag, bytes(raw)))
    if pkt.targets:
        series = b""
        for target in pkt.targets:
            body = encode_vtarget(target)
            series += encode_ber_length(len(body)) + body
        items.append((101, series))
    items.extend(pkt.unknown_items)
    items.sort(key=lambda it: it[0])
    return items


def encode_vmti(pkt: VmtiPacket) -> bytes:
    """VMTI local-set value bytes, items in tag order, without a checksum (as in item 74)."""
    return encode_local_set(_vmti_items(pkt))


def encode_vmti_packet(pkt: VmtiPacket) -> bytes:
    """Stand-alone VMTI KLV packet: key, BER length, items, and the checksum item last."""
    return with_checksum(ST0903_KEY, _vmti_items(pkt))


def decode_vmti_packet(
    data: bytes, pos: int = 0, *, strict: bool = False, verify_checksum: bool = True
) -> VmtiPacket:
    """Decode the stand-alone VMTI packet at ``pos``; check its key and (optionally) checksum."""
    packet = read_packet(data, pos)
    if packet.key != ST0903_KEY:
        raise KLVError(f"not a VMTI packet: key {packet.key.hex()}", offset=pos)
    if verify_checksum:
        verify_trailing_checksum(data[pos : pos + packet.length], offset=pos)
    return decode_vmti(packet.value, pos + packet.header_length, strict=strict)


def iter_vmti_packets(
    data: bytes, *, strict: bool = False, verify_checksum: bool = True
) -> Iterator[VmtiPacket]:
    """Decode consecutive stand-alone VMTI packets filling ``data``."""
    pos = 0
    while pos < len(data):
        yield decode_vmti_packet(data, pos, strict=strict, verify_checksum=verify_checksum)
        pos += read_packet(data, pos).length
