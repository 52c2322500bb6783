"""Products through the API: drafting with :mod:`vigia.share`, storing with :mod:`vigia.store`,
and rendering what was stored.

The store keeps a product's tearline as the JSON of :func:`vigia.share.codec.tearline_dict`
(chips embedded); :func:`vigia.share.codec.tearline_from_dict` turns it back into a
:class:`~vigia.share.tearline.Tearline` for the renderers, every site through the one
declaration of releasable fields again, so a partner rendering can only ever hold declared
fields, even of an altered row.
"""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy.orm import Session

from vigia import __version__
from vigia.errors import RenderError, TimeError
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
    "RENDER_VERSION",
    "DraftRequest",
    "RenderInput",
    "Rendered",
    "chip_sources",
    "draft_product",
    "render_bytes",
    "render_input",
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


def _analyst_fields(session: Session, p: Product) -> dict[str, Any]:
    """What the analyst rendering of ``p`` shows, as plain data (see :class:`RenderInput`)."""
    author = session.get(User, p.author_id)
    release = None
    if p.state == "released" and p.approved_at is not None:
        approver = session.get(User, p.approver_id) if p.approver_id is not None else None
        countries = sorted({r.agency.country for r in p.releases}) or ["MEX"]
        release = {
            "approved_by": approver.username if approver else "?",
            "approved_at": p.approved_at,
            "countries": ",".join(countries),
        }
    return {
        "kind": p.kind,
        "created": p.created_at,
        "classification": p.classification,
        "caveats": p.caveats,
        "releasable_to": list(p.releasable_to),
        "author": author.username if author else "?",
        "body": p.body,
        "tearline": p.tearline,
        "release": release,
        # withdrawals change no analyst rendering today; they are part of its version anyway
        "releases": [
            [r.agency.code, r.active, r.withdrawn_at, r.withdrawal_reason] for r in p.releases
        ],
    }


def _analyst_product(
    product_id: str, fields: Mapping[str, Any], released: datetime | None, lang: str
) -> share_products.Product:
    caveats = [c for c in (fields["caveats"] or "").split("//") if c]
    rel = fields["release"]
    return share_products.Product(
        kind=fields["kind"],
        id=product_id,
        created=fields["created"],
        marking=Marking(fields["classification"], caveats, fields["releasable_to"]),
        author=fields["author"],
        lang=lang,
        body=fields["body"],
        tearline=tearline_from_dict(fields["tearline"], released=released),
        release=None
        if rel is None
        else share_products.Release(rel["approved_by"], rel["approved_at"], rel["countries"]),
    )


def share_product(session: Session, p: Product, lang: str = "en") -> share_products.Product:
    """The stored product as a :class:`vigia.share.products.Product` (for analyst renderings)."""
    released = p.approved_at if p.state == "released" else None
    return _analyst_product(p.product_id, _analyst_fields(session, p), released, lang)


# --- rendering --------------------------------------------------------------------------------
#: Part of every render's cache key: bump it when a renderer's output changes for the same input.
RENDER_VERSION = 1


@dataclass(frozen=True, slots=True)
class Rendered:
    """A rendered file: bytes, media type and a file name."""

    data: bytes
    media_type: str
    filename: str


@dataclass(frozen=True, slots=True)
class RenderInput:
    """Everything one rendering needs, read from the store and detached from it (plain data,
    so that it can cross to a worker process): :func:`render_input` reads it,
    :func:`render_bytes` renders it with no database at hand.

    ``viewer`` is the viewer's tearline class, ``staff`` or ``partner:<AGENCY>``; ``tearline``
    is the stored tearline as that viewer may be given it; ``analyst`` holds the fields of the
    whole product for staff HTML, PDF and JSON, else None.
    """

    product_id: str
    fmt: str
    lang: str
    viewer: str
    tearline: dict[str, Any]
    released: datetime | None
    analyst: dict[str, Any] | None

    @property
    def media_type(self) -> str:
        """The media type of the rendering."""
        return FORMATS[self.fmt][0]

    @property
    def filename(self) -> str:
        """The file name the rendering is offered under."""
        suffix = "-full" if self.analyst is not None else ""
        return f"{self.product_id}{suffix}-{self.lang}.{FORMATS[self.fmt][1]}"

    def key(self) -> str:
        """The version of this rendering (SHA-256, hex): of the product id, format, language,
        viewer class and every input of the rendering, so that any change to the product (an
        edit, an approval, a withdrawal) or to what the viewer may see gives another key."""
        doc = {
            "render_version": RENDER_VERSION,
            "vigia": __version__,
            "product_id": self.product_id,
            "fmt": self.fmt,
            "lang": self.lang,
            "viewer": self.viewer,
            "released": self.released,
            "tearline": self.tearline,
            "analyst": self.analyst,
        }
        text = json.dumps(doc, sort_keys=True, default=_key_default, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _key_default(v: Any) -> str:
    if isinstance(v, datetime):
        return v.isoformat()
    raise TypeError(f"not part of a render key: {type(v).__name__}")


def _cot_document(tl: Tearline, lang: str) -> bytes:
    root = ET.Element("events")
    for ev in cot_events(tl, lang=lang):
        root.append(ET.fromstring(ev.to_bytes()))
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8")


def render_input(session: Session, p: Product, fmt: str, lang: str, *, viewer: User) -> RenderInput:
    """What rendering ``p`` as ``fmt`` in ``lang`` for ``viewer`` needs: for a partner the
    tearline only, naming only the sites their agency may see (:func:`vigia.store.
    partner_tearline`); for staff the whole product (HTML, PDF and JSON; GeoJSON, KML and CoT
    are tearline renderings for everyone). Reads only: ``p`` comes from
    :func:`vigia.store.get_product`, which checks and audits the viewer's access."""
    if fmt not in FORMATS:
        raise RenderError(f"no rendering {fmt!r}: one of {', '.join(FORMATS)}")
    partner = viewer.is_partner
    analyst = None
    if not partner and fmt in ("html", "pdf", "json"):
        analyst = _analyst_fields(session, p)
    return RenderInput(
        product_id=p.product_id,
        fmt=fmt,
        lang=lang,
        viewer=f"partner:{viewer.agency_code}" if partner else "staff",
        tearline=partner_tearline(session, viewer, p),
        released=p.approved_at if p.state == "released" else None,
        analyst=analyst,
    )


def render_bytes(inp: RenderInput) -> bytes:
    """The rendering of ``inp`` (pure: no database, no files)."""
    tl = tearline_from_dict(inp.tearline, released=inp.released)
    source: share_products.Product | Tearline = tl
    audience: Literal["partner", "analyst"] = "partner"
    if inp.analyst is not None:
        source = _analyst_product(inp.product_id, inp.analyst, inp.released, inp.lang)
        audience = "analyst"
    fmt, lang = inp.fmt, inp.lang
    if fmt == "html":
        return render_html(source, lang=lang, audience=audience).encode("utf-8")
    if fmt == "pdf":
        return render_pdf(source, lang=lang, audience=audience)
    if fmt == "json":
        return render_json(source, audience=audience).encode("utf-8")
    if fmt == "geojson":
        return render_geojson(tl, ce90_polygons=True).encode("utf-8")
    if fmt == "kml":
        return render_kml(tl, lang=lang).encode("utf-8")
    return _cot_document(tl, lang)


def render_product(session: Session, p: Product, fmt: str, lang: str, *, viewer: User) -> Rendered:
    """Render a stored product for ``viewer`` in this thread (:func:`render_input`, then
    :func:`render_bytes`); the API renders in :class:`vigia.app.renders.RenderPool` instead."""
    inp = render_input(session, p, fmt, lang, viewer=viewer)
    return Rendered(render_bytes(inp), inp.media_type, inp.filename)


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
