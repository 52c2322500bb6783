"""MISB EG 0104.5, the legacy Predator UAV Basic Universal Metadata Set, into ST 0601 columns.

Before ST 0601 local sets, Predator video carried a universal set: every item has its own
16-byte SMPTE key (from the SMPTE RP 210 dictionary), a BER length and a value. Reals are IEEE
floats (latitudes and longitudes 8 bytes, angles, heights and lengths 4 bytes), names are
ASCII, and the User Defined Time Stamp is the MISP time (µs since 1970, as ST 0601 item 2).
Items whose meaning is that of an ST 0601 item fill its column; the others (start date, sensor
roll, angle to north, obliquity, episode number) are counted, not kept.

Keys are matched on their item designator (bytes 8 to 15); byte 7, the dictionary version,
differs between encoders.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass, field

from vigia.errors import KLVError
from vigia.klv.ber import decode_ber_length
from vigia.klv.keys import KEY_LENGTH, UL_PREFIX

__all__ = ["EG0104_COLUMNS", "Eg0104Rows", "decode_eg0104"]

#: Item designator (key bytes 8..15) -> (ST 0601 column, value kind).
EG0104_COLUMNS: dict[bytes, tuple[str, str]] = {
    bytes.fromhex(k): v
    for k, v in {
        "0702010101050000": ("precision_time_stamp", "time"),
        "0701020103020000": ("frame_center_latitude", "f64"),
        "0701020103040000": ("frame_center_longitude", "f64"),
        "0701020103160000": ("frame_center_elevation", "f32"),
        "0701010100000000": ("image_coordinate_system", "text"),
        "0701090201000000": ("target_width", "f32"),
        "0701080101000000": ("slant_range", "f32"),
        "0701100104000000": ("platform_roll_angle", "f32"),
        "0701100105000000": ("platform_pitch_angle", "f32"),
        "0701100106000000": ("platform_heading_angle", "f32"),
        "0420020101080000": ("sensor_horizontal_field_of_view", "f32"),
        "04200201010a0100": ("sensor_vertical_field_of_view", "f32"),
        "0701020102020000": ("sensor_true_altitude", "f32"),
        "0701020102040200": ("sensor_latitude", "f64"),
        "0701020102060200": ("sensor_longitude", "f64"),
        "0420010201010000": ("image_source_sensor", "text"),
        "0101200100000000": ("platform_designation", "text"),
        "0701020103070100": ("corner_latitude_point_1_full", "f64"),
        "0701020103080100": ("corner_latitude_point_2_full", "f64"),
        "0701020103090100": ("corner_latitude_point_3_full", "f64"),
        "07010201030a0100": ("corner_latitude_point_4_full", "f64"),
        "07010201030b0100": ("corner_longitude_point_1_full", "f64"),
        "07010201030c0100": ("corner_longitude_point_2_full", "f64"),
        "07010201030d0100": ("corner_longitude_point_3_full", "f64"),
        "07010201030e0100": ("corner_longitude_point_4_full", "f64"),
    }.items()
}

_WIDTH = {"f64": 8, "f32": 4}


@dataclass
class Eg0104Rows:
    """Decoded EG 0104 packets: one value list per ST 0601 column (``None``: absent)."""

    offsets: list[int] = field(default_factory=list)  # source offset of each packet
    columns: dict[str, list[object]] = field(default_factory=dict)
    damaged: list[bool] = field(default_factory=list)  # the set was cut short or malformed
    unmapped_items: int = 0  # items of no ST 0601 meaning
    errors: list[KLVError] = field(default_factory=list)


def _value(kind: str, raw: bytes) -> object:
    if kind == "text":
        return raw.decode("ascii", errors="replace").rstrip("\x00")
    if kind == "time":
        return int.from_bytes(raw, "big") if 1 <= len(raw) <= 8 else None
    if len(raw) != _WIDTH[kind]:
        return None
    return struct.unpack(">d" if kind == "f64" else ">f", raw)[0]


def decode_eg0104(packets: Iterable[tuple[int, bytes]]) -> Eg0104Rows:
    """Decode EG 0104 universal-set values ``(source offset, value bytes)``, one row each."""
    out = Eg0104Rows()
    cols = out.columns
    for n, (offset, value) in enumerate(packets):
        out.offsets.append(offset)
        bad = False
        pos = 0
        row: dict[str, object] = {}
        while pos < len(value):
            key = value[pos : pos + KEY_LENGTH]
            try:
                if len(key) < KEY_LENGTH or key[:4] != UL_PREFIX:
                    raise KLVError("EG 0104 item without a 16-byte key", offset=offset + pos)
                length, vpos = decode_ber_length(value, pos + KEY_LENGTH)
                if vpos + length > len(value):
                    raise KLVError("EG 0104 item runs past its packet", offset=offset + pos)
            except KLVError as exc:
                bad = True
                if len(out.errors) < 10:
                    out.errors.append(exc)
                break
            spec = EG0104_COLUMNS.get(bytes(key[8:]))
            if spec is None:
                out.unmapped_items += 1
            else:
                row[spec[0]] = _value(spec[1], bytes(value[vpos : vpos + length]))
            pos = vpos + length
        out.damaged.append(bad)
        for name, v in row.items():
            cols.setdefault(name, [None] * n).append(v)
        for lst in cols.values():
            if len(lst) == n:
                lst.append(None)
    return out
