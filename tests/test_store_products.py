"""Two-person release and what each partner agency can see."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from sqlalchemy import func, select

from vigia.store import (
    AuditEntry,
    Conflict,
    NotFound,
    PermissionDenied,
    Product,
    Store,
    User,
    ValidationError,
    approve_release,
    create_draft,
    get_product,
    get_site,
    list_products,
    list_sites,
    new_product_id,
    products_for_agency,
    reject_product,
    released_sites_for_agency,
    sites_within,
    sync_sites,
    update_draft,
)

NOW = datetime(2026, 5, 3, 9, 30, tzinfo=UTC)
SENSITIVE = {"platform": "MQ-9A", "tail_number": "N-SENTINEL-7", "sorties": ["MSN-SECRET-0001"]}


def _draft(s, author: User, site_id: str | None, releasable_to=("USA", "MEX")) -> Product:  # type: ignore[no-untyped-def]
    return create_draft(
        s,
        author,
        "site_report",
        site_id=site_id,
        title=f"Site report {site_id}",
        body={"site_id": site_id, **SENSITIVE, "assessment": "likely meth lab"},
        tearline={"site_id": site_id, "assessment": "likely meth lab"},
        classification="UNCLASSIFIED",
        caveats="FOUO",
        releasable_to=list(releasable_to),
        now=NOW,
    )


@pytest.fixture
def sites(store: Store, make_sites: Callable[..., pa.Table]) -> list[str]:
    with store.transaction() as s:
        sync_sites(s, make_sites(4))
    return ["S00000000", "S00000001", "S00000002", "S00000003"]


def test_two_person_rule(store: Store, users: dict[str, User], sites: list[str]) -> None:
    with store.transaction() as s:
        draft = _draft(s, users["ana"], sites[0])
        by_supervisor = _draft(s, users["sam"], sites[1])
    assert draft.state == "draft" and draft.product_id.startswith("P")
    with store.transaction() as s:
        with pytest.raises(PermissionDenied, match="only a supervisor"):
            approve_release(s, users["alex"], draft.product_id, ["SEMAR"])
        with pytest.raises(PermissionDenied, match="two-person rule"):
            approve_release(s, users["sam"], by_supervisor.product_id, ["SEMAR"])
        with pytest.raises(PermissionDenied):
            approve_release(s, users["semar.enlace"], draft.product_id, ["SEMAR"])
    with store.transaction() as s:
        released = approve_release(
            s, users["sam"], draft.product_id, ["SEMAR", "FGR"], now=NOW + timedelta(hours=2)
        )
        assert released.state == "released"
        assert released.approver_id == users["sam"].id != released.author_id
        assert released.approved_at == NOW + timedelta(hours=2)
        assert released.released_to == ["SEMAR", "FGR"]
        other = approve_release(s, users["sofia"], by_supervisor.product_id, ["SEMAR"])
        assert other.approver_id == users["sofia"].id
    with store.transaction() as s:
        with pytest.raises(Conflict, match="not a draft"):
            approve_release(s, users["sofia"], draft.product_id, ["GN"])
        with pytest.raises(Conflict):
            update_draft(s, users["ana"], draft.product_id, tearline={"x": 1})
        with pytest.raises(NotFound):
            approve_release(s, users["sam"], "Pnope", ["SEMAR"])


def test_rejection_and_drafts(store: Store, users: dict[str, User], sites: list[str]) -> None:
    with store.transaction() as s:
        draft = _draft(s, users["sam"], sites[0])
        with pytest.raises(PermissionDenied, match="only the author"):
            update_draft(s, users["alex"], draft.product_id, title="x")
        update_draft(s, users["sam"], draft.product_id, tearline={"site_id": sites[0]}, title="v2")
        with pytest.raises(PermissionDenied, match="two-person"):
            reject_product(s, users["sam"], draft.product_id, "no")
        with pytest.raises(PermissionDenied, match="only a supervisor"):
            reject_product(s, users["ana"], draft.product_id, "no")
        with pytest.raises(ValidationError, match="reason"):
            reject_product(s, users["sofia"], draft.product_id, "  ")
        rejected = reject_product(s, users["sofia"], draft.product_id, "needs a second pass")
        assert rejected.state == "rejected" and rejected.rejection_reason == "needs a second pass"
    with store.transaction() as s:
        with pytest.raises(Conflict):
            approve_release(s, users["sofia"], draft.product_id, ["SEMAR"])
        got = get_product(s, users["ana"], draft.product_id)
        assert got.title == "v2" and got.tearline == {"site_id": sites[0]}


def test_draft_validation(store: Store, users: dict[str, User], sites: list[str]) -> None:
    with store.transaction() as s:
        with pytest.raises(ValidationError) as err:
            create_draft(
                s,
                users["ana"],
                "poster",
                body={"a": float("nan")},
                tearline={},
                classification="SORTA SECRET",
                releasable_to=["mx"],
                site_id="S-missing",
            )
        text = str(err.value)
        for part in ("kind 'poster'", "body is not JSON", "classification", "alpha-3", "no site"):
            assert part in text
        with pytest.raises(ValidationError, match="needs a site_id"):
            create_draft(
                s,
                users["ana"],
                "site_report",
                body={},
                tearline={},
                classification="UNCLASSIFIED",
                releasable_to=["USA"],
            )
        with pytest.raises(PermissionDenied):
            _draft(s, users["semar.enlace"], sites[0])
    with store.read_only() as s:
        assert s.execute(select(func.count()).select_from(Product)).scalar_one() == 0


def test_release_only_within_releasability(
    store: Store, users: dict[str, User], sites: list[str]
) -> None:
    with store.transaction() as s:
        us_only = _draft(s, users["ana"], sites[0], releasable_to=["USA"])
    with store.transaction() as s:
        with pytest.raises(ValidationError) as err:
            approve_release(s, users["sam"], us_only.product_id, ["SEMAR", "XYZ"])
        assert "SEMAR (MEX) is not in the product's releasability (USA)" in str(err.value)
        assert "unknown agency 'XYZ'" in str(err.value)
        with pytest.raises(ValidationError, match="at least one agency"):
            approve_release(s, users["sam"], us_only.product_id, [])
    with store.read_only() as s:
        assert s.get(Product, us_only.product_id).state == "draft"  # type: ignore[union-attr]


def test_partner_visibility_by_agency(
    store: Store, users: dict[str, User], sites: list[str]
) -> None:
    with store.transaction() as s:
        to_semar = _draft(s, users["ana"], sites[0])
        to_both = _draft(s, users["ana"], sites[1])
        draft = _draft(s, users["ana"], sites[2])
        digest = create_draft(
            s,
            users["alex"],
            "digest",
            body={"week": 18, **SENSITIVE},
            tearline={"week": 18},
            classification="UNCLASSIFIED",
            releasable_to=["USA", "MEX"],
        )
    with store.transaction() as s:
        approve_release(s, users["sam"], to_semar.product_id, ["SEMAR"])
        approve_release(s, users["sam"], to_both.product_id, ["SEMAR", "FGR"])
        approve_release(s, users["sam"], digest.product_id, ["FGR"])

    semar, semar_officer, fgr = users["semar.enlace"], users["semar.oficial"], users["fgr.enlace"]
    with store.transaction() as s:
        got = {p.product_id for p in products_for_agency(s, semar, "SEMAR")}
        assert got == {to_semar.product_id, to_both.product_id}
        assert {p.product_id for p in list_products(s, semar_officer)} == got
        assert {p.product_id for p in list_products(s, fgr)} == {
            to_both.product_id,
            digest.product_id,
        }
        assert [x.site_id for x in released_sites_for_agency(s, semar, "SEMAR")] == sites[:2]
        assert [x.site_id for x in list_sites(s, fgr)] == [sites[1]]
        assert [x.site_id for x in released_sites_for_agency(s, users["ana"], "GN")] == []
        with pytest.raises(PermissionDenied):
            products_for_agency(s, semar, "FGR")
        with pytest.raises(PermissionDenied):
            released_sites_for_agency(s, fgr, "SEMAR")
        with pytest.raises(NotFound):
            products_for_agency(s, users["ana"], "NOPE")
        # Not released to them: indistinguishable from not existing.
        for pid in (draft.product_id, digest.product_id, "Pnope"):
            with pytest.raises(NotFound, match="no product"):
                get_product(s, semar, pid)
        for sid in (sites[2], sites[3], "S-nope"):
            with pytest.raises(NotFound, match="no site"):
                get_site(s, semar, sid)
        assert get_site(s, semar, sites[0]).site_id == sites[0]
        assert get_product(s, fgr, digest.product_id).tearline == {"week": 18}
        near = sites_within(s, fgr, 24.80, -107.40, 50_000)
        assert [x.site_id for x, _ in near] == [sites[1]]
        # Staff see everything.
        assert len(list_products(s, users["ana"])) == 4
        assert len(list_products(s, users["ana"], state="draft")) == 1
        assert len(list_sites(s, users["ana"])) == 4
        assert get_product(s, users["alex"], draft.product_id).body["tail_number"] == "N-SENTINEL-7"


def test_reads_and_writes_are_audited(
    store: Store, users: dict[str, User], sites: list[str]
) -> None:
    with store.transaction() as s:
        p = _draft(s, users["ana"], sites[0])
    with store.transaction() as s:
        approve_release(s, users["sam"], p.product_id, ["SEMAR"])
    with store.transaction() as s:
        products_for_agency(s, users["semar.enlace"], "SEMAR")
        get_site(s, users["semar.enlace"], sites[0])
    # A refused operation leaves no entry (same transaction as the operation).
    with pytest.raises(NotFound), store.transaction() as s:
        get_site(s, users["semar.enlace"], sites[3])
    with store.read_only() as s:
        entries = s.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars().all()
    tail = [(e.actor, e.action, e.object_type, e.object_id) for e in entries[-5:]]
    assert tail == [
        ("system", "sync", "site", "*"),
        ("ana", "create", "product", p.product_id),
        ("sam", "release", "product", p.product_id),
        ("semar.enlace", "read", "product", "*"),
        ("semar.enlace", "read", "site", sites[0]),
    ]
    assert entries[-3].details["agencies"] == ["SEMAR"]
    assert entries[-2].details == {"agency": "SEMAR", "product_ids": [p.product_id]}


def test_caller_named_product_id(store: Store, users: dict[str, User], sites: list[str]) -> None:
    """A caller may name the product (to put its id in the tearline): one audit entry, and a
    malformed or taken id is refused with nothing saved."""
    pid = new_product_id()
    assert pid != new_product_id() and len(pid) == 13
    with store.transaction() as s:
        before = s.scalar(select(func.count()).select_from(AuditEntry))
        made = create_draft(
            s,
            users["ana"],
            "site_report",
            site_id=sites[0],
            body={"site_id": sites[0]},
            tearline={"product_id": pid, "site_id": sites[0]},
            classification="UNCLASSIFIED",
            releasable_to=["USA", "MEX"],
            product_id=pid,
        )
        assert made.product_id == pid == made.tearline["product_id"]
        entries = s.execute(select(AuditEntry).where(AuditEntry.seq > before)).scalars().all()
        assert [(e.action, e.object_id) for e in entries] == [("create", pid)]
    for bad, error in (("X123", ValidationError), (pid, Conflict)):
        with store.transaction() as s, pytest.raises(error):
            create_draft(
                s,
                users["ana"],
                "digest",
                body={},
                tearline={},
                classification="UNCLASSIFIED",
                releasable_to=["USA"],
                product_id=bad,
            )
    with store.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Product)) == 1
