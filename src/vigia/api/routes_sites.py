"""Sites, their evidence and chips, and the partner's actions on them."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from vigia.api.cache import Principal
from vigia.api.deps import (
    BEARER_SECURITY,
    Partner,
    Session_,
    Staff,
    State,
    Who,
    actor,
    principal_of,
)
from vigia.api.partner import accepts_gzip
from vigia.api.schemas import (
    COMMON_ERRORS,
    ActionIn,
    ActionOut,
    Lang,
    PartnerSite,
    StaffSite,
    error_responses,
)
from vigia.api.state import ApiState
from vigia.api.views import (
    action_view,
    agency_codes,
    product_ids_by_site,
    staff_site_view,
    usernames,
)
from vigia.share.products import jsonable
from vigia.share.tearline import TearlineError, sanitize_chip
from vigia.store import (
    NotFound,
    acknowledge,
    audit,
    get_site,
    list_actions,
    list_sites,
    record_action,
    site_visible_to,
)
from vigia.store.auditlog import AuditRecord

router = APIRouter(prefix="/api", tags=["sites"], responses=error_responses(*COMMON_ERRORS))

SITE_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
SiteIdPath = Annotated[str, Path(pattern=SITE_ID, description="site id, e.g. S7f3a2c91")]
ChipIdPath = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,95}(\.jpg)?$", description="observation id")
]
LangQuery = Annotated[Lang | None, Query(description="language of labels (default: the user's)")]
JSON = "application/json"


def _json(data: Any, status_code: int = 200) -> Response:
    return Response(
        json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8"),
        status_code=status_code,
        media_type=JSON,
    )


def _staff_sites(state: ApiState, who: Principal, lang: str) -> list[dict[str, Any]]:
    with state.store.transaction() as s:
        sites = list_sites(s, actor(s, who))
        pids = product_ids_by_site(s)
        agencies = agency_codes(s)
    return [
        staff_site_view(
            site,
            lang,
            chips=state.chips.obs_ids(site.site_id),
            product_ids=pids.get(site.site_id, []),
            agencies=agencies,
        )
        for site in sites
    ]


@router.get(
    "/sites",
    response_model=list[StaffSite] | list[PartnerSite],
    openapi_extra={"security": BEARER_SECURITY},
)
async def sites(request: Request, lang: LangQuery = None) -> Response:
    """The sites the user may see: all of them with every field for analysts and supervisors;
    for partner users the sites released to their agency, tearline fields only."""
    # The most frequent request of all: the user is resolved without the dependency machinery.
    who = await principal_of(request)
    state: ApiState = request.app.state.vigia
    language = lang or who.language
    if who.is_partner:
        idx = await state.partner_index(who)
        await state.sink.append(state.listing_record(who, idx))
        idx.published = True
        if accepts_gzip(request.headers.get("accept-encoding", "")):
            return Response(
                idx.body_gzip[language],
                media_type=JSON,
                headers={"Content-Encoding": "gzip", "Vary": "Accept-Encoding"},
            )
        return Response(idx.body[language], media_type=JSON, headers={"Vary": "Accept-Encoding"})
    return _json(await run_in_threadpool(_staff_sites, state, who, language))


@router.get(
    "/sites/{site_id}",
    response_model=StaffSite | PartnerSite,
    responses=error_responses(404),
)
async def site(site_id: SiteIdPath, who: Who, state: State, lang: LangQuery = None) -> Response:
    """One site, with the same visibility as the list (404 when not visible)."""
    language = lang or who.language
    if who.is_partner:
        idx = await state.partner_index(who)
        view = idx.views[language].get(site_id)
        if view is None:
            raise HTTPException(404, f"no site {site_id!r}")
        await state.sink.append(
            AuditRecord(who.username, "read", "site", site_id, {"agency": who.agency_code})
        )
        return _json(view)

    def one() -> dict[str, Any]:
        with state.store.transaction() as s:
            row = get_site(s, actor(s, who), site_id)
            pids = product_ids_by_site(s, [site_id])
            agencies = agency_codes(s)
        return staff_site_view(
            row,
            language,
            chips=state.chips.obs_ids(site_id),
            product_ids=pids.get(site_id, []),
            agencies=agencies,
        )

    return _json(await run_in_threadpool(one))


@router.get(
    "/sites/{site_id}/evidence",
    response_model=list[dict[str, Any]],
    responses=error_responses(403, 404),
)
def evidence(site_id: SiteIdPath, who: Staff, state: State, session: Session_) -> Response:
    """The observations fused into the site, each with its chip URL (analysts, supervisors)."""
    user = actor(session, who)
    get_site(session, user, site_id)
    obs = state.catalog.observations(site_id)
    chips = set(state.chips.obs_ids(site_id))
    keep = [c for c in obs.column_names if c != "geometry"]
    rows = [jsonable(r) for r in obs.select(keep).to_pylist()]
    for r in rows:
        r["chip"] = f"/api/chips/{r['obs_id']}" if r.get("obs_id") in chips else None
    audit(session, who.username, "read", "evidence", site_id, {"observations": len(rows)})
    return _json(rows)


@router.get(
    "/chips/{chip_id}",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, **error_responses(404)},
)
async def chip(chip_id: ChipIdPath, who: Who, state: State) -> Response:
    """An observation's image chip. Partner users get it only when the (metadata-free) image is
    one released to their agency in a product about the site."""
    obs_id = chip_id.removesuffix(".jpg")
    chips_dir = state.catalog.chips_dir.resolve()
    path = (chips_dir / f"{obs_id}.jpg").resolve()
    if path.parent != chips_dir or not path.is_file():
        raise HTTPException(404, f"no chip {chip_id!r}")
    if not who.is_partner:

        def record() -> None:
            with state.store.transaction() as s:
                audit(s, who.username, "read", "chip", obs_id)

        await run_in_threadpool(record)
        return FileResponse(path, media_type="image/jpeg")
    idx = await state.partner_index(who)
    owner = state.chips.site_of(obs_id)
    if owner is None or not owner[1] or owner[0] not in idx.chip_hashes:
        raise HTTPException(404, f"no chip {chip_id!r}")
    try:
        data = await run_in_threadpool(sanitize_chip, path)
    except TearlineError:
        raise HTTPException(404, f"no chip {chip_id!r}") from None
    if hashlib.sha256(data).hexdigest() not in idx.chip_hashes[owner[0]]:
        raise HTTPException(404, f"no chip {chip_id!r}")
    await state.sink.append(
        AuditRecord(who.username, "read", "chip", obs_id, {"site_id": owner[0]})
    )
    return Response(data, media_type="image/jpeg")


@router.post(
    "/sites/{site_id}/ack",
    status_code=201,
    response_model=ActionOut,
    responses=error_responses(403, 404),
)
def ack(site_id: SiteIdPath, who: Partner, state: State) -> ActionOut:
    """Acknowledge receipt of a site released to the user's agency."""
    with state.store.transaction() as s:
        action = acknowledge(s, actor(s, who), site_id)
        view = action_view(action, {who.id: who.username})
    state.changed()
    return ActionOut.model_validate(view)


@router.post(
    "/sites/{site_id}/actions",
    status_code=201,
    response_model=ActionOut,
    responses=error_responses(403, 404),
)
def record(site_id: SiteIdPath, body: ActionIn, who: Partner, state: State) -> ActionOut:
    """Record what the agency did at a site released to it: inspection, operation, lab
    dismantled or nothing found, with date, place and seizures (normalised to count, kg, L)."""
    with state.store.transaction() as s:
        action = record_action(
            s,
            actor(s, who),
            site_id,
            body.kind,
            body.date,
            lat=body.lat,
            lon=body.lon,
            notes=body.notes,
            seizures=[z.model_dump() for z in body.seizures],
        )
        view = action_view(action, {who.id: who.username})
    state.changed()
    return ActionOut.model_validate(view)


@router.get(
    "/sites/{site_id}/actions", response_model=list[ActionOut], responses=error_responses(404)
)
def actions(site_id: SiteIdPath, who: Who, session: Session_) -> list[ActionOut]:
    """Actions on a site: every agency's for staff, their own agency's for partner users."""
    user = actor(session, who)
    if not site_visible_to(session, user, site_id):
        raise NotFound(f"no site {site_id!r}")
    rows = list_actions(session, user, site_id=site_id)
    names = usernames(session, (a.user_id for a in rows))
    return [ActionOut.model_validate(action_view(a, names)) for a in rows]
