"""Renderers of products: HTML and PDF (English, Spanish), JSON, GeoJSON, KML, Cursor-on-Target.

Partner renderings read the **tearline only** (a :class:`~vigia.share.tearline.Tearline`, or the
tearline of a :class:`~vigia.share.products.Product`): HTML/PDF/JSON with
``audience="partner"`` (the default), GeoJSON, KML and CoT. The analyst rendering
(``audience="analyst"``) shows the full body above the tearline.

Every rendering carries the marking: banner lines top and bottom of HTML pages and of every PDF
page, a ``marking`` member in JSON/GeoJSON, the banner in the KML document and placemarks, and
the banner at the head of each CoT event's remarks.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import unicodedata
import xml.etree.ElementTree as ET
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from importlib.resources import files
from itertools import accumulate
from typing import Any, Final

import jinja2
import numpy as np

from vigia.errors import RenderError
from vigia.share.codec import (
    Audience,
    ChipMode,
    audience_product,
    product_dict,
    site_dict,
    source_tearline,
    tearline_dict,
)
from vigia.share.markings import Marking
from vigia.share.products import Product, jsonable
from vigia.share.tearline import (
    ReleasableChip,
    ReleasableSite,
    Tearline,
)
from vigia.times import iso_time

__all__ = [
    "CotEvent",
    "RenderError",
    "chip_files",
    "cot_events",
    "geojson_dict",
    "inline_style_hashes",
    "labels",
    "render_geojson",
    "render_html",
    "render_json",
    "render_kml",
    "render_pdf",
    "retraction_cot",
    "site_cot",
]

KML_NS: Final = "http://www.opengis.net/kml/2.2"
#: CoT type of a released site: an atom, unknown affiliation, ground (MIL-STD-2525 "a-u-G").
COT_TYPE: Final = "a-u-G"
#: CoT "how": human, estimated (an analyst's assessed position).
COT_HOW: Final = "h-e"
#: CoT value for an unknown height or linear error.
COT_UNKNOWN: Final = 9999999.0


# --- shared -----------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _labels() -> dict[str, dict[str, str]]:
    path = files("vigia.share") / "data" / "labels.json"
    data: dict[str, dict[str, str]] = json.loads(path.read_text(encoding="utf-8"))
    return data


def labels(lang: str) -> dict[str, str]:
    """UI strings in ``lang`` ('en' or 'es')."""
    if lang not in ("en", "es"):
        raise RenderError(f"unknown language {lang!r}; expected 'en' or 'es'")
    return _labels()[lang]


def human_time(t: datetime | None) -> str:
    """``2026-03-14 05:12 UTC`` (empty for ``None``)."""
    return "" if t is None else t.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _status_label(status: str, L: Mapping[str, str]) -> str:
    return L.get(f"status.{status}", status)


def _banner_class(m: Marking) -> str:
    return "c-" + m.classification.label.lower().replace(" ", "-")


# --- views: plain dicts the templates and the PDF read ----------------------------------------
def _site_view(s: ReleasableSite, lang: str, chip_src: Mapping[str, str]) -> dict[str, Any]:
    L = labels(lang)
    return {
        "site_id": s.site_id,
        "lat": f"{s.lat:.5f}",
        "lon": f"{s.lon:.5f}",
        "ce90": f"{s.ce90_m:.0f} m",
        "status": _status_label(s.status, L),
        "first_seen": human_time(s.first_seen),
        "last_seen": human_time(s.last_seen),
        "indicators": [i.label(lang) for i in s.indicators],
        "assessment": s.assessment,
        "chips": [
            {
                "name": c.name,
                "src": chip_src.get(c.name, ""),
                "indicator": c.indicator.label(lang),
                "time": human_time(c.time),
            }
            for c in s.chips
        ],
    }


def _tearline_view(t: Tearline, lang: str, chip_base: str | None) -> dict[str, Any]:
    L = labels(lang)
    chips = t.chips()
    src = {
        n: (f"{chip_base.rstrip('/')}/{n}" if chip_base is not None else c.data_uri())
        for n, c in chips.items()
    }
    period = ""
    if t.period_start is not None and t.period_end is not None:
        period = f"{human_time(t.period_start)} – {human_time(t.period_end)}"
    return {
        "banner": t.marking.banner(lang),
        "caveats": t.marking.caveat_legend(lang),
        "title": t.title(lang),
        "product_id": t.product_id,
        "kind_label": L.get(f"kind.{t.kind}", t.kind),
        "created": human_time(t.created),
        "released": human_time(t.released),
        "period": period,
        "sites": [_site_view(s, lang, src) for s in t.sites],
    }


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, list | tuple):
        return ", ".join(_cell(x) for x in v)
    if isinstance(v, Mapping):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _body_sections(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name, value in body.items():
        v = jsonable(value)
        if isinstance(v, list) and v and all(isinstance(r, Mapping) for r in v):
            cols: list[str] = []
            for r in v:
                cols.extend(k for k in r if k not in cols)
            rows = [[_cell(r.get(c)) for c in cols] for r in v]
            out.append({"name": name, "columns": cols, "rows": rows, "pairs": None, "text": ""})
        elif isinstance(v, Mapping):
            pairs = [(str(k), _cell(x)) for k, x in v.items()]
            out.append({"name": name, "columns": [], "rows": [], "pairs": pairs, "text": ""})
        else:
            out.append({"name": name, "columns": [], "rows": [], "pairs": None, "text": _cell(v)})
    return out


# --- HTML -----------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("vigia.share", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def inline_style_hashes() -> tuple[str, ...]:
    """CSP sources (``'sha256-…'``) of the inline ``<style>`` blocks of the HTML rendering, so
    that a Content-Security-Policy without ``'unsafe-inline'`` still lets the page be styled
    (the blocks are static: no template code inside them)."""
    env = _env()
    assert env.loader is not None
    source = env.loader.get_source(env, "base.html.j2")[0]
    blocks = re.findall(r"<style>(.*?)</style>", source, flags=re.S)
    return tuple(
        "'sha256-" + base64.b64encode(hashlib.sha256(b.encode()).digest()).decode() + "'"
        for b in blocks
    )


def render_html(
    source: Product | Tearline,
    *,
    lang: str = "en",
    audience: Audience = "partner",
    chip_base: str | None = None,
) -> str:
    """A self-contained HTML page (UTF-8) with banner lines top and bottom.

    Chips are inline ``data:`` URIs, or, with ``chip_base``, relative links
    ``<chip_base>/<name>`` to the files of :func:`chip_files`.
    """
    product = audience_product(source, audience)
    t = source_tearline(source)
    view = _tearline_view(t, lang, chip_base)
    ctx: dict[str, Any] = {"lang": lang, "L": labels(lang), "t": view}
    if product is None:
        ctx |= {
            "banner": view["banner"],
            "banner_class": _banner_class(t.marking),
            "title": view["title"],
        }
        return _env().get_template("partner.html.j2").render(ctx)
    ctx |= {
        "banner": product.marking.banner(lang),
        "banner_class": _banner_class(product.marking),
        "title": product.title(lang),
        "author": product.author,
        "approved_by": product.release.approved_by if product.release else None,
        "body": _body_sections(product.body),
    }
    return _env().get_template("analyst.html.j2").render(ctx)


def chip_files(source: Product | Tearline) -> dict[str, bytes]:
    """The tearline's image chips as ``{file name: JPEG bytes}`` (metadata already stripped)."""
    return {n: c.data for n, c in source_tearline(source).chips().items()}


def render_json(
    source: Product | Tearline, *, audience: Audience = "partner", chips: ChipMode = "embed"
) -> str:
    """:func:`product_dict` as UTF-8 JSON text."""
    return json.dumps(product_dict(source, audience=audience, chips=chips), ensure_ascii=False)


# --- GeoJSON ----------------------------------------------------------------------------------
#: Vertices of a CE90 circle (the ring repeats the first one at the end).
CIRCLE_VERTICES: Final = 72


def ce90_rings(sites: Sequence[ReleasableSite]) -> np.ndarray:
    """CE90 circles of ``sites`` as closed lon/lat rings, shape (n, CIRCLE_VERTICES + 1, 2).

    Geodesic (WGS84) points at the CE90 radius, counter-clockwise (RFC 7946 right-hand rule).
    """
    from pyproj import Geod

    n, k = len(sites), CIRCLE_VERTICES
    if n == 0:
        return np.empty((0, k + 1, 2))
    lat = np.repeat([s.lat for s in sites], k)
    lon = np.repeat([s.lon for s in sites], k)
    radius = np.repeat([max(s.ce90_m, 0.1) for s in sites], k)
    # Azimuths decreasing: clockwise compass bearings give a counter-clockwise ring.
    az = np.tile(np.linspace(360.0, 0.0, k, endpoint=False), n)
    lons, lats, _ = Geod(ellps="WGS84").fwd(lon, lat, az, radius)
    ring = np.stack([np.asarray(lons), np.asarray(lats)], axis=-1).reshape(n, k, 2).round(7)
    return np.concatenate([ring, ring[:, :1]], axis=1)


def geojson_dict(source: Product | Tearline, *, ce90_polygons: bool = False) -> dict[str, Any]:
    """RFC 7946 FeatureCollection: one Point feature per site (tearline fields as properties).

    With ``ce90_polygons`` each site also gets a Polygon feature: its CE90 circle.
    ``marking`` and ``product`` are foreign members of the collection.
    """
    t = source_tearline(source)
    feats: list[dict[str, Any]] = []
    banner = t.marking.banner("en")
    rings = ce90_rings(t.sites) if ce90_polygons else None
    for n, s in enumerate(t.sites):
        props = site_dict(s, "refs")
        props["indicators"] = [i.code for i in s.indicators]
        props["indicator_labels_en"] = [i.en for i in s.indicators]
        props["indicator_labels_es"] = [i.es for i in s.indicators]
        props["chips"] = [c.name for c in s.chips]
        props["marking"] = banner
        props["feature"] = "site"
        del props["lat"], props["lon"]
        feats.append(
            {
                "type": "Feature",
                "id": s.site_id,
                "geometry": {"type": "Point", "coordinates": [round(s.lon, 7), round(s.lat, 7)]},
                "properties": props,
            }
        )
        if rings is not None:
            feats.append(
                {
                    "type": "Feature",
                    "id": f"{s.site_id}-ce90",
                    "geometry": {
                        "type": "Polygon",
                        "coordinates": [rings[n].tolist()],
                    },
                    "properties": {
                        "site_id": s.site_id,
                        "feature": "ce90",
                        "ce90_m": round(s.ce90_m, 1),
                        "marking": banner,
                    },
                }
            )
    td = tearline_dict(t, "none")
    return {
        "type": "FeatureCollection",
        "marking": td["marking"],
        "product": {k: td[k] for k in ("product_id", "kind", "title", "created", "released")}
        | {"period": td["period"]},
        "features": feats,
    }


def render_geojson(source: Product | Tearline, *, ce90_polygons: bool = False) -> str:
    """:func:`geojson_dict` as UTF-8 JSON text."""
    return json.dumps(geojson_dict(source, ce90_polygons=ce90_polygons), ensure_ascii=False)


# --- KML ------------------------------------------------------------------------------------
def _kml_description(s: ReleasableSite, banner: str, lang: str) -> str:
    L = labels(lang)
    v = _site_view(s, lang, {})
    lines = [
        banner,
        f"{L['location']}: {v['lat']}, {v['lon']}",
        f"{L['ce90']}: {v['ce90']}",
        f"{L['status']}: {v['status']}",
        f"{L['first_seen']}: {v['first_seen']}",
        f"{L['last_seen']}: {v['last_seen']}",
        f"{L['indicators']}: {'; '.join(v['indicators'])}",
        f"{L['assessment']}: {s.assessment or L['no_assessment']}",
        banner,
    ]
    return "\n".join(lines)


def render_kml(source: Product | Tearline, *, lang: str = "es", ce90_polygons: bool = True) -> str:
    """KML 2.2 document (opens in Google Earth): one Placemark per site.

    Each placemark has a name, a plain-text description with the banner, ``ExtendedData`` with
    the tearline fields, and its geometry: the point, plus (``ce90_polygons``) the CE90 circle.
    """
    t = source_tearline(source)
    L = labels(lang)
    banner = t.marking.banner(lang)
    ET.register_namespace("", KML_NS)
    kml = ET.Element(f"{{{KML_NS}}}kml")
    doc = ET.SubElement(kml, f"{{{KML_NS}}}Document")
    ET.SubElement(doc, f"{{{KML_NS}}}name").text = f"{banner} - {t.title(lang)}"
    ET.SubElement(doc, f"{{{KML_NS}}}description").text = "\n".join(
        [
            banner,
            f"{L['product']}: {t.product_id}",
            f"{L['created']}: {human_time(t.created)}",
            banner,
        ]
    )
    style = ET.SubElement(doc, f"{{{KML_NS}}}Style", id="site")
    icon_style = ET.SubElement(style, f"{{{KML_NS}}}IconStyle")
    ET.SubElement(icon_style, f"{{{KML_NS}}}color").text = "ff0000ff"
    line = ET.SubElement(style, f"{{{KML_NS}}}LineStyle")
    ET.SubElement(line, f"{{{KML_NS}}}color").text = "ff0000ff"
    ET.SubElement(line, f"{{{KML_NS}}}width").text = "2"
    poly = ET.SubElement(style, f"{{{KML_NS}}}PolyStyle")
    ET.SubElement(poly, f"{{{KML_NS}}}color").text = "330000ff"
    rings = ce90_rings(t.sites) if ce90_polygons else None
    for n, s in enumerate(t.sites):
        pm = ET.SubElement(doc, f"{{{KML_NS}}}Placemark", id=s.site_id)
        ET.SubElement(pm, f"{{{KML_NS}}}name").text = s.site_id
        ET.SubElement(pm, f"{{{KML_NS}}}description").text = _kml_description(s, banner, lang)
        span = ET.SubElement(pm, f"{{{KML_NS}}}TimeSpan")
        ET.SubElement(span, f"{{{KML_NS}}}begin").text = iso_time(s.first_seen)
        ET.SubElement(span, f"{{{KML_NS}}}end").text = iso_time(s.last_seen)
        ET.SubElement(pm, f"{{{KML_NS}}}styleUrl").text = "#site"
        ext = ET.SubElement(pm, f"{{{KML_NS}}}ExtendedData")
        data = site_dict(s, "none")
        data["indicators"] = ", ".join(i.code for i in s.indicators)
        data["indicator_labels"] = "; ".join(i.label(lang) for i in s.indicators)
        data["chips"] = ", ".join(c.name for c in s.chips)
        data["marking"] = banner
        for k, val in data.items():
            d = ET.SubElement(ext, f"{{{KML_NS}}}Data", name=k)
            ET.SubElement(d, f"{{{KML_NS}}}value").text = "" if val is None else str(val)
        geom_parent = pm
        if ce90_polygons:
            geom_parent = ET.SubElement(pm, f"{{{KML_NS}}}MultiGeometry")
        pt = ET.SubElement(geom_parent, f"{{{KML_NS}}}Point")
        ET.SubElement(pt, f"{{{KML_NS}}}coordinates").text = f"{s.lon:.7f},{s.lat:.7f},0"
        if rings is not None:
            pg = ET.SubElement(geom_parent, f"{{{KML_NS}}}Polygon")
            ET.SubElement(pg, f"{{{KML_NS}}}tessellate").text = "1"
            ob = ET.SubElement(pg, f"{{{KML_NS}}}outerBoundaryIs")
            ring = ET.SubElement(ob, f"{{{KML_NS}}}LinearRing")
            ET.SubElement(ring, f"{{{KML_NS}}}coordinates").text = " ".join(
                f"{x:.7f},{y:.7f},0" for x, y in rings[n]
            )
    body = ET.tostring(kml, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body


# --- Cursor-on-Target -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CotEvent:
    """One CoT event: its uid and its XML text (UTF-8, with declaration)."""

    uid: str
    xml: str

    def to_bytes(self) -> bytes:
        """The XML as UTF-8 bytes, as sent to a TAK server."""
        return self.xml.encode("utf-8")


def site_cot(
    site: ReleasableSite,
    marking: Marking,
    *,
    time: datetime,
    stale: datetime,
    lang: str = "es",
    callsign_prefix: str = "VIGIA",
) -> CotEvent:
    """A CoT 2.0 event for one releasable site (type ``a-u-G``, ``how="h-e"``, uid = site id).

    ``point``: lat/lon, ``hae`` and ``le`` unknown (9999999), ``ce`` the site's CE90 (m).
    ``detail``: ``contact/@callsign`` and ``remarks`` (banner, indicators, times, assessment).
    """
    L = labels(lang)
    if stale <= time:
        raise RenderError("a CoT event's stale time must be after its time")
    ev = ET.Element(
        "event",
        {
            "version": "2.0",
            "uid": site.site_id,
            "type": COT_TYPE,
            "how": COT_HOW,
            "time": iso_time(time),
            "start": iso_time(time),
            "stale": iso_time(stale),
        },
    )
    ET.SubElement(
        ev,
        "point",
        {
            "lat": f"{site.lat:.7f}",
            "lon": f"{site.lon:.7f}",
            "hae": f"{COT_UNKNOWN:.1f}",
            "ce": f"{site.ce90_m:.1f}",
            "le": f"{COT_UNKNOWN:.1f}",
        },
    )
    detail = ET.SubElement(ev, "detail")
    ET.SubElement(detail, "contact", {"callsign": f"{callsign_prefix} {site.site_id}"})
    banner = marking.banner(lang)
    remarks = [
        banner,
        f"{L['status']}: {_status_label(site.status, L)}",
        f"{L['indicators']}: {'; '.join(i.label(lang) for i in site.indicators)}",
        f"{L['ce90']}: {site.ce90_m:.0f} m",
        f"{L['first_seen']}: {human_time(site.first_seen)}",
        f"{L['last_seen']}: {human_time(site.last_seen)}",
        f"{L['assessment']}: {site.assessment or L['no_assessment']}",
        banner,
    ]
    ET.SubElement(detail, "remarks").text = "\n".join(remarks)
    xml = ET.tostring(ev, encoding="unicode")
    return CotEvent(site.site_id, '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>' + xml)


def cot_events(
    source: Product | Tearline,
    *,
    time: datetime | None = None,
    stale_after: timedelta = timedelta(days=7),
    lang: str = "es",
    callsign_prefix: str = "VIGIA",
) -> tuple[CotEvent, ...]:
    """One CoT event per site of the tearline.

    ``time`` defaults to the release time (else the creation time) of the tearline;
    events go stale ``stale_after`` later.
    """
    t = source_tearline(source)
    when = time or t.released or t.created
    return tuple(
        site_cot(
            s,
            t.marking,
            time=when,
            stale=when + stale_after,
            lang=lang,
            callsign_prefix=callsign_prefix,
        )
        for s in t.sites
    )


#: CoT type of a deletion: receivers drop the marker named by its ``link`` (ATAK, WinTAK).
COT_DELETE_TYPE: Final = "t-x-d-d"


def retraction_cot(
    uid: str, *, time: datetime, stale_after: timedelta = timedelta(minutes=5)
) -> CotEvent:
    """A CoT event that takes back the marker ``uid`` (a site id): type ``t-x-d-d`` with
    ``detail/link/@uid`` and ``__forcedelete``, as TAK clients delete a marker. It carries no
    position and nothing of the site but its id."""
    stamp = iso_time(time)
    ev = ET.Element(
        "event",
        {
            "version": "2.0",
            "uid": f"{uid}-retracted",
            "type": COT_DELETE_TYPE,
            "how": "h-g-i-g-o",
            "time": stamp,
            "start": stamp,
            "stale": iso_time(time + stale_after),
        },
    )
    ET.SubElement(
        ev,
        "point",
        {
            "lat": "0.0",
            "lon": "0.0",
            "hae": "0.0",
            "ce": f"{COT_UNKNOWN:.1f}",
            "le": f"{COT_UNKNOWN:.1f}",
        },
    )
    detail = ET.SubElement(ev, "detail")
    ET.SubElement(detail, "link", {"uid": uid, "relation": "none", "type": COT_TYPE})
    ET.SubElement(detail, "__forcedelete")
    xml = ET.tostring(ev, encoding="unicode")
    return CotEvent(uid, '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>' + xml)


# --- PDF ------------------------------------------------------------------------------------
_LATIN1_FIXES: Final = str.maketrans(
    {
        "–": "-",
        "—": "-",
        "‘": "'",
        "’": "'",
        "“": '"',
        "”": '"',
        "…": "...",
        "•": "-",
        "≥": ">=",
        "≤": "<=",
        "→": "->",
        "·": "·",
        "€": "EUR",
    }
)


def latin1(text: str) -> str:
    """``text`` restricted to Latin-1 (the PDF core fonts): dashes, quotes mapped; others '?'.

    Spanish accents (á é í ó ú ñ ü ¿ ¡) are Latin-1 and kept.
    """
    fixed = unicodedata.normalize("NFC", text).translate(_LATIN1_FIXES)
    return fixed.encode("latin-1", "replace").decode("latin-1")


def _pdf_class() -> type:
    from fpdf import FPDF

    class MarkedPDF(FPDF):
        """A4 pages with the banner line at the top and bottom of every page."""

        banner: str = ""

        def header(self) -> None:
            self.set_font("Helvetica", "B", 10)
            self.set_text_color(0, 0, 0)
            self.cell(0, 6, latin1(self.banner), align="C", new_x="LMARGIN", new_y="NEXT")
            self.ln(2)

        def footer(self) -> None:
            self.set_y(-14)
            self.set_font("Helvetica", "", 8)
            self.cell(0, 4, f"{self.page_no()}/{{nb}}", align="C", new_x="LMARGIN", new_y="NEXT")
            self.set_font("Helvetica", "B", 10)
            self.cell(0, 6, latin1(self.banner), align="C")

    return MarkedPDF


def _pdf_kv(pdf: Any, key: str, value: str) -> None:
    pdf.set_font("Helvetica", "B", 9)
    pdf.cell(52, 5, latin1(key))
    pdf.set_font("Helvetica", "", 9)
    text = latin1(value)
    room = pdf.w - pdf.r_margin - pdf.get_x() - 2 * pdf.c_margin
    if "\n" not in text and pdf.get_string_width(text) <= room:
        pdf.cell(0, 5, text, new_x="LMARGIN", new_y="NEXT")  # one line: no line breaking
    else:
        _pdf_paragraph(pdf, text, 5)


def pdf_wrap(text: str, widths: Mapping[str, int], size_mm: float, room_mm: float) -> list[str]:
    """``text`` broken into lines no wider than ``room_mm`` when set in a core font whose
    character widths (thousandths of the font size) are ``widths``, at ``size_mm``.

    Greedy, at the last space that fits; a word wider than a line is cut. Each line is found by
    a bisection in the running sum of the character widths, computed once: fpdf2's own
    ``multi_cell`` measures a line again for every character added to it (quadratic in the line
    length: 17 s for the PDF of a sortie summary of 3,000 observations). Every character is
    kept, bar the one space at each break.

    >>> pdf_wrap("aa bb cc", {"a": 500, "b": 500, "c": 500, " ": 250}, 1.0, 2.3)
    ['aa bb', 'cc']
    """
    room = room_mm * 1000.0 / size_mm
    lines: list[str] = []
    for para in text.split("\n"):
        cum = [0, *accumulate(widths.get(c, 0) for c in para)]
        start, n = 0, len(para)
        while True:
            # the longest para[start:end] whose width fits
            end = bisect_right(cum, cum[start] + room) - 1
            if end >= n:
                lines.append(para[start:])
                break
            brk = para.rfind(" ", start, end + 1)
            if brk > start:
                lines.append(para[start:brk])
                start = brk + 1
            else:  # no space that fits: cut the word
                end = max(end, start + 1)
                lines.append(para[start:end])
                start = end
    return lines


def _pdf_paragraph(pdf: Any, text: str, line_h_mm: float) -> None:
    """``text`` (Latin-1) in the current core font from the current x to the right margin, one
    :meth:`text` per line (see :func:`pdf_wrap`), breaking pages as :meth:`cell` would."""
    x = pdf.get_x()
    room = pdf.w - pdf.r_margin - x - 2 * pdf.c_margin
    baseline = 0.5 * line_h_mm + 0.3 * pdf.font_size
    for line in pdf_wrap(text, pdf.current_font.cw, pdf.font_size, room):
        if pdf.will_page_break(line_h_mm):
            pdf.add_page()
        y = pdf.get_y()
        if line:
            pdf.text(x + pdf.c_margin, y + baseline, line)
        pdf.set_y(y + line_h_mm)


def _pdf_heading(pdf: Any, text: str, size: int = 12) -> None:
    pdf.ln(2)
    pdf.set_font("Helvetica", "B", size)
    pdf.multi_cell(0, size * 0.5, latin1(text), align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)


def _pdf_tearline(pdf: Any, t: Tearline, lang: str) -> None:
    L = labels(lang)
    v = _tearline_view(t, lang, "")
    pdf.set_font("Helvetica", "B", 9)
    pdf.cell(0, 5, latin1(f"({v['banner']})"), new_x="LMARGIN", new_y="NEXT")
    _pdf_heading(pdf, v["title"], 15)
    _pdf_kv(pdf, L["product"], f"{v['kind_label']} {v['product_id']}")
    _pdf_kv(pdf, L["created"], v["created"])
    _pdf_kv(pdf, L["released"], v["released"] or L["not_released"])
    if v["period"]:
        _pdf_kv(pdf, L["period"], v["period"])
    if v["caveats"]:
        _pdf_kv(pdf, L["caveats"], "; ".join(f"{c}: {m}" for c, m in v["caveats"]))
    _pdf_heading(pdf, f"{L['sites']} ({len(t.sites)})")
    if not t.sites:
        _pdf_kv(pdf, "", L["no_sites"])
    for site, sv in zip(t.sites, v["sites"], strict=True):
        _pdf_heading(pdf, f"{L['site']} {sv['site_id']}", 11)
        _pdf_kv(pdf, L["location"], f"{sv['lat']}, {sv['lon']}")
        _pdf_kv(pdf, L["ce90"], sv["ce90"])
        _pdf_kv(pdf, L["status"], sv["status"])
        _pdf_kv(pdf, L["first_seen"], sv["first_seen"])
        _pdf_kv(pdf, L["last_seen"], sv["last_seen"])
        _pdf_kv(pdf, L["indicators"], "; ".join(sv["indicators"]))
        _pdf_kv(pdf, L["assessment"], sv["assessment"] or L["no_assessment"])
        _pdf_chips(pdf, site.chips, lang)


def _pdf_chips(pdf: Any, chips: Sequence[ReleasableChip], lang: str) -> None:
    if not chips:
        return
    width, gap = 55.0, 5.0
    per_row = 3
    for start in range(0, len(chips), per_row):
        row = chips[start : start + per_row]
        heights = []
        for c in row:
            from PIL import Image

            with Image.open(io.BytesIO(c.data)) as img:
                heights.append(width * img.height / max(img.width, 1))
        h = max(heights) + 9
        if pdf.get_y() + h > pdf.h - pdf.b_margin:
            pdf.add_page()
        y = pdf.get_y()
        for k, c in enumerate(row):
            x = pdf.l_margin + k * (width + gap)
            pdf.image(io.BytesIO(c.data), x=x, y=y, w=width)
            pdf.set_xy(x, y + heights[k] + 1)
            pdf.set_font("Helvetica", "", 7)
            caption = f"{c.name} - {c.indicator.label(lang)} - {human_time(c.time)}"
            pdf.multi_cell(width, 3.2, latin1(caption), align="L")
        pdf.set_xy(pdf.l_margin, y + h)


def render_pdf(
    source: Product | Tearline, *, lang: str = "en", audience: Audience = "partner"
) -> bytes:
    """A4 PDF with the banner on every page (core fonts: text limited to Latin-1).

    Deterministic for a given product: the creation date is the product's.
    """
    product = audience_product(source, audience)
    t = source_tearline(source)
    L = labels(lang)
    pdf = _pdf_class()(format="A4")
    marking = t.marking if product is None else product.marking
    pdf.banner = marking.banner(lang)
    pdf.set_creation_date(t.created)
    pdf.set_title(latin1(t.title(lang)))
    pdf.set_author("Vigia")
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.add_page()
    if product is not None:
        _pdf_heading(pdf, product.title(lang), 15)
        _pdf_kv(pdf, L["author"], product.author)
        _pdf_kv(
            pdf,
            L["approved_by"],
            product.release.approved_by if product.release else L["not_released"],
        )
        _pdf_heading(pdf, L["body"])
        for section in _body_sections(product.body):
            _pdf_heading(pdf, section["name"], 10)
            if section["rows"]:
                for row in section["rows"]:
                    text = "; ".join(
                        f"{c}={v}" for c, v in zip(section["columns"], row, strict=True) if v
                    )
                    pdf.set_font("Helvetica", "", 7)
                    _pdf_paragraph(pdf, latin1(text), 3.5)
                    pdf.ln(1)
            elif section["pairs"]:
                for k, v in section["pairs"]:
                    _pdf_kv(pdf, k, v)
            else:
                _pdf_kv(pdf, "", section["text"])
        pdf.ln(3)
        y = pdf.get_y()
        pdf.set_dash_pattern(dash=2, gap=1)
        pdf.line(pdf.l_margin, y, pdf.w - pdf.r_margin, y)
        pdf.set_dash_pattern()
        pdf.ln(2)
        _pdf_heading(pdf, f"{L['tearline']} - {L['tearline_note']}", 10)
    _pdf_tearline(pdf, t, lang)
    return bytes(pdf.output())
