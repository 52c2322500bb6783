"""Mux -> demux round trips on real bytes, checked against PyAV (FFmpeg) as an oracle."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from tests.helpers.streams import KLV_PID, demux_all, make_klv, ts_bytes
from vigia.errors import SourceError, TransportError
from vigia.klv.keys import ST0601_KEY
from vigia.mpegts import (
    KLVDemuxer,
    demux_klv_file,
    is_transport_stream,
    write_klv_ts,
    write_video_klv_ts,
)
from vigia.mpegts.psi import crc32_mpeg2


def pyav_packets(path: Path) -> list[tuple[bytes, int | None]]:
    with av.open(str(path)) as c:
        assert len(c.streams.data) == 1
        return [(bytes(p), p.pts) for p in c.demux(c.streams.data[0]) if p.size]


def test_crc32_mpeg2_check_value() -> None:
    assert crc32_mpeg2(b"123456789") == 0x0376E6E7


@pytest.mark.parametrize("carriage", ["async", "sync"])
@pytest.mark.parametrize("chunk", [1, 7, 187, 189, 1000, 188 * 50])
def test_round_trip_any_chunking(carriage: str, chunk: int) -> None:
    n = 12 if chunk < 100 else 150
    klv = make_klv(n, seed=chunk, big_every=5)
    pts = 90_000 + np.arange(n, dtype=np.int64) * 3003
    data = ts_bytes(klv, pts, carriage=carriage)
    assert len(data) % 188 == 0
    got, d = demux_all(data, chunk, strict=True)
    assert got is not None
    assert got.aus() == klv
    np.testing.assert_array_equal(got.pts, pts)
    assert got.au_offsets.dtype == got.pts.dtype == got.source_offsets.dtype == np.int64
    assert np.all(np.diff(got.au_offsets) >= 0)
    info = d.streams[KLV_PID]
    assert (info.carriage, info.stream_type, info.program_number) == (
        carriage,
        0x06 if carriage == "async" else 0x15,
        1,
    )
    st = d.stats
    assert st.ts_packets * 188 == len(data) == st.bytes_read
    assert st.metadata_aus == n and st.metadata_bytes == sum(map(len, klv))
    assert st.total_cc_errors == st.resyncs == st.bytes_skipped == st.bad_pes == 0


def test_source_offsets_point_at_pes_start_packets() -> None:
    klv = make_klv(40, seed=3, big_every=4)
    data = ts_bytes(klv, 1000 + np.arange(40) * 3600)
    got, _ = demux_all(data)
    assert got is not None
    for off in got.source_offsets.tolist():
        assert off % 188 == 0
        pkt = data[off : off + 188]
        assert pkt[0] == 0x47 and pkt[1] & 0x40  # PUSI
        assert ((pkt[1] & 0x1F) << 8 | pkt[2]) == KLV_PID


@pytest.mark.parametrize("carriage", ["async", "sync"])
def test_pyav_sees_the_same_packets_and_pts(tmp_path: Path, carriage: str) -> None:
    klv = make_klv(300, seed=11, big_every=7)
    pts = 126_000 + np.arange(300, dtype=np.int64) * 1501
    path = tmp_path / f"{carriage}.ts"
    write_klv_ts(path, klv, pts, carriage=carriage)
    reader = demux_klv_file(path, strict=True, chunk_size=188 * 10 + 5)
    chunks = reader.read_all()
    ours = chunks[KLV_PID]
    theirs = pyav_packets(path)
    assert [b for b, _ in theirs] == ours.aus() == klv
    assert [p for _, p in theirs] == ours.pts.tolist()
    assert reader.stats.metadata_aus == 300


def test_pes_without_pts(tmp_path: Path) -> None:
    klv = make_klv(20, seed=5)
    pts = np.full(20, -1, dtype=np.int64)
    pts[::3] = 90_000 + np.arange(7) * 9000
    path = tmp_path / "nopts.ts"
    write_klv_ts(path, klv, pts)
    ours = demux_klv_file(path, strict=True).read_all()[KLV_PID]
    assert ours.aus() == klv
    np.testing.assert_array_equal(ours.pts, pts)
    theirs = pyav_packets(path)
    assert [b for b, _ in theirs] == klv


def test_pts_wraps_at_33_bits() -> None:
    pts = np.array([(1 << 33) - 2, 5, 10], dtype=np.int64)
    got, _ = demux_all(ts_bytes(make_klv(3), pts))
    assert got is not None
    assert got.pts.tolist() == [(1 << 33) - 2, 5, 10]


def test_video_and_klv_play_in_pyav(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    frames = [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(15)]
    klv = make_klv(15, seed=8, big_every=6)
    path = tmp_path / "fmv.ts"
    info = write_video_klv_ts(path, frames, 30, klv, carriage="sync")
    with av.open(str(path)) as c:
        kinds = sorted(s.type for s in c.streams)
        assert kinds == ["data", "video"]
        decoded = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(decoded) == 15 and decoded[0].shape == (48, 64, 3)
    theirs = pyav_packets(path)
    reader = demux_klv_file(path, strict=True)
    ours = reader.read_all()[KLV_PID]
    assert ours.aus() == [b for b, _ in theirs] == klv
    assert ours.pts.tolist() == [p for _, p in theirs] == list(info["klv_pts_90k"])  # type: ignore[call-overload]
    assert set(reader.streams) == {KLV_PID}  # the video PID is not metadata
    assert reader.stats.total_cc_errors == 0


def test_second_program_and_unrelated_private_stream_are_told_apart() -> None:
    # A 0x06 stream without KLVA registration is not KLV: hand-build a PMT with one.
    from vigia.mpegts.mux import build_pes, packetize, psi_packet
    from vigia.mpegts.psi import ElementaryStream, build_pat, build_pmt

    pat = build_pat({1: 0x30})
    pmt = build_pmt(
        1,
        0x1FFF,
        [
            ElementaryStream(0x06, 0x41, [(0x05, b"KLVA")]),
            ElementaryStream(0x06, 0x42, [(0x05, b"AC-3")]),
            ElementaryStream(0x15, 0x43, [(0x26, b"\xff\xffID3 \xffID3 \x00\x0f")]),
        ],
    )
    klv = make_klv(4, seed=9)
    rows = [psi_packet(0, pat), psi_packet(0x30, pmt)]
    for pid in (0x41, 0x42, 0x43):
        data = np.frombuffer(b"".join(klv), np.uint8)
        pes, lens = build_pes(
            data, np.array([len(k) for k in klv]), stream_id=0xBD, pts=np.arange(4)
        )
        r, _ = packetize(pes, lens, pid=pid)
        rows.append(r)
    ts = np.concatenate([np.atleast_2d(r) for r in rows]).tobytes()
    d = KLVDemuxer(strict=True)
    out = d.feed(ts) + d.flush()
    assert set(d.streams) == {0x41}
    assert [c.pid for c in out] == [0x41]
    assert out[0].aus() == klv


def test_is_transport_stream() -> None:
    data = ts_bytes(make_klv(10), np.arange(10) * 3000)
    assert is_transport_stream(data[: 188 * 5])
    assert is_transport_stream(b"\x00\x01\x02" + data[:1000])
    assert is_transport_stream(data[:189])
    assert not is_transport_stream(data[:188])
    assert not is_transport_stream(b"")
    assert not is_transport_stream(np.random.default_rng(0).bytes(4000).replace(b"G", b"g"))
    assert not is_transport_stream(b"G" + b"\x00" * 2000)


def test_missing_file_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError):
        demux_klv_file(tmp_path / "nope.ts")


def test_strict_clean_stream_does_not_raise_and_damage_does() -> None:
    data = bytearray(ts_bytes(make_klv(30, seed=1), np.arange(30) * 3000))
    demux_all(bytes(data), strict=True)
    bad = 188 * 9
    data[bad] = 0x00
    with pytest.raises(TransportError) as exc:
        demux_all(bytes(data), strict=True)
    assert exc.value.offset == bad


def test_mux_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        ts_bytes(make_klv(2), np.zeros(3, np.int64))
    with pytest.raises(ValueError):
        ts_bytes(make_klv(2), np.zeros(2, np.int64), carriage="bogus")
    with pytest.raises(ValueError):
        ts_bytes([ST0601_KEY + b"\x83\x01\x00\x00" + bytes(65536)], np.zeros(1, np.int64))
