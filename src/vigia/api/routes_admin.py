"""Metrics, deliveries, the audit check, and the map layers (coverage, AOIs)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from vigia.api.deps import Session_, Staff, State, Supervisor, Who, actor
from vigia.api.schemas import (
    COMMON_ERRORS,
    AgencyOut,
    AuditVerifyOut,
    DeliveryOut,
    MetricsOut,
    error_responses,
)
from vigia.api.views import delivery_view
from vigia.store import (
    PARTNER_ROLES,
    Agency,
    User,
    audit,
    compute_metrics,
    list_deliveries,
)

router = APIRouter(prefix="/api", tags=["programme"], responses=error_responses(*COMMON_ERRORS))
GEOJSON = "application/geo+json"


@router.get("/metrics", response_model=MetricsOut)
def metrics(who: Who, session: Session_) -> dict[str, Any]:
    """Sites detected, released and acted on, median delays (hours), seizures by substance and
    by month. Partner users get their agency's figures."""
    m = compute_metrics(session, actor(session, who))
    sites = m["sites"]
    out: dict[str, Any] = {
        "agency": m["agency"],
        "sites_detected": None if who.is_partner else sites["detected"],
        "sites_total": None if who.is_partner else sites["total"],
        "sites_released": sites["released"],
        "sites_acted_on": sites["acted_on"],
        "sites_by_partner_status": sites["by_partner_status"],
        "median_hours_detection_to_release": m["median_hours"]["detection_to_release"],
        "median_hours_release_to_action": m["median_hours"]["release_to_action"],
        "median_hours_detection_to_action": m["median_hours"]["detection_to_action"],
        "seizures_by_substance": m["seizures"]["totals"],
        "seizures_by_month": m["seizures"]["by_month"],
        "actions": m["actions"],
        "products": m["products"],
        "generated_at": m["generated_at"],
    }
    return out


@router.get("/agencies", response_model=list[AgencyOut], responses=error_responses(403))
def agencies(who: Staff, session: Session_) -> list[AgencyOut]:
    """Partner agencies a product can be released to: those with active partner users
    (analysts, supervisors)."""
    rows = session.execute(
        select(Agency.code, Agency.name, Agency.country, func.count(User.id))
        .join(User, User.agency_id == Agency.id)
        .where(User.role.in_(sorted(PARTNER_ROLES)), User.active.is_(True))
        .group_by(Agency.code, Agency.name, Agency.country)
        .order_by(Agency.code)
    ).all()
    return [AgencyOut(code=c, name=n, country=k, partner_users=int(u)) for c, n, k, u in rows]


@router.get("/deliveries", response_model=list[DeliveryOut], responses=error_responses(403))
def deliveries(who: Supervisor, session: Session_) -> list[dict[str, Any]]:
    """Every push of released sites to partner systems, oldest first (supervisors)."""
    rows = list_deliveries(session)
    audit(session, who.username, "read", "delivery", None, {"count": len(rows)})
    return [delivery_view(d) for d in rows]


@router.get("/audit/verify", response_model=AuditVerifyOut, responses=error_responses(403))
def audit_verify(who: Supervisor, state: State) -> AuditVerifyOut:
    """Walk the MAC-chained audit log against the checkpoint log: is every entry intact and
    none removed (supervisors)."""
    r = state.store.verify_audit()
    return AuditVerifyOut(
        ok=r.ok,
        entries=r.entries,
        last_seq=r.last_seq,
        first_bad_seq=r.first_bad_seq,
        problem=r.problem,
        message=r.message,
    )


@router.get(
    "/coverage",
    response_class=Response,
    responses={200: {"content": {GEOJSON: {}}}, **error_responses(403)},
)
async def coverage(who: Staff, state: State) -> Response:
    """Coverage cells (H3 hexagons) as a GeoJSON FeatureCollection (analysts, supervisors)."""
    data = await run_in_threadpool(state.files.coverage)
    return Response(data, media_type=GEOJSON)


@router.get("/aois", response_class=Response, responses={200: {"content": {GEOJSON: {}}}})
async def aois(who: Who, state: State) -> Response:
    """The consented areas of interest as a GeoJSON FeatureCollection (audited)."""
    data = await run_in_threadpool(state.files.aois)

    def record() -> None:
        with state.store.transaction() as s:
            audit(s, who.username, "read", "aoi", None, {"bytes": len(data)})

    await run_in_threadpool(record)
    return Response(data, media_type=GEOJSON)
