"""Partner feedback: actions on released sites and what was seized.

Amounts are normalised on the way in (pills by count, fentanyl powder and methamphetamine in kg,
precursor chemicals in kg or L) with exact factors (1 lb = 0.45359237 kg, 1 US gal =
3.785411784 L); the amount and unit as reported are kept too. Everything is checked before
anything is written: a :class:`ValidationError` lists every problem and changes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vigia.errors import NotFound, PermissionDenied, TimeError, ValidationError
from vigia.store.audit import audit, lock_audit
from vigia.store.models import (
    ACTION_KINDS,
    PARTNER_STATUS_FOR_KIND,
    SUBSTANCES,
    Action,
    Agency,
    Seizure,
    Site,
    User,
)
from vigia.store.sites import site_visible_to
from vigia.times import aware_utc, check_user_time

__all__ = [
    "GALLON_L",
    "MAX_AMOUNT",
    "MIN_AMOUNT",
    "POUND_KG",
    "SeizureInput",
    "acknowledge",
    "agency_site_status",
    "list_actions",
    "normalise_amount",
    "record_action",
]

POUND_KG = 0.45359237
"""International avoirdupois pound, kg (exact by definition)."""
OUNCE_KG = POUND_KG / 16
GALLON_L = 3.785411784
"""US liquid gallon, litres (exact by definition)."""

#: unit -> (family, multiply, divide): normalised = amount * multiply / divide.
_UNITS: dict[str, tuple[str, float, float]] = {
    "count": ("count", 1.0, 1.0),
    "kg": ("mass", 1.0, 1.0),
    "g": ("mass", 1.0, 1000.0),
    "lb": ("mass", POUND_KG, 1.0),
    "oz": ("mass", OUNCE_KG, 1.0),
    "l": ("volume", 1.0, 1.0),
    "ml": ("volume", 1.0, 1000.0),
    "gal": ("volume", GALLON_L, 1.0),
}
_ALIASES = {
    "pill": "count",
    "pills": "count",
    "tablet": "count",
    "tablets": "count",
    "pastillas": "count",
    "kilogram": "kg",
    "kilograms": "kg",
    "kgs": "kg",
    "gram": "g",
    "grams": "g",
    "lbs": "lb",
    "pound": "lb",
    "pounds": "lb",
    "litre": "l",
    "litres": "l",
    "liter": "l",
    "liters": "l",
    "gallon": "gal",
    "gallons": "gal",
}
_NORMAL_UNIT = {"count": "count", "mass": "kg", "volume": "L"}
_FAMILIES = {
    "fentanyl_pills": ("count",),
    "fentanyl_powder": ("mass",),
    "methamphetamine": ("mass",),
    "precursor_chemical": ("mass", "volume"),
}
#: Kinds of action that can come with seizures.
SEIZING_KINDS = frozenset({"inspection", "operation", "lab_dismantled"})
#: Smallest seizure the store accepts, in its units (kg or L: one milligram, one millilitre); an
#: amount that normalises below it (5e-324 g) is a typo or a probe, and would vanish to zero.
MIN_AMOUNT = 1e-6
#: Largest seizure the store accepts, in its units (pills, kg or L).
MAX_AMOUNT = 1e9
MAX_NOTES = 10_000
MAX_SEIZURES = 100


@dataclass(frozen=True)
class SeizureInput:
    """A seizure as reported: e.g. ``SeizureInput('methamphetamine', 220, 'lb')``."""

    substance: str
    amount: float
    unit: str


def normalise_amount(substance: str, amount: float, unit: str) -> tuple[float, str]:
    """``(amount, unit)`` in the store's units: 'count', 'kg' or 'L'.

    Raises :class:`ValidationError` for an unknown substance or unit, a unit that does not fit
    the substance (pills by count, powders by mass, precursors by mass or volume), or an amount
    that is not a positive finite number (whole for pills) or that normalises outside
    [:data:`MIN_AMOUNT`, :data:`MAX_AMOUNT`] (count, kg or L).
    """
    if substance not in _FAMILIES:
        raise ValidationError(f"unknown substance {substance!r} (one of {', '.join(SUBSTANCES)})")
    key = unit.strip().lower() if isinstance(unit, str) else ""
    key = _ALIASES.get(key, key)
    if key not in _UNITS:
        raise ValidationError(
            f"unknown unit {unit!r} for {substance} (use count, kg, g, lb, oz, L, mL or gal)"
        )
    family, mul, div = _UNITS[key]
    if family not in _FAMILIES[substance]:
        expected = " or ".join(_FAMILIES[substance])
        raise ValidationError(f"{substance} is measured by {expected}, not in {unit!r}")
    if isinstance(amount, bool) or not isinstance(amount, int | float):
        raise ValidationError(f"amount {amount!r} of {substance} is not a number")
    value = float(amount)
    if not math.isfinite(value) or value <= 0:
        raise ValidationError(f"amount of {substance} must be greater than zero, got {amount!r}")
    if family == "count" and value != math.floor(value):
        raise ValidationError(f"{substance} are counted: {amount!r} is not a whole number")
    normal = value * mul / div
    if not MIN_AMOUNT <= normal <= MAX_AMOUNT:
        unit_n = _NORMAL_UNIT[family]
        raise ValidationError(
            f"amount {amount!r} {unit} of {substance} is {normal:g} {unit_n}: outside "
            f"{MIN_AMOUNT:g}..{MAX_AMOUNT:g} {unit_n}"
        )
    return normal, _NORMAL_UNIT[family]


def _seizure_input(raw: SeizureInput | Mapping[str, Any], i: int) -> SeizureInput:
    if isinstance(raw, SeizureInput):
        return raw
    try:
        return SeizureInput(raw["substance"], raw["amount"], raw["unit"])
    except (KeyError, TypeError) as exc:
        raise ValidationError(f"seizure {i + 1} needs substance, amount and unit") from exc


def _occurred(value: datetime | date) -> datetime:
    try:
        value = check_user_time(value, "the action date")
    except TimeError as exc:
        raise ValidationError(exc.message) from None
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.combine(value, time(0, 0), tzinfo=UTC)


def record_action(
    session: Session,
    actor: User,
    site_id: str,
    kind: str,
    occurred_at: datetime | date,
    *,
    lat: float | None = None,
    lon: float | None = None,
    notes: str | None = None,
    seizures: Sequence[SeizureInput | Mapping[str, Any]] = (),
    now: datetime | None = None,
) -> Action:
    """Record what ``actor``'s agency did about a site released to it, and update the site.

    ``occurred_at`` is an aware datetime, or a date (taken as 00:00 UTC); it may not be in the
    future. ``lat``/``lon`` (degrees) give the place, both or neither. The site's partner
    status becomes that of the latest action by time (an acknowledgement only sets it when
    nothing else was reported). Only partner users record actions (PermissionDenied), on sites
    released to their agency (NotFound otherwise).
    """
    lock_audit(session)
    if not actor.is_partner:
        raise PermissionDenied("only partner users record actions on sites")
    if not site_visible_to(session, actor, site_id):
        raise NotFound(f"no site {site_id!r}")
    t_now = (now or datetime.now(UTC)).astimezone(UTC)
    problems: list[str] = []
    if kind not in ACTION_KINDS:
        problems.append(f"kind {kind!r} is not one of {', '.join(ACTION_KINDS)}")
    when: datetime | None = None
    try:
        when = _occurred(occurred_at)
        if when > t_now:
            problems.append(f"the action date {when.isoformat()} is in the future")
    except ValidationError as exc:
        problems += exc.problems
    if (lat is None) != (lon is None):
        problems.append("give both latitude and longitude, or neither")
    elif lat is not None and lon is not None:
        for name, v, lim in (("latitude", lat, 90.0), ("longitude", lon, 180.0)):
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                problems.append(f"{name} {v!r} is not a number")
            elif abs(v) > lim:
                problems.append(f"{name} {v} is out of range (-{lim:g}..{lim:g})")
    if notes is not None and len(notes) > MAX_NOTES:
        problems.append(f"notes longer than {MAX_NOTES} characters")
    if len(seizures) > MAX_SEIZURES:
        problems.append(f"more than {MAX_SEIZURES} seizures in one action")
    elif seizures and kind in ACTION_KINDS and kind not in SEIZING_KINDS:
        problems.append(f"an action of kind {kind!r} cannot report seizures")
    rows: list[Seizure] = []
    for i, raw in enumerate(seizures[:MAX_SEIZURES]):
        try:
            s = _seizure_input(raw, i)
            amount, unit = normalise_amount(s.substance, s.amount, s.unit)
        except ValidationError as exc:
            problems += [f"seizure {i + 1}: {p}" for p in exc.problems]
            continue
        rows.append(
            Seizure(
                substance=s.substance,
                amount=amount,
                unit=unit,
                original_amount=float(s.amount),
                original_unit=s.unit.strip(),
            )
        )
    if problems or when is None:
        raise ValidationError(problems)

    action = Action(
        site_id=site_id,
        agency_id=actor.agency_id,
        user_id=actor.id,
        kind=kind,
        occurred_at=when,
        lat=None if lat is None else float(lat),
        lon=None if lon is None else float(lon),
        notes=notes,
        recorded_at=t_now,
        seizures=rows,
    )
    # The actor may come from another session: link the agency this session knows.
    action.agency = session.get_one(Agency, actor.agency_id)
    session.add(action)
    session.flush()
    _update_site_status(session, site_id, action)
    audit(
        session,
        actor.username,
        "create",
        "action",
        action.id,
        {
            "site_id": site_id,
            "agency": actor.agency_code,
            "kind": kind,
            "occurred_at": when,
            "place": None if lat is None else [lat, lon],
            "seizures": [
                {"substance": r.substance, "amount": r.amount, "unit": r.unit} for r in rows
            ],
        },
        now=t_now,
    )
    return action


def agency_site_status(session: Session, agency_id: int) -> dict[str, str]:
    """site_id -> one agency's own status of the site: that of its latest action by time (ties
    by id), else 'acknowledged' when it only acknowledged receipt. Other agencies' actions do not
    count (``Site.partner_status`` is the latest across all agencies, for staff)."""
    latest: dict[str, str] = {}
    acked: set[str] = set()
    rows = session.execute(
        select(Action.site_id, Action.kind)
        .where(Action.agency_id == agency_id)
        .order_by(Action.occurred_at, Action.id)
    ).all()
    for site_id, kind in rows:
        if kind == "acknowledged":
            acked.add(site_id)
        else:
            latest[site_id] = PARTNER_STATUS_FOR_KIND[kind]
    return {s: PARTNER_STATUS_FOR_KIND["acknowledged"] for s in acked} | latest


def _update_site_status(session: Session, site_id: str, action: Action) -> None:
    site = session.get(Site, site_id)
    assert site is not None
    if action.kind == "acknowledged":
        if site.partner_status is None:
            site.partner_status = PARTNER_STATUS_FOR_KIND["acknowledged"]
            site.partner_status_at = action.occurred_at
            site.partner_status_agency_id = action.agency_id
        return
    latest = session.execute(
        select(func.max(Action.occurred_at)).where(
            Action.site_id == site_id, Action.kind != "acknowledged", Action.id != action.id
        )
    ).scalar_one_or_none()
    if latest is None or action.occurred_at >= aware_utc(latest):
        site.partner_status = PARTNER_STATUS_FOR_KIND[action.kind]
        site.partner_status_at = action.occurred_at
        site.partner_status_agency_id = action.agency_id


def acknowledge(
    session: Session, actor: User, site_id: str, *, now: datetime | None = None
) -> Action:
    """Acknowledge receipt of a released site (an action of kind 'acknowledged', now)."""
    t = (now or datetime.now(UTC)).astimezone(UTC)
    return record_action(session, actor, site_id, "acknowledged", t, now=t)


def list_actions(session: Session, actor: User, *, site_id: str | None = None) -> list[Action]:
    """Actions, oldest first: all for staff, their own agency's for partner users."""
    q = select(Action).order_by(Action.occurred_at, Action.id)
    if actor.is_partner:
        q = q.where(Action.agency_id == actor.agency_id)
    if site_id is not None:
        q = q.where(Action.site_id == site_id)
    actions = list(session.execute(q).scalars())
    audit(
        session,
        actor.username,
        "read",
        "action",
        None,
        {"site_id": site_id, "action_ids": [a.id for a in actions]},
    )
    return actions
