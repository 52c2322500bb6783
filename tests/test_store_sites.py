"""Mirroring sites.parquet into the store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select

from tests.helpers.sites import T0
from vigia.app.admin import sync_data_dir
from vigia.store import (
    Site,
    Store,
    StoreError,
    User,
    ValidationError,
    approve_release,
    create_draft,
    get_site,
    record_action,
    sync_sites,
)

NOW = datetime(2026, 5, 10, tzinfo=UTC)


def test_sync_inserts_then_updates(
    store: Store, users: dict[str, User], make_sites: Callable[..., pa.Table]
) -> None:
    with store.transaction() as s:
        report = sync_sites(s, make_sites(3), now=NOW)
    assert (report.inserted, report.updated) == (3, 0)
    with store.transaction() as s:
        site = get_site(s, users["ana"], "S00000001")
    assert site.lat == pytest.approx(24.81) and site.lon == pytest.approx(-107.41)
    assert site.first_seen == T0 and site.last_seen == T0 + timedelta(days=2)
    assert site.indicators == ["tarp_cluster", "chemical_drums"]
    assert site.sorties == ["MSN-SECRET-0001", "MSN-SECRET-0002"]
    assert site.aoi == "Culiacán norte" and site.candidate is True
    assert site.assessment is None and site.synced_at == NOW

    # Partner feedback on S00000000, then the exploitation stage re-scores everything.
    with store.transaction() as s:
        p = create_draft(
            s,
            users["ana"],
            "site_report",
            site_id="S00000000",
            body={},
            tearline={},
            classification="UNCLASSIFIED",
            releasable_to=["USA", "MEX"],
        )
        approve_release(s, users["sam"], p.product_id, ["SEMAR"])
        record_action(s, users["semar.enlace"], "S00000000", "operation", NOW, now=NOW)
    rows = [
        {"probability": 0.97, "status": "dormant", "indicators": ["burn_scar"]},
        {"assessment": "Probable laboratorio de metanfetamina"},
        {},
        {"lat": 19.43, "lon": -99.13},
    ]
    with store.transaction() as s:
        report = sync_sites(s, make_sites(rows=rows), now=NOW + timedelta(hours=1))
    assert (report.inserted, report.updated) == (1, 3)
    with store.read_only() as s:
        s0 = s.get(Site, "S00000000")
        s1 = s.get(Site, "S00000001")
        assert s.execute(select(func.count()).select_from(Site)).scalar_one() == 4
    assert s0 is not None and s1 is not None
    assert (s0.probability, s0.status, s0.indicators) == (0.97, "dormant", ["burn_scar"])
    assert s0.partner_status == "operation" and s0.partner_status_at == NOW  # kept
    assert s1.assessment == "Probable laboratorio de metanfetamina"


def test_sync_refuses_bad_tables(store: Store, make_sites: Callable[..., pa.Table]) -> None:
    with store.transaction() as s:
        with pytest.raises(ValidationError, match="lacks column"):
            sync_sites(s, make_sites(2).drop_columns(["lat"]))
        with pytest.raises(ValidationError, match="out of range"):
            sync_sites(s, make_sites(rows=[{}, {"lat": 91.0}]))
        with pytest.raises(ValidationError, match="out of range"):
            sync_sites(s, make_sites(rows=[{"lon": float("nan")}]))
        with pytest.raises(ValidationError, match="duplicate"):
            sync_sites(s, make_sites(rows=[{"site_id": "S1"}, {"site_id": "S1"}]))
        with pytest.raises(ValidationError, match="without site_id"):
            sync_sites(s, make_sites(rows=[{"site_id": None}]))
    with store.read_only() as s:
        assert s.execute(select(func.count()).select_from(Site)).scalar_one() == 0


def test_minimal_and_naive_tables(store: Store) -> None:
    table = pa.table(
        {
            "site_id": ["Sa", "Sb"],
            "lat": [24.0, 25.0],
            "lon": [-107.0, -108.0],
            "first_seen": pa.array([datetime(2026, 5, 1, 6), None], pa.timestamp("us")),
        }
    )
    with store.transaction() as s:
        assert sync_sites(s, table).inserted == 2
    with store.read_only() as s:
        a = s.get(Site, "Sa")
        assert a is not None
        assert a.first_seen == datetime(2026, 5, 1, 6, tzinfo=UTC)
        assert (a.indicators, a.sorties, a.candidate, a.h_m) == ([], [], False, None)


def test_sync_data_dir(data_dir: Path, store: Store, make_sites: Callable[..., pa.Table]) -> None:
    with pytest.raises(StoreError, match=r"no sites\.parquet"):
        sync_data_dir(data_dir)
    pq.write_table(make_sites(5), data_dir / "sites.parquet")
    assert sync_data_dir(data_dir).inserted == 5
    assert sync_data_dir(data_dir).updated == 5
    with store.read_only() as s:
        assert s.execute(select(func.count()).select_from(Site)).scalar_one() == 5
