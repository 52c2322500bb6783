"""Products: drafting, reading, rendering, and release under the two-person rule."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, HTTPException, Path, Query, Response
from starlette.concurrency import run_in_threadpool

from vigia.api.cache import Principal
from vigia.api.deps import Session_, Staff, State, Supervisor, Who, actor
from vigia.api.schemas import (
    COMMON_ERRORS,
    ApproveIn,
    Lang,
    PartnerProduct,
    ProductIn,
    ProductOut,
    RejectIn,
    WithdrawIn,
    error_responses,
)
from vigia.api.state import ApiState
from vigia.api.views import partner_product_view, product_view, usernames
from vigia.app.delivery import deliver_release, retract_withdrawn
from vigia.app.products import FORMATS, DraftRequest, RenderInput, draft_product, render_input
from vigia.share.codec import tearline_from_dict
from vigia.store import (
    approve_release,
    get_product,
    list_products,
    partner_tearline,
    partner_tearlines,
    product_read_record,
    read_product,
    reject_product,
    withdraw_release,
)
from vigia.store.audit import AuditRecord

router = APIRouter(prefix="/api", tags=["products"], responses=error_responses(*COMMON_ERRORS))

ProductIdPath = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$", description="product id")
]
ChipNamePath = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,80}\.jpg$", description="chip file name")
]
FormatQuery = Annotated[
    str,
    Query(pattern="^(html|pdf|json|geojson|kml|cot)$", description="html|pdf|json|geojson|kml|cot"),
]


def _names(session: Any, *products: Any) -> dict[int, str]:
    people = [i for p in products for i in (p.author_id, p.approver_id)]
    return usernames(session, people + [r.withdrawn_by for p in products for r in p.releases])


@router.post(
    "/products", status_code=201, response_model=ProductOut, responses=error_responses(403, 404)
)
def create(body: ProductIn, who: Staff, state: State) -> dict[str, Any]:
    """Draft a product (site report, sortie summary or digest) with its marking and tearline.

    It is released only once a supervisor other than its author approves it.
    """
    req = DraftRequest(
        kind=body.kind,
        site_id=body.site_id,
        assessment=body.assessment,
        classification=body.classification,
        caveats=body.caveats,
        releasable_to=body.releasable_to,
        mission_id=body.mission_id,
        period_start=body.period_start,
        period_end=body.period_end,
        lang=body.lang,
    )
    with state.store.transaction() as s:
        p = draft_product(s, actor(s, who), req, state.catalog)
        view = product_view(p, _names(s, p))
    state.changed()
    return view


@router.get("/products", response_model=list[ProductOut] | list[PartnerProduct])
def index(who: Who, session: Session_) -> list[dict[str, Any]]:
    """Products: every one for staff (without body), those released to their agency for partner
    users (tearline only)."""
    user = actor(session, who)
    rows = list_products(session, user)
    if who.is_partner:
        tearlines = partner_tearlines(session, user, rows)
        return [
            partner_product_view(p, tl, user.agency_id)
            for p, tl in zip(rows, tearlines, strict=True)
        ]
    names = _names(session, *rows)
    return [product_view(p, names, full=False) for p in rows]


@router.get(
    "/products/{product_id}",
    response_model=ProductOut | PartnerProduct,
    responses=error_responses(404, 410),
)
def one(product_id: ProductIdPath, who: Who, session: Session_) -> dict[str, Any]:
    """One product: whole for staff, its tearline for partner users."""
    user = actor(session, who)
    p = get_product(session, user, product_id)
    if who.is_partner:
        return partner_product_view(p, partner_tearline(session, user, p), user.agency_id)
    return product_view(p, _names(session, p))


def _render_input(
    state: ApiState, who: Principal, product_id: str, fmt: str, lang: str
) -> tuple[RenderInput, AuditRecord]:
    """What the rendering needs, read in one read transaction (no write lock), and the audit
    entry of that read."""
    with state.store.read_only() as s:
        user = actor(s, who)
        p = read_product(s, user, product_id)  # NotFound / Gone before anything else
        record = product_read_record(user, product_id, {"format": fmt, "lang": lang})
        return render_input(s, p, fmt, lang, viewer=user), record


@router.get(
    "/products/{product_id}/render",
    response_class=Response,
    responses={200: {"content": {t: {} for t, _ in FORMATS.values()}}, **error_responses(404, 410)},
)
async def render(
    product_id: ProductIdPath,
    who: Who,
    state: State,
    format: FormatQuery = "html",
    lang: Annotated[Lang | None, Query()] = None,
) -> Response:
    """The product as a file: HTML, PDF, JSON, GeoJSON, KML (Google Earth) or Cursor-on-Target.
    Partner users get the tearline rendering only.

    The access check reads in a read transaction, the read's audit entry is committed (group
    commit) before anything is rendered, and the rendering is made with no transaction open, by
    the render workers or from the cache of renderings (:mod:`vigia.app.renders`).
    """
    inp, record = await run_in_threadpool(
        _render_input, state, who, product_id, format, lang or who.language
    )
    await state.sink.append(record)  # committed before the rendering starts
    out = await state.renders.render(inp)
    disposition = "inline" if format == "html" else "attachment"
    return Response(
        out.data,
        media_type=out.media_type,
        headers={"Content-Disposition": f'{disposition}; filename="{out.filename}"'},
    )


@router.get(
    "/products/{product_id}/chips/{name}",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, **error_responses(404, 410)},
)
def product_chip(
    product_id: ProductIdPath, name: ChipNamePath, who: Who, session: Session_
) -> Response:
    """An image chip of a product's tearline (metadata already stripped)."""
    user = actor(session, who)
    p = get_product(session, user, product_id)
    for c in tearline_from_dict(partner_tearline(session, user, p)).chips().values():
        if c.name == name:
            return Response(c.data, media_type=c.media_type)
    raise HTTPException(404, f"no chip {name!r} in product {product_id}")


@router.post(
    "/products/{product_id}/approve",
    response_model=ProductOut,
    responses=error_responses(403, 404, 409),
)
def approve(
    product_id: ProductIdPath,
    body: ApproveIn,
    who: Supervisor,
    state: State,
    background: BackgroundTasks,
) -> dict[str, Any]:
    """Release a draft to partner agencies. Only a supervisor who is not the author may (the
    two-person rule); every agency's country must be in the product's releasability. Released
    sites are pushed to the partner TAK server when one is configured."""
    with state.store.transaction() as s:
        p = approve_release(s, actor(s, who), product_id, body.agencies)
        view = product_view(p, _names(s, p))
    state.changed()
    if state.tak is not None:
        background.add_task(deliver_release, state.store, state.tak, product_id)
    return view


@router.post(
    "/products/{product_id}/reject",
    response_model=ProductOut,
    responses=error_responses(403, 404, 409),
)
def reject(
    product_id: ProductIdPath, body: RejectIn, who: Supervisor, state: State
) -> dict[str, Any]:
    """Reject a draft, with the reason (a supervisor who is not the author)."""
    with state.store.transaction() as s:
        p = reject_product(s, actor(s, who), product_id, body.reason)
        view = product_view(p, _names(s, p))
    state.changed()
    return view


@router.post(
    "/products/{product_id}/withdraw",
    response_model=ProductOut,
    responses=error_responses(403, 404, 409),
)
def withdraw(
    product_id: ProductIdPath,
    body: WithdrawIn,
    who: Supervisor,
    state: State,
    background: BackgroundTasks,
) -> dict[str, Any]:
    """Withdraw a release (a supervisor, with the reason) from the named agencies, or from all
    it was released to. Their users lose access at once and see the product as withdrawn; the
    markers it put on the partner TAK server that it no longer releases are taken back."""
    with state.store.transaction() as s:
        p = withdraw_release(s, actor(s, who), product_id, body.reason, body.agencies)
        view = product_view(p, _names(s, p))
    state.changed()
    if state.tak is not None:
        background.add_task(retract_withdrawn, state.store, state.tak, product_id)
    return view
