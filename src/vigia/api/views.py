"""JSON views of store objects for staff users, and of products and actions for everyone.

Partner views of sites live in :mod:`vigia.api.partner` (built from released tearlines only);
a partner's view of a product is its stored tearline (:func:`partner_product_view`).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import select
from sqlalchemy.orm import Session

from vigia.api.partner import chip_url
from vigia.exploit.observations import usable_mask
from vigia.exploit.vocabulary import VocabularyError, default_vocabulary
from vigia.share.codec import tearline_refs
from vigia.share.products import jsonable
from vigia.store import Action, Agency, Delivery, Product, Site, User
from vigia.store.catalog import Catalog
from vigia.store.sites import SITE_COLUMNS
from vigia.times import iso_time

__all__ = [
    "ChipIndex",
    "action_view",
    "delivery_view",
    "indicator_view",
    "partner_product_view",
    "product_view",
    "staff_site_view",
]


def _t(t: datetime | None) -> str | None:
    return None if t is None else iso_time(t)


def indicator_view(codes: Iterable[str], lang: str) -> list[dict[str, str]]:
    """Indicator codes with their labels in ``lang`` (the code itself when unknown)."""
    vocab = default_vocabulary()
    out = []
    for c in codes:
        try:
            label = vocab[c].label(lang)
        except VocabularyError:
            label = c
        out.append({"code": c, "label": label})
    return out


# --- chips of observations ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _ChipState:
    key: tuple[int, int]
    by_site: dict[str, list[str]]
    site_of: dict[str, tuple[str, bool]]
    """obs_id -> (site_id, usable) for observations with a chip file (usable: `usable_mask`)."""


class ChipIndex:
    """Which observations of which site have a chip file (``chips/<obs_id>.jpg``)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._state: _ChipState | None = None
        self._lock = threading.Lock()

    def _key(self) -> tuple[int, int]:
        def mtime(p: Path) -> int:
            try:
                return os.stat(p).st_mtime_ns
            except OSError:
                return 0

        return (mtime(self.catalog.path("observations")), mtime(self.catalog.chips_dir))

    def _load(self) -> _ChipState:
        key = self._key()
        state = self._state
        if state is not None and state.key == key:
            return state
        with self._lock:
            if self._state is not None and self._state.key == key:
                return self._state
            chips_dir = self.catalog.chips_dir
            present = {p.stem for p in chips_dir.glob("*.jpg")} if chips_dir.is_dir() else set()
            by_site: dict[str, list[str]] = {}
            site_of: dict[str, tuple[str, bool]] = {}
            path = self.catalog.path("observations")
            if present and path.exists():
                names = set(pq.read_schema(path).names)
                want = ("obs_id", "site_id", "status", "consent_status", "time")
                cols = [c for c in want if c in names]
                t = pq.read_table(path, columns=cols)
                if {"obs_id", "site_id", "status", "consent_status"} <= set(cols):
                    mask = pc.is_in(t.column("obs_id"), value_set=pa.array(sorted(present)))
                    t = t.filter(pc.fill_null(mask, False))
                    if "time" in cols:
                        t = t.sort_by([("time", "ascending"), ("obs_id", "ascending")])
                    for o, s, usable in zip(
                        t.column("obs_id").to_pylist(),
                        t.column("site_id").to_pylist(),
                        usable_mask(t).tolist(),
                        strict=True,
                    ):
                        site_of[o] = (s or "", bool(usable))
                        if s:
                            by_site.setdefault(s, []).append(o)
            self._state = _ChipState(key, by_site, site_of)
            return self._state

    def obs_ids(self, site_id: str) -> list[str]:
        """Observations of ``site_id`` that have a chip, oldest first."""
        return list(self._load().by_site.get(site_id, ()))

    def site_of(self, obs_id: str) -> tuple[str, bool] | None:
        """(site_id, usable) of an observation with a chip, or None (usable: `usable_mask`)."""
        return self._load().site_of.get(obs_id)


# --- sites -------------------------------------------------------------------------------------
_STAFF_SITE_TIMES = ("previous_pass_time", "first_seen", "last_seen", "synced_at")
#: Plain fields of a site for staff: the mirrored columns (times, indicators and the
#: explanation are shaped separately) and the partner's status.
_STAFF_SITE_FIELDS = (
    *(c for c in SITE_COLUMNS if c not in (*_STAFF_SITE_TIMES, "indicators", "explanation")),
    "partner_status",
)


def _explanation(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def staff_site_view(
    site: Site,
    lang: str,
    *,
    chips: list[str],
    product_ids: list[str],
    agencies: Mapping[int, str],
) -> dict[str, Any]:
    """Every field of a site for analysts and supervisors."""
    v: dict[str, Any] = {k: jsonable(getattr(site, k)) for k in _STAFF_SITE_FIELDS}
    v.update({k: _t(getattr(site, k)) for k in _STAFF_SITE_TIMES})
    v["indicators"] = indicator_view(site.indicators or [], lang)
    v["explanation"] = jsonable(_explanation(site.explanation))
    v["partner_status_at"] = _t(site.partner_status_at)
    v["partner_status_agency"] = (
        agencies.get(site.partner_status_agency_id)
        if site.partner_status_agency_id is not None
        else None
    )
    v["chips"] = [f"/api/chips/{o}" for o in chips]
    v["product_ids"] = product_ids
    return v


def product_ids_by_site(
    session: Session, site_ids: Iterable[str] | None = None
) -> dict[str, list[str]]:
    """site_id -> ids of the products about it (site reports), oldest first."""
    q = (
        select(Product.site_id, Product.product_id)
        .where(Product.site_id.is_not(None))
        .order_by(Product.created_at, Product.product_id)
    )
    if site_ids is not None:
        q = q.where(Product.site_id.in_(list(site_ids)))
    out: dict[str, list[str]] = {}
    for sid, pid in session.execute(q).all():
        out.setdefault(str(sid), []).append(pid)
    return out


def agency_codes(session: Session) -> dict[int, str]:
    """agency id -> code."""
    return {int(i): str(c) for i, c in session.execute(select(Agency.id, Agency.code)).all()}


def usernames(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    """user id -> username for the given ids."""
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    rows = session.execute(select(User.id, User.username).where(User.id.in_(wanted))).all()
    return {int(i): str(u) for i, u in rows}


# --- products -------------------------------------------------------------------------------
def _tearline_refs(tearline: Mapping[str, Any], product_id: str) -> dict[str, Any]:
    """A stored tearline as served (:func:`vigia.share.codec.tearline_refs`), each chip with
    its URL."""
    tl = tearline_refs(tearline)
    for s in tl["sites"]:
        for c in s["chips"]:
            c["url"] = chip_url(product_id, c["name"])
    return tl


def product_view(p: Product, names: Mapping[int, str], *, full: bool = True) -> dict[str, Any]:
    """A product for staff: marking, state, people, release, and (``full``) body and tearline."""
    v: dict[str, Any] = {
        "product_id": p.product_id,
        "kind": p.kind,
        "site_id": p.site_id,
        "title": p.title,
        "state": p.state,
        "classification": p.classification,
        "caveats": [c for c in (p.caveats or "").split("//") if c],
        "releasable_to": list(p.releasable_to),
        "marking": (p.tearline or {}).get("marking"),
        "author": names.get(p.author_id),
        "created_at": _t(p.created_at),
        "approver": names.get(p.approver_id) if p.approver_id is not None else None,
        "approved_at": _t(p.approved_at),
        "rejection_reason": p.rejection_reason,
        "released_to": p.released_to,
        "withdrawn_from": [
            {
                "agency": r.agency.code,
                "at": _t(r.withdrawn_at),
                "by": names.get(r.withdrawn_by) if r.withdrawn_by is not None else None,
                "reason": r.withdrawal_reason,
            }
            for r in p.releases
            if not r.active
        ],
    }
    if full:
        v["body"] = p.body
        v["tearline"] = _tearline_refs(p.tearline, p.product_id)
    return v


def partner_product_view(p: Product, tearline: Mapping[str, Any], agency_id: int) -> dict[str, Any]:
    """A product released to a partner's agency: ``tearline`` (the product's, as
    :func:`vigia.store.partner_tearline` gives it to them; chips as URLs) and release time; once
    the release is withdrawn, only its id, kind, ``state`` ``withdrawn``, when and why."""
    release = p.release_to(agency_id)
    released = _t(release.released_at) if release is not None else _t(p.approved_at)
    if release is not None and not release.active:
        return {
            "product_id": p.product_id,
            "kind": p.kind,
            "state": "withdrawn",
            "released": released,
            "withdrawn": _t(release.withdrawn_at),
            "withdrawal_reason": release.withdrawal_reason,
        }
    tl = _tearline_refs(tearline, p.product_id)
    tl["product_id"] = p.product_id
    tl["released"] = released
    tl["state"] = p.state
    return tl


# --- actions and deliveries ------------------------------------------------------------------
def action_view(a: Action, names: Mapping[int, str]) -> dict[str, Any]:
    """An action with its seizures (normalised and as reported)."""
    return {
        "id": a.id,
        "site_id": a.site_id,
        "agency": a.agency.code,
        "user": names.get(a.user_id),
        "kind": a.kind,
        "occurred_at": _t(a.occurred_at),
        "lat": a.lat,
        "lon": a.lon,
        "notes": a.notes,
        "recorded_at": _t(a.recorded_at),
        "seizures": [
            {
                "substance": s.substance,
                "amount": s.amount,
                "unit": s.unit,
                "original_amount": s.original_amount,
                "original_unit": s.original_unit,
            }
            for s in a.seizures
        ],
    }


def delivery_view(d: Delivery) -> dict[str, Any]:
    """A delivery record."""
    return {
        "id": d.id,
        "product_id": d.product_id,
        "site_id": d.site_id,
        "target": d.target,
        "attempts": d.attempts,
        "status": d.status,
        "last_error": d.last_error,
        "created_at": _t(d.created_at),
        "updated_at": _t(d.updated_at),
        "delivered_at": _t(d.delivered_at),
    }
