"""What a partner agency sees: sites from the tearlines released to it, with its own status.

A partner sees a site once a site report about it was released to their agency (the store's
rule, :func:`vigia.store.visible_site_ids`). What they see of it is the site as it stands in the
**latest released site report's tearline** — not the analyst-side row, which may have changed
since a supervisor approved the release. Each tearline site goes through
:func:`vigia.share.codec.site_from_dict` (the one declaration of releasable fields); the
partner's own actions add ``partner_status``.

A :class:`PartnerIndex` holds, per agency, those views already serialised (English and
Spanish labels), rebuilt when the :class:`~vigia.store.generation.Generation` changes. Released
products never change, so their parsed tearlines are kept across rebuilds.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigia.share.codec import chip_refs, site_from_dict
from vigia.share.tearline import ReleasableSite
from vigia.store import Product, agency_site_ids, products_released_to
from vigia.store.actions import agency_site_status
from vigia.times import iso_time

__all__ = [
    "LANGS",
    "PartnerIndex",
    "ReleasedTearline",
    "TearlineCache",
    "accepts_gzip",
    "build_partner_index",
    "chip_url",
    "partner_site_view",
]

LANGS = ("en", "es")
#: Longest an index is served without checking the store again (s), for changes made by other
#: programs than the API (those of the API invalidate it at once).
INDEX_TTL_S = 60.0


def accepts_gzip(accept_encoding: str) -> bool:
    """True when an ``Accept-Encoding`` header value admits gzip (``gzip`` or ``*``, q > 0)."""
    for part in accept_encoding.split(","):
        coding, _, params = part.partition(";")
        if coding.strip().lower() not in ("gzip", "*"):
            continue
        q = params.strip().lower().replace(" ", "")
        if q.startswith("q="):
            try:
                return float(q[2:]) > 0
            except ValueError:
                return False
        return True
    return False


def chip_url(product_id: str, name: str) -> str:
    """URL of a chip of a product's tearline."""
    return f"/api/products/{product_id}/chips/{name}"


@dataclass(frozen=True, slots=True)
class ReleasedTearline:
    """The parts of a stored tearline the partner views need (chip bytes left out)."""

    product_id: str
    kind: str
    sites: Mapping[str, ReleasableSite]
    chips: Mapping[str, tuple[tuple[str, str], ...]]
    """site_id -> ((chip name, sha256), ...)."""

    @classmethod
    def parse(cls, product_id: str, kind: str, tearline: Mapping[str, Any]) -> ReleasedTearline:
        """Read a stored ``tearline_dict`` (:func:`vigia.share.codec.site_from_dict`, chip
        bytes left undecoded)."""
        sites: dict[str, ReleasableSite] = {}
        chips: dict[str, tuple[tuple[str, str], ...]] = {}
        for raw in tearline.get("sites") or []:
            site = site_from_dict(raw, chips=False)
            sites[site.site_id] = site
            chips[site.site_id] = chip_refs(raw)
        return cls(product_id, kind, sites, chips)


class TearlineCache:
    """product_id -> :class:`ReleasedTearline` of released (hence unchanging) products."""

    def __init__(self, max_entries: int = 20_000) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, ReleasedTearline] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, product_id: str) -> ReleasedTearline | None:
        with self._lock:
            hit = self._entries.get(product_id)
            if hit is not None:
                self._entries.move_to_end(product_id)
            return hit

    def put(self, item: ReleasedTearline) -> None:
        with self._lock:
            self._entries[item.product_id] = item
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)


def partner_site_view(
    site: ReleasableSite,
    lang: str,
    *,
    product_id: str,
    chips: tuple[tuple[str, str], ...],
    partner_status: str | None,
    product_ids: list[str],
) -> dict[str, Any]:
    """The JSON of one site for a partner: tearline fields, own status, chips and products."""
    return {
        "site_id": site.site_id,
        "lat": round(site.lat, 7),
        "lon": round(site.lon, 7),
        "ce90_m": round(site.ce90_m, 1),
        "indicators": [{"code": i.code, "label": i.label(lang)} for i in site.indicators],
        "first_seen": iso_time(site.first_seen),
        "last_seen": iso_time(site.last_seen),
        "status": site.status,
        "partner_status": partner_status,
        "assessment": site.assessment,
        "chips": [chip_url(product_id, name) for name, _ in chips],
        "product_ids": product_ids,
    }


@dataclass(slots=True)
class PartnerIndex:
    """One agency's visible sites, ready to serve."""

    agency_id: int
    agency_code: str
    generation: tuple[int, int]
    site_ids: list[str]
    views: dict[str, dict[str, dict[str, Any]]]
    """lang -> site_id -> view."""
    body: dict[str, bytes]
    """lang -> the JSON array of every view, encoded."""
    body_gzip: dict[str, bytes]
    """lang -> :attr:`body` compressed with gzip (for clients that accept it)."""
    listing: str
    """SHA-256 of the site ids and product ids served (names the listing in the audit log)."""
    chip_hashes: dict[str, frozenset[str]]
    """site_id -> SHA-256 of every chip released to the agency for that site."""
    built_at: float = field(default_factory=time.monotonic)
    """When it was built (monotonic s): indexes older than :data:`INDEX_TTL_S` are rebuilt."""
    published: bool = field(default=False)
    """True once an audit entry listed the site ids of this listing."""


def build_partner_index(
    session: Session,
    agency_id: int,
    agency_code: str,
    generation: tuple[int, int],
    tearlines: TearlineCache,
) -> PartnerIndex:
    """Build an agency's index from the store (reads only; the caller audits each use)."""
    released = session.execute(
        select(Product.product_id, Product.kind, Product.site_id)
        .where(Product.product_id.in_(products_released_to(agency_id)))
        .order_by(Product.approved_at, Product.product_id)
    ).all()
    missing = [pid for pid, _, _ in released if tearlines.get(pid) is None]
    for start in range(0, len(missing), 200):
        chunk = missing[start : start + 200]
        for pid, kind, tl in session.execute(
            select(Product.product_id, Product.kind, Product.tearline).where(
                Product.product_id.in_(chunk)
            )
        ).all():
            tearlines.put(ReleasedTearline.parse(pid, kind, tl))
    parsed = [(pid, kind, site_id, tearlines.get(pid)) for pid, kind, site_id in released]
    # Visible: the store's rule (agency_site_ids); shown as in the latest released site report.
    visible = agency_site_ids(session, agency_id)
    latest_report: dict[str, ReleasedTearline] = {}
    for _pid, kind, site_id, tl in parsed:
        if kind == "site_report" and site_id in visible and tl is not None and site_id in tl.sites:
            latest_report[site_id] = tl
    product_ids: dict[str, list[str]] = {s: [] for s in latest_report}
    chip_hashes: dict[str, set[str]] = {s: set() for s in latest_report}
    for pid, _kind, _site_id, tl in parsed:
        if tl is None:
            continue
        for s in tl.sites:
            if s in product_ids:
                product_ids[s].append(pid)
                chip_hashes[s].update(h for _, h in tl.chips.get(s, ()) if h)
    status = agency_site_status(session, agency_id)
    site_ids = sorted(latest_report)
    views: dict[str, dict[str, dict[str, Any]]] = {lang: {} for lang in LANGS}
    for s in site_ids:
        tl = latest_report[s]
        for lang in LANGS:
            views[lang][s] = partner_site_view(
                tl.sites[s],
                lang,
                product_id=tl.product_id,
                chips=tl.chips.get(s, ()),
                partner_status=status.get(s),
                product_ids=product_ids[s],
            )
    body = {
        lang: json.dumps(
            [views[lang][s] for s in site_ids], ensure_ascii=False, separators=(",", ":")
        ).encode("utf-8")
        for lang in LANGS
    }
    body_gzip = {lang: gzip.compress(b, compresslevel=6, mtime=0) for lang, b in body.items()}
    listing = hashlib.sha256(
        json.dumps([[s, product_ids[s]] for s in site_ids], separators=(",", ":")).encode()
    ).hexdigest()
    return PartnerIndex(
        agency_id=agency_id,
        agency_code=agency_code,
        generation=generation,
        site_ids=site_ids,
        views=views,
        body=body,
        body_gzip=body_gzip,
        listing=listing,
        chip_hashes={s: frozenset(h) for s, h in chip_hashes.items()},
    )
