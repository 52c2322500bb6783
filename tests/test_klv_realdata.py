"""Real KLV captures (``tests/data/realdata``): what real encoders and samples get wrong."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from tests.helpers.data import data_path
from vigia.klv.batch import SCHEMA, decode_buffer
from vigia.telemetry.source import read_telemetry
from vigia.telemetry.table import PARQUET_SCHEMA, TelemetryWriter, summarise


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
