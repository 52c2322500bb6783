"""ST 0903 VMTI: the example stream, an independent oracle, round trips, damaged input."""

from __future__ import annotations

import contextlib
import datetime as dt
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers.data import data_path
from vigia.errors import ChecksumError, ItemError, KLVError, TruncatedError, VigiaError
from vigia.klv.ber import decode_ber_length, encode_ber_length
from vigia.klv.imap import ImapSpecial, imap_reverse
from vigia.klv.keys import ST0903_KEY
from vigia.klv.localset import (
    encode_item,
    iter_local_set,
    read_packet,
    st0601_checksum,
    verify_trailing_checksum,
)
from vigia.klv.st0903 import (
    FOV,
    HAE,
    LATITUDE,
    LONGITUDE,
    OFFSET,
    RHO,
    SIGMA,
    DetectionStatus,
    TargetLocation,
    VmtiPacket,
    VTarget,
    decode_vmti,
    decode_vmti_packet,
    encode_vmti,
    encode_vmti_packet,
    encode_vtarget,
    iter_vmti_packets,
    pixel_to_row_col,
    row_col_to_pixel,
)

EXAMPLE = data_path("klv", "st0903_example.bin")


@pytest.fixture(scope="module")
def stream() -> bytes:
    if not EXAMPLE.exists():
        pytest.skip("ST 0903 example not present")
    return EXAMPLE.read_bytes()


def _packets(data: bytes) -> list[tuple[int, bytes]]:
    out = []
    pos = 0
    while pos < len(data):
        packet = read_packet(data, pos)
        out.append((pos, data[pos : pos + packet.length]))
        pos += packet.length
    return out


# --- the example ------------------------------------------------------------------------------
def test_example_decodes(stream: bytes) -> None:
    packets = list(iter_vmti_packets(stream, strict=True))
    assert len(packets) == 5
    first = packets[0]
    assert first.version == 4
    assert first.system_name == "Example Targeting System"
    assert first.source_sensor == "EO Nose"
    assert (first.frame_width, first.frame_height) == (1000, 600)
    assert first.frame_number == 1
    assert first.timestamp_us == 0x0005EA1958E3FB58
    assert first.algorithm_series == b"" and first.ontology_series == b""
    assert first.horizontal_fov_deg is None and first.miis_id is None
    assert first.malformed_targets == 0
    assert [t.target_id for t in first.targets] == [0, 1]
    t0 = first.targets[0]
    assert t0.centroid_pixel == 0x05EA12
    assert t0.bbox_top_left_pixel == 0x08127A
    assert t0.bbox_bottom_right_pixel == 0x063FD6
    assert t0.confidence_pct == 0x0F
    assert t0.sub_packs == ((107, b""),)
    assert t0.priority is None and t0.location is None
    # timestamps increase packet to packet
    times = [p.timestamp_us for p in packets]
    assert times == sorted(times) and len(set(times)) == 5
    for pos, raw in _packets(stream):
        assert decode_vmti_packet(raw).checksum == verify_trailing_checksum(raw, offset=pos)


def test_example_round_trip(stream: bytes) -> None:
    packets = list(iter_vmti_packets(stream))
    assert b"".join(encode_vmti_packet(p) for p in packets) == stream
    for (_, raw), pkt in zip(_packets(stream), packets, strict=True):
        value = read_packet(raw).value
        assert encode_vmti(pkt) == value[:-4]  # the value without its checksum item
        again = decode_vmti(encode_vmti(pkt))
        assert again.checksum is None
        assert again.targets == pkt.targets


def _oracle() -> tuple[object, object]:
    oracle = pytest.importorskip("stanag4609.st0903")
    local_set = pytest.importorskip("stanag4609.klv.local_set")
    return oracle, local_set


def _assert_vtarget_matches_oracle(target: VTarget, pack_body: bytes) -> None:
    oracle, local_set = _oracle()
    from vigia.klv.ber import decode_ber_oid

    target_id, pos = decode_ber_oid(pack_body, 0)
    assert target.target_id == target_id
    attr = {
        1: "centroid_pixel",
        2: "bbox_top_left_pixel",
        3: "bbox_bottom_right_pixel",
        4: "priority",
        5: "confidence_pct",
        6: "history",
        7: "target_pixels_pct",
        8: "color_rgb",
        9: "intensity",
        10: "location_offset_lat_deg",
        11: "location_offset_lon_deg",
        12: "hae_m",
        13: "bbox_top_left_lat_offset_deg",
        14: "bbox_top_left_lon_offset_deg",
        15: "bbox_bottom_right_lat_offset_deg",
        16: "bbox_bottom_right_lon_offset_deg",
        17: "location",
        19: "centroid_row",
        20: "centroid_column",
        22: "algorithm_id",
        23: "detection_status",
    }
    compared = 0
    for item in local_set.parse_local_set(pack_body[pos:]).items:  # type: ignore[attr-defined]
        if item.tag not in attr:
            continue
        ref = oracle._decode_vtarget_field(item, target_id).value  # type: ignore[attr-defined]
        mine = getattr(target, attr[item.tag])
        if item.tag == 17:
            names = (
                ("latitude_deg", "latitude"),
                ("longitude_deg", "longitude"),
                ("hae_m", "hae"),
                ("sigma_east_m", "sigma_east"),
                ("sigma_north_m", "sigma_north"),
                ("sigma_up_m", "sigma_up"),
                ("rho_east_north", "rho_east_north"),
                ("rho_east_up", "rho_east_up"),
                ("rho_north_up", "rho_north_up"),
            )
            for mine_name, ref_name in names:
                a, b = getattr(mine, mine_name), getattr(ref, ref_name)
                assert (a is None) == (b is None)
                if a is not None:
                    assert a == pytest.approx(b, rel=1e-12, abs=1e-12), mine_name
        elif isinstance(mine, float):
            assert mine == pytest.approx(ref, rel=1e-12, abs=1e-12), item.tag
        else:
            assert mine == ref, (item.tag, mine, ref)
        compared += 1
    assert compared == sum(1 for tag in attr if getattr(target, attr[tag]) is not None)


def test_example_against_oracle(stream: bytes) -> None:
    oracle, local_set = _oracle()
    names = {
        2: "timestamp_us",
        3: "system_name",
        4: "version",
        8: "frame_width",
        9: "frame_height",
        10: "source_sensor",
    }
    for _, raw in _packets(stream):
        packet = read_packet(raw)
        mine = decode_vmti_packet(raw, strict=True)
        compared = 0
        for item in local_set.parse_local_set(packet.value).items:  # type: ignore[attr-defined]
            if item.tag in names:
                ref = oracle._decode_vmti_field(item, (), (), ()).value  # type: ignore[attr-defined]
                value = getattr(mine, names[item.tag])
                if item.tag == 2:
                    # the oracle gives a UTC datetime; compare microseconds since the epoch
                    since_epoch = ref - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
                    assert since_epoch // dt.timedelta(microseconds=1) == value
                else:
                    assert value == ref
                compared += 1
        assert compared == len(names)
        # every VTarget pack, value by value
        series = next(i.value for i in iter_local_set(packet.value) if i.tag == 101)
        pos = 0
        bodies = []
        while pos < len(series):
            length, body = decode_ber_length(series, pos)
            bodies.append(series[body : body + length])
            pos = body + length
        assert len(bodies) == len(mine.targets)
        for target, body in zip(mine.targets, bodies, strict=True):
            _assert_vtarget_matches_oracle(target, body)


def test_pixel_numbers(stream: bytes) -> None:
    first = next(iter_vmti_packets(stream))
    assert first.frame_width is not None
    t0 = first.targets[0]
    assert t0.centroid_pixel is not None
    row, col = pixel_to_row_col(t0.centroid_pixel, first.frame_width)
    assert (row, col) == (388, 602)  # 387602 = 602 + (388 - 1) * 1000
    assert pixel_to_row_col(1, 1000) == (1, 1)
    assert pixel_to_row_col(1000, 1000) == (1, 1000)
    assert pixel_to_row_col(1001, 1000) == (2, 1)
    pixels = np.array([1, 1000, 1001, 387602])
    rows, cols = pixel_to_row_col(pixels, 1000)
    np.testing.assert_array_equal(rows, [1, 1, 2, 388])
    np.testing.assert_array_equal(cols, [1, 1000, 1, 602])
    np.testing.assert_array_equal(row_col_to_pixel(rows, cols, 1000), pixels)
    with pytest.raises(ItemError):
        pixel_to_row_col(5, 0)


# --- encoding details -------------------------------------------------------------------------
def test_embedded_form_has_no_checksum() -> None:
    pkt = VmtiPacket(version=5, frame_width=1920, frame_height=1080, targets=(VTarget(3),))
    value = encode_vmti(pkt)
    assert all(item.tag != 1 for item in iter_local_set(value))
    packet = encode_vmti_packet(pkt)
    assert packet.startswith(ST0903_KEY)
    assert packet[-4:-2] == b"\x01\x02"
    assert int.from_bytes(packet[-2:], "big") == st0601_checksum(packet[:-2])
    back = decode_vmti_packet(packet)
    assert back.checksum == int.from_bytes(packet[-2:], "big")
    assert back.targets == (VTarget(3),)


def test_item_layouts() -> None:
    target = VTarget(
        target_id=200,  # two-byte BER-OID
        centroid_pixel=1_000_000,
        priority=1,
        color_rgb=(255, 0, 16),
        hae_m=100.0,
        location=TargetLocation(19.5, -99.25, 2240.0),
        detection_status=DetectionStatus.ACTIVE_STOPPED,
    )
    body = encode_vtarget(target)
    assert body.startswith(bytes([0x81, 0x48]))
    items = {i.tag: i.value for i in iter_local_set(body[2:])}
    assert items[1] == (1_000_000).to_bytes(3, "big")
    assert items[4] == b"\x01"
    assert items[8] == bytes([255, 0, 16])
    assert len(items[12]) == 2 and len(items[17]) == 10
    assert items[23] == b"\x03"
    # HAE IMAPB(-900, 19000, 2): sF = 2**(15 - 15) = 1, so 100 m -> 1000
    assert int.from_bytes(items[12], "big") == 1000
    pkt = VmtiPacket(horizontal_fov_deg=45.0, targets=(target,))
    value = encode_vmti(pkt)
    top = {i.tag: i.value for i in iter_local_set(value)}
    # FOV IMAPB(0, 180, 2): bPow 8, dPow 15, sF = 128 -> 45 deg = 5760
    assert top[11] == (5760).to_bytes(2, "big")
    back = decode_vmti(value)
    assert back.targets[0].location == TargetLocation(19.5, -99.25, 2240.0)
    assert back.targets[0].hae_m == 100.0
    assert back.horizontal_fov_deg == 45.0


def test_location_groups() -> None:
    with pytest.raises(ItemError):
        encode_vtarget(VTarget(1, location=TargetLocation(0.0, 0.0, 0.0, sigma_east_m=1.0)))
    with pytest.raises(ItemError):
        encode_vtarget(VTarget(1, location=TargetLocation(0.0, 0.0, 0.0, rho_east_up=0.5)))
    with pytest.raises(ItemError):
        encode_vtarget(VTarget(1, location_offset_lat_deg=20.0))  # outside +-19.2


# --- random targets ---------------------------------------------------------------------------
def _imap_values(params: object, specials: bool = True) -> st.SearchStrategy[object]:
    """Values that are exactly representable: the decoded value of a random code word."""
    codes = st.integers(0, params.max_code - 1).map(  # type: ignore[attr-defined]
        lambda c: imap_reverse(c, params)  # type: ignore[arg-type]
    )
    if not specials:
        # in-range values only: the oracle rejects the words that decode just beyond [a, b]
        return codes.filter(lambda v: params.a <= v <= params.b)  # type: ignore[attr-defined]
    kinds = st.sampled_from(
        [
            ImapSpecial.POSITIVE_INFINITY,
            ImapSpecial.NEGATIVE_INFINITY,
            ImapSpecial.POSITIVE_QUIET_NAN,
            ImapSpecial.USER_DEFINED,
            ImapSpecial.ABOVE_MAXIMUM,
        ]
    )
    return st.one_of(codes, codes, codes, kinds)


def _opt(strategy: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.none() | strategy


def _locations(specials: bool) -> st.SearchStrategy[TargetLocation]:
    def build(base: tuple, sig: tuple | None, rho: tuple | None) -> TargetLocation:
        sig = sig if sig is not None else (None, None, None)
        rho = rho if rho is not None and sig[0] is not None else (None, None, None)
        return TargetLocation(*base, *sig, *rho)

    return st.builds(
        build,
        st.tuples(
            _imap_values(LATITUDE, specials),
            _imap_values(LONGITUDE, specials),
            _imap_values(HAE, specials),
        ),
        st.none() | st.tuples(*(_imap_values(SIGMA, specials) for _ in range(3))),
        st.none() | st.tuples(*(_imap_values(RHO, specials) for _ in range(3))),
    )


def _vtargets(specials: bool = True) -> st.SearchStrategy[VTarget]:
    offset = _opt(_imap_values(OFFSET, specials))
    return st.builds(
        VTarget,
        target_id=st.integers(0, 2**40),
        centroid_pixel=_opt(st.integers(1, 2**48 - 1)),
        bbox_top_left_pixel=_opt(st.integers(1, 2**48 - 1)),
        bbox_bottom_right_pixel=_opt(st.integers(1, 2**48 - 1)),
        priority=_opt(st.integers(1, 255)),
        confidence_pct=_opt(st.integers(0, 100)),
        history=_opt(st.integers(0, 0xFFFF)),
        target_pixels_pct=_opt(st.integers(1, 100)),
        color_rgb=_opt(st.tuples(*(st.integers(0, 255) for _ in range(3)))),
        intensity=_opt(st.integers(0, 2**24 - 1)),
        location_offset_lat_deg=offset,
        location_offset_lon_deg=offset,
        hae_m=_opt(_imap_values(HAE, specials)),
        bbox_top_left_lat_offset_deg=offset,
        bbox_top_left_lon_offset_deg=offset,
        bbox_bottom_right_lat_offset_deg=offset,
        bbox_bottom_right_lon_offset_deg=offset,
        location=_opt(_locations(specials)),
        centroid_row=_opt(st.integers(1, 2**32 - 1)),
        centroid_column=_opt(st.integers(1, 2**32 - 1)),
        algorithm_id=_opt(st.integers(0, 2**24 - 1)),
        detection_status=_opt(st.sampled_from(DetectionStatus)),
        sub_packs=st.lists(
            st.tuples(st.integers(101, 107), st.binary(max_size=12)), max_size=2
        ).map(lambda xs: tuple(sorted(xs, key=lambda x: x[0]))),
    )


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_vtargets(), min_size=1, max_size=4, unique_by=lambda t: t.target_id))
def test_random_vtargets_round_trip(targets: list[VTarget]) -> None:
    pkt = VmtiPacket(
        timestamp_us=1_700_000_000_000_000,
        version=5,
        targets_reported=len(targets),
        frame_width=1920,
        frame_height=1080,
        targets=tuple(targets),
    )
    value = encode_vmti(pkt)
    back = decode_vmti(value, strict=True)
    assert back == pkt
    assert encode_vmti(back) == value
    full = encode_vmti_packet(pkt)
    assert decode_vmti_packet(full, strict=True).targets == pkt.targets


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_vtargets(specials=False))
def test_random_vtarget_against_oracle(target: VTarget) -> None:
    _assert_vtarget_matches_oracle(target, encode_vtarget(target))


# --- damaged input ----------------------------------------------------------------------------
def test_checksum_mismatch(stream: bytes) -> None:
    (_, first), (pos2, second) = _packets(stream)[:2]
    damaged = bytearray(second)
    damaged[40] ^= 0x01  # inside the system name
    with pytest.raises(ChecksumError) as info:
        list(iter_vmti_packets(first + bytes(damaged)))
    assert info.value.offset == len(first)
    # without verification it still decodes
    pkt = decode_vmti_packet(bytes(damaged), verify_checksum=False)
    assert pkt.system_name != "Example Targeting System"
    assert pos2 == len(first)


def test_wrong_key() -> None:
    other = bytes.fromhex("060e2b34020b01010e01030101000000") + b"\x04\x01\x02\x00\x00"
    with pytest.raises(KLVError):
        decode_vmti_packet(other, verify_checksum=False)


def _with_series(value_items: list[tuple[int, bytes]], series: bytes) -> bytes:
    return b"".join(encode_item(t, series if t == 101 else v) for t, v in value_items)


def _series_of(stream: bytes) -> tuple[list[tuple[int, bytes]], bytes, int]:
    packet = read_packet(stream)
    items = [(i.tag, i.value) for i in iter_local_set(packet.value) if i.tag != 1]
    series = next(v for t, v in items if t == 101)
    return items, series, len(next(iter_vmti_packets(stream)).targets)


def test_lenient_skips_bad_pack_strict_raises(stream: bytes) -> None:
    items, series, n = _series_of(stream)
    assert n == 2
    # second pack: make its centroid item claim 7 bytes of pixel number (max is 6)
    length, body = decode_ber_length(series, 0)
    second = series[body + length :]
    bad_body = bytes([0x01]) + encode_item(1, b"\x01" * 7)
    bad = series[: body + length] + encode_ber_length(len(bad_body)) + bad_body
    value = _with_series(items, bad)
    lenient = decode_vmti(value)
    assert lenient.malformed_targets == 1
    assert [t.target_id for t in lenient.targets] == [0]
    with pytest.raises(ItemError) as info:
        decode_vmti(value, base_offset=1000, strict=True)
    off = info.value.offset
    assert off is not None and off > 1000
    # offset points at the bad item's tag byte
    assert value[off - 1000 : off - 1000 + 2] == bytes([0x01, 0x07])
    assert second  # the original second pack existed


def test_truncated_pack_counted(stream: bytes) -> None:
    items, series, _ = _series_of(stream)
    cut = series[:-3]
    lenient = decode_vmti(_with_series(items, cut))
    assert lenient.malformed_targets == 1
    assert len(lenient.targets) == 1
    with pytest.raises(TruncatedError):
        decode_vmti(_with_series(items, cut), strict=True)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_corrupted_stream_raises_only_vigia_errors(data: st.DataObject) -> None:
    raw = bytearray(EXAMPLE.read_bytes())
    for _ in range(data.draw(st.integers(1, 6))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    strict = data.draw(st.booleans())
    verify = data.draw(st.booleans())
    try:
        for _ in iter_vmti_packets(bytes(raw[:cut]), strict=strict, verify_checksum=verify):
            pass
    except VigiaError:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_damaged_series_lenient_never_raises(data: st.DataObject) -> None:
    items, series, n = _series_of(EXAMPLE.read_bytes())
    original = next(iter_vmti_packets(EXAMPLE.read_bytes())).targets
    damaged = bytearray(series)
    flips = data.draw(st.integers(0, 4))
    for _ in range(flips):
        i = data.draw(st.integers(0, len(damaged) - 1))
        damaged[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(damaged)))
    pkt = decode_vmti(_with_series(items, bytes(damaged[:cut])))
    assert pkt.malformed_targets >= 0
    if flips == 0:
        # pure truncation: what survives is a prefix of the original targets, nothing invented
        assert pkt.targets == original[: len(pkt.targets)]
        assert pkt.malformed_targets <= 1
        assert len(pkt.targets) + pkt.malformed_targets >= (1 if cut else 0)
    with contextlib.suppress(VigiaError):
        decode_vmti(_with_series(items, bytes(damaged[:cut])), strict=True)
    assert n == 2


def test_fov_and_special_values() -> None:
    value = encode_item(11, b"\xc8\x00") + encode_item(12, (0x4000).to_bytes(2, "big"))
    pkt = decode_vmti(value)
    assert pkt.horizontal_fov_deg is ImapSpecial.POSITIVE_INFINITY
    assert pkt.vertical_fov_deg == 0x4000 * FOV.sR
    assert encode_vmti(pkt) == value


def test_bad_top_level_items() -> None:
    for value in (
        encode_item(2, b"\x00" * 7),  # time stamp is 8 bytes
        encode_item(8, b""),
        encode_item(3, b"\xff\xfe"),
        encode_item(4, b"\x04") + encode_item(4, b"\x05"),
    ):
        with pytest.raises(ItemError):
            decode_vmti(value)
    with pytest.raises(TruncatedError):
        decode_vmti(bytes.fromhex("0805ff"))
