"""`vigia ingest udp://...`: a live transport stream is recorded into the data directory's
``captures/`` as it arrives and ingested from there (kept as evidence, identified by what was
received); nothing received is a clear refusal that leaves nothing behind."""

from __future__ import annotations

import socket
import threading
import time
from itertools import pairwise
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from tests.helpers.data import data_path
from tests.helpers.ports import free_port
from vigia.app.ingest import capture_udp, ingest
from vigia.errors import SourceError
from vigia.mpegts.mux import write_klv_ts
from vigia.store.catalog import Catalog
from vigia.telemetry.source import TelemetryReader


@pytest.fixture
def cheyenne_ts(tmp_path: Path) -> Path:
    """The real Cheyenne packets in a transport stream without video."""
    src = data_path("realdata", "Cheyenne.bin")
    raw = src.read_bytes()
    tel = pa.concat_tables(list(TelemetryReader(str(src))))
    offsets = [*tel["source_offset"].to_pylist(), len(raw)]
    path = tmp_path / "cheyenne.ts"
    packets = [raw[a:b] for a, b in pairwise(offsets)]
    write_klv_ts(path, packets, np.arange(len(packets), dtype=np.int64) * 3000 + 90_000)
    return path


def _send(data: bytes, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        for k, i in enumerate(range(0, len(data), 188 * 7)):
            tx.sendto(data[i : i + 188 * 7], ("127.0.0.1", port))
            if k % 20 == 0:
                time.sleep(0.002)


@pytest.mark.slow
def test_a_udp_stream_is_recorded_then_ingested(cheyenne_ts: Path, tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "data")
    data = cheyenne_ts.read_bytes()
    with free_port("udp") as port:
        number = port.number
        port.release()
        result: dict[str, object] = {}

        def run() -> None:
            try:
                result["report"] = ingest(
                    [f"udp://127.0.0.1:{number}"], catalog, udp_duration_s=30.0
                )
            except Exception as exc:  # the test reports it below
                result["error"] = exc

        worker = threading.Thread(target=run)
        worker.start()
        deadline = time.monotonic() + 20
        while not list(catalog.captures_dir.glob("*.part")):  # bound and recording
            assert worker.is_alive(), result
            assert time.monotonic() < deadline, "the capture never started"
            time.sleep(0.02)
        _send(data, number)
        worker.join(timeout=60)
    assert "error" not in result, result
    report = result["report"]
    (captured,) = catalog.captures_dir.glob("udp-*.ts")
    assert captured.read_bytes() == data  # every byte kept, as it arrived (loopback)
    (inp,) = report.inputs  # type: ignore[attr-defined]
    assert inp.path == str(captured) and inp.status == "ingested" and inp.packets == 407
    again = ingest([captured], catalog)
    assert [i.status for i in again.inputs] == ["unchanged"]


def test_nothing_received_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    with free_port("udp") as port:
        number = port.number
        port.release()
        with pytest.raises(SourceError, match="nothing arrived"):
            capture_udp(f"udp://127.0.0.1:{number}", tmp_path / "captures", idle_timeout_s=0.3)
    assert list((tmp_path / "captures").iterdir()) == []
