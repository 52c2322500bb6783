"""Telemetry from real transport streams, raw KLV files and UDP, through the CLI too."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from tests.helpers.data import data_path
from tests.helpers.ports import free_port
from vigia.cli import app
from vigia.errors import SourceError
from vigia.klv.batch import SCHEMA
from vigia.klv.encode import encode_st0601_stream
from vigia.mpegts import write_klv_ts
from vigia.scenario.sortie import pts_from_times, write_sample_sortie
from vigia.scenario.synthetic import synthetic_columns
from vigia.telemetry.source import TelemetryReader, read_telemetry, sniff
from vigia.telemetry.table import TelemetryWriter, read_parquet

runner = CliRunner()


def _stream(n: int, seed: int = 3) -> tuple[dict, list[bytes], np.ndarray]:
    cols = synthetic_columns(n, seed=seed)
    data, offsets = encode_st0601_stream(cols)
    packets = [data[offsets[i] : offsets[i + 1]] for i in range(n)]
    return cols, packets, pts_from_times(np.asarray(cols["precision_time_stamp"]))


@pytest.mark.parametrize("carriage", ["async", "sync"])
def test_transport_stream_telemetry_and_pts(tmp_path: Path, carriage: str) -> None:
    cols, packets, pts = _stream(500)
    path = tmp_path / f"sortie_{carriage}.ts"
    write_klv_ts(path, packets, pts, carriage=carriage)
    assert sniff(path) == "ts"
    table, reader = read_telemetry(str(path))
    assert table.num_rows == 500
    assert reader.stats.checksum_failures == 0
    np.testing.assert_array_equal(table["pts_90k"].to_numpy(), pts)
    np.testing.assert_allclose(
        table["sensor_latitude"].to_numpy(), cols["sensor_latitude"], atol=1e-7
    )
    # PyAV sees the same data stream with the same PTS (independent demuxer).
    with av.open(str(path)) as container:
        data_stream = container.streams.data[0]
        av_pts = [p.pts for p in container.demux(data_stream) if p.size]
    assert av_pts[: len(pts)] == list(pts)
    tr = reader.transport_stats()
    assert tr is not None and tr["resyncs"] == 0


def test_raw_klv_recognised_by_content_not_extension(tmp_path: Path) -> None:
    _, packets, _ = _stream(50)
    odd = tmp_path / "looks_like_video.mpg"
    odd.write_bytes(b"".join(packets))
    assert sniff(odd) == "klv"
    table, _ = read_telemetry(str(odd))
    assert table.num_rows == 50


def test_unrecognisable_and_missing_sources(tmp_path: Path) -> None:
    junk = tmp_path / "junk.ts"
    junk.write_bytes(bytes(range(256)) * 40)
    with pytest.raises(SourceError, match="neither"):
        sniff(junk)
    with pytest.raises(SourceError, match="no such file"):
        sniff(tmp_path / "missing.ts")
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    with pytest.raises(SourceError, match="empty"):
        sniff(empty)
    res = runner.invoke(app, ["inspect", str(junk)])
    assert res.exit_code == 2
    assert "neither" in res.output


def test_damaged_transport_stream_keeps_intact_packets(tmp_path: Path) -> None:
    _, packets, pts = _stream(300)
    path = tmp_path / "s.ts"
    write_klv_ts(path, packets, pts)
    raw = bytearray(path.read_bytes())
    # Drop a run of TS packets in the middle and flip a sync byte.
    del raw[188 * 200 : 188 * 203]
    raw[188 * 100] = 0x00
    path.write_bytes(bytes(raw))
    table, reader = read_telemetry(str(path))
    tr = reader.transport_stats()
    assert tr is not None
    assert sum(tr["cc_errors"].values()) >= 1
    assert 280 <= table.num_rows < 300
    assert table["checksum_valid"].to_numpy(zero_copy_only=False).sum() >= 280


def test_writer_merges_parts_when_an_item_appears_late(tmp_path: Path) -> None:
    cols = synthetic_columns(3000, seed=2, strings=False)
    data, _ = encode_st0601_stream(cols)
    first, _ = read_telemetry_bytes(data)
    late_cols = synthetic_columns(1000, seed=3)
    late_cols["target_width"] = np.full(1000, 42.0)
    data2, _ = encode_st0601_stream(late_cols)
    second, _ = read_telemetry_bytes(data2)
    out = tmp_path / "t.parquet"
    with TelemetryWriter(out, row_group_rows=1000) as w:
        for t in (first.slice(0, 1500), first.slice(1500), second):
            w.write(t)
    got = read_parquet(out)
    assert got.num_rows == 4000
    assert got["target_width"].null_count == 3000
    assert got["mission_id"].to_pylist()[-1] == "VIGIA-SIN-0314"
    assert got["mission_id"].null_count == 3000
    assert not list(tmp_path.glob(".t.parquet.part*"))
    full = read_parquet(out, full_schema=True)
    assert full.schema.names[: len(SCHEMA)] == SCHEMA.names
    geo = json.loads(pq.read_metadata(out).metadata[b"geo"])
    assert geo["primary_column"] == "geometry"


def read_telemetry_bytes(data: bytes) -> tuple[pa.Table, object]:
    from vigia.klv.batch import decode_buffer

    return decode_buffer(data)


def test_cli_inspect_and_telemetry(tmp_path: Path) -> None:
    ts = write_sample_sortie(tmp_path / "s.ts", minutes=0.5)
    res = runner.invoke(app, ["inspect", str(ts), "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    assert report["kind"] == "ts"
    assert report["packets"] == 900
    assert report["duration_s"] == pytest.approx(899 / 30, abs=0.01)
    assert report["platform"] == "MQ-9"
    assert report["mission_id"] == "VIGIA-SIN-0314"
    assert report["items_present"]["sensor_latitude"] == 900
    assert report["klv"]["checksum_failures"] == 0
    assert report["gaps"]["count"] == 0
    bbox = report["track_bbox"]
    assert 24.5 < bbox["min_lat"] < bbox["max_lat"] < 25.1
    out = tmp_path / "t.parquet"
    res = runner.invoke(app, ["telemetry", str(ts), "-o", str(out)])
    assert res.exit_code == 0, res.output
    table = pq.read_table(out)
    assert table.num_rows == 900
    assert table.schema.field("precision_time_stamp").type == pa.timestamp("us", tz="UTC")


def test_cli_strict_mode_names_the_offset(tmp_path: Path) -> None:
    bad = tmp_path / "bad.klv"
    bad.write_bytes(data_path("klv", "st0601_example_dynamic_constant.bin").read_bytes())
    res = runner.invoke(app, ["telemetry", str(bad), "-o", str(tmp_path / "x.parquet"), "--strict"])
    assert res.exit_code == 2
    assert "checksum" in res.output and "offset 0" in res.output
    res = runner.invoke(app, ["inspect", str(bad), "--json"])
    assert res.exit_code == 0
    assert json.loads(res.output)["klv"]["checksum_failures"] == 1


def test_udp_live_telemetry_on_loopback(tmp_path: Path) -> None:
    _, packets, pts = _stream(400)
    path = tmp_path / "live.ts"
    write_klv_ts(path, packets, pts)
    ts = path.read_bytes()
    bound = threading.Event()
    with free_port("udp") as port:

        def ready() -> None:  # the reader's socket holds the port: hand it over, then send
            port.release()
            bound.set()

        reader = TelemetryReader(
            f"udp://127.0.0.1:{port.number}", duration_s=10.0, idle_timeout_s=1.0, on_ready=ready
        )
        tables: list[pa.Table] = []
        consumer = threading.Thread(target=lambda: tables.extend(reader))
        consumer.start()
        assert bound.wait(timeout=10), "the UDP reader never bound its socket"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        for i in range(0, len(ts), 188 * 7):
            tx.sendto(ts[i : i + 188 * 7], ("127.0.0.1", port.number))
            if (i // (188 * 7)) % 20 == 0:
                time.sleep(0.002)  # pacing, so the reader keeps up and drops nothing
    consumer.join(timeout=15)
    assert not consumer.is_alive()
    table = pa.concat_tables(tables)
    assert table.num_rows == 400
    np.testing.assert_array_equal(table["pts_90k"].to_numpy(), pts)
    tr = reader.transport_stats()
    assert tr is not None and tr["udp"]["drops"] == 0
