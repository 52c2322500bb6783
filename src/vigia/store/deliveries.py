"""Delivery records: each push of a released product or site to a partner system (e.g. TAK)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigia.errors import NotFound, ValidationError
from vigia.store.audit import audit, lock_audit
from vigia.store.models import Delivery, Product, Site

__all__ = ["create_delivery", "list_deliveries", "record_attempt"]

MAX_ERROR = 2000


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC)


def create_delivery(
    session: Session,
    actor: str,
    target: str,
    *,
    product_id: str | None = None,
    site_id: str | None = None,
    now: datetime | None = None,
) -> Delivery:
    """A pending delivery of a released product and/or site to ``target`` (e.g.
    ``tak://10.0.0.5:8089``). Only released products may be delivered."""
    lock_audit(session)
    if not target or len(target) > 255:
        raise ValidationError("delivery target must be 1-255 characters")
    if product_id is None and site_id is None:
        raise ValidationError("a delivery needs a product_id or a site_id")
    if product_id is not None:
        product = session.get(Product, product_id)
        if product is None:
            raise NotFound(f"no product {product_id!r}")
        if product.state != "released":
            raise ValidationError(f"product {product_id} is {product.state}, not released")
    if site_id is not None and session.get(Site, site_id) is None:
        raise NotFound(f"no site {site_id!r}")
    t = _now(now)
    d = Delivery(
        product_id=product_id,
        site_id=site_id,
        target=target,
        attempts=0,
        status="pending",
        created_at=t,
        updated_at=t,
    )
    session.add(d)
    session.flush()
    audit(
        session,
        actor,
        "create",
        "delivery",
        d.id,
        {"target": target, "product_id": product_id, "site_id": site_id},
        now=t,
    )
    return d


def record_attempt(
    session: Session,
    actor: str,
    delivery_id: int,
    *,
    ok: bool,
    error: str | None = None,
    final: bool = False,
    now: datetime | None = None,
) -> Delivery:
    """Count one attempt: 'delivered' when ``ok``; otherwise keep the error and stay
    'pending' (or become 'failed' when ``final``, i.e. no retries left)."""
    lock_audit(session)
    d = session.get(Delivery, delivery_id)
    if d is None:
        raise NotFound(f"no delivery {delivery_id}")
    t = _now(now)
    d.attempts += 1
    d.updated_at = t
    if ok:
        d.status = "delivered"
        d.delivered_at = t
        d.last_error = None
    else:
        d.status = "failed" if final else "pending"
        d.last_error = (error or "unknown error")[:MAX_ERROR]
    audit(
        session,
        actor,
        "deliver" if ok else "delivery_failed",
        "delivery",
        d.id,
        {"attempt": d.attempts, "status": d.status, "error": d.last_error},
        now=t,
    )
    return d


def list_deliveries(
    session: Session, *, status: str | None = None, target: str | None = None
) -> list[Delivery]:
    """Deliveries, oldest first, optionally by status and target."""
    q = select(Delivery).order_by(Delivery.id)
    if status is not None:
        q = q.where(Delivery.status == status)
    if target is not None:
        q = q.where(Delivery.target == target)
    return list(session.execute(q).scalars())
