"""Migrations apply on SQLite and PostgreSQL, agree with the models, and PostGIS works."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text

from vigia.store import (
    Agency,
    Site,
    Store,
    StoreError,
    current_revision,
    database_url,
    downgrade,
    head_revision,
    list_sites,
    open_store,
    sites_within,
    sync_sites,
    upgrade,
)
from vigia.store.db import make_engine
from vigia.store.models import Base

TABLES = {
    "agencies",
    "users",
    "tokens",
    "sites",
    "products",
    "product_releases",
    "deliveries",
    "actions",
    "seizures",
    "audit_log",
    "audit_head",
    "login_throttle",
}
POSTGIS_ONLY = {"geom", "ix_sites_geom", "ix_sites_geog"}


def _include(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    if type_ == "table":
        return name in TABLES
    return name not in POSTGIS_ONLY


@pytest.mark.filterwarnings("ignore:Did not recognize type 'geometry'")
def test_migrations_apply_and_match_models(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    try:
        assert current_revision(engine) is None
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        assert set(inspect(engine).get_table_names()) >= TABLES
        with engine.connect() as conn:
            ctx = MigrationContext.configure(
                conn, opts={"compare_type": True, "include_object": _include}
            )
            assert compare_metadata(ctx, Base.metadata) == []
            codes = set(conn.execute(select(Agency.code)).scalars())
            assert {"SEMAR", "SEDENA", "GN", "FGR", "VIGIA"} <= codes
        upgrade(engine)  # a second run changes nothing
        assert current_revision(engine) == head_revision()
        downgrade(engine, "base")
        assert not TABLES & set(inspect(engine).get_table_names())
        upgrade(engine)
        assert set(inspect(engine).get_table_names()) >= TABLES
    finally:
        engine.dispose()


def test_open_store_migrates_a_new_database(empty_database_url: str) -> None:
    with open_store(url=empty_database_url) as store:
        assert current_revision(store.engine) == head_revision()


def test_default_is_sqlite_in_the_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VIGIA_DATABASE_URL", raising=False)
    assert database_url(tmp_path) == f"sqlite+pysqlite:///{(tmp_path / 'vigia.db').absolute()}"
    with pytest.raises(StoreError, match="no Vigía store"):
        open_store(tmp_path / "d", create=False)
    with open_store(tmp_path / "d") as store:
        assert store.backend == "sqlite"
    assert (tmp_path / "d" / "vigia.db").is_file()
    monkeypatch.setenv("VIGIA_DATABASE_URL", "postgresql+psycopg://u:p@127.0.0.1:1/x")
    assert database_url(tmp_path).startswith("postgresql+psycopg://")
    assert database_url(tmp_path, "sqlite:///x.db") == "sqlite:///x.db"


def test_bad_urls_are_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="unsupported database"):
        open_store(url="mysql://u:p@localhost/x")
    with pytest.raises(StoreError, match="in-memory"):
        open_store(url="sqlite://")
    with pytest.raises(StoreError, match="not a database URL"):
        open_store(url="::nonsense::")


@pytest.mark.postgresql
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_postgis_column_index_and_dwithin(store: Store, make_sites, users) -> None:  # type: ignore[no-untyped-def]
    with store.transaction() as s:
        # Sites 1 km apart along a meridian near Culiacán.
        sync_sites(
            s,
            make_sites(
                rows=[{"lat": 24.80 + i * (1000 / 111_000), "lon": -107.40} for i in range(4)]
            ),
        )
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT postgis_version()")).scalar()
        col = conn.execute(
            text(
                "SELECT type FROM geometry_columns g JOIN (SELECT 1) x ON true "
                "WHERE f_table_name = 'sites' AND f_geometry_column = 'geom'"
            )
        ).scalar()
        assert col == "POINT"
        srid = conn.execute(
            text("SELECT srid FROM geometry_columns WHERE f_table_name = 'sites'")
        ).scalar()
        assert srid == 4326
        index_defs = (
            conn.execute(text("SELECT indexdef FROM pg_indexes WHERE tablename = 'sites'"))
            .scalars()
            .all()
        )
        assert any("USING gist (geom)" in d for d in index_defs)
        near = (
            conn.execute(
                text(
                    "SELECT site_id FROM sites WHERE ST_DWithin(geom::geography, "
                    "ST_SetSRID(ST_MakePoint(-107.40, 24.80), 4326)::geography, 1500) "
                    "ORDER BY site_id"
                )
            )
            .scalars()
            .all()
        )
        assert near == ["S00000000", "S00000001"]
        # The generated point follows updates of lat/lon.
        conn.execute(text("UPDATE sites SET lat = 25.5 WHERE site_id = 'S00000001'"))
        x, y = conn.execute(
            text("SELECT ST_X(geom), ST_Y(geom) FROM sites WHERE site_id = 'S00000001'")
        ).one()
        assert (x, y) == (-107.40, 25.5)
        conn.rollback()
    with store.transaction() as s:
        found = sites_within(s, users["ana"], 24.80, -107.40, 2500)
    assert [site.site_id for site, _ in found] == ["S00000000", "S00000001", "S00000002"]
    assert [round(d / 100) for _, d in found] == [0, 10, 20]


def test_sites_within_agrees_across_backends(store: Store, make_sites, users) -> None:  # type: ignore[no-untyped-def]
    rows = [{"lat": 24.80 + i * 0.004, "lon": -107.40 + i * 0.003} for i in range(10)]
    rows.append({"lat": 24.80, "lon": 179.999})  # across the antimeridian from the query below
    rows.append({"lat": 24.80, "lon": -179.999})
    with store.transaction() as s:
        sync_sites(s, make_sites(rows=rows))
        found = sites_within(s, users["ana"], 24.80, -107.40, 2000)
        wrap = sites_within(s, users["ana"], 24.80, 179.9995, 500)
        all_sites = list_sites(s, users["ana"])
    expected = []
    for site in all_sites:
        if site.site_id in {"S0000000a", "S0000000b"}:
            continue
        p1, p2 = math.radians(24.80), math.radians(site.lat)
        dl = math.radians(site.lon + 107.40)
        a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
        d = 2 * 6_371_008.8 * math.asin(math.sqrt(a))
        if d <= 2000:
            expected.append((site.site_id, d))
    assert [f[0].site_id for f in found] == [e[0] for e in expected]
    assert len(expected) >= 3
    # PostGIS measures on the ellipsoid, the SQLite path on a sphere: within 0.5 %.
    for (_, d), (_, e) in zip(found, expected, strict=True):
        assert d == pytest.approx(e, rel=5e-3, abs=0.01)
    assert sorted(f[0].site_id for f in wrap) == ["S0000000a", "S0000000b"]
    assert all(isinstance(f[0], Site) for f in found)
