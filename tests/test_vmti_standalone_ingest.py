"""Stand-alone ST 0903 VMTI packets interleaved with ST 0601 (as a Predator B capture sends)
become observations in ``vigia ingest``, tied to the nearest telemetry row by time, also when a
packet and its row fall in different chunks; embedded and stand-alone targets are each counted
once, and ``vigia inspect`` counts the same packets."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import vigia.app.ingest as ingest_mod
from vigia.app.ingest import ingest
from vigia.app.process import inspect_source
from vigia.footprints import TerrainOptions
from vigia.klv.encode import encode_st0601_stream, table_columns
from vigia.klv.st0903 import VTarget, encode_vmti, encode_vmti_packet, iter_vmti_packets
from vigia.store.catalog import Catalog
from vigia.telemetry.source import TelemetryReader
from vigia.times import time_us_column

REAL = Path(__file__).parent / "data" / "realdata"
EMBEDDED = 5  # embedded VMTI packs (ST 0601 item 74), one target each


def _stream(path: Path, embedded: bool) -> dict[str, object]:
    """Cheyenne's ST 0601 re-encoded, with the 26 packets of 0903.klv re-timed to its rows and
    interleaved out of place: even ones 7 rows (about 1.5 s) before their row, odd ones 3 rows
    after it. Returns what the test expects."""
    table = pa.concat_tables(list(TelemetryReader(str(REAL / "Cheyenne.bin"))))
    times, _ = time_us_column(table.column("precision_time_stamp"))
    cols = table_columns(table)
    pkts = list(iter_vmti_packets((REAL / "0903.klv").read_bytes(), verify_checksum=False))
    assert len(pkts) == 26 and sum(len(p.targets) for p in pkts) == 35
    rows = [10 + 15 * k for k in range(len(pkts))]
    emb_rows = [17 + 15 * k for k in range(EMBEDDED)]
    if embedded:
        vmti: list[bytes | None] = [None] * table.num_rows
        for k, r in enumerate(emb_rows):
            tg = VTarget(target_id=900 + k, centroid_pixel=150115 + k)
            vmti[r] = encode_vmti(dataclasses.replace(pkts[0], timestamp_us=None, targets=(tg,)))
        cols["vmti_local_set"] = vmti
    data, offsets = encode_st0601_stream(cols, n=table.num_rows)
    alone = [
        encode_vmti_packet(dataclasses.replace(p, timestamp_us=int(times[r]), checksum=None))
        for p, r in zip(pkts, rows, strict=True)
    ]
    after: dict[int, list[bytes]] = {}
    for k, r in enumerate(rows):
        after.setdefault(r - 7 if k % 2 == 0 else r + 3, []).append(alone[k])
    out = bytearray()
    row_offset = {}
    for i in range(table.num_rows):
        row_offset[i] = len(out)
        out += data[offsets[i] : offsets[i + 1]]
        for b in after.get(i, []):
            out += b
    path.write_bytes(bytes(out))
    return {
        "times": {int(times[r]): row_offset[r] for r in rows},
        "targets": {int(times[r]): len(p.targets) for p, r in zip(pkts, rows, strict=True)},
        "embedded_offsets": {row_offset[r] for r in emb_rows} if embedded else set(),
    }


@pytest.mark.parametrize("chunk_bytes", [None, 1024], ids=["one-chunk", "small-chunks"])
@pytest.mark.parametrize("embedded", [False, True], ids=["alone", "with-embedded"])
def test_standalone_vmti_becomes_observations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk_bytes: int | None, embedded: bool
) -> None:
    src = tmp_path / "predator_b.klv"
    want = _stream(src, embedded)
    if chunk_bytes is not None:  # packets and their rows in different chunks
        small = functools.partial(TelemetryReader, chunk_bytes=chunk_bytes)
        monkeypatch.setattr(ingest_mod, "TelemetryReader", small)
    catalog = Catalog(tmp_path / "data")
    rep = ingest([src], catalog, chips=False)
    vm = rep.inputs[0].vmti
    n_emb = EMBEDDED if embedded else 0
    assert vm["standalone_packets"] == 26
    assert vm["unassociated"] == 0
    assert vm["packets"] == 26 + n_emb
    assert vm["targets"] == 35 + n_emb

    obs = catalog.observations().filter(pa.compute.equal(pa.compute.field("source"), "vmti"))
    assert obs.num_rows == 35 + n_emb  # each target once: no double counting
    assert len(set(obs.column("obs_id").to_pylist())) == obs.num_rows
    t, _ = time_us_column(obs.column("time"))
    off = obs.column("source_offset").to_numpy()
    emb = np.isin(off, list(want["embedded_offsets"]))  # type: ignore[arg-type]
    assert int(emb.sum()) == n_emb
    times: dict[int, int] = want["times"]  # type: ignore[assignment]
    got: dict[int, int] = {}
    for ti, oi in zip(t[~emb].tolist(), off[~emb].tolist(), strict=True):
        assert ti in times
        assert oi == times[ti]  # tied to the row with its own time, across chunk boundaries
        got[ti] = got.get(ti, 0) + 1
    assert got == want["targets"]
    lat = obs.column("lat").to_numpy(zero_copy_only=False)
    lon = obs.column("lon").to_numpy(zero_copy_only=False)
    assert np.isfinite(lat[~emb]).all() and np.isfinite(lon[~emb]).all()

    seen = inspect_source(str(src), TerrainOptions())["vmti"]
    assert seen["packets"] == vm["packets"]
    assert seen["standalone_packets"] == 26
    assert seen["targets"] == vm["targets"]
