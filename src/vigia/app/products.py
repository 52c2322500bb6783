"""Products through the API: drafting with :mod:`vigia.share`, storing with :mod:`vigia.store`,
and rendering what was stored.

The store keeps a product's tearline as the JSON of :func:`vigia.share.codec.tearline_dict`
(chips embedded); :func:`vigia.share.codec.tearline_from_dict` turns it back into a
:class:`~vigia.share.tearline.Tearline` for the renderers, every site through the one
declaration of releasable fields again, so a partner rendering can only ever hold declared
fields, even of an altered row.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy.orm import Session

from vigia.errors import TimeError
from vigia.share import products as share_products
from vigia.share.codec import tearline_dict, tearline_from_dict
from vigia.share.markings import Marking
from vigia.share.render import (
    cot_events,
    render_geojson,
    render_html,
    render_json,
    render_kml,
    render_pdf,
)
from vigia.share.tearline import (
    Tearline,
)
from vigia.store import (
    SITE_COLUMNS,
    Product,
    Site,
    User,
    ValidationError,
    create_draft,
    get_site,
    list_sites,
    new_product_id,
    partner_tearline,
)
from vigia.store.catalog import Catalog
from vigia.times import check_user_time

__all__ = [
    "FORMATS",
    "DraftRequest",
    "Rendered",
    "chip_sources",
    "draft_product",
    "render_product",
    "share_product",
]

Format = Literal["html", "pdf", "json", "geojson", "kml", "cot"]
FORMATS: dict[str, tuple[str, str]] = {
    "html": ("text/html; charset=utf-8", "html"),
    "pdf": ("application/pdf", "pdf"),
    "json": ("application/json", "json"),
    "geojson": ("application/geo+json", "geojson"),
    "kml": ("application/vnd.google-earth.kml+xml", "kml"),
    "cot": ("application/xml", "cot.xml"),
}


def _marking(p: Product) -> Marking:
    caveats = [c for c in (p.caveats or "").split("//") if c]
    return Marking(p.classification, caveats, p.releasable_to)


def share_product(session: Session, p: Product, lang: str = "en") -> share_products.Product:
    """The stored product as a :class:`vigia.share.products.Product` (for analyst renderings)."""
    author = session.get(User, p.author_id)
    tl = tearline_from_dict(p.tearline, released=p.approved_at if p.state == "released" else None)
    release = None
    if p.state == "released" and p.approved_at is not None:
        approver = session.get(User, p.approver_id) if p.approver_id is not None else None
        countries = sorted({r.agency.country for r in p.releases}) or ["MEX"]
        release = share_products.Release(
            approver.username if approver else "?", p.approved_at, ",".join(countries)
        )
    return share_products.Product(
        kind=p.kind,
        id=p.product_id,
        created=p.created_at,
        marking=_marking(p),
        author=author.username if author else "?",
        lang=lang,
        body=p.body,
        tearline=tl,
        release=release,
    )


# --- rendering --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Rendered:
    """A rendered file: bytes, media type and a file name."""

    data: bytes
    media_type: str
    filename: str


def _cot_document(tl: Tearline, lang: str) -> bytes:
    root = ET.Element("events")
    for ev in cot_events(tl, lang=lang):
        root.append(ET.fromstring(ev.to_bytes()))
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8")


def render_product(session: Session, p: Product, fmt: str, lang: str, *, viewer: User) -> Rendered:
    """Render a stored product for ``viewer``: for a partner the tearline only, naming only the
    sites their agency may see (:func:`vigia.store.partner_tearline`); for staff the whole
    product (HTML, PDF and JSON; GeoJSON, KML and CoT are tearline renderings for everyone)."""
    media_type, ext = FORMATS[fmt]
    partner = viewer.is_partner
    released = p.approved_at if p.state == "released" else None
    tl = tearline_from_dict(partner_tearline(session, viewer, p), released=released)
    source: share_products.Product | Tearline = tl
    audience: Literal["partner", "analyst"] = "partner"
    if not partner and fmt in ("html", "pdf", "json"):
        source = share_product(session, p, lang)
        audience = "analyst"
    if fmt == "html":
        data = render_html(source, lang=lang, audience=audience).encode("utf-8")
    elif fmt == "pdf":
        data = render_pdf(source, lang=lang, audience=audience)
    elif fmt == "json":
        data = render_json(source, audience=audience).encode("utf-8")
    elif fmt == "geojson":
        data = render_geojson(tl, ce90_polygons=True).encode("utf-8")
    elif fmt == "kml":
        data = render_kml(tl, lang=lang).encode("utf-8")
    else:
        data = _cot_document(tl, lang)
    suffix = "" if partner else "-full" if fmt in ("html", "pdf", "json") else ""
    return Rendered(data, media_type, f"{p.product_id}{suffix}-{lang}.{ext}")


# --- drafting ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DraftRequest:
    """What an analyst asks for (already validated at the boundary)."""

    kind: str
    site_id: str | None
    assessment: str | None
    classification: str
    caveats: Sequence[str]
    releasable_to: Sequence[str]
    mission_id: str | None
    period_start: datetime | None
    period_end: datetime | None
    lang: str


def chip_sources(catalog: Catalog, observations: pa.Table) -> dict[str, Path]:
    """obs_id -> chip file, for the observations that have one."""
    if observations.num_rows == 0 or "obs_id" not in observations.column_names:
        return {}
    chips_dir = catalog.chips_dir
    if not chips_dir.is_dir():
        return {}
    present = {p.stem: p for p in chips_dir.glob("*.jpg")}
    ids = observations.column("obs_id").to_pylist()
    return {o: present[o] for o in ids if o in present}


def _site_row(site: Site) -> dict[str, Any]:
    return {c: getattr(site, c) for c in SITE_COLUMNS}


def _observations(catalog: Catalog, site_id: str | None = None) -> pa.Table:
    obs = catalog.observations()
    if site_id is not None and "site_id" in obs.column_names:
        obs = obs.filter(pc.fill_null(pc.equal(obs.column("site_id"), site_id), False))
    return obs


def draft_product(session: Session, author: User, req: DraftRequest, catalog: Catalog) -> Product:
    """Build the product with :mod:`vigia.share` and save it as a draft (audited)."""
    marking = Marking(req.classification, req.caveats, req.releasable_to)
    product_id = new_product_id()  # the store's id, named in the tearline too
    common: dict[str, Any] = {
        "marking": marking,
        "author": author.username,
        "lang": req.lang,
        "product_id": product_id,
    }
    if req.kind != "site_report" and req.assessment is not None:
        raise ValidationError("an assessment is given with a site_report only")
    if req.kind == "site_report":
        if not req.site_id:
            raise ValidationError("a site_report needs a site_id")
        row = _site_row(get_site(session, author, req.site_id))
        if req.assessment is not None:
            row["assessment"] = req.assessment
        obs = _observations(catalog, req.site_id)
        made = share_products.site_report(row, obs, chip_sources(catalog, obs), **common)
    else:
        if req.site_id is not None:
            raise ValidationError(f"a {req.kind} is not about one site: leave site_id out")
        rows = [_site_row(s) for s in list_sites(session, author)]
        obs = _observations(catalog)
        chips = chip_sources(catalog, obs)
        if req.kind == "sortie_summary":
            if not req.mission_id:
                raise ValidationError("a sortie_summary needs the mission_id of the sortie")
            sortie = {"mission_id": req.mission_id}
            made = share_products.sortie_summary(sortie, rows, obs, chips, **common)
        else:
            start, end = req.period_start, req.period_end
            for name, t in (("period_start", start), ("period_end", end)):
                if t is not None:
                    try:
                        check_user_time(t, name)
                    except TimeError as exc:
                        raise ValidationError(exc.message) from None
            if start is None or end is None:
                seen = [t for r in rows for t in (r["first_seen"], r["last_seen"]) if t is not None]
                if not seen:
                    raise ValidationError("no sites with times: give period_start and period_end")
                start = start or min(seen)
                end = end or max(seen)
                if end <= start:
                    end = start + timedelta(seconds=1)
            made = share_products.digest(rows, (start, end), obs, chips, **common)
    return create_draft(
        session,
        author,
        req.kind,
        body=made.body,
        tearline=tearline_dict(made, "embed"),
        classification=marking.classification.label,
        caveats="//".join(marking.caveats) or None,
        releasable_to=list(marking.releasable_to),
        site_id=req.site_id if req.kind == "site_report" else None,
        title=made.title("en"),
        product_id=product_id,
    )
