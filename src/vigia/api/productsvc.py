"""Products through the API: drafting with :mod:`vigia.share`, storing with :mod:`vigia.store`,
and rendering what was stored.

The store keeps a product's tearline as the JSON of :func:`vigia.share.render.tearline_dict`
(chips embedded). :func:`tearline_from_dict` turns it back into a
:class:`~vigia.share.tearline.Tearline` for the renderers: every site goes through
:func:`vigia.share.tearline.releasable_site` again (the one declaration of releasable fields),
so a partner rendering can only ever hold declared fields, even of an altered row.
"""

from __future__ import annotations

import base64
import binascii
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy.orm import Session

from vigia.exploit.vocabulary import VocabularyError, default_vocabulary
from vigia.share import products as share_products
from vigia.share.markings import Marking
from vigia.share.render import (
    cot_events,
    render_geojson,
    render_html,
    render_json,
    render_kml,
    render_pdf,
    tearline_dict,
)
from vigia.share.tearline import (
    ReleasableChip,
    ReleasableIndicator,
    Tearline,
    TearlineError,
    releasable_site,
    utc_time,
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

__all__ = [
    "FORMATS",
    "DraftRequest",
    "Rendered",
    "chip_sources",
    "draft_product",
    "render_product",
    "share_product",
    "tearline_from_dict",
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
_DATA_URI = re.compile(r"data:image/jpeg;base64,([A-Za-z0-9+/=]+)")


# --- the stored tearline ----------------------------------------------------------------------
def _chip(d: Mapping[str, Any], indicators: Mapping[str, ReleasableIndicator]) -> ReleasableChip:
    code = d.get("indicator")
    ind = indicators.get(code) if isinstance(code, str) else None
    if ind is None:
        try:
            v = default_vocabulary()[str(code)]
        except VocabularyError as exc:
            raise TearlineError(f"chip indicator {code!r}: {exc}") from exc
        ind = ReleasableIndicator(v.code, v.en, v.es)
    m = _DATA_URI.fullmatch(str(d.get("data_uri") or ""))
    if m is None:
        raise TearlineError(f"chip {d.get('name')!r} has no embedded JPEG")
    try:
        data = base64.b64decode(m.group(1), validate=True)
    except binascii.Error as exc:
        raise TearlineError(f"chip {d.get('name')!r} is not base64: {exc}") from exc
    return ReleasableChip(
        name=str(d["name"]), time=utc_time(d.get("time"), "chip time"), indicator=ind, data=data
    )


def tearline_from_dict(d: Mapping[str, Any], *, released: datetime | None = None) -> Tearline:
    """The :class:`Tearline` of a stored ``tearline_dict`` (chips embedded).

    Each site is rebuilt by :func:`releasable_site` (declared fields only, checked again).
    ``released`` sets the release time (the store keeps it with the product).
    """
    try:
        sites = []
        for s in d.get("sites") or []:
            fields = {k: v for k, v in s.items() if k not in ("indicators", "chips")}
            fields["indicators"] = [i["code"] for i in s.get("indicators") or []]
            site = releasable_site(fields)
            by_code = {i.code: i for i in site.indicators}
            chips = tuple(_chip(c, by_code) for c in s.get("chips") or [])
            sites.append(replace(site, chips=chips))
        period = d.get("period") or {}
        return Tearline(
            marking=Marking.from_dict(d["marking"]),
            product_id=str(d["product_id"]),
            kind=str(d["kind"]),
            title_en=str(d["title"]["en"]),
            title_es=str(d["title"]["es"]),
            created=utc_time(d["created"], "created"),
            sites=tuple(sites),
            period_start=utc_time(period["start"]) if period.get("start") else None,
            period_end=utc_time(period["end"]) if period.get("end") else None,
            released=released,
        )
    except (KeyError, TypeError) as exc:
        raise TearlineError(f"stored tearline is incomplete: {exc}") from exc


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
