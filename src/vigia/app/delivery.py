"""TAK delivery of a released product, with one delivery record per marker in the store."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

from vigia.share.codec import tearline_from_dict
from vigia.share.render import cot_events, retraction_cot
from vigia.share.tak import RetryPolicy, TakError, TakTarget, push_events
from vigia.store import (
    Product,
    Store,
    audit,
    create_delivery,
    list_deliveries,
    record_attempt,
    released_tearline,
)

__all__ = ["DELIVERY_ACTOR", "deliver_release", "parse_tak", "retract_withdrawn"]

log = logging.getLogger(__name__)
DELIVERY_ACTOR = "system"
#: Retries of a push to a TAK server: four attempts, 0.5 s apart at first, at most 5 s.
DEFAULT_RETRY = RetryPolicy(max_attempts=4, initial_delay_s=0.5, max_delay_s=5.0)


def parse_tak(spec: str) -> TakTarget:
    """A TAK target from ``tcp://HOST:PORT`` or ``ssl://HOST:PORT?cafile=..&certfile=..
    &keyfile=..&check_hostname=0``."""
    u = urlsplit(spec)
    if u.scheme not in ("tcp", "ssl", "tls") or not u.hostname:
        raise TakError(f"TAK target {spec!r} is not tcp://HOST:PORT or ssl://HOST:PORT")
    try:
        port = u.port or 8087
    except ValueError as exc:
        raise TakError(f"TAK target {spec!r}: {exc}") from exc
    q = {k: v[-1] for k, v in parse_qs(u.query).items()}
    tls = u.scheme in ("ssl", "tls")
    return TakTarget(
        host=u.hostname,
        port=port,
        tls=tls,
        cafile=q.get("cafile"),
        certfile=q.get("certfile"),
        keyfile=q.get("keyfile"),
        check_hostname=q.get("check_hostname", "1") not in ("0", "false", "no"),
        timeout_s=float(q.get("timeout_s", "10")),
    )


def deliver_release(
    store: Store,
    target: TakTarget,
    product_id: str,
    *,
    retry: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[int]:
    """Push a released product's sites as CoT markers to ``target`` (from its tearline only).

    Each marker gets a delivery record; every attempt is counted in it, and the record ends
    'delivered' or, once the retries are spent, 'failed'. Returns the delivery ids.
    """
    policy = retry or DEFAULT_RETRY
    with store.transaction() as s:
        p = s.get(Product, product_id)
        if p is None or p.state != "released":
            return []
        tl = tearline_from_dict(released_tearline(s, p), released=p.approved_at)
        events = cot_events(tl, lang="es")
        ids = [
            create_delivery(s, DELIVERY_ACTOR, target.url, product_id=product_id, site_id=ev.uid).id
            for ev in events
        ]
    pending = list(range(len(events)))
    delays = policy.delays_s()
    for attempt in range(1, policy.max_attempts + 1):
        if not pending:
            break
        if attempt > 1:
            sleep(next(delays))
        records = push_events(
            [events[i] for i in pending], target, retry=RetryPolicy(max_attempts=1)
        )
        final = attempt == policy.max_attempts
        with store.transaction() as s:
            for i, rec in zip(pending, records, strict=True):
                record_attempt(
                    s,
                    DELIVERY_ACTOR,
                    ids[i],
                    ok=rec.delivered,
                    error=rec.error,
                    final=final and not rec.delivered,
                )
        pending = [i for i, rec in zip(pending, records, strict=True) if not rec.delivered]
    if pending:
        log.warning(
            "TAK delivery of %s to %s failed for %d marker(s)", product_id, target.url, len(pending)
        )
    return ids


def retract_withdrawn(
    store: Store,
    target: TakTarget,
    product_id: str,
    *,
    retry: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """After a withdrawal, take back from ``target`` every marker this product put there that
    its tearline no longer releases (all of them once no agency holds the release): one CoT
    deletion (:func:`vigia.share.render.retraction_cot`) per marker, audited with its outcome.
    Returns the site ids retracted."""
    policy = retry or DEFAULT_RETRY
    with store.transaction() as s:
        p = s.get(Product, product_id)
        if p is None:
            return []
        pushed = {
            d.site_id
            for d in list_deliveries(s, status="delivered", target=target.url)
            if d.product_id == product_id and d.site_id
        }
        still = {site.get("site_id") for site in released_tearline(s, p).get("sites") or []}
    gone = sorted(pushed - still)
    if not gone:
        return []
    now = datetime.now(UTC)
    records = push_events(
        [retraction_cot(uid, time=now) for uid in gone], target, retry=policy, sleep=sleep
    )
    done = [u for u, r in zip(gone, records, strict=True) if r.delivered]
    failed = [u for u, r in zip(gone, records, strict=True) if not r.delivered]
    with store.transaction() as s:
        audit(
            s,
            DELIVERY_ACTOR,
            "retract",
            "product",
            product_id,
            {"target": target.url, "retracted": done, "failed": failed},
        )
    if failed:
        log.warning(
            "TAK retraction of %s from %s failed for %d marker(s)",
            product_id,
            target.url,
            len(failed),
        )
    return done
