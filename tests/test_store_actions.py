"""Partner actions: validation, unit normalisation, site status."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import pytest
from sqlalchemy import func, select

from vigia.store import (
    GALLON_L,
    POUND_KG,
    Action,
    AuditEntry,
    NotFound,
    PermissionDenied,
    Seizure,
    SeizureInput,
    Site,
    Store,
    User,
    ValidationError,
    acknowledge,
    approve_release,
    create_draft,
    list_actions,
    normalise_amount,
    record_action,
    sync_sites,
)

NOW = datetime(2026, 5, 20, 18, 0, tzinfo=UTC)
CULIACAN_2023 = [  # the 2023 Culiacán lab: pills, powder and meth as reported, in pounds
    {"substance": "fentanyl_pills", "amount": 630_000, "unit": "pills"},
    {"substance": "fentanyl_powder", "amount": 282, "unit": "lb"},
    {"substance": "methamphetamine", "amount": 220, "unit": "lb"},
]


@pytest.fixture
def released(store: Store, users: dict[str, User], make_sites: Callable[..., pa.Table]) -> str:
    """Site S00000000 released to SEMAR; S00000001 exists but is not released."""
    with store.transaction() as s:
        sync_sites(s, make_sites(2))
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
        approve_release(s, users["sam"], p.product_id, ["SEMAR"], now=NOW - timedelta(days=5))
    return "S00000000"


def _counts(store: Store) -> tuple[int, int, int]:
    with store.read_only() as s:
        return (
            s.execute(select(func.count()).select_from(Action)).scalar_one(),
            s.execute(select(func.count()).select_from(Seizure)).scalar_one(),
            s.execute(select(func.count()).select_from(AuditEntry)).scalar_one(),
        )


def test_exact_unit_factors() -> None:
    assert POUND_KG == 0.45359237 and GALLON_L == 3.785411784
    assert normalise_amount("fentanyl_powder", 282, "lb") == (282 * 0.45359237, "kg")
    assert normalise_amount("methamphetamine", 1, "LBS") == (0.45359237, "kg")
    assert normalise_amount("methamphetamine", 1500, "g") == (1.5, "kg")
    assert normalise_amount("precursor_chemical", 55, "gal") == (55 * 3.785411784, "L")
    assert normalise_amount("precursor_chemical", 250, "mL") == (0.25, "L")
    assert normalise_amount("precursor_chemical", 200, "kg") == (200.0, "kg")
    assert normalise_amount("fentanyl_pills", 630_000, "count") == (630_000.0, "count")
    assert normalise_amount("fentanyl_powder", 16, "oz") == pytest.approx((POUND_KG, "kg"))


@pytest.mark.parametrize(
    ("substance", "amount", "unit", "message"),
    [
        ("fentanyl_powder", -1, "kg", "greater than zero"),
        ("fentanyl_powder", 0, "kg", "greater than zero"),
        ("fentanyl_powder", float("nan"), "kg", "greater than zero"),
        ("fentanyl_powder", "12", "kg", "not a number"),
        ("fentanyl_powder", 3, "stone", "unknown unit"),
        ("fentanyl_powder", 3, "L", "measured by mass"),
        ("fentanyl_pills", 3, "kg", "measured by count"),
        ("fentanyl_pills", 2.5, "pills", "whole number"),
        ("cocaine", 3, "kg", "unknown substance"),
    ],
)
def test_bad_amounts(substance: str, amount: object, unit: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        normalise_amount(substance, amount, unit)  # type: ignore[arg-type]


def test_action_with_seizures_is_normalised(
    store: Store, users: dict[str, User], released: str
) -> None:
    with store.transaction() as s:
        action = record_action(
            s,
            users["semar.oficial"],
            released,
            "lab_dismantled",
            NOW - timedelta(days=1),
            lat=24.81,
            lon=-107.41,
            notes="Laboratorio desmantelado",
            seizures=[*CULIACAN_2023, SeizureInput("precursor_chemical", 55, "gal")],
            now=NOW,
        )
    got = {(z.substance, z.unit): z for z in action.seizures}
    assert got[("fentanyl_pills", "count")].amount == 630_000
    assert got[("fentanyl_powder", "kg")].amount == 282 * POUND_KG
    assert got[("methamphetamine", "kg")].amount == 220 * POUND_KG
    assert got[("methamphetamine", "kg")].original_amount == 220
    assert got[("methamphetamine", "kg")].original_unit == "lb"
    assert got[("precursor_chemical", "L")].amount == 55 * GALLON_L
    with store.read_only() as s:
        site = s.get(Site, released)
        assert site is not None
        assert site.partner_status == "dismantled"
        assert site.partner_status_at == NOW - timedelta(days=1)
        stored = s.execute(select(Action)).scalar_one()
        assert (stored.lat, stored.lon, stored.agency.code) == (24.81, -107.41, "SEMAR")
        assert len(stored.seizures) == 4


#: (bad input, part of the message) pairs; each is tried next to one good seizure.
BAD_ACTIONS: list[tuple[dict[str, object], str]] = [
    ({"seizures": [{"substance": "methamphetamine", "amount": -5, "unit": "kg"}]}, "zero"),
    ({"seizures": [{"substance": "methamphetamine", "amount": 5, "unit": "bags"}]}, "unit"),
    ({"seizures": [{"substance": "heroin", "amount": 5, "unit": "kg"}]}, "substance"),
    ({"seizures": [{"substance": "heroin"}]}, "needs substance, amount and unit"),
    ({"lat": 95.0, "lon": -107.0}, "latitude 95.0 is out of range"),
    ({"lat": 24.0, "lon": -190.0}, "longitude -190.0 is out of range"),
    ({"lat": 24.0}, "both latitude and longitude"),
    ({"occurred_at": NOW + timedelta(minutes=1)}, "in the future"),
    ({"occurred_at": date(2026, 5, 21)}, "in the future"),
    ({"occurred_at": datetime(2026, 5, 1, 12)}, "no time zone"),
    ({"kind": "raid"}, "kind 'raid'"),
    ({"kind": "nothing_found", "seizures": CULIACAN_2023}, "cannot report seizures"),
    ({"notes": "x" * 10_001}, "notes longer"),
]


def test_bad_actions_change_nothing(store: Store, users: dict[str, User], released: str) -> None:
    before = _counts(store)
    for kwargs, message in BAD_ACTIONS:
        args: dict[str, object] = {
            "kind": "operation",
            "occurred_at": NOW - timedelta(hours=3),
            "seizures": [CULIACAN_2023[0]],  # a good seizure alongside the bad input
        }
        args.update(kwargs)
        with pytest.raises(ValidationError, match=message), store.transaction() as s:
            record_action(
                s,
                users["semar.enlace"],
                released,
                args.pop("kind"),  # type: ignore[arg-type]
                args.pop("occurred_at"),  # type: ignore[arg-type]
                now=NOW,
                **args,  # type: ignore[arg-type]
            )
        assert _counts(store) == before, kwargs
    with store.read_only() as s:
        assert s.get(Site, released).partner_status is None  # type: ignore[union-attr]


def test_every_problem_is_listed(store: Store, users: dict[str, User], released: str) -> None:
    with pytest.raises(ValidationError) as err, store.transaction() as s:
        record_action(
            s,
            users["semar.enlace"],
            released,
            "operation",
            NOW + timedelta(days=1),
            lat=100.0,
            lon=0.0,
            seizures=[{"substance": "methamphetamine", "amount": -1, "unit": "lb"}],
            now=NOW,
        )
    assert len(err.value.problems) == 3
    assert err.value.problems[-1].startswith("seizure 1: ")


def test_who_may_record_on_which_site(store: Store, users: dict[str, User], released: str) -> None:
    with store.transaction() as s:
        with pytest.raises(PermissionDenied):
            record_action(s, users["ana"], released, "operation", NOW, now=NOW)
        with pytest.raises(NotFound):  # released to SEMAR, not to FGR
            record_action(s, users["fgr.enlace"], released, "operation", NOW, now=NOW)
        with pytest.raises(NotFound):  # exists, not released
            record_action(s, users["semar.enlace"], "S00000001", "operation", NOW, now=NOW)
        with pytest.raises(NotFound):
            record_action(s, users["semar.enlace"], "S-nope", "operation", NOW, now=NOW)
    assert _counts(store)[0] == 0


def test_partner_status_follows_the_latest_action(
    store: Store, users: dict[str, User], released: str
) -> None:
    officer = users["semar.oficial"]

    def status() -> str | None:
        with store.read_only() as s:
            return s.get(Site, released).partner_status  # type: ignore[union-attr]

    with store.transaction() as s:
        acknowledge(s, officer, released, now=NOW - timedelta(days=4))
    assert status() == "acknowledged"
    with store.transaction() as s:
        record_action(s, officer, released, "inspection", NOW - timedelta(days=3), now=NOW)
    assert status() == "inspected"
    with store.transaction() as s:
        record_action(s, officer, released, "operation", date(2026, 5, 18), now=NOW)
    assert status() == "operation"
    with store.transaction() as s:  # reported late, but happened before the operation
        record_action(
            s, officer, released, "nothing_found", NOW - timedelta(days=2, hours=19), now=NOW
        )
    assert status() == "operation"
    with store.transaction() as s:  # an acknowledgement never overrides a reported action
        acknowledge(s, users["semar.enlace"], released, now=NOW)
    assert status() == "operation"
    with store.transaction() as s:
        record_action(s, officer, released, "lab_dismantled", NOW - timedelta(hours=1), now=NOW)
    assert status() == "dismantled"
    with store.transaction() as s:
        kinds = [a.kind for a in list_actions(s, users["semar.enlace"], site_id=released)]
        assert kinds == [
            "acknowledged",
            "inspection",
            "nothing_found",
            "operation",
            "lab_dismantled",
            "acknowledged",
        ]
        assert list_actions(s, users["fgr.enlace"]) == []
        assert len(list_actions(s, users["sam"])) == 6
