"""ST 0601 decoding: shared MISB examples, independent oracles, round trips, damaged input."""

from __future__ import annotations

import math

import klvdata
import numpy as np
import pyarrow as pa
import pytest
import stanag4609
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers.data import data_path
from vigia.errors import ChecksumError, ItemError, KLVError, VigiaError
from vigia.klv import st0601
from vigia.klv.batch import SCHEMA, KLVStreamDecoder, decode_buffer, walk_local_sets
from vigia.klv.ber import decode_ber_length, decode_ber_oid, encode_ber_length, encode_ber_oid
from vigia.klv.encode import encode_st0601, encode_st0601_stream, encode_table
from vigia.klv.keys import ST0601_KEY
from vigia.klv.localset import encode_item, st0601_checksum
from vigia.scenario.synthetic import synthetic_columns

DYNAMIC_ONLY = data_path("klv", "st0601_example_dynamic_only.bin")
DYNAMIC_CONSTANT = data_path("klv", "st0601_example_dynamic_constant.bin")

# Items whose oracle values are compared (everything the synthetic generator writes).
NUMERIC = [it for it in st0601.ITEMS.values() if it.numeric and it.tag != 1]


def _oracle_values(packet: bytes) -> dict[int, object]:
    """Tag -> value as decoded by stanag4609 (independent implementation)."""
    decoded = stanag4609.decode_uas_local_set(
        packet, verify_checksum=False, require_timestamp=False, require_version=False
    )
    return {f.definition.tag: f.value for f in decoded.fields}


def _close(ours: object, theirs: object, item: st0601.Item) -> bool:
    if item.kind is st0601.Kind.TIMESTAMP:
        return int(ours.timestamp() * 1e6) == int(theirs.timestamp() * 1e6)  # type: ignore[attr-defined]
    if isinstance(ours, float) or isinstance(theirs, float):
        tol = max(1e-9, 1e-9 * abs(float(theirs)))  # type: ignore[arg-type]
        return math.isclose(float(ours), float(theirs), rel_tol=0, abs_tol=tol)  # type: ignore[arg-type]
    return ours == theirs


# --- BER --------------------------------------------------------------------------------------
@given(st.integers(min_value=0, max_value=2**40))
def test_ber_length_round_trip(n: int) -> None:
    enc = encode_ber_length(n)
    assert decode_ber_length(enc) == (n, len(enc))
    assert (len(enc) == 1) == (n < 128)


@given(st.integers(min_value=0, max_value=2**49))
def test_ber_oid_round_trip(n: int) -> None:
    enc = encode_ber_oid(n)
    assert decode_ber_oid(enc) == (n, len(enc))
    assert all(b & 0x80 for b in enc[:-1]) and not enc[-1] & 0x80


def test_column_names_follow_the_standard() -> None:
    names = {it.column for it in st0601.ITEMS.values()}
    for expected in (
        "sensor_latitude",
        "uas_datalink_ls_version_number",
        "sensor_ellipsoid_height",
        "frame_center_height_above_ellipsoid",
        "mission_id",
        "image_source_sensor",
        "precision_time_stamp",
        "target_error_estimate_ce90",
        "platform_pitch_angle_full",
    ):
        assert expected in names
    assert SCHEMA.field("precision_time_stamp").type == pa.timestamp("us", tz="UTC")
    # Names agree with an independent item table.
    for tag, definition in stanag4609.st0601.FIELD_DEFINITIONS.items():
        if tag in st0601.ITEMS and tag != 72:
            assert st0601.ITEMS[tag].name == definition.name, tag


# --- Shared MISB examples ---------------------------------------------------------------------
def test_dynamic_only_example_matches_oracles() -> None:
    data = DYNAMIC_ONLY.read_bytes()
    table, stats = decode_buffer(data, strict=True)
    assert table.num_rows == 1 and stats.checksum_failures == 0
    row = table.to_pylist()[0]
    assert row["checksum_valid"] is True
    theirs = _oracle_values(data)
    checked = 0
    for tag, value in theirs.items():
        item = st0601.ITEMS[tag]
        assert _close(row[item.column], value, item), item.name
        checked += 1
    assert checked >= 18
    # klvdata, a second oracle: latitude / longitude / heading.
    parsed = next(iter(klvdata.StreamParser(data))).MetadataList()
    assert float(parsed[13][3]) == pytest.approx(row["sensor_latitude"], abs=1e-9)
    assert float(parsed[14][3]) == pytest.approx(row["sensor_longitude"], abs=1e-9)
    assert float(parsed[5][3]) == pytest.approx(row["platform_heading_angle"], abs=1e-9)


def test_dynamic_constant_example_checksum_strict_and_lenient() -> None:
    data = DYNAMIC_CONSTANT.read_bytes()
    with pytest.raises(ChecksumError) as exc:
        decode_buffer(data, strict=True)
    assert exc.value.offset == 0
    assert "checksum" in str(exc.value).lower()
    table, stats = decode_buffer(data)
    assert table.num_rows == 1
    assert stats.checksum_failures == 1
    row = table.to_pylist()[0]
    assert row["checksum_valid"] is False
    assert row["mission_id"] == "Mission 12"
    assert row["platform_designation"] == "Predator"
    assert row["image_source_sensor"] == "EO Nose"
    assert row["image_coordinate_system"] == "Geodetic WGS84"
    assert row["uas_datalink_ls_version_number"] == 6
    assert row["security_local_set"] is not None
    for tag, value in _oracle_values(data).items():
        item = st0601.ITEMS[tag]
        if item.numeric or item.kind in (st0601.Kind.STRING, st0601.Kind.TIMESTAMP):
            assert _close(row[item.column], value, item), item.name


def test_examples_round_trip_byte_identical() -> None:
    data = DYNAMIC_ONLY.read_bytes()
    table, _ = decode_buffer(data)
    assert encode_table(table) == data


# --- Generated streams against the oracles -----------------------------------------------------
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_generated_stream_matches_stanag4609(seed: int) -> None:
    n = 300
    cols = synthetic_columns(n, seed=seed)
    rng = np.random.default_rng(seed)
    # Knock items out at random so packets differ in layout.
    for name in ("platform_roll_angle", "slant_range", "frame_center_elevation", "mission_id"):
        drop = rng.random(n) < 0.3
        if isinstance(cols[name], list):
            cols[name] = [None if d else v for v, d in zip(cols[name], drop, strict=True)]
        else:
            cols[name] = np.where(drop, None, cols[name]).astype(object)
    data, offsets = encode_st0601_stream(cols)
    table, stats = decode_buffer(data, strict=True)
    assert table.num_rows == n and stats.checksum_failures == 0
    rows = table.to_pylist()
    compared = 0
    for i in range(0, n, 7):
        theirs = _oracle_values(data[offsets[i] : offsets[i + 1]])
        for tag, value in theirs.items():
            item = st0601.ITEMS[tag]
            assert _close(rows[i][item.column], value, item), (i, item.name)
            compared += 1
        present = {st0601.ITEMS[t].column for t in theirs}
        for name in ("platform_roll_angle", "slant_range", "mission_id"):
            assert (rows[i][name] is not None) == (name in present)
    assert compared > 500


def test_generated_stream_matches_klvdata() -> None:
    cols = synthetic_columns(60, seed=9, strings=False)
    data, _ = encode_st0601_stream(cols)
    table, _ = decode_buffer(data)
    rows = table.to_pylist()
    for row, packet in zip(rows, klvdata.StreamParser(data), strict=True):
        meta = packet.MetadataList()
        for tag in (5, 13, 14, 15, 16, 18, 21):
            item = st0601.ITEMS[tag]
            assert float(meta[tag][3]) == pytest.approx(row[item.column], abs=1e-6), item.name


def test_generated_values_survive_quantisation() -> None:
    cols = synthetic_columns(1000, seed=4)
    data, _ = encode_st0601_stream(cols)
    table, _ = decode_buffer(data)
    for name, values in cols.items():
        item = st0601.BY_COLUMN[name]
        if not item.is_float:
            continue
        got = table[name].to_numpy()
        lsb = st0601.mapped_scale(item) if item.fixed_length else 1e-3
        assert np.abs(got - np.asarray(values, dtype=float)).max() <= lsb, name


def test_every_numeric_item_round_trips() -> None:
    rng = np.random.default_rng(0)
    n = 50
    cols: dict[str, object] = {"precision_time_stamp": np.arange(n, dtype=np.int64) + 10**15}
    for item in NUMERIC:
        if item.kind is st0601.Kind.TIMESTAMP:
            cols[item.column] = rng.integers(0, 2**62, n)
        elif item.kind is st0601.Kind.UINT:
            cols[item.column] = rng.integers(0, 2 ** (8 * min(item.length or 4, 4)) - 1, n)
        elif item.kind is st0601.Kind.INT:
            cols[item.column] = rng.integers(-(2**7), 2**7, n)
        else:
            cols[item.column] = rng.uniform(item.lo, item.hi, n)
    data, _ = encode_st0601_stream(cols)
    table, stats = decode_buffer(data, strict=True)
    assert stats.item_errors == {}
    assert encode_table(table) == data
    for item in NUMERIC:
        if item.is_float:
            got = table[item.column].to_numpy()
            step = st0601.mapped_scale(item) if item.fixed_length else (item.hi - item.lo) / 2**16
            assert np.abs(got - cols[item.column]).max() <= step, item.name


def test_sentinels_are_reported_not_numbers() -> None:
    cols = synthetic_columns(4, seed=1, strings=False)
    lat = np.asarray(cols["sensor_latitude"], dtype=float).copy()
    lat[1] = np.nan
    pitch = np.asarray(cols["platform_pitch_angle"], dtype=float).copy()
    pitch[2] = np.nan
    cols["sensor_latitude"] = lat
    cols["platform_pitch_angle"] = pitch
    data, offsets = encode_st0601_stream(cols)
    # The error indicator is the most negative integer.
    assert b"\x0d\x04\x80\x00\x00\x00" in data[offsets[1] : offsets[2]]
    table, stats = decode_buffer(data)
    assert table["sensor_latitude"][1].as_py() is None
    assert table["sentinel_items"][1].as_py() == ["sensor_latitude"]
    assert table["sentinel_items"][2].as_py() == ["platform_pitch_angle"]
    assert table["sentinel_items"][0].as_py() is None
    assert stats.sentinels == {"sensor_latitude": 1, "platform_pitch_angle": 1}
    # The oracle agrees it is a special value, not a number.
    theirs = stanag4609.decode_uas_local_set(data[offsets[1] : offsets[2]])
    assert not isinstance(theirs.get(13).value, float)
    assert encode_table(table) == data


def test_out_of_range_values_refused_on_encode() -> None:
    with pytest.raises(ItemError):
        encode_st0601({"precision_time_stamp": 10**15, "sensor_latitude": 91.0})
    with pytest.raises(ItemError):
        encode_st0601({"precision_time_stamp": 10**15, "not_an_item": 1.0})


# --- Damaged input ------------------------------------------------------------------------------
def _packet(items: list[tuple[int, bytes]]) -> bytes:
    body = b"".join(encode_item(t, v) for t, v in items) + b"\x01\x02"
    head = ST0601_KEY + encode_ber_length(len(body) + 2) + body
    return head + st0601_checksum(head).to_bytes(2, "big")


def test_unknown_repeated_and_wrong_length_items() -> None:
    ts = (10**15).to_bytes(8, "big")
    pkt = _packet(
        [
            (2, ts),
            (13, b"\x10\x00\x00\x00"),
            (13, b"\x20\x00\x00\x00"),  # repeated: the first counts
            (200, b"\xaa\xbb"),  # unknown tag (two-byte BER-OID)
            (5, b"\x01"),  # wrong length for a 2-byte mapped item
            (65, b"\x13"),
        ]
    )
    table, stats = decode_buffer(pkt)
    row = table.to_pylist()[0]
    assert row["checksum_valid"] is True
    assert row["sensor_latitude"] == pytest.approx(0x10000000 * 180 / (2**32 - 2))
    assert row["platform_heading_angle"] is None
    assert row["uas_datalink_ls_version_number"] == 0x13
    assert stats.repeated_tags == 1
    assert stats.unknown_tags == {200: 1}
    assert stats.item_errors == {"platform_heading_angle": 1}
    for exc_type in (ItemError,):
        with pytest.raises(exc_type) as exc:
            decode_buffer(pkt, strict=True)
        assert exc.value.offset is not None and 0 < exc.value.offset < len(pkt)


def test_garbage_is_skipped_and_counted() -> None:
    data, offsets = encode_st0601_stream(synthetic_columns(20, seed=2))
    junk = bytes(range(37))
    damaged = junk + data[: offsets[5]] + junk + data[offsets[5] :] + junk[:9]
    table, stats = decode_buffer(damaged)
    assert table.num_rows == 20
    assert stats.bytes_skipped == 37 * 2 + 9
    assert stats.damaged_packets == 3
    with pytest.raises(KLVError) as exc:
        decode_buffer(damaged, strict=True)
    assert exc.value.offset == 0


def test_empty_and_tiny_inputs() -> None:
    for data in (b"", b"\x06", b"\x06\x0e\x2b", ST0601_KEY, ST0601_KEY + b"\x81"):
        table, stats = decode_buffer(data)
        assert table.num_rows == 0
        assert stats.bytes_skipped == len(data)


STREAM, STREAM_OFFSETS = encode_st0601_stream(synthetic_columns(40, seed=5))


def test_impossible_item_lengths_are_damage() -> None:
    """An item length that announces more bytes than there are (up to 2^64 - 1, which would wrap
    to a negative int64 offset) is damage in that packet only; the others decode."""
    second = int(STREAM_OFFSETS[1])
    header = 16 + 1 + (STREAM[second + 16] & 0x7F if STREAM[second + 16] >= 0x80 else 0)
    length_at = second + header + 1  # the length of the packet's first item
    for field in (b"\x88" + b"\xff" * 8, b"\x88\x80" + b"\x00" * 7, b"\x84\x7f\xff\xff\xff"):
        data = bytearray(STREAM)
        data[length_at : length_at + len(field)] = field
        table, stats = decode_buffer(bytes(data))
        assert table.num_rows == len(STREAM_OFFSETS) - 1
        valid = table["checksum_valid"].to_numpy(zero_copy_only=False)
        assert valid.sum() == len(STREAM_OFFSETS) - 2 and not valid[1]
        assert stats.checksum_failures == 1
        rec = walk_local_sets(np.frombuffer(bytes(data), np.uint8), STREAM_OFFSETS[1:2] + header,
                              STREAM_OFFSETS[2:3])  # fmt: skip
        assert (rec.vlen >= 0).all() and (rec.vstart + rec.vlen <= len(data)).all()
        assert rec.damaged_at.tolist() == [length_at - 1]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    flips=st.lists(st.tuples(st.integers(0, len(STREAM) - 1), st.integers(1, 255)), max_size=6),
    cut=st.one_of(st.none(), st.tuples(st.integers(0, len(STREAM) - 1), st.integers(1, 400))),
)
def test_every_intact_packet_is_recovered(
    flips: list[tuple[int, int]], cut: tuple[int, int] | None
) -> None:
    data = bytearray(STREAM)
    damaged_at: list[int] = []
    for pos, x in flips:
        data[pos] ^= x
        damaged_at.append(pos)
    starts = STREAM_OFFSETS[:-1].copy()
    ends = STREAM_OFFSETS[1:].copy()
    removed = 0
    if cut is not None:
        a, length = cut
        b = min(len(data), a + length)
        del data[a:b]
        removed = b - a
        damaged_at.append(a)
        damaged_at.extend(range(a, b))
    damaged = np.zeros(starts.size, dtype=bool)
    for p in damaged_at:
        damaged |= (starts <= p) & (p < ends)
    new_starts = np.where(starts >= (cut[0] if cut else len(STREAM) + 1), starts - removed, starts)
    table, _stats = decode_buffer(bytes(data))  # never raises
    got = set(
        np.asarray(table["source_offset"].to_numpy())[
            table["checksum_valid"].to_numpy(zero_copy_only=False)
        ]
    )
    for i in np.flatnonzero(~damaged):
        assert int(new_starts[i]) in got, f"intact packet {i} lost"
    # Strict mode raises a typed error or decodes cleanly.
    try:
        decode_buffer(bytes(data), strict=True)
    except VigiaError as exc:
        assert exc.offset is not None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 5000), min_size=1, max_size=30))
def test_chunked_decoding_equals_whole(sizes: list[int]) -> None:
    whole, _ = decode_buffer(STREAM)
    dec = KLVStreamDecoder()
    parts = []
    pos = 0
    for s in sizes:
        parts.append(dec.feed(STREAM[pos : pos + s]))
        pos += s
    parts.append(dec.feed(STREAM[pos:]))
    parts.append(dec.flush())
    got = pa.concat_tables(parts)
    assert got.num_rows == whole.num_rows
    assert got.equals(whole)
    assert dec.stats.bytes_skipped == 0


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_never_crash(data: bytes) -> None:
    table, stats = decode_buffer(data)
    assert table.schema == SCHEMA
    assert stats.bytes_skipped <= len(data)
    for prefix in (ST0601_KEY, ST0601_KEY + b"\x30"):
        decode_buffer(prefix + data)
