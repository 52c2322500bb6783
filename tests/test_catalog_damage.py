"""Readers of the catalog never die on a stored value: a time of a damaged packet that reached
``sites.parquet`` or ``observations.parquet`` (year 4310, year -290,244: bit flips in ST 0601
item 2) reads as null, on the CLI and the API."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.helpers.api import SITES, Api, build_data_dir
from vigia.api import create_app
from vigia.cli import app
from vigia.store.catalog import Catalog
from vigia.times import PLAUSIBLE_US, implausible_time_mask, null_implausible_times

#: What damaged ST 0601 item 2 values decode to (µs): year 4310 and year -290,244.
YEAR_4310_US = 73_869_000_000 * 1_000_000
YEAR_MINUS_290244_US = -9_221_000_000_000_000_000


def _damage(path: Path, column: str, values: dict[int, int]) -> None:
    t = pq.read_table(path)
    field = t.schema.field(column)
    us = t.column(column).cast(pa.int64()).to_numpy(zero_copy_only=False).copy()
    for row, v in values.items():
        us[row] = v
    t = t.set_column(t.schema.get_field_index(column), field, pa.array(us).cast(field.type))
    pq.write_table(t, path)


def test_the_mask_and_the_table() -> None:
    lo, hi = PLAUSIBLE_US
    us = np.array([lo, 1_700_000_000_000_000, hi, -1, YEAR_MINUS_290244_US])
    assert implausible_time_mask(us).tolist() == [False, False, True, True, True]
    t = pa.table({"time": pa.array(us).cast(pa.timestamp("us", tz="UTC")), "n": range(5)})
    fixed, bad = null_implausible_times(t)
    assert bad == 3 and fixed.column("time").null_count == 3
    assert fixed.column("n").to_pylist() == list(range(5))
    fixed.to_pylist()  # every value converts now


def test_damaged_times_do_not_kill_the_readers(
    data_dir: Path, database_url: str, tmp_path: Path
) -> None:
    chips = build_data_dir(data_dir)
    catalog = Catalog(data_dir)
    _damage(catalog.path("sites"), "first_seen", {0: YEAR_MINUS_290244_US})
    _damage(catalog.path("sites"), "last_seen", {0: YEAR_4310_US})
    _damage(catalog.path("observations"), "time", {0: YEAR_MINUS_290244_US, 1: YEAR_4310_US})
    runner = CliRunner()
    for args in (["sites", "list", "--all"], ["sites", "show", SITES[0]]):
        res = runner.invoke(app, [*args, "--data-dir", str(data_dir)])
        assert res.exit_code == 0, res.output
        assert "Traceback" not in res.output
    assert catalog.sites().column("first_seen").null_count >= 1
    with TestClient(create_app(data_dir, database_url=database_url)) as client:
        api = Api(client, data_dir, database_url, chips)
        r = api.get("/api/sites", "ana")
        assert r.status_code == 200, r.text
        one = api.get(f"/api/sites/{SITES[0]}", "ana")
        assert one.status_code == 200, one.text
        assert one.json()["first_seen"] is None
        assert api.get(f"/api/sites/{SITES[0]}/evidence", "ana").status_code == 200
