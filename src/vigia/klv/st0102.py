"""MISB ST 0102 Security Metadata Local Set, as carried in ST 0601 item 48 (or stand-alone).

Items decoded (tag: meaning, encoding):

    1  security classification            uint8 (1 UNCLASSIFIED .. 5 TOP SECRET)
    2  classifying/releasing country coding method   uint8
    3  classifying country                ASCII, e.g. "//USA"
    4  SCI/SHI information                ASCII
    5  caveats                            ASCII
    6  releasing instructions             ASCII, country codes separated by spaces
    7  classified by                      ASCII
    8  derived from                       ASCII
    9  classification reason              ASCII
    10 declassification date              ASCII "YYYYMMDD"
    11 classification and marking system  ASCII
    12 object country coding method       uint8
    13 object country codes               UTF-16BE (current revisions) or ASCII (older ones)
    14 classification comments            ASCII
    22 security metadata version          uint16
    23 country coding method version date         ASCII "YYYY-MM-DD"
    24 object country coding method version date  ASCII "YYYY-MM-DD"

Any other tag is kept as raw bytes and written back unchanged.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import IntEnum

from vigia.errors import ItemError
from vigia.klv.localset import encode_local_set, iter_local_set

__all__ = [
    "Classification",
    "CountryCodingMethod",
    "ObjectCountryCodingMethod",
    "SecurityMetadata",
    "decode_security_local_set",
    "encode_security_local_set",
    "releasability_countries",
]


class Classification(IntEnum):
    """Item 1: security classification of the motion imagery and metadata."""

    UNCLASSIFIED = 1
    RESTRICTED = 2
    CONFIDENTIAL = 3
    SECRET = 4
    TOP_SECRET = 5

    @property
    def label(self) -> str:
        """Marking text, e.g. ``"TOP SECRET"``."""
        return self.name.replace("_", " ")


class CountryCodingMethod(IntEnum):
    """Item 2: code list of the classifying country and releasing instructions."""

    ISO_3166_TWO_LETTER = 1
    ISO_3166_THREE_LETTER = 2
    FIPS_10_4_TWO_LETTER = 3
    FIPS_10_4_FOUR_LETTER = 4
    ISO_3166_NUMERIC = 5
    STANAG_1059_TWO_LETTER = 6
    STANAG_1059_THREE_LETTER = 7
    OMITTED_8 = 8
    OMITTED_9 = 9
    FIPS_10_4_MIXED = 10
    ISO_3166_MIXED = 11
    STANAG_1059_MIXED = 12
    GENC_TWO_LETTER = 13
    GENC_THREE_LETTER = 14
    GENC_NUMERIC = 15
    GENC_MIXED = 16


class ObjectCountryCodingMethod(IntEnum):
    """Item 12: code list of the object country codes (item 13)."""

    ISO_3166_TWO_LETTER = 1
    ISO_3166_THREE_LETTER = 2
    ISO_3166_NUMERIC = 3
    FIPS_10_4_TWO_LETTER = 4
    FIPS_10_4_FOUR_LETTER = 5
    STANAG_1059_TWO_LETTER = 6
    STANAG_1059_THREE_LETTER = 7
    OMITTED_8 = 8
    OMITTED_9 = 9
    OMITTED_10 = 10
    OMITTED_11 = 11
    OMITTED_12 = 12
    GENC_TWO_LETTER = 13
    GENC_THREE_LETTER = 14
    GENC_NUMERIC = 15
    GENC_ADMINISTRATIVE_SUBDIVISION = 64


@dataclass(frozen=True, slots=True)
class SecurityMetadata:
    """Decoded ST 0102 local set; ``None`` marks an item that was not present."""

    classification: Classification | None = None
    country_coding_method: CountryCodingMethod | int | None = None
    classifying_country: str | None = None
    sci_shi_info: str | None = None
    caveats: str | None = None
    releasing_instructions: str | None = None
    classified_by: str | None = None
    derived_from: str | None = None
    classification_reason: str | None = None
    declassification_date: dt.date | None = None
    classification_and_marking_system: str | None = None
    object_country_coding_method: ObjectCountryCodingMethod | int | None = None
    object_country_codes: str | None = None
    classification_comments: str | None = None
    version: int | None = None
    country_coding_method_version_date: dt.date | None = None
    object_country_coding_method_version_date: dt.date | None = None
    #: Item 13 was (and is written back as) UTF-16BE rather than ASCII.
    object_country_codes_utf16: bool = True
    #: Items of other tags, raw, in the order read.
    other_items: tuple[tuple[int, bytes], ...] = ()

    @property
    def classifying_country_code(self) -> str | None:
        """Item 3 without its leading ``//``."""
        if self.classifying_country is None:
            return None
        return self.classifying_country.removeprefix("//")


_TEXT_TAGS: dict[int, str] = {
    3: "classifying_country",
    4: "sci_shi_info",
    5: "caveats",
    6: "releasing_instructions",
    7: "classified_by",
    8: "derived_from",
    9: "classification_reason",
    11: "classification_and_marking_system",
    14: "classification_comments",
}
_DATE_TAGS: dict[int, tuple[str, str]] = {
    10: ("declassification_date", "%Y%m%d"),
    23: ("country_coding_method_version_date", "%Y-%m-%d"),
    24: ("object_country_coding_method_version_date", "%Y-%m-%d"),
}
_KNOWN_TAGS = frozenset({1, 2, 12, 13, 22, *_TEXT_TAGS, *_DATE_TAGS})


def _uint(value: bytes, tag: int, offset: int, max_len: int) -> int:
    if not 1 <= len(value) <= max_len:
        raise ItemError(
            f"ST 0102 item {tag} needs 1..{max_len} bytes, has {len(value)}", offset=offset
        )
    return int.from_bytes(value, "big")


def _ascii(value: bytes, tag: int, offset: int) -> str:
    try:
        return value.decode("ascii")
    except UnicodeDecodeError as exc:
        raise ItemError(f"ST 0102 item {tag} is not ASCII text", offset=offset) from exc


def _date(value: bytes, tag: int, offset: int, fmt: str) -> dt.date:
    text = _ascii(value, tag, offset)
    expected = 8 if fmt == "%Y%m%d" else 10
    try:
        if len(text) != expected:
            raise ValueError(text)
        return dt.datetime.strptime(text, fmt).date()
    except ValueError as exc:
        raise ItemError(f"ST 0102 item {tag} is not a date ({text!r})", offset=offset) from exc


def _looks_utf16be(value: bytes) -> bool:
    """UTF-16BE text of Basic-Latin characters: even length, every high byte zero."""
    return len(value) % 2 == 0 and len(value) > 0 and not any(value[0::2])


def _object_codes(value: bytes, offset: int) -> tuple[str, bool]:
    if _looks_utf16be(value):
        return value.decode("utf-16-be"), True
    try:
        return value.decode("ascii"), False
    except UnicodeDecodeError:
        pass
    if len(value) % 2 == 0:
        try:
            return value.decode("utf-16-be"), True
        except UnicodeDecodeError:
            pass
    raise ItemError("ST 0102 item 13 is neither UTF-16BE nor ASCII text", offset=offset)


def decode_security_local_set(value: bytes, base_offset: int = 0) -> SecurityMetadata:
    """Decode ST 0102 local-set value bytes (e.g. ST 0601 item 48's value).

    ``base_offset`` is the position of ``value`` in the source, for error offsets.
    Raises :class:`~vigia.errors.KLVError` subclasses on malformed input.
    """
    out: dict[str, object] = {}
    other: list[tuple[int, bytes]] = []
    seen: set[int] = set()
    for item in iter_local_set(value, base_offset):
        tag, raw, off = item.tag, item.value, item.offset
        if tag in _KNOWN_TAGS:
            if tag in seen:
                raise ItemError(f"ST 0102 item {tag} appears twice", offset=off)
            seen.add(tag)
        if tag == 1:
            code = _uint(raw, tag, off, 1)
            try:
                out["classification"] = Classification(code)
            except ValueError as exc:
                raise ItemError(f"unknown security classification {code}", offset=off) from exc
        elif tag == 2:
            code = _uint(raw, tag, off, 1)
            out["country_coding_method"] = (
                CountryCodingMethod(code)
                if code in CountryCodingMethod._value2member_map_
                else code
            )
        elif tag == 12:
            code = _uint(raw, tag, off, 1)
            known = ObjectCountryCodingMethod._value2member_map_
            out["object_country_coding_method"] = (
                ObjectCountryCodingMethod(code) if code in known else code
            )
        elif tag == 13:
            text, utf16 = _object_codes(raw, off)
            out["object_country_codes"] = text
            out["object_country_codes_utf16"] = utf16
        elif tag == 22:
            out["version"] = _uint(raw, tag, off, 2)
        elif tag in _TEXT_TAGS:
            out[_TEXT_TAGS[tag]] = _ascii(raw, tag, off)
        elif tag in _DATE_TAGS:
            name, fmt = _DATE_TAGS[tag]
            out[name] = _date(raw, tag, off, fmt)
        else:
            other.append((tag, raw))
    return SecurityMetadata(**out, other_items=tuple(other))  # type: ignore[arg-type]


def _encode_text(text: str, tag: int) -> bytes:
    try:
        return text.encode("ascii")
    except UnicodeEncodeError as exc:
        raise ItemError(f"ST 0102 item {tag} must be ASCII text") from exc


def encode_security_local_set(sm: SecurityMetadata) -> bytes:
    """Encode ``sm`` as ST 0102 local-set value bytes, items in tag order (no checksum)."""
    items: list[tuple[int, bytes]] = []
    if sm.classification is not None:
        items.append((1, bytes([int(sm.classification)])))
    if sm.country_coding_method is not None:
        items.append((2, _byte(int(sm.country_coding_method), 2)))
    for tag in (3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 22, 23, 24):
        if tag in _TEXT_TAGS:
            text = getattr(sm, _TEXT_TAGS[tag])
            if text is not None:
                items.append((tag, _encode_text(text, tag)))
        elif tag in _DATE_TAGS:
            name, fmt = _DATE_TAGS[tag]
            day = getattr(sm, name)
            if day is not None:
                sep = "" if fmt == "%Y%m%d" else "-"
                text = f"{day.year:04d}{sep}{day.month:02d}{sep}{day.day:02d}"
                items.append((tag, text.encode("ascii")))
        elif tag == 12 and sm.object_country_coding_method is not None:
            items.append((12, _byte(int(sm.object_country_coding_method), 12)))
        elif tag == 13 and sm.object_country_codes is not None:
            codes = sm.object_country_codes
            if sm.object_country_codes_utf16:
                items.append((13, codes.encode("utf-16-be", errors="surrogatepass")))
            else:
                items.append((13, _encode_text(codes, 13)))
        elif tag == 22 and sm.version is not None:
            if not 0 <= sm.version <= 0xFFFF:
                raise ItemError(f"ST 0102 version {sm.version} does not fit 16 bits")
            items.append((22, sm.version.to_bytes(2, "big")))
    items.extend(sm.other_items)
    items.sort(key=lambda it: it[0])
    return encode_local_set(items)


def _byte(code: int, tag: int) -> bytes:
    if not 0 <= code <= 0xFF:
        raise ItemError(f"ST 0102 item {tag} value {code} does not fit one byte")
    return bytes([code])


_CODE = re.compile(r"[A-Z0-9][A-Z0-9-]*")


def releasability_countries(sm: SecurityMetadata) -> tuple[str, ...]:
    """Country codes named by the releasing instructions (item 6), in order, without repeats.

    ST 0102 separates codes with blank spaces (``"USA MEX"``); a leading ``REL TO`` and
    commas, as sometimes seen in banner lines, are tolerated.
    """
    text = sm.releasing_instructions
    if not text:
        return ()
    tokens = re.split(r"[\s,]+", text.strip().upper())
    if tokens[:2] == ["REL", "TO"]:
        tokens = tokens[2:]
    out: list[str] = []
    for token in tokens:
        if _CODE.fullmatch(token) and token not in out:
            out.append(token)
    return tuple(out)
