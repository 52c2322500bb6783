"""Programme metrics: sites detected, released and acted on, delays, and seizures over time.

Detection time is the site's ``first_seen``; release time the first release of a site report
about it; action time the first reported action other than an acknowledgement. Delays are
medians in hours. Seizure totals are in the store's units (count, kg, L), per substance and per
calendar month (UTC) of the action.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vigia.errors import NotFound, PermissionDenied
from vigia.store.actions import agency_site_status
from vigia.store.audit import audit
from vigia.store.models import (
    PRODUCT_STATES,
    SUBSTANCES,
    Action,
    Agency,
    Product,
    ProductRelease,
    Seizure,
    Site,
    User,
)
from vigia.times import aware_utc

__all__ = ["compute_metrics"]


def _hours(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds() / 3600.0


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def _amount(unit: str, total: float) -> float | int:
    return round(total) if unit == "count" else round(total, 6)


def compute_metrics(
    session: Session,
    actor: User | str = "system",
    *,
    agency: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The metrics as a plain JSON-ready dict; ``agency`` (a code) limits releases, actions and
    seizures to one agency. A partner user always gets their own agency's figures."""
    if isinstance(actor, User) and actor.is_partner:
        if agency not in (None, actor.agency_code):
            raise PermissionDenied(f"{actor.username} may only see metrics of their agency")
        agency = actor.agency_code
    agency_id: int | None = None
    if agency is not None:
        agency_id = session.execute(
            select(Agency.id).where(Agency.code == agency)
        ).scalar_one_or_none()
        if agency_id is None:
            raise NotFound(f"unknown agency {agency!r}")

    n_sites = session.execute(select(func.count()).select_from(Site)).scalar_one()
    n_detected = session.execute(
        select(func.count()).select_from(Site).where(Site.candidate.is_(True))
    ).scalar_one()

    rel_q = (
        select(Product.site_id, func.min(ProductRelease.released_at))
        .join(ProductRelease, ProductRelease.product_id == Product.product_id)
        .where(Product.state == "released", Product.site_id.is_not(None))
        .group_by(Product.site_id)
    )
    act_q = (
        select(Action.site_id, func.min(Action.occurred_at))
        .where(Action.kind != "acknowledged")
        .group_by(Action.site_id)
    )
    kinds_q = select(Action.kind, func.count()).group_by(Action.kind)
    seiz_q = select(Seizure.substance, Seizure.unit, Seizure.amount, Action.occurred_at).join(
        Action, Action.id == Seizure.action_id
    )
    prod_q = select(Product.state, func.count()).group_by(Product.state)
    if agency_id is not None:
        rel_q = rel_q.where(ProductRelease.agency_id == agency_id)
        act_q = act_q.where(Action.agency_id == agency_id)
        kinds_q = kinds_q.where(Action.agency_id == agency_id)
        seiz_q = seiz_q.where(Action.agency_id == agency_id)
        prod_q = prod_q.where(
            Product.product_id.in_(
                select(ProductRelease.product_id).where(ProductRelease.agency_id == agency_id)
            )
        )
    released = {sid: aware_utc(t) for sid, t in session.execute(rel_q).all()}
    acted = {sid: aware_utc(t) for sid, t in session.execute(act_q).all()}
    first_seen = {
        sid: aware_utc(t)
        for sid, t in session.execute(
            select(Site.site_id, Site.first_seen).where(
                Site.site_id.in_(list(released.keys() | acted.keys())),
                Site.first_seen.is_not(None),
            )
        ).all()
        if t is not None
    }

    det_rel = [_hours(first_seen[s], t) for s, t in released.items() if s in first_seen]
    rel_act = [_hours(released[s], t) for s, t in acted.items() if s in released]
    det_act = [_hours(first_seen[s], t) for s, t in acted.items() if s in first_seen]

    totals: dict[tuple[str, str], list[float]] = defaultdict(list)
    monthly: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for substance, unit, amount, occurred in session.execute(seiz_q).all():
        totals[(substance, unit)].append(amount)
        monthly[(aware_utc(occurred).strftime("%Y-%m"), substance, unit)].append(amount)
    order = {s: i for i, s in enumerate(SUBSTANCES)}

    statuses: Counter[str] = Counter()
    if agency_id is not None:  # the agency's own status of each site, whoever acted last
        statuses.update(agency_site_status(session, agency_id).values())
    else:
        status_q = select(Site.partner_status, func.count()).group_by(Site.partner_status)
        for status, n in session.execute(status_q).all():
            if status is not None:
                statuses[status] = n
    products = dict.fromkeys(PRODUCT_STATES, 0)
    products.update({state: n for state, n in session.execute(prod_q).all()})

    result: dict[str, Any] = {
        "generated_at": (now or datetime.now(UTC)).astimezone(UTC).isoformat(),
        "agency": agency,
        "sites": {
            "total": n_sites,
            "detected": n_detected,
            "released": len(released),
            "acted_on": len(acted),
            "by_partner_status": dict(sorted(statuses.items())),
        },
        "products": products,
        "actions": {k: n for k, n in sorted(session.execute(kinds_q).all())},
        "median_hours": {
            "detection_to_release": _median(det_rel),
            "release_to_action": _median(rel_act),
            "detection_to_action": _median(det_act),
        },
        "seizures": {
            "totals": [
                {
                    "substance": s,
                    "unit": u,
                    "amount": _amount(u, math.fsum(v)),
                    "seizures": len(v),
                }
                for (s, u), v in sorted(totals.items(), key=lambda kv: (order[kv[0][0]], kv[0][1]))
            ],
            "by_month": [
                {
                    "month": m,
                    "substance": s,
                    "unit": u,
                    "amount": _amount(u, math.fsum(v)),
                    "seizures": len(v),
                }
                for (m, s, u), v in sorted(
                    monthly.items(), key=lambda kv: (kv[0][0], order[kv[0][1]], kv[0][2])
                )
            ],
        },
    }
    audit(
        session,
        actor.username if isinstance(actor, User) else actor,
        "read",
        "metrics",
        agency,
        {"agency": agency},
        now=now,
    )
    return result
