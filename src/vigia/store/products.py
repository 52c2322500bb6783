"""Products and their release under the two-person rule.

An analyst (or supervisor) drafts a product with its marking, full body and tearline; a
supervisor who is not the author approves it and names the agencies it is released to, each of
whose country must be in the product's releasability. Partner users see only products released
to their own agency. Every read and write appends to the audit log.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigia.errors import Conflict, Gone, NotFound, PermissionDenied, ValidationError
from vigia.share.codec import restrict_tearline
from vigia.share.markings import Marking, MarkingError, portal_ceiling
from vigia.share.products import ReleaseError, check_releasable, check_two_person
from vigia.store.audit import AuditRecord, audit, canonical_json, lock_audit
from vigia.store.models import (
    PRODUCT_KINDS,
    PRODUCT_STATES,
    Agency,
    Product,
    ProductRelease,
    Site,
    User,
)
from vigia.store.sites import agency_site_ids, products_released_to, visible_site_ids
from vigia.store.users import visible_agency_id

__all__ = [
    "approve_release",
    "create_draft",
    "get_product",
    "list_products",
    "new_product_id",
    "partner_tearline",
    "partner_tearlines",
    "product_marking",
    "product_read_record",
    "products_for_agency",
    "read_product",
    "reject_product",
    "released_tearline",
    "update_draft",
    "withdraw_release",
]

_COUNTRY = re.compile(r"[A-Z]{3}")
MAX_CAVEATS = 200
MAX_TITLE = 300
#: Largest body or tearline accepted, as canonical JSON (bytes).
MAX_DOCUMENT_BYTES = 8 << 20


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC)


def _document(name: str, doc: Mapping[str, Any], problems: list[str]) -> dict[str, Any]:
    try:
        text = canonical_json(dict(doc))
    except (TypeError, ValueError) as exc:
        problems.append(f"{name} is not JSON: {exc}")
        return {}
    if len(text.encode("utf-8")) > MAX_DOCUMENT_BYTES:
        problems.append(f"{name} is larger than {MAX_DOCUMENT_BYTES} bytes")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def _marking_problems(
    classification: str, caveats: str | None, releasable_to: Sequence[str]
) -> list[str]:
    problems = []
    if caveats is not None and len(caveats) > MAX_CAVEATS:
        problems.append(f"caveats longer than {MAX_CAVEATS} characters")
    if isinstance(releasable_to, str):
        problems.append("releasable_to must be a list of country codes, not a string")
    elif not releasable_to:
        problems.append("releasable_to is empty (give at least 'USA')")
    else:
        bad = [c for c in releasable_to if not isinstance(c, str) or not _COUNTRY.fullmatch(c)]
        if bad:
            problems.append(f"releasable_to has codes that are not ISO 3166 alpha-3: {bad}")
    try:
        marking = _marking_of(classification, caveats, [] if problems else releasable_to)
        marking.require_within(portal_ceiling())
    except MarkingError as exc:
        problems.append(exc.message)
    return problems


def _marking_of(classification: str, caveats: str | None, releasable_to: Sequence[str]) -> Marking:
    return Marking(classification, [c for c in (caveats or "").split("//") if c], releasable_to)


def product_marking(product: Product) -> Marking:
    """The marking of a stored product (classification, caveats, releasability)."""
    return _marking_of(product.classification, product.caveats, product.releasable_to)


_PRODUCT_ID = re.compile(r"P[0-9a-f]{12}")


def new_product_id() -> str:
    """A fresh product id: 'P' and 12 random hexadecimal digits."""
    return "P" + secrets.token_hex(6)


def create_draft(
    session: Session,
    author: User,
    kind: str,
    *,
    body: Mapping[str, Any],
    tearline: Mapping[str, Any],
    classification: str,
    releasable_to: Sequence[str],
    caveats: str | None = None,
    site_id: str | None = None,
    title: str | None = None,
    product_id: str | None = None,
    now: datetime | None = None,
) -> Product:
    """Save a new draft product written by ``author`` (analyst or supervisor).

    ``body`` is the full product, ``tearline`` the partner-releasable part (built by
    :mod:`vigia.share`); ``releasable_to`` lists ISO 3166 alpha-3 country codes. A
    ``site_report`` needs the ``site_id`` of a site in the store. ``product_id`` (from
    :func:`new_product_id`) lets the caller name the product inside its tearline before saving.
    """
    lock_audit(session)
    if author.is_partner:
        raise PermissionDenied("partner users may not draft products")
    problems = []
    if kind not in PRODUCT_KINDS:
        problems.append(f"kind {kind!r} is not one of {', '.join(PRODUCT_KINDS)}")
    if kind == "site_report" and not site_id:
        problems.append("a site_report needs a site_id")
    problems += _marking_problems(classification, caveats, releasable_to)
    if title is not None and len(title) > MAX_TITLE:
        problems.append(f"title longer than {MAX_TITLE} characters")
    body_doc = _document("body", body, problems)
    tear_doc = _document("tearline", tearline, problems)
    if site_id is not None and session.get(Site, site_id) is None:
        problems.append(f"no site {site_id!r}")
    if product_id is not None and not _PRODUCT_ID.fullmatch(product_id):
        problems.append(f"product id {product_id!r} is not 'P' and 12 hexadecimal digits")
    if problems:
        raise ValidationError(problems)
    if product_id is not None and session.get(Product, product_id) is not None:
        raise Conflict(f"product {product_id} already exists")
    t = _now(now)
    product = Product(
        product_id=product_id or new_product_id(),
        kind=kind,
        site_id=site_id,
        title=title,
        author_id=author.id,
        created_at=t,
        classification=classification,
        caveats=caveats,
        releasable_to=list(dict.fromkeys(releasable_to)),
        body=body_doc,
        tearline=tear_doc,
        state="draft",
    )
    session.add(product)
    session.flush()
    audit(
        session,
        author.username,
        "create",
        "product",
        product.product_id,
        {"kind": kind, "site_id": site_id, "classification": classification},
        now=t,
    )
    return product


def _get(session: Session, product_id: str) -> Product:
    product = session.get(Product, product_id)
    if product is None:
        raise NotFound(f"no product {product_id!r}")
    return product


def update_draft(
    session: Session,
    author: User,
    product_id: str,
    *,
    body: Mapping[str, Any] | None = None,
    tearline: Mapping[str, Any] | None = None,
    title: str | None = None,
) -> Product:
    """Revise a draft; only its author may, and only while it is a draft."""
    lock_audit(session)
    product = _get(session, product_id)
    if author.is_partner:
        raise NotFound(f"no product {product_id!r}")
    if product.author_id != author.id:
        raise PermissionDenied("only the author may revise a draft")
    if product.state != "draft":
        raise Conflict(f"product {product_id} is {product.state}, not a draft")
    problems: list[str] = []
    new_body = _document("body", body, problems) if body is not None else None
    new_tear = _document("tearline", tearline, problems) if tearline is not None else None
    if title is not None and len(title) > MAX_TITLE:
        problems.append(f"title longer than {MAX_TITLE} characters")
    if problems:
        raise ValidationError(problems)
    if new_body is not None:
        product.body = new_body
    if new_tear is not None:
        product.tearline = new_tear
    if title is not None:
        product.title = title
    audit(
        session,
        author.username,
        "update",
        "product",
        product_id,
        {
            "fields": [
                k
                for k, v in (("body", body), ("tearline", tearline), ("title", title))
                if v is not None
            ]
        },
    )
    return product


def _check_approver(session: Session, approver: User, product: Product) -> None:
    """May ``approver`` approve or reject ``product`` at all: a draft, and the two-person part
    of the release rule (:func:`vigia.share.products.check_two_person`)."""
    if product.state != "draft":
        raise Conflict(f"product {product.product_id} is {product.state}, not a draft")
    author_row = session.get(User, product.author_id)
    author = author_row.username if author_row is not None else f"user {product.author_id}"
    try:
        check_two_person(author=author, approver=approver.username, approver_role=approver.role)
    except ReleaseError as exc:
        raise PermissionDenied(exc.message) from exc


def approve_release(
    session: Session,
    approver: User,
    product_id: str,
    agencies: Sequence[str],
    *,
    now: datetime | None = None,
) -> Product:
    """Approve a draft and release it to ``agencies`` (codes, e.g. ['SEMAR', 'FGR']).

    Refused unless ``approver`` is a supervisor other than the author, the product is a draft,
    and every agency's country is in the product's releasability.
    """
    lock_audit(session)
    product = _get(session, product_id)
    _check_approver(session, approver, product)
    if isinstance(agencies, str) or not agencies:
        raise ValidationError("name at least one agency to release to (a list of codes)")
    codes = list(dict.fromkeys(agencies))
    rows = {
        a.code: a for a in session.execute(select(Agency).where(Agency.code.in_(codes))).scalars()
    }
    marking = product_marking(product)
    problems = [f"unknown agency {c!r}" for c in codes if c not in rows]
    problems += [
        f"{c} ({rows[c].country}) is not in the product's releasability "
        f"({', '.join(product.releasable_to)})"
        for c in codes
        if c in rows and not marking.is_releasable_to(rows[c].country)
    ]
    if problems:
        raise ValidationError(problems)
    try:  # the whole rule: the countries (named above per agency) and the portal's ceiling
        check_releasable(marking=marking, countries=[rows[c].country for c in codes])
    except ReleaseError as exc:
        raise ValidationError(f"cannot release to {', '.join(codes)}: {exc.message}") from exc
    t = _now(now)
    product.state = "released"
    product.approver_id = approver.id
    product.approved_at = t
    for code in codes:
        release = ProductRelease(agency_id=rows[code].id, released_at=t, released_by=approver.id)
        release.agency = rows[code]
        product.releases.append(release)
    session.flush()
    audit(
        session,
        approver.username,
        "release",
        "product",
        product_id,
        {"agencies": codes, "site_id": product.site_id, "author_id": product.author_id},
        now=t,
    )
    return product


def reject_product(
    session: Session, approver: User, product_id: str, reason: str, *, now: datetime | None = None
) -> Product:
    """Reject a draft (a supervisor other than the author), with the reason."""
    lock_audit(session)
    product = _get(session, product_id)
    _check_approver(session, approver, product)
    if not reason.strip():
        raise ValidationError("give the reason for rejecting the product")
    t = _now(now)
    product.state = "rejected"
    product.approver_id = approver.id
    product.approved_at = t
    product.rejection_reason = reason.strip()
    audit(session, approver.username, "reject", "product", product_id, {"reason": reason}, now=t)
    return product


def withdraw_release(
    session: Session,
    supervisor: User,
    product_id: str,
    reason: str,
    agencies: Sequence[str] | None = None,
    *,
    now: datetime | None = None,
) -> Product:
    """Withdraw a released product from ``agencies`` (codes; all it is released to when None),
    with the reason; audited. The agencies lose access at once (their users then get
    :class:`Gone` for it, and its sites are no longer theirs unless another release names them);
    the product stays listed to them as withdrawn. Any supervisor may withdraw: it only ever
    takes information back."""
    lock_audit(session)
    product = _get(session, product_id)
    if supervisor.role != "supervisor":
        raise PermissionDenied("only a supervisor may withdraw a release")
    if product.state != "released":
        raise Conflict(f"product {product_id} is {product.state}, not released")
    if not reason.strip():
        raise ValidationError("give the reason for withdrawing the release")
    active = {r.agency.code: r for r in product.releases if r.active}
    if agencies is None:
        codes = list(active)
    elif isinstance(agencies, str) or not agencies:
        raise ValidationError("name at least one agency to withdraw from (a list of codes)")
    else:
        codes = list(dict.fromkeys(agencies))
        withdrawn = set(product.withdrawn_from)
        problems = [
            f"{c} was already withdrawn" if c in withdrawn else f"not released to {c!r}"
            for c in codes
            if c not in active
        ]
        if problems:
            raise ValidationError(problems)
    if not codes:
        raise Conflict(f"product {product_id} was already withdrawn from every agency")
    t = _now(now)
    for code in codes:
        active[code].withdrawn_at = t
        active[code].withdrawn_by = supervisor.id
        active[code].withdrawal_reason = reason.strip()
    session.flush()
    audit(
        session,
        supervisor.username,
        "withdraw",
        "product",
        product_id,
        {"agencies": codes, "reason": reason.strip(), "site_id": product.site_id},
        now=t,
    )
    return product


def _partner_product(session: Session, actor: User, product_id: str) -> Product:
    """The product as a partner may reach it: :class:`NotFound` unless it was released to their
    agency, :class:`Gone` (with when and why) if that release was withdrawn."""
    product = session.get(Product, product_id)
    release = None
    if product is not None and product.state == "released":
        release = product.release_to(actor.agency_id)
    if product is None or release is None:
        raise NotFound(f"no product {product_id!r}")
    if not release.active:
        when = release.withdrawn_at.isoformat() if release.withdrawn_at else "?"
        raise Gone(f"product {product_id} was withdrawn on {when}: {release.withdrawal_reason}")
    return product


def read_product(session: Session, actor: User, product_id: str) -> Product:
    """One product, unaudited: partners only reach products released to their agency (else
    :class:`NotFound`), and not once withdrawn (:class:`Gone`). The caller must commit
    :func:`product_read_record` before it answers (see :func:`get_product`)."""
    if actor.is_partner:
        return _partner_product(session, actor, product_id)
    return _get(session, product_id)


def product_read_record(
    actor: User, product_id: str, details: Mapping[str, Any] | None = None
) -> AuditRecord:
    """The audit entry of ``actor`` reading product ``product_id``, with ``details`` (e.g. the
    format and language of a rendering)."""
    return AuditRecord(actor.username, "read", "product", product_id, dict(details or {}))


def get_product(
    session: Session,
    actor: User,
    product_id: str,
    *,
    details: Mapping[str, Any] | None = None,
) -> Product:
    """:func:`read_product`, audited (with ``details``) in the session's transaction."""
    product = read_product(session, actor, product_id)
    r = product_read_record(actor, product_id, details)
    audit(session, r.actor, r.action, r.object_type, r.object_id, r.details, now=r.time)
    return product


def partner_tearline(session: Session, actor: User, product: Product) -> dict[str, Any]:
    """The stored tearline of ``product`` as ``actor`` may be given it: for a partner, only the
    sites their agency may see (:func:`vigia.store.visible_site_ids`); for staff, whole."""
    return partner_tearlines(session, actor, [product])[0]


def partner_tearlines(
    session: Session, actor: User, products: Sequence[Product]
) -> list[dict[str, Any]]:
    """:func:`partner_tearline` of each of ``products`` (one visibility query for all)."""
    visible = visible_site_ids(session, actor)
    if visible is None:
        return [dict(p.tearline) for p in products]
    return [restrict_tearline(p.tearline, visible) for p in products]


def released_tearline(session: Session, product: Product) -> dict[str, Any]:
    """The stored tearline naming only the sites that every agency the product was released
    to may see (what goes to a system shared by those agencies, such as a TAK server)."""
    keep: frozenset[str] | None = None
    for release in (r for r in product.releases if r.active):
        ids = agency_site_ids(session, release.agency_id)
        keep = ids if keep is None else keep & ids
    return restrict_tearline(product.tearline, keep or ())


def list_products(
    session: Session,
    actor: User,
    *,
    state: str | None = None,
    site_id: str | None = None,
    kind: str | None = None,
) -> list[Product]:
    """Products ``actor`` may see, newest first: all for staff, released to them for partners
    (withdrawn ones included, for the partner to see they were withdrawn)."""
    if state is not None and state not in PRODUCT_STATES:
        raise ValidationError(f"state {state!r} is not one of {', '.join(PRODUCT_STATES)}")
    q = select(Product).order_by(Product.created_at.desc(), Product.product_id)
    if actor.is_partner:
        q = q.where(Product.product_id.in_(products_released_to(actor.agency_id, withdrawn=True)))
    if state is not None:
        q = q.where(Product.state == state)
    if site_id is not None:
        q = q.where(Product.site_id == site_id)
    if kind is not None:
        q = q.where(Product.kind == kind)
    products = list(session.execute(q).scalars())
    audit(
        session,
        actor.username,
        "read",
        "product",
        None,
        {"product_ids": [p.product_id for p in products]},
    )
    return products


def products_for_agency(session: Session, actor: User, agency: str) -> list[Product]:
    """Products released to ``agency`` (a code), newest first; audited.

    A partner user may ask only for their own agency (:class:`PermissionDenied` otherwise).
    """
    agency_id = visible_agency_id(session, actor, agency)
    products = list(
        session.execute(
            select(Product)
            .where(Product.product_id.in_(products_released_to(agency_id, withdrawn=True)))
            .order_by(Product.created_at.desc(), Product.product_id)
        ).scalars()
    )
    audit(
        session,
        actor.username,
        "read",
        "product",
        None,
        {"agency": agency, "product_ids": [p.product_id for p in products]},
    )
    return products
