"""MISB ST 0601.19 UAS Datalink Local Set: the item table and value conversions.

Every item is described once in :data:`ITEMS`: its tag, its name in the standard, how its
bytes map to a value in the standard's units, and its error sentinel when it has one. The
vectorised conversions here work on NumPy arrays of raw integers (one element per packet);
the stream decoder (:mod:`vigia.klv.batch`) and the single-packet decoder share them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from vigia.klv import imap


class Kind(StrEnum):
    """How an item's value bytes are read."""

    UINT = "uint"  # unsigned integer as is (fixed or variable length)
    INT = "int"  # two's-complement integer as is
    MAPPED_UINT = "mapped_uint"  # unsigned integer linearly mapped onto [lo, hi]
    MAPPED_INT = "mapped_int"  # signed integer mapped symmetrically onto [lo, hi]
    IMAPB = "imapb"  # MISB ST 1201 IMAPB(lo, hi, length)
    STRING = "string"  # UTF-8 text
    TIMESTAMP = "timestamp"  # MISP microseconds since 1970-01-01 UTC
    SET = "set"  # a nested local set, pack or series, kept as its bytes


class Sentinel(StrEnum):
    """Special values the standard reserves in place of a number."""

    ERROR = "error"  # the standard's "error indicator" (lat/lon, angles, corners)
    OUT_OF_RANGE = "out_of_range"  # the standard's "out of range" indicator (attitude, speeds)
    IMAP_SPECIAL = "imap_special"  # an ST 1201 special value (infinity, NaN, user-defined)


@dataclass(frozen=True, slots=True)
class Item:
    """One ST 0601 item: tag, standard name, encoding, units and sentinel."""

    tag: int
    name: str
    kind: Kind
    length: int | None = None  # fixed length in bytes, or default length when variable
    lo: float = 0.0
    hi: float = 0.0
    units: str = ""
    sentinel: Sentinel | None = None
    max_length: int | None = None

    @property
    def column(self) -> str:
        """The item's column name: its ST 0601 name in snake_case."""
        return snake_case(self.name)

    @property
    def numeric(self) -> bool:
        """True when the item decodes to a number."""
        return self.kind in (Kind.UINT, Kind.INT, Kind.MAPPED_UINT, Kind.MAPPED_INT, Kind.IMAPB)

    @property
    def fixed_length(self) -> bool:
        """True when the standard fixes the item's length."""
        return self.kind in (Kind.MAPPED_UINT, Kind.MAPPED_INT)

    @property
    def max_bytes(self) -> int:
        """Longest value accepted: the standard's length for integers, 8 for IMAP."""
        if self.kind in (Kind.UINT, Kind.INT, Kind.TIMESTAMP):
            return self.length or 8
        return 8

    @property
    def is_float(self) -> bool:
        """True when the item decodes to a real number (float64 column)."""
        return self.kind in (Kind.MAPPED_UINT, Kind.MAPPED_INT, Kind.IMAPB)


def snake_case(name: str) -> str:
    """``'Target Error Estimate - CE90'`` -> ``'target_error_estimate_ce90'``."""
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


U, S, MU, MS, IB, STR, TS, SET = (
    Kind.UINT,
    Kind.INT,
    Kind.MAPPED_UINT,
    Kind.MAPPED_INT,
    Kind.IMAPB,
    Kind.STRING,
    Kind.TIMESTAMP,
    Kind.SET,
)
E, OOR = Sentinel.ERROR, Sentinel.OUT_OF_RANGE
DEG, M, MPS, MBAR = "degrees", "metres", "m/s", "mbar"
_ALT = (-900.0, 19000.0)
_ALTX = (-900.0, 40000.0)


def _corner_offsets() -> list[Item]:
    out = []
    for point in range(1, 5):
        for axis in ("Latitude", "Longitude"):
            tag = 26 + 2 * (point - 1) + (axis == "Longitude")
            name = f"Offset Corner {axis} Point {point}"
            out.append(Item(tag, name, MS, 2, -0.075, 0.075, DEG, E))
    return out


def _full_corners() -> list[Item]:
    out = []
    for point in range(1, 5):
        for axis, r in (("Latitude", 90.0), ("Longitude", 180.0)):
            tag = 82 + 2 * (point - 1) + (axis == "Longitude")
            out.append(Item(tag, f"Corner {axis} Point {point} (Full)", MS, 4, -r, r, DEG, E))
    return out


#: The ST 0601.19 item table (tag 1 checksum to 143).
ITEMS: dict[int, Item] = {
    it.tag: it
    for it in [
        Item(1, "Checksum", U, 2),
        Item(2, "Precision Time Stamp", TS, 8, units="µs since 1970-01-01 UTC"),
        Item(3, "Mission ID", STR, max_length=127),
        Item(4, "Platform Tail Number", STR, max_length=127),
        Item(5, "Platform Heading Angle", MU, 2, 0, 360, DEG),
        Item(6, "Platform Pitch Angle", MS, 2, -20, 20, DEG, OOR),
        Item(7, "Platform Roll Angle", MS, 2, -50, 50, DEG, OOR),
        Item(8, "Platform True Airspeed", U, 1, units=MPS),
        Item(9, "Platform Indicated Airspeed", U, 1, units=MPS),
        Item(10, "Platform Designation", STR, max_length=127),
        Item(11, "Image Source Sensor", STR, max_length=127),
        Item(12, "Image Coordinate System", STR, max_length=127),
        Item(13, "Sensor Latitude", MS, 4, -90, 90, DEG, E),
        Item(14, "Sensor Longitude", MS, 4, -180, 180, DEG, E),
        Item(15, "Sensor True Altitude", MU, 2, *_ALT, M),
        Item(16, "Sensor Horizontal Field of View", MU, 2, 0, 180, DEG),
        Item(17, "Sensor Vertical Field of View", MU, 2, 0, 180, DEG),
        Item(18, "Sensor Relative Azimuth Angle", MU, 4, 0, 360, DEG),
        Item(19, "Sensor Relative Elevation Angle", MS, 4, -180, 180, DEG, E),
        Item(20, "Sensor Relative Roll Angle", MU, 4, 0, 360, DEG),
        Item(21, "Slant Range", MU, 4, 0, 5_000_000, M),
        Item(22, "Target Width", MU, 2, 0, 10_000, M),
        Item(23, "Frame Center Latitude", MS, 4, -90, 90, DEG, E),
        Item(24, "Frame Center Longitude", MS, 4, -180, 180, DEG, E),
        Item(25, "Frame Center Elevation", MU, 2, *_ALT, M),
        *_corner_offsets(),
        Item(34, "Icing Detected", U, 1),
        Item(35, "Wind Direction", MU, 2, 0, 360, DEG),
        Item(36, "Wind Speed", MU, 1, 0, 100, MPS),
        Item(37, "Static Pressure", MU, 2, 0, 5000, MBAR),
        Item(38, "Density Altitude", MU, 2, *_ALT, M),
        Item(39, "Outside Air Temperature", S, 1, units="°C"),
        Item(40, "Target Location Latitude", MS, 4, -90, 90, DEG, E),
        Item(41, "Target Location Longitude", MS, 4, -180, 180, DEG, E),
        Item(42, "Target Location Elevation", MU, 2, *_ALT, M),
        Item(43, "Target Track Gate Width", MU, 1, 0, 510, "pixels"),
        Item(44, "Target Track Gate Height", MU, 1, 0, 510, "pixels"),
        Item(45, "Target Error Estimate - CE90", MU, 2, 0, 4095, M),
        Item(46, "Target Error Estimate - LE90", MU, 2, 0, 4095, M),
        Item(47, "Generic Flag Data", U, 1),
        Item(48, "Security Local Set", SET),
        Item(49, "Differential Pressure", MU, 2, 0, 5000, MBAR),
        Item(50, "Platform Angle of Attack", MS, 2, -20, 20, DEG, OOR),
        Item(51, "Platform Vertical Speed", MS, 2, -180, 180, MPS, OOR),
        Item(52, "Platform Sideslip Angle", MS, 2, -20, 20, DEG, OOR),
        Item(53, "Airfield Barometric Pressure", MU, 2, 0, 5000, MBAR),
        Item(54, "Airfield Elevation", MU, 2, *_ALT, M),
        Item(55, "Relative Humidity", MU, 1, 0, 100, "percent"),
        Item(56, "Platform Ground Speed", U, 1, units=MPS),
        Item(57, "Ground Range", MU, 4, 0, 5_000_000, M),
        Item(58, "Platform Fuel Remaining", MU, 2, 0, 10_000, "kg"),
        Item(59, "Platform Call Sign", STR, max_length=127),
        Item(60, "Weapon Load", U, 2),
        Item(61, "Weapon Fired", U, 1),
        Item(62, "Laser PRF Code", U, 2),
        Item(63, "Sensor Field of View Name", U, 1),
        Item(64, "Platform Magnetic Heading", MU, 2, 0, 360, DEG),
        Item(65, "UAS Datalink LS Version Number", U, 1),
        Item(66, "Deprecated", SET),
        Item(67, "Alternate Platform Latitude", MS, 4, -90, 90, DEG, E),
        Item(68, "Alternate Platform Longitude", MS, 4, -180, 180, DEG, E),
        Item(69, "Alternate Platform Altitude", MU, 2, *_ALT, M),
        Item(70, "Alternate Platform Name", STR, max_length=127),
        Item(71, "Alternate Platform Heading", MU, 2, 0, 360, DEG),
        Item(72, "Event Start Time - UTC", TS, 8, units="µs since 1970-01-01 UTC"),
        Item(73, "RVT Local Set", SET),
        Item(74, "VMTI Local Set", SET),
        Item(75, "Sensor Ellipsoid Height", MU, 2, *_ALT, M),
        Item(76, "Alternate Platform Ellipsoid Height", MU, 2, *_ALT, M),
        Item(77, "Operational Mode", U, 1),
        Item(78, "Frame Center Height Above Ellipsoid", MU, 2, *_ALT, M),
        Item(79, "Sensor North Velocity", MS, 2, -327, 327, MPS, OOR),
        Item(80, "Sensor East Velocity", MS, 2, -327, 327, MPS, OOR),
        Item(81, "Image Horizon Pixel Pack", SET),
        *_full_corners(),
        Item(90, "Platform Pitch Angle (Full)", MS, 4, -90, 90, DEG, OOR),
        Item(91, "Platform Roll Angle (Full)", MS, 4, -90, 90, DEG, OOR),
        Item(92, "Platform Angle of Attack (Full)", MS, 4, -90, 90, DEG, OOR),
        Item(93, "Platform Sideslip Angle (Full)", MS, 4, -180, 180, DEG, OOR),
        Item(94, "MIIS Core Identifier", SET),
        Item(95, "SAR Motion Imagery Local Set", SET),
        Item(96, "Target Width Extended", IB, 3, 0, 1_500_000, M),
        Item(97, "Range Image Local Set", SET),
        Item(98, "Geo-Registration Local Set", SET),
        Item(99, "Composite Imaging Local Set", SET),
        Item(100, "Segment Local Set", SET),
        Item(101, "Amend Local Set", SET),
        Item(102, "SDCC-FLP", SET),
        Item(103, "Density Altitude Extended", IB, 3, *_ALTX, M),
        Item(104, "Sensor Ellipsoid Height Extended", IB, 3, *_ALTX, M),
        Item(105, "Alternate Platform Ellipsoid Height Extended", IB, 3, *_ALTX, M),
        Item(106, "Stream Designator", STR, max_length=127),
        Item(107, "Operational Base", STR, max_length=127),
        Item(108, "Broadcast Source", STR, max_length=127),
        Item(109, "Range To Recovery Location", IB, 3, 0, 21_000, "km"),
        Item(110, "Time Airborne", U, 4, units="s"),
        Item(111, "Propulsion Unit Speed", U, 4, units="RPM"),
        Item(112, "Platform Course Angle", IB, 3, 0, 360, DEG),
        Item(113, "Altitude AGL", IB, 3, *_ALTX, M),
        Item(114, "Radar Altimeter", IB, 3, *_ALTX, M),
        Item(115, "Control Command", SET),
        Item(116, "Control Command Verification List", SET),
        Item(117, "Sensor Azimuth Rate", IB, 3, -1000, 1000, "degrees/s"),
        Item(118, "Sensor Elevation Rate", IB, 3, -1000, 1000, "degrees/s"),
        Item(119, "Sensor Roll Rate", IB, 3, -1000, 1000, "degrees/s"),
        Item(120, "On-board MI Storage Percent Full", IB, 3, 0, 100, "percent"),
        Item(121, "Active Wavelength List", SET),
        Item(122, "Country Codes", SET),
        Item(123, "Number of NAVSATs in View", U, 1),
        Item(124, "Positioning Method Source", U, 1),
        Item(125, "Platform Status", U, 1),
        Item(126, "Sensor Control Mode", U, 1),
        Item(127, "Sensor Frame Rate Pack", SET),
        Item(128, "Wavelengths List", SET),
        Item(129, "Target ID", STR, max_length=32),
        Item(130, "Airbase Locations", SET),
        Item(131, "Take-off Time", TS, 8, units="µs since 1970-01-01 UTC"),
        Item(132, "Transmission Frequency", IB, 3, 1, 99_999, "MHz"),
        Item(133, "On-board MI Storage Capacity", U, 4, units="GB"),
        Item(134, "Zoom Percentage", IB, 3, 0, 100, "percent"),
        Item(135, "Communications Method", STR, max_length=127),
        Item(136, "Leap Seconds", S, 4, units="s"),
        Item(137, "Correction Offset", S, 8, units="µs"),
        Item(138, "Payload List", SET),
        Item(139, "Active Payloads", SET),
        Item(140, "Weapons Stores", SET),
        Item(141, "Waypoint List", SET),
        Item(142, "View Domain", SET),
        Item(143, "Metadata Substream ID Pack", SET),
    ]
}

#: Column name -> item.
BY_COLUMN: dict[str, Item] = {it.column: it for it in ITEMS.values()}
#: Highest tag in the table.
MAX_TAG = max(ITEMS)

#: Labels of the enumerated items, for people (inspect output).
ENUM_LABELS: dict[int, dict[int, str]] = {
    34: {0: "Detector off", 1: "No icing detected", 2: "Icing detected"},
    63: {
        0: "Ultranarrow",
        1: "Narrow",
        2: "Medium",
        3: "Wide",
        4: "Ultrawide",
        5: "Narrow Medium",
        6: "2x Ultranarrow",
        7: "4x Ultranarrow",
        8: "Continuous Zoom",
    },
    77: {
        0: "Other",
        1: "Operational",
        2: "Training",
        3: "Exercise",
        4: "Maintenance",
        5: "Test",
    },
    125: {
        0: "Active",
        1: "Pre-flight",
        2: "Pre-flight-taxiing",
        3: "Run-up",
        4: "Take-off",
        5: "Ingress",
        6: "Manual operation",
        7: "Automated-orbit",
        8: "Transitioning",
        9: "Egress",
        10: "Landing",
        11: "Landed-taxiing",
        12: "Landed-parked",
    },
    126: {
        0: "Off",
        1: "Home Position",
        2: "Uncontrolled",
        3: "Manual Control",
        4: "Calibrating",
        5: "Auto - Holding Position",
        6: "Auto - Tracking",
    },
}


# --- Conversions (vectorised over packets) ---------------------------------------------------
def mapped_scale(item: Item, length: int | None = None) -> float:
    """Units per least-significant bit of a mapped item at ``length`` bytes."""
    n = 8 * (length or item.length or 0)
    span = item.hi - item.lo
    if item.kind is Kind.MAPPED_INT:
        return span / float(2**n - 2)
    return span / float(2**n - 1)


def raw_to_value(item: Item, raw: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Convert raw big-endian integers (``uint64``) of ``length`` bytes to item values.

    Returns ``(values, sentinel_mask)``: ``values`` is ``float64`` for mapped and IMAP items
    (NaN where a sentinel stands), ``int64`` for plain integers and timestamps.
    """
    raw = raw.astype(np.uint64, copy=False)
    nbits = 8 * length
    empty = np.zeros(raw.shape, dtype=bool)
    if item.kind in (Kind.UINT, Kind.TIMESTAMP):
        return raw.astype(np.int64), empty
    if item.kind is Kind.INT:
        return _to_signed(raw, nbits), empty
    if item.kind is Kind.MAPPED_UINT:
        return item.lo + raw.astype(np.float64) * mapped_scale(item, length), empty
    if item.kind is Kind.MAPPED_INT:
        signed = _to_signed(raw, nbits)
        values = signed.astype(np.float64) * mapped_scale(item, length)
        if item.sentinel is None:
            return values, empty
        mask = signed == -(1 << (nbits - 1))
        values[mask] = np.nan
        return values, mask
    if item.kind is Kind.IMAPB:
        params = imap.imapb_params(item.lo, item.hi, length)
        values, special = imap.imap_reverse_array(raw, params)
        return values, special
    raise TypeError(f"item {item.tag} ({item.name}) is not numeric")


def field_to_value(item: Item, field: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Like :func:`raw_to_value` for a typed big-endian field (signed for signed items).

    Used on zero-copy structured views of same-layout packets: no intermediate ``uint64``.
    """
    nbits = 8 * length
    if item.kind in (Kind.UINT, Kind.TIMESTAMP, Kind.INT):
        return field.astype(np.int64), np.zeros(field.shape, dtype=bool)
    values = field.astype(np.float64)
    if item.kind is Kind.MAPPED_UINT:
        values *= mapped_scale(item, length)
        values += item.lo
        return values, np.zeros(field.shape, dtype=bool)
    if item.kind is Kind.MAPPED_INT:
        values *= mapped_scale(item, length)
        if item.sentinel is None:
            return values, np.zeros(field.shape, dtype=bool)
        mask = field == -(1 << (nbits - 1))
        if mask.any():
            values[mask] = np.nan
        return values, mask
    raise TypeError(f"item {item.tag} ({item.name}) has no fixed-size integer field")


def value_to_raw(item: Item, values: np.ndarray, length: int | None = None) -> np.ndarray:
    """Inverse of :func:`raw_to_value` for numbers: values -> raw ``uint64`` (NaN -> sentinel)."""
    length = length or item.length or 8
    nbits = 8 * length
    v = np.asarray(values)
    if item.kind in (Kind.UINT, Kind.TIMESTAMP):
        return v.astype(np.uint64)
    if item.kind is Kind.INT:
        return (
            v.astype(np.int64) & ((1 << nbits) - 1) if nbits < 64 else v.astype(np.int64)
        ).astype(np.uint64)
    if item.kind is Kind.MAPPED_UINT:
        top = float((1 << nbits) - 1)
        raw = np.rint(np.nan_to_num(v.astype(np.float64) - item.lo) / mapped_scale(item, length))
        return np.clip(raw, 0, top).astype(np.uint64)
    if item.kind is Kind.MAPPED_INT:
        lim = float((1 << (nbits - 1)) - 1)
        f = v.astype(np.float64)
        raw_f = np.rint(np.nan_to_num(f) / mapped_scale(item, length))
        raw_i = np.clip(raw_f, -lim, lim).astype(np.int64)
        raw_i = np.where(np.isnan(f), -(1 << (nbits - 1)), raw_i)
        return (raw_i & ((1 << nbits) - 1)).astype(np.uint64)
    if item.kind is Kind.IMAPB:
        return imap.imap_forward_array(
            v.astype(np.float64), imap.imapb_params(item.lo, item.hi, length)
        )
    raise TypeError(f"item {item.tag} ({item.name}) is not numeric")


def _to_signed(raw: np.ndarray, nbits: int) -> np.ndarray:
    """Two's-complement reinterpretation of ``nbits``-bit unsigned values."""
    if nbits >= 64:
        return raw.view(np.int64) if raw.dtype == np.uint64 else raw.astype(np.int64)
    r = raw.astype(np.int64)
    half = 1 << (nbits - 1)
    return np.where(r >= half, r - (1 << nbits), r)
