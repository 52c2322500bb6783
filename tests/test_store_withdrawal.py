"""Withdrawing a release: reason required, audited, the agency loses access at once and sees
the product as withdrawn; the schema migration from 0001 keeps existing releases active."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from sqlalchemy import select, text

from vigia.store import (
    AuditEntry,
    Conflict,
    Gone,
    NotFound,
    PermissionDenied,
    Product,
    Store,
    User,
    ValidationError,
    agency_site_ids,
    approve_release,
    create_draft,
    downgrade,
    get_product,
    get_site,
    list_products,
    list_sites,
    released_tearline,
    sync_sites,
    upgrade,
    withdraw_release,
)
from vigia.store.db import make_engine

NOW = datetime(2026, 11, 3, 9, 30, tzinfo=UTC)


def _report(s, author: User, site_id: str) -> Product:  # type: ignore[no-untyped-def]
    return create_draft(
        s,
        author,
        "site_report",
        site_id=site_id,
        title=f"Site report {site_id}",
        body={"site_id": site_id, "tail_number": "N-SENTINEL-7"},
        tearline={"sites": [{"site_id": site_id}]},
        classification="UNCLASSIFIED",
        caveats="FOUO",
        releasable_to=["USA", "MEX"],
        now=NOW,
    )


@pytest.fixture
def released(
    store: Store, users: dict[str, User], make_sites: Callable[..., pa.Table]
) -> tuple[str, str]:
    """Two site reports: S0 released to SEMAR and FGR, S1 to SEMAR."""
    with store.transaction() as s:
        sync_sites(s, make_sites(3))
        both = _report(s, users["ana"], "S00000000")
        semar_only = _report(s, users["ana"], "S00000001")
    with store.transaction() as s:
        approve_release(s, users["sam"], both.product_id, ["SEMAR", "FGR"], now=NOW)
        approve_release(s, users["sam"], semar_only.product_id, ["SEMAR"], now=NOW)
    return both.product_id, semar_only.product_id


def test_withdrawal_takes_access_back_at_once(
    store: Store, users: dict[str, User], released: tuple[str, str]
) -> None:
    both, semar_only = released
    semar, fgr = users["semar.enlace"], users["fgr.enlace"]
    with store.transaction() as s:
        assert get_product(s, semar, both).product_id == both
        assert {x.site_id for x in list_sites(s, semar)} == {"S00000000", "S00000001"}
    later = NOW + timedelta(days=2)
    with store.transaction() as s:
        p = withdraw_release(
            s, users["sofia"], both, "  source protection: wrong grid  ", ["SEMAR"], now=later
        )
        assert p.released_to == ["FGR"] and p.withdrawn_from == ["SEMAR"]
    with store.transaction() as s:
        # SEMAR: the product is gone (with when and why), its site no longer theirs.
        with pytest.raises(Gone, match=r"withdrawn on 2026-11-05.*source protection: wrong grid"):
            get_product(s, semar, both)
        assert [x.site_id for x in list_sites(s, semar)] == ["S00000001"]
        with pytest.raises(NotFound):
            get_site(s, semar, "S00000000")
        assert agency_site_ids(s, users["semar.enlace"].agency_id) == {"S00000001"}
        # ... but still listed to them, so that it is not silently gone.
        assert {x.product_id for x in list_products(s, semar)} == {both, semar_only}
        # FGR keeps it; the TAK tearline of the product is now what FGR may see.
        assert get_product(s, fgr, both).product_id == both
        assert get_site(s, fgr, "S00000000").site_id == "S00000000"
        assert released_tearline(s, s.get(Product, both)) == {"sites": [{"site_id": "S00000000"}]}
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "withdraw")).scalar_one()
        assert entry.actor == "sofia" and entry.object_id == both
        assert entry.details["agencies"] == ["SEMAR"]
        assert entry.details["reason"] == "source protection: wrong grid"


def test_withdraw_from_all_and_refusals(
    store: Store, users: dict[str, User], released: tuple[str, str]
) -> None:
    both, _ = released
    with store.transaction() as s:
        draft = _report(s, users["ana"], "S00000002")
    with store.transaction() as s:
        for who in ("ana", "semar.enlace"):
            with pytest.raises(PermissionDenied, match="supervisor"):
                withdraw_release(s, users[who], both, "reason")
        with pytest.raises(ValidationError, match="reason"):
            withdraw_release(s, users["sam"], both, "   ")
        with pytest.raises(ValidationError, match="not released to 'GN'"):
            withdraw_release(s, users["sam"], both, "reason", ["GN"])
        with pytest.raises(Conflict, match="draft"):
            withdraw_release(s, users["sam"], draft.product_id, "reason")
        with pytest.raises(NotFound):
            withdraw_release(s, users["sam"], "Pnope", "reason")
    with store.transaction() as s:  # the approver may withdraw too; no agency named = all
        p = withdraw_release(s, users["sam"], both, "overtaken by events")
        assert p.released_to == [] and sorted(p.withdrawn_from) == ["FGR", "SEMAR"]
    with store.transaction() as s:
        with pytest.raises(ValidationError, match="SEMAR was already withdrawn"):
            withdraw_release(s, users["sam"], both, "again", ["SEMAR"])
        with pytest.raises(Conflict, match="already withdrawn from every agency"):
            withdraw_release(s, users["sam"], both, "again")
        for partner in ("semar.oficial", "fgr.enlace"):
            with pytest.raises(Gone):
                get_product(s, users[partner], both)
        # Staff still read it whole.
        assert get_product(s, users["ana"], both).body["tail_number"] == "N-SENTINEL-7"


def test_migration_keeps_existing_releases_active(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    try:
        upgrade(engine, "0001")
        t = "2026-05-01 10:00:00"
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO users (username, display_name, password_hash, role, agency_id, "
                    "active, language, created_at) SELECT 'sam', 'Sam', 'x', 'supervisor', id, "
                    f"true, 'en', '{t}' FROM agencies WHERE code = 'VIGIA'"
                )
            )
            uid = conn.execute(text("SELECT id FROM users")).scalar_one()
            conn.execute(
                text(
                    "INSERT INTO products (product_id, kind, author_id, created_at, "
                    "classification, releasable_to, body, tearline, state) VALUES "
                    f"('P1', 'digest', {uid}, '{t}', 'UNCLASSIFIED', '[\"MEX\"]', '{{}}', "
                    "'{}', 'released')"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO product_releases (product_id, agency_id, released_at, "
                    f"released_by) SELECT 'P1', id, '{t}', {uid} FROM agencies "
                    "WHERE code = 'SEMAR'"
                )
            )
        upgrade(engine)
        with engine.connect() as conn:
            row = conn.execute(
                text("SELECT product_id, withdrawn_at, withdrawn_by FROM product_releases")
            ).one()
            assert tuple(row) == ("P1", None, None)
        downgrade(engine, "0001")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM product_releases")).scalar_one() == 1
    finally:
        engine.dispose()
