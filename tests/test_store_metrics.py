"""Metrics on a small constructed history whose figures are worked out by hand."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from vigia.app.admin import format_metrics, metrics
from vigia.store import (
    NotFound,
    PermissionDenied,
    Store,
    User,
    acknowledge,
    approve_release,
    compute_metrics,
    create_draft,
    record_action,
    sync_sites,
)

T0 = datetime(2026, 5, 1, tzinfo=UTC)
NOW = datetime(2026, 7, 1, tzinfo=UTC)


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


@pytest.fixture
def history(store: Store, users: dict[str, User], make_sites: Callable[..., pa.Table]) -> None:
    """Detection -> release -> action delays (hours):

    ======  ==========  =========================  ==========================
    site    first_seen  first release (agency)     first action (agency)
    ======  ==========  =========================  ==========================
    S0      0           10  (SEMAR)   -> 10        58 operation (SEMAR) -> 48
    S1      12          32  (SEMAR)   -> 20        56 nothing_found     -> 24
                        40  (FGR, second product)
    S2      24          54  (FGR)     -> 30        126 inspection (FGR) -> 72
    S3      0, not a candidate, never released
    ======  ==========  =========================  ==========================
    """
    table = make_sites(
        rows=[
            {"first_seen": h(0)},
            {"first_seen": h(12)},
            {"first_seen": h(24)},
            {"first_seen": h(0), "candidate": False, "probability": 0.2},
        ]
    )
    ana, sam, semar, fgr = users["ana"], users["sam"], users["semar.oficial"], users["fgr.enlace"]
    with store.transaction() as s:
        sync_sites(s, table, now=h(1))

        def release(site: str, agency: str, at: datetime) -> None:
            p = create_draft(
                s,
                ana,
                "site_report",
                site_id=site,
                body={},
                tearline={},
                classification="UNCLASSIFIED",
                releasable_to=["USA", "MEX"],
                now=at - timedelta(hours=1),
            )
            approve_release(s, sam, p.product_id, [agency], now=at)

        release("S00000000", "SEMAR", h(10))
        release("S00000001", "SEMAR", h(32))
        release("S00000001", "FGR", h(40))
        release("S00000002", "FGR", h(54))
        create_draft(
            s,
            ana,
            "digest",
            body={},
            tearline={},
            classification="UNCLASSIFIED",
            releasable_to=["USA"],
        )
        acknowledge(s, semar, "S00000000", now=h(11))
        record_action(
            s,
            semar,
            "S00000000",
            "operation",
            h(58),
            seizures=[
                {"substance": "fentanyl_pills", "amount": 630_000, "unit": "pills"},
                {"substance": "fentanyl_powder", "amount": 282, "unit": "lb"},
            ],
            now=NOW,
        )
        record_action(
            s,
            semar,
            "S00000000",
            "lab_dismantled",
            h(100),
            seizures=[{"substance": "methamphetamine", "amount": 220, "unit": "lb"}],
            now=NOW,
        )
        record_action(
            s,
            semar,
            "S00000000",
            "operation",
            date(2026, 6, 15),
            seizures=[{"substance": "fentanyl_pills", "amount": 100_000, "unit": "count"}],
            now=NOW,
        )
        record_action(s, semar, "S00000001", "nothing_found", h(56), now=NOW)
        record_action(
            s,
            fgr,
            "S00000002",
            "inspection",
            h(126),
            seizures=[
                {"substance": "precursor_chemical", "amount": 55, "unit": "gal"},
                {"substance": "precursor_chemical", "amount": 10, "unit": "kg"},
            ],
            now=NOW,
        )


def test_metrics_for_all_agencies(store: Store, history: None) -> None:
    with store.transaction() as s:
        m = compute_metrics(s, "tester", now=NOW)
    assert m["agency"] is None
    assert m["sites"] == {
        "total": 4,
        "detected": 3,
        "released": 3,
        "acted_on": 3,
        "by_partner_status": {
            "inspected": 1,
            "nothing_found": 1,
            "operation": 1,
        },
    }
    assert m["products"] == {"draft": 1, "released": 4, "rejected": 0}
    assert m["actions"] == {
        "acknowledged": 1,
        "inspection": 1,
        "lab_dismantled": 1,
        "nothing_found": 1,
        "operation": 2,
    }
    assert m["median_hours"] == {
        "detection_to_release": 20.0,  # 10, 20, 30
        "release_to_action": 48.0,  # 48, 24, 72
        "detection_to_action": 58.0,  # 58, 44, 102
    }
    assert m["seizures"]["totals"] == [
        {"substance": "fentanyl_pills", "unit": "count", "amount": 730_000, "seizures": 2},
        {"substance": "fentanyl_powder", "unit": "kg", "amount": 127.913048, "seizures": 1},
        {"substance": "methamphetamine", "unit": "kg", "amount": 99.790321, "seizures": 1},
        {"substance": "precursor_chemical", "unit": "L", "amount": 208.197648, "seizures": 1},
        {"substance": "precursor_chemical", "unit": "kg", "amount": 10.0, "seizures": 1},
    ]
    assert [
        (r["month"], r["substance"], r["unit"], r["amount"]) for r in m["seizures"]["by_month"]
    ] == [
        ("2026-05", "fentanyl_pills", "count", 630_000),
        ("2026-05", "fentanyl_powder", "kg", 127.913048),
        ("2026-05", "methamphetamine", "kg", 99.790321),
        ("2026-05", "precursor_chemical", "L", 208.197648),
        ("2026-05", "precursor_chemical", "kg", 10.0),
        ("2026-06", "fentanyl_pills", "count", 100_000),
    ]
    json.dumps(m)  # plain JSON


def test_metrics_for_one_agency(store: Store, users: dict[str, User], history: None) -> None:
    with store.transaction() as s:
        m = compute_metrics(s, users["sam"], agency="SEMAR", now=NOW)
        as_partner = compute_metrics(s, users["semar.enlace"], now=NOW)
        fgr = compute_metrics(s, users["fgr.enlace"], now=NOW)
        with pytest.raises(PermissionDenied):
            compute_metrics(s, users["fgr.enlace"], agency="SEMAR")
        with pytest.raises(NotFound):
            compute_metrics(s, users["sam"], agency="NOPE")
    for key in ("sites", "products", "actions", "median_hours", "seizures"):
        assert as_partner[key] == m[key]
    assert m["sites"]["released"] == 2 and m["sites"]["acted_on"] == 2
    assert m["products"] == {"draft": 0, "released": 2, "rejected": 0}
    assert m["median_hours"] == {
        "detection_to_release": 15.0,
        "release_to_action": 36.0,
        "detection_to_action": 51.0,
    }
    assert [t["substance"] for t in m["seizures"]["totals"]] == [
        "fentanyl_pills",
        "fentanyl_powder",
        "methamphetamine",
    ]
    assert fgr["agency"] == "FGR"
    assert fgr["median_hours"]["release_to_action"] == 72.0  # FGR's first release of S2 at 54 h
    assert fgr["sites"]["by_partner_status"] == {"inspected": 1}


def test_each_agency_counts_its_own_status(
    store: Store, users: dict[str, User], history: None
) -> None:
    """A later action by another agency on a site released to both does not move the site out of
    the first agency's status counts (nor into theirs)."""
    with store.transaction() as s:
        before = compute_metrics(s, users["sam"], agency="SEMAR", now=NOW)
        record_action(s, users["fgr.enlace"], "S00000001", "lab_dismantled", h(200), now=NOW)
    with store.transaction() as s:
        semar = compute_metrics(s, users["sam"], agency="SEMAR", now=NOW)
        fgr = compute_metrics(s, users["sam"], agency="FGR", now=NOW)
        everyone = compute_metrics(s, users["sam"], now=NOW)
    assert before["sites"]["by_partner_status"] == {"operation": 1, "nothing_found": 1}
    assert semar["sites"]["by_partner_status"] == before["sites"]["by_partner_status"]
    assert fgr["sites"]["by_partner_status"] == {"dismantled": 1, "inspected": 1}
    # for staff, across agencies, a site has the status of the latest action on it
    assert everyone["sites"]["by_partner_status"] == {
        "dismantled": 1,
        "inspected": 1,
        "operation": 1,
    }


def test_metrics_command(data_dir: Path, store: Store, history: None) -> None:
    m = metrics(data_dir)
    assert m["sites"]["acted_on"] == 3
    text = format_metrics(m)
    assert "Sites: 4 in store, 3 detected, 3 released, 3 acted on" in text
    assert "730,000 count" in text
    es = format_metrics(metrics(data_dir, agency="FGR"), "es")
    assert "Sitios: 4 registrados, 3 detectados, 2 entregados, 1 con acción" in es
    assert "precursor_chemical" in es


def test_metrics_of_an_empty_store(store: Store) -> None:
    with store.transaction() as s:
        m = compute_metrics(s)
    assert m["sites"]["detected"] == 0
    assert m["median_hours"]["release_to_action"] is None
    assert m["seizures"] == {"totals": [], "by_month": []}
    assert "n/a" in format_metrics(m)
