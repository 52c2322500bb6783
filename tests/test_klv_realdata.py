"""Real KLV captures (``tests/data/realdata``): what real encoders and samples get wrong."""

from __future__ import annotations

import dataclasses
import json
import math
import struct
from pathlib import Path

import klvdata
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from klvdata.klvparser import KLVParser
from typer.testing import CliRunner

from tests.helpers.data import data_path
from vigia.cli import app
from vigia.errors import ItemError, KLVError, TruncatedError
from vigia.exploit.vmti import VmtiStats, rows_at_times, vmti_observations
from vigia.exploit.vocabulary import default_vocabulary
from vigia.klv.batch import SCHEMA, decode_buffer
from vigia.klv.ber import encode_ber_length, encode_ber_oid
from vigia.klv.encode import encode_st0601_stream
from vigia.klv.imap import imap_reverse, imapb_params
from vigia.klv.keys import (
    EG0104_KEY,
    ST0102_KEY,
    ST0601_KEY,
    ST0806_KEY,
    ST0903_KEY,
    key_family,
)
from vigia.klv.localset import encode_item, read_packet, st0601_checksum, with_checksum
from vigia.klv.st0903 import (
    VmtiPacket,
    VTarget,
    decode_vmti,
    encode_vmti_packet,
    iter_vmti_packets,
)
from vigia.scenario.synthetic import synthetic_columns
from vigia.telemetry import usable_rows
from vigia.telemetry.source import read_telemetry
from vigia.telemetry.table import PARQUET_SCHEMA, TelemetryWriter, summarise

runner = CliRunner()


def real(name: str) -> Path:
    return data_path("realdata", name)


MISB_0601 = "HD_H264_06011_TS_ASYN_V1_001.klv"


def test_item_with_only_error_values_keeps_its_column_and_is_counted() -> None:
    table, _ = read_telemetry(str(real(MISB_0601)))
    assert table.num_rows == 2748
    assert table["platform_pitch_angle"].null_count == 2748
    summary = summarise([table]).as_dict()
    assert "platform_pitch_angle" not in summary["items_present"]
    assert summary["sentinel_items"]["platform_pitch_angle"] == 2748


def test_telemetry_files_of_two_real_sorties_have_the_same_schema(tmp_path: Path) -> None:
    schemas = []
    for name in (MISB_0601, "Cheyenne.bin"):
        table, _ = read_telemetry(str(real(name)))
        assert table.schema == SCHEMA
        out = tmp_path / f"{name}.parquet"
        with TelemetryWriter(out) as w:
            w.write(table)
        schemas.append(pq.read_schema(out))
    assert schemas[0].remove_metadata() == schemas[1].remove_metadata()
    assert schemas[0].names == PARQUET_SCHEMA.names
    written = pq.read_table(tmp_path / f"{MISB_0601}.parquet")
    assert written["platform_pitch_angle"].null_count == 2748


def test_empty_sortie_writes_the_same_schema(tmp_path: Path) -> None:
    out = tmp_path / "empty.parquet"
    with TelemetryWriter(out):
        pass
    assert pq.read_schema(out).names == PARQUET_SCHEMA.names
    _, stats = decode_buffer(real(MISB_0601).read_bytes())
    assert stats.sentinels["platform_pitch_angle"] == 2748


# --- damage: flagged in the table, counted per packet, never used ----------------------------
def _packet(ts_us: int, heading: bytes = b"\x10\x00", *, bad_checksum: bool = False) -> bytes:
    pkt = bytearray(
        with_checksum(ST0601_KEY, [(2, ts_us.to_bytes(8, "big")), (5, heading), (13, b"\x10" * 4)])
    )
    if bad_checksum:
        pkt[-1] ^= 0xFF
    return bytes(pkt)


GOOD_US = 1_700_000_000_000_000


def test_checksum_failures_stay_in_the_table_flagged_and_unusable() -> None:
    table, stats = decode_buffer(real("HD_H264_0903_TS_SYN_V1_001.klv").read_bytes())
    assert table.num_rows == 30
    assert table["damage"].to_pylist() == ["checksum"] * 30
    assert not usable_rows(table).any()
    assert stats.damage == {"checksum": 30}
    clean, _ = decode_buffer(real(MISB_0601).read_bytes())
    assert clean["damage"].null_count == clean.num_rows
    assert usable_rows(clean).all()


@pytest.mark.parametrize("n", [1, 15, 16, 40])
def test_every_packet_with_a_bad_item_is_counted(n: int) -> None:
    # 16 and more same-layout packets are decoded as one template run: each still counts.
    data = b"".join(_packet(GOOD_US + i, heading=b"\x01") for i in range(n))
    table, stats = decode_buffer(data)
    assert table.num_rows == n
    assert stats.item_errors == {"platform_heading_angle": n}


@pytest.mark.parametrize("n", [1, 20])
def test_bad_checksums_are_flagged_per_packet(n: int) -> None:
    data = b"".join(_packet(GOOD_US + i, bad_checksum=i % 2 == 0) for i in range(n))
    table, stats = decode_buffer(data)
    expect = ["checksum" if i % 2 == 0 else None for i in range(n)]
    assert table["damage"].to_pylist() == expect
    assert usable_rows(table).tolist() == [d is None for d in expect]
    assert stats.checksum_failures == stats.damage["checksum"] == len([e for e in expect if e])


@pytest.mark.parametrize("n", [1, 20])
def test_implausible_times_are_flagged_not_dates(n: int, tmp_path: Path) -> None:
    year_4310 = 74_000_000_000_000_000
    times = [year_4310 if i == 0 else (1 << 64) - 1 if i == 1 else GOOD_US + i for i in range(n)]
    table, stats = decode_buffer(b"".join(_packet(t) for t in times))
    damage = table["damage"].to_pylist()
    assert damage[0] == "time" and table["precision_time_stamp"][0].as_py() is None
    if n > 1:
        assert damage[1] == "time" and damage[2:] == [None] * (n - 2)
    assert stats.damage["time"] == min(n, 2)
    table.to_pylist()  # no OverflowError on any value
    summary = summarise([table]).as_dict()
    assert summary["start"] is None or summary["start"].startswith("2023")
    with pytest.raises(ItemError):
        decode_buffer(_packet(year_4310), strict=True)


def test_a_local_set_cut_short_is_flagged_truncated() -> None:
    good = _packet(GOOD_US)
    value = encode_item(2, GOOD_US.to_bytes(8, "big")) + b"\x05\x09\x10"  # item runs past the end
    cut = ST0601_KEY + encode_ber_length(len(value)) + value
    table, stats = decode_buffer(good + cut + good)
    assert table["damage"].to_pylist() == [None, "truncated", None]
    assert stats.damage == {"truncated": 1}
    assert stats.damaged_packets == 1


# --- vigia inspect: every KLV family, VMTI counts, a warning without ST 0601 ------------------
def _inspect_json(name: str) -> dict:
    res = runner.invoke(app, ["inspect", str(real(name)), "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_inspect_lists_st0801_and_warns_without_st0601() -> None:
    r = _inspect_json("HD_H264_0801_TS_SYN_V1_001.klv")
    fam = r["klv"]["families"]
    assert "ST 0601" not in fam
    assert fam["ST 0801"] == 16 * 30
    assert r["packets"] == 0
    assert any("no ST 0601" in w for w in r["warnings"])
    # keys of no family Vigía knows are listed by their hex, with counts
    unknown = {k: v for k, v in fam.items() if k.startswith("060e2b34")}
    assert unknown and all(v == 30 for v in unknown.values())


def test_inspect_lists_eg0104_and_st0102() -> None:
    r = _inspect_json("HD_MP2_01045_TS_ASYN_V1_001.klv")
    assert r["klv"]["families"] == {"EG 0104": 2783, "ST 0102": 1}
    assert r["warnings"]


@pytest.mark.parametrize(
    ("name", "failures"),
    [("HD_MP2_01045_TS_ASYN_V1_001.klv", 0), ("HD_H264_0903_TS_SYN_V1_001.klv", 30)],
)
def test_inspect_counts_only_checksums_that_failed(name: str, failures: int) -> None:
    # EG 0104 sets carry no ST 0601 checksum (not a failure); the 0903 sample's 30 stay counted
    r = _inspect_json(name)
    assert r["checksum_failures"] == r["klv"]["checksum_failures"] == failures


def test_inspect_counts_standalone_vmti() -> None:
    r = _inspect_json("0903.klv")
    assert r["klv"]["families"] == {"ST 0903": 26}
    assert r["vmti"]["packets"] == r["vmti"]["standalone_packets"] == 26
    # klvdata frames the same 26 packets; each packet says how many targets it reports (item 6)
    data = real("0903.klv").read_bytes()
    assert len(list(klvdata.StreamParser(data))) == 26
    reported = sum(p.targets_reported or 0 for p in iter_vmti_packets(data))
    assert r["vmti"]["targets"] == reported == 35


def test_inspect_of_st0601_has_no_warning_and_prints_families() -> None:
    r = _inspect_json(MISB_0601)
    assert r["klv"]["families"] == {"ST 0601": 2748}
    assert r["warnings"] == []
    assert r["vmti"] == {
        "packets": 0,
        "standalone_packets": 0,
        "targets": 0,
        "malformed_packets": 0,
    }
    text = runner.invoke(app, ["inspect", str(real("HD_H264_0801_TS_SYN_V1_001.klv"))])
    assert text.exit_code == 0
    assert "ST 0801 (480)" in text.stdout
    assert "no ST 0601" in text.stderr


def test_key_families() -> None:
    assert key_family(ST0601_KEY) == "ST 0601"
    assert key_family(ST0903_KEY) == "ST 0903"
    assert key_family(ST0102_KEY) == key_family(bytes.fromhex("060e2b34020301010e01030302000000"))
    assert key_family(EG0104_KEY) == "EG 0104"
    assert key_family(ST0806_KEY) == "ST 0806"
    odd = bytes.fromhex("060e2b34020b01010e01030399000000")
    assert key_family(odd) == odd.hex()


# --- lenient decoding of what real encoders get wrong; --strict refuses it --------------------
def test_one_byte_tags_of_a_real_encoder_are_recovered_and_match_klvdata() -> None:
    data = real("predator.klv").read_bytes()
    table, stats = decode_buffer(data)
    assert table.num_rows == 278
    assert table["damage"].null_count == 278  # nothing damaged any more
    assert stats.damaged_packets == 0
    assert stats.deviations["one_byte_tags"] == 278
    assert stats.deviations["non_minimal_ber"] == 278  # 4-byte packet lengths like 83 00 01 17
    # klvdata reads every tag as one byte: on this capture it is the right oracle
    ref = list(klvdata.StreamParser(data))
    assert len(ref) == 278
    for row, pkt in zip(table.to_pylist()[::37], ref[::37], strict=True):
        items = {k[0] if isinstance(k, bytes) else k: v for k, v in pkt.items.items()}
        assert row["sensor_latitude"] == pytest.approx(items[13].value.value, abs=1e-7)
        assert row["sensor_longitude"] == pytest.approx(items[14].value.value, abs=1e-7)
        assert row["platform_heading_angle"] == pytest.approx(items[5].value.value, abs=1e-6)
        assert row["image_source_sensor"] == items[11].value.value
    with pytest.raises(KLVError):
        decode_buffer(data, strict=True)


def _with_non_minimal_length(ts_us: int) -> bytes:
    items = encode_item(2, ts_us.to_bytes(8, "big")) + b"\x05\x81\x02\x10\x00"  # 81 02: long form
    body = items + b"\x01\x02"
    head = ST0601_KEY + encode_ber_length(len(body) + 2) + body
    return head + st0601_checksum(head).to_bytes(2, "big")


@pytest.mark.parametrize("n", [1, 20])
def test_non_minimal_ber_is_recovered_and_counted(n: int) -> None:
    data = b"".join(_with_non_minimal_length(GOOD_US + i) for i in range(n))
    table, stats = decode_buffer(data)
    assert table.num_rows == n
    assert table["platform_heading_angle"].null_count == 0
    assert table["damage"].null_count == n
    assert stats.deviations == {"non_minimal_ber": n}
    with pytest.raises(KLVError):
        decode_buffer(data, strict=True)


def test_repeated_items_are_a_named_deviation() -> None:
    items = [(2, GOOD_US.to_bytes(8, "big")), (13, b"\x10" * 4), (13, b"\x20" * 4)]
    table, stats = decode_buffer(with_checksum(ST0601_KEY, items))
    assert stats.deviations == {"repeated_items": 1}
    assert table["sensor_latitude"][0].as_py() > 0
    with pytest.raises(ItemError):
        decode_buffer(with_checksum(ST0601_KEY, items), strict=True)


def test_keys_that_lost_their_first_bytes_are_restored() -> None:
    cut = real("day_truncated_keys.klv").read_bytes()
    table, reader = read_telemetry(str(real("day_truncated_keys.klv")))
    assert table.num_rows == 6
    assert reader.stats.deviations == {"truncated_keys": 6}
    assert table["checksum_valid"].to_pylist() == [True] * 6  # checksums over the whole key
    assert table["source_offset"].to_pylist() == [0, 158, 316, 474, 632, 790]
    # the same packets with their keys whole, decoded by klvdata and by the strict decoder
    whole = b"".join(ST0601_KEY[:5] + cut[o : o + 158] for o in range(0, len(cut), 158))
    strict_table, _ = decode_buffer(whole, strict=False)
    ref = list(klvdata.StreamParser(whole))
    assert len(ref) == 6
    lat = [dict((k[0], v) for k, v in p.items.items())[13].value.value for p in ref]
    assert table["sensor_latitude"].to_pylist() == pytest.approx(lat, abs=1e-7)
    assert table["sensor_latitude"].to_pylist() == strict_table["sensor_latitude"].to_pylist()
    with pytest.raises(KLVError):
        decode_buffer(cut, strict=True)


def test_a_packet_cut_short_gives_a_damage_count_not_a_crash() -> None:
    data = real("skyranger_truncated.klv").read_bytes()
    table, stats = decode_buffer(data)
    assert table.num_rows == 0
    assert stats.damaged_packets == 1
    assert stats.bytes_skipped == 170
    assert "declares 284 value bytes, only 151 follow" in str(stats.errors[0])
    with pytest.raises(TruncatedError):
        decode_buffer(data, strict=True)
    r = _inspect_json("skyranger_truncated.klv")
    assert r["klv"]["damaged_packets"] == 1


# --- ST 0903: older revisions, and stand-alone packets as observations -----------------------
def test_st0903_before_revision_4_decodes_with_its_own_mappings() -> None:
    table, _ = decode_buffer(real("HD_H264_0903_TS_SYN_V1_001.klv").read_bytes())
    values = table["vmti_local_set"].to_pylist()
    times = table["precision_time_stamp"].cast(pa.int64()).to_pylist()
    assert len([v for v in values if v is not None]) == 30
    for value, t in zip(values, times, strict=True):
        pkt = decode_vmti(value, strict=True)  # failed before: "item 2 needs 8 bytes, has 7"
        assert pkt.version == 0
        assert pkt.timestamp_us == t  # 7-byte time stamp, the same instant as the ST 0601 packet
        assert len(pkt.targets) == pkt.targets_reported == 2
    first = decode_vmti(values[0])
    assert first.horizontal_fov_deg == pytest.approx(70.0, abs=0.01)  # 0x638d * 180 / 65535
    tg = first.targets[0]
    # offsets of the old linear mapping land on round degrees (IMAPB would read 20.8°, out of
    # its ±19.2° range)
    assert tg.location_offset_lat_deg == pytest.approx(12.0, abs=1e-5)
    assert tg.location_offset_lon_deg == pytest.approx(8.0, abs=1e-5)
    assert tg.bbox_bottom_right_lat_offset_deg == pytest.approx(-11.0, abs=1e-5)
    r = _inspect_json("HD_H264_0903_TS_SYN_V1_001.klv")
    assert r["vmti"] == {
        "packets": 30,
        "standalone_packets": 0,
        "targets": 60,
        "malformed_packets": 0,
    }


def _vmti_value(version: int, ts: bytes, fov: bytes, offset: bytes) -> bytes:
    target = encode_ber_oid(7) + encode_item(1, b"\x01\x00") + encode_item(10, offset)
    series = encode_ber_length(len(target)) + target
    return (
        encode_item(2, ts)
        + encode_item(4, bytes([version]))
        + encode_item(11, fov)
        + encode_item(101, series)
    )


@pytest.mark.parametrize("version", [3, 4, 5, 6])
def test_st0903_revisions_3_to_6(version: int) -> None:
    ts = GOOD_US.to_bytes(8, "big")
    if version == 3:
        pkt = decode_vmti(_vmti_value(3, ts[1:], b"\x80\x00", b"\x40\x00\x00"), strict=True)
        assert pkt.timestamp_us == GOOD_US
        assert pkt.horizontal_fov_deg == pytest.approx(90.0, abs=0.01)
        assert pkt.targets[0].location_offset_lat_deg == pytest.approx(9.6, abs=1e-5)
        nan = decode_vmti(_vmti_value(3, ts, b"\x80\x00", b"\x80\x00\x00")).targets[0]
        assert math.isnan(nan.location_offset_lat_deg)  # the old error value
    else:
        value = _vmti_value(version, ts, b"\x80\x00", b"\x40\x00\x00")
        pkt = decode_vmti(value, strict=True)
        assert pkt.version == version
        assert pkt.targets[0].location_offset_lat_deg == pytest.approx(
            imap_reverse(0x400000, imapb_params(-19.2, 19.2, 3))
        )
        with pytest.raises(ItemError):  # from revision 4 on the time stamp has 8 bytes
            decode_vmti(_vmti_value(version, ts[1:], b"\x80\x00", b"\x40\x00\x00"))


def test_standalone_vmti_become_observations_tied_by_time() -> None:
    cols = synthetic_columns(60, seed=4)
    data, _ = encode_st0601_stream(cols)
    telemetry, _ = decode_buffer(data)
    t = telemetry["precision_time_stamp"].cast(pa.int64()).to_numpy()
    target = VTarget(target_id=3, centroid_row=360, centroid_column=640, algorithm_id=None)
    alone = []
    for when in (int(t[10]) + 2_000, int(t[40]) - 5_000, int(t[-1]) + 60_000_000):
        pkt = VmtiPacket(timestamp_us=when, version=5, frame_width=1280, frame_height=720)
        packet = encode_vmti_packet(dataclasses.replace(pkt, targets=(target,)))
        read = read_packet(packet)
        alone.append((1000 + len(alone), packet[read.header_length :]))
    assert rows_at_times(telemetry, np.array([t[10] + 2_000, t[40] - 5_000, -1])).tolist() == [
        10,
        40,
        -1,
    ]
    stats = VmtiStats()
    obs = vmti_observations(
        telemetry,
        default_vocabulary(),
        sortie="s",
        standalone=alone,
        terrain_height_m=0.0,
        stats=stats,
    )
    assert stats.standalone_packets == 3
    assert stats.unassociated == 1  # a minute after the last telemetry row
    assert obs.num_rows == 2
    assert stats.targets == 2
    # a damaged row is never used: flag row 10 and the first packet finds row 9 or 11 instead
    damaged = telemetry.set_column(
        telemetry.schema.get_field_index("damage"),
        "damage",
        pa.array([("checksum" if i == 10 else None) for i in range(telemetry.num_rows)]),
    )
    assert rows_at_times(damaged, np.array([t[10] + 2_000]))[0] in (9, 11)


# --- EG 0104: the legacy Predator set in the ST 0601 columns ---------------------------------
def test_eg0104_decodes_into_the_st0601_columns() -> None:
    name = "HD_MP2_01045_TS_ASYN_V1_001.klv"
    data = real(name).read_bytes()
    table, _ = read_telemetry(str(real(name)))
    assert table.schema == SCHEMA
    assert table.num_rows == 2783
    assert table["source_standard"].unique().to_pylist() == ["EG 0104"]
    assert table["damage"].null_count == 2783
    times = table["precision_time_stamp"].cast(pa.int64()).to_numpy()
    assert (np.diff(times) >= 0).all()
    assert str(table["precision_time_stamp"][0].as_py().date()) == "2005-04-01"
    # klvdata splits the universal sets into their items; the IEEE values are ours
    packets = [p for p in klvdata.StreamParser(data) if bytes(p.key)[8:14] == EG0104_KEY[8:14]]
    assert len(packets) == 2783
    for i in range(0, 2783, 397):
        items = {bytes(k)[8:]: bytes(v) for k, v in KLVParser(bytes(packets[i].value), 16)}
        lat = struct.unpack(">d", items[bytes.fromhex("0701020103020000")])[0]
        heading = struct.unpack(">f", items[bytes.fromhex("0701100106000000")])[0]
        sensor = items[bytes.fromhex("0420010201010000")].decode()
        assert table["frame_center_latitude"][i].as_py() == lat
        assert table["platform_heading_angle"][i].as_py() == pytest.approx(heading)
        assert table["image_source_sensor"][i].as_py() == sensor
    lat = table["sensor_latitude"].to_numpy()
    assert ((lat > -35) & (lat < -34.5)).all()  # the MISB sample flies near Adelaide
    r = _inspect_json(name)
    assert r["packets"] == 2783
    assert "EG 0104" in r["warnings"][0]


def test_st0601_rows_say_their_standard() -> None:
    table, _ = decode_buffer(real(MISB_0601).read_bytes())
    assert table["source_standard"].unique().to_pylist() == ["ST 0601"]


def test_cli_strict_refuses_what_lenient_recovers() -> None:
    for name in ("predator.klv", "day_truncated_keys.klv", "skyranger_truncated.klv"):
        lenient = runner.invoke(app, ["inspect", str(real(name)), "--json"])
        assert lenient.exit_code == 0, lenient.output
        strict = runner.invoke(app, ["inspect", str(real(name)), "--json", "--strict"])
        assert strict.exit_code != 0
    r = json.loads(runner.invoke(app, ["inspect", str(real("predator.klv")), "--json"]).stdout)
    assert r["deviations"] == {"non_minimal_ber": 278, "one_byte_tags": 278}
    text = runner.invoke(app, ["inspect", str(real("HD_MP2_01045_TS_ASYN_V1_001.klv"))])
    assert "2,783 telemetry rows (0 ST 0601)" in text.stdout
