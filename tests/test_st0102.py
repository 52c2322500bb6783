"""ST 0102 security metadata: the example in ST 0601 item 48, an oracle, round trips."""

from __future__ import annotations

import contextlib
import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers.data import data_path
from vigia.errors import ItemError, TruncatedError, VigiaError
from vigia.klv.keys import ST0601_KEY
from vigia.klv.localset import encode_item, iter_local_set, read_packet
from vigia.klv.st0102 import (
    Classification,
    CountryCodingMethod,
    ObjectCountryCodingMethod,
    SecurityMetadata,
    decode_security_local_set,
    encode_security_local_set,
    releasability_countries,
)

EXAMPLE = data_path("klv", "st0601_example_dynamic_constant.bin")


def _item48() -> tuple[bytes, int]:
    data = EXAMPLE.read_bytes()
    packet = read_packet(data)
    assert packet.key == ST0601_KEY
    # the file's outer checksum is deliberately wrong: it is not verified here
    for item in iter_local_set(packet.value, packet.header_length):
        if item.tag == 48:
            value_start = item.offset + (len(encode_item(48, item.value)) - len(item.value))
            assert data[value_start : value_start + len(item.value)] == item.value
            return item.value, value_start
    raise AssertionError("no item 48 in the example")


@pytest.fixture(scope="module")
def item48() -> tuple[bytes, int]:
    if not EXAMPLE.exists():
        pytest.skip("example packet not present")
    return _item48()


def test_example_decodes(item48: tuple[bytes, int]) -> None:
    value, _ = item48
    sm = decode_security_local_set(value)
    assert sm.classification is Classification.UNCLASSIFIED
    assert sm.classification.label == "UNCLASSIFIED"
    assert sm.country_coding_method is CountryCodingMethod.STANAG_1059_THREE_LETTER
    assert sm.classifying_country == "//USA"
    assert sm.classifying_country_code == "USA"
    assert sm.object_country_coding_method is ObjectCountryCodingMethod.STANAG_1059_THREE_LETTER
    # item 13 is UTF-16BE in the example: 00 55 00 53 00 41
    assert sm.object_country_codes == "USA"
    assert sm.object_country_codes_utf16
    assert sm.version == 10
    assert sm.releasing_instructions is None
    assert releasability_countries(sm) == ()
    assert sm.other_items == ()


def test_example_round_trip(item48: tuple[bytes, int]) -> None:
    value, _ = item48
    assert encode_security_local_set(decode_security_local_set(value)) == value


def _oracle_values(value: bytes) -> dict[int, object]:
    stanag4609 = pytest.importorskip("stanag4609")
    decoded = stanag4609.decode_security_local_set(value, standalone=False)
    return {f.tag: f.value for f in decoded.fields}


_ATTR = {
    1: "classification",
    2: "country_coding_method",
    3: "classifying_country",
    4: "sci_shi_info",
    5: "caveats",
    6: "releasing_instructions",
    7: "classified_by",
    8: "derived_from",
    9: "classification_reason",
    10: "declassification_date",
    11: "classification_and_marking_system",
    12: "object_country_coding_method",
    13: "object_country_codes",
    14: "classification_comments",
    22: "version",
    23: "country_coding_method_version_date",
    24: "object_country_coding_method_version_date",
}


def _assert_matches_oracle(value: bytes, sm: SecurityMetadata) -> None:
    ref = _oracle_values(value)
    assert ref, "oracle decoded nothing"
    for tag, attr in _ATTR.items():
        mine = getattr(sm, attr)
        if tag in ref:
            assert mine == ref[tag], (tag, mine, ref[tag])
        else:
            assert mine is None, tag


def test_example_against_oracle(item48: tuple[bytes, int]) -> None:
    value, _ = item48
    _assert_matches_oracle(value, decode_security_local_set(value))


FULL = SecurityMetadata(
    classification=Classification.SECRET,
    country_coding_method=CountryCodingMethod.STANAG_1059_THREE_LETTER,
    classifying_country="//USA",
    sci_shi_info="SI//",
    caveats="FOUO",
    releasing_instructions="USA MEX",
    classified_by="J. Analyst",
    derived_from="Multiple Sources",
    classification_reason="1.4(c)",
    declassification_date=dt.date(2045, 12, 31),
    classification_and_marking_system="US CAPCO",
    object_country_coding_method=ObjectCountryCodingMethod.STANAG_1059_THREE_LETTER,
    object_country_codes="MEX",
    classification_comments="Partner release approved",
    version=12,
    country_coding_method_version_date=dt.date(2019, 6, 1),
    object_country_coding_method_version_date=dt.date(2019, 6, 2),
)


def test_full_set_round_trip_and_oracle() -> None:
    value = encode_security_local_set(FULL)
    back = decode_security_local_set(value)
    assert back == FULL
    assert encode_security_local_set(back) == value
    # byte layout of a few items, from the standard's encodings
    assert value.startswith(bytes.fromhex("010104") + bytes.fromhex("020107") + b"\x03\x05//USA")
    assert encode_item(10, b"20451231") in value
    assert encode_item(13, "MEX".encode("utf-16-be")) in value
    assert encode_item(22, b"\x00\x0c") in value
    assert encode_item(23, b"2019-06-01") in value
    _assert_matches_oracle(value, back)
    assert releasability_countries(back) == ("USA", "MEX")


def test_unknown_items_kept_in_tag_order() -> None:
    value = b"".join(
        [encode_item(1, b"\x01"), encode_item(15, b"\xde\xad"), encode_item(22, b"\x00\x0a")]
    )
    sm = decode_security_local_set(value)
    assert sm.other_items == ((15, b"\xde\xad"),)
    assert encode_security_local_set(sm) == value


def test_ascii_object_codes() -> None:
    value = encode_item(12, b"\x0e") + encode_item(13, b"MEX;USA")
    sm = decode_security_local_set(value)
    assert sm.object_country_codes == "MEX;USA"
    assert not sm.object_country_codes_utf16
    assert encode_security_local_set(sm) == value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("USA MEX", ("USA", "MEX")),
        ("  USA   MEX  ", ("USA", "MEX")),
        ("REL TO USA, MEX", ("USA", "MEX")),
        ("USA USA GBR", ("USA", "GBR")),
        ("", ()),
    ],
)
def test_releasability(text: str, expected: tuple[str, ...]) -> None:
    assert releasability_countries(SecurityMetadata(releasing_instructions=text)) == expected


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (encode_item(1, b"\x07"), ItemError),  # classification out of the enumeration
        (encode_item(1, b""), ItemError),
        (encode_item(1, b"\x01\x01"), ItemError),
        (encode_item(3, b"//\xffSA"), ItemError),
        (encode_item(10, b"2045-12-31"), ItemError),  # item 10 is YYYYMMDD
        (encode_item(23, b"20191301"), ItemError),
        (encode_item(1, b"\x01") + encode_item(1, b"\x02"), ItemError),
        (bytes.fromhex("0105"), TruncatedError),
    ],
)
def test_malformed(value: bytes, error: type[Exception]) -> None:
    with pytest.raises(error) as info:
        decode_security_local_set(value, base_offset=100)
    assert info.value.offset is not None and info.value.offset >= 100


ascii_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=40)
dates = st.dates(min_value=dt.date(1000, 1, 1), max_value=dt.date(9999, 12, 31))


@settings(max_examples=150, deadline=None)
@given(
    st.builds(
        SecurityMetadata,
        classification=st.none() | st.sampled_from(Classification),
        country_coding_method=st.none() | st.sampled_from(CountryCodingMethod),
        classifying_country=st.none() | ascii_text,
        caveats=st.none() | ascii_text,
        releasing_instructions=st.none() | ascii_text,
        declassification_date=st.none() | dates,
        object_country_coding_method=st.none() | st.sampled_from(ObjectCountryCodingMethod),
        object_country_codes=st.none()
        | st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=20),
        version=st.none() | st.integers(0, 0xFFFF),
        object_country_coding_method_version_date=st.none() | dates,
    )
)
def test_round_trip_property(sm: SecurityMetadata) -> None:
    assert decode_security_local_set(encode_security_local_set(sm)) == sm


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_corruption_raises_only_vigia_errors(data: st.DataObject) -> None:
    value = bytearray(encode_security_local_set(FULL))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(value) - 1))
        value[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(value)))
    with contextlib.suppress(VigiaError):
        decode_security_local_set(bytes(value[:cut]))
