"""The one codec of tearlines and products as plain JSON data (what is stored and served).

:func:`tearline_dict` / :func:`product_dict` encode; :func:`tearline_from_dict` /
:func:`product_from_dict` decode, every site through the tearline's declared converters again,
so that a stored tearline is checked each time it is read. :func:`restrict_tearline` keeps only
the sites a partner may see. The store, the API's renderings, the partner index and the TAK
push all read stored tearlines through this module.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Literal

from vigia.errors import RenderError
from vigia.exploit.vocabulary import VocabularyError, default_vocabulary
from vigia.share.markings import Marking
from vigia.share.products import Product, Release, jsonable
from vigia.share.tearline import (
    RELEASABLE_EVIDENCE_FIELDS,
    RELEASABLE_SITE_FIELDS,
    ReleasableChip,
    ReleasableIndicator,
    ReleasableSite,
    Tearline,
    TearlineError,
    utc_time,
)
from vigia.times import iso_time

__all__ = [
    "Audience",
    "ChipMode",
    "audience_product",
    "chip_refs",
    "product_dict",
    "product_from_dict",
    "restrict_tearline",
    "site_dict",
    "site_from_dict",
    "source_tearline",
    "tearline_dict",
    "tearline_from_dict",
    "tearline_refs",
]

Audience = Literal["partner", "analyst"]
ChipMode = Literal["embed", "refs", "none"]
_DATA_URI = re.compile(r"data:image/jpeg;base64,([A-Za-z0-9+/=]+)")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def source_tearline(source: Product | Tearline) -> Tearline:
    """The tearline of a product, or the tearline itself."""
    if isinstance(source, Tearline):
        return source
    if isinstance(source, Product):
        return source.tearline
    raise RenderError(f"cannot render {type(source).__name__}")


def audience_product(source: Product | Tearline, audience: str) -> Product | None:
    """The whole product for ``audience="analyst"``, None for the partner (tearline only)."""
    if audience == "partner":
        return None
    if audience != "analyst":
        raise RenderError(f"unknown audience {audience!r}; expected 'partner' or 'analyst'")
    if not isinstance(source, Product):
        raise RenderError("the analyst rendering needs the whole product, not its tearline")
    return source


# --- encoding ---------------------------------------------------------------------------------
def _chip_dict(c: ReleasableChip, chips: ChipMode) -> dict[str, Any]:
    d: dict[str, Any] = {
        "name": c.name,
        "time": iso_time(c.time),
        "indicator": c.indicator.code,
        "media_type": c.media_type,
        "sha256": c.sha256,
    }
    d["labels"] = {"en": c.indicator.en, "es": c.indicator.es}
    if chips == "embed":
        d["data_uri"] = c.data_uri()
    return d


def site_dict(s: ReleasableSite, chips: ChipMode = "none") -> dict[str, Any]:
    """One site of a tearline as plain JSON data."""
    return {
        "site_id": s.site_id,
        "lat": round(s.lat, 7),
        "lon": round(s.lon, 7),
        "ce90_m": round(s.ce90_m, 1),
        "indicators": [{"code": i.code, "en": i.en, "es": i.es} for i in s.indicators],
        "first_seen": iso_time(s.first_seen),
        "last_seen": iso_time(s.last_seen),
        "status": s.status,
        "assessment": s.assessment,
        "chips": [] if chips == "none" else [_chip_dict(c, chips) for c in s.chips],
    }


def _opt_time(t: datetime | None) -> str | None:
    return None if t is None else iso_time(t)


def tearline_dict(source: Product | Tearline, chips: ChipMode = "embed") -> dict[str, Any]:
    """The tearline as plain JSON data (what a partner may receive)."""
    if chips not in ("embed", "refs", "none"):
        raise RenderError(f"unknown chips mode {chips!r}; expected embed, refs or none")
    t = source_tearline(source)
    return {
        "marking": t.marking.to_dict(),
        "product_id": t.product_id,
        "kind": t.kind,
        "title": {"en": t.title_en, "es": t.title_es},
        "created": iso_time(t.created),
        "released": _opt_time(t.released),
        "period": {"start": _opt_time(t.period_start), "end": _opt_time(t.period_end)},
        "sites": [site_dict(s, chips) for s in t.sites],
    }


def product_dict(
    source: Product | Tearline, *, audience: Audience = "partner", chips: ChipMode = "embed"
) -> dict[str, Any]:
    """Plain JSON data: the tearline for the partner; for analysts the whole product."""
    product = audience_product(source, audience)
    tl = tearline_dict(source, chips)
    if product is None:
        return tl
    rel = product.release
    return {
        "marking": product.marking.to_dict(),
        "id": product.id,
        "kind": product.kind,
        "created": iso_time(product.created),
        "author": product.author,
        "lang": product.lang,
        "release": None
        if rel is None
        else {
            "approved_by": rel.approved_by,
            "approved_at": iso_time(rel.approved_at),
            "partner_country": rel.partner_country,
        },
        "body": jsonable(product.body),
        "tearline": tl,
    }


def restrict_tearline(d: Mapping[str, Any], site_ids: Iterable[str]) -> dict[str, Any]:
    """A stored tearline (``tearline_dict``) that names only the sites in ``site_ids``.

    What a partner is given of a product: a digest or sortie summary released to an agency
    shows only the sites that agency may see (:func:`vigia.store.visible_site_ids`).
    """
    keep = set(site_ids)
    return dict(d, sites=[s for s in d.get("sites") or [] if s.get("site_id") in keep])


# --- decoding ---------------------------------------------------------------------------------
def _indicator_from_dict(d: Any, known: Mapping[str, ReleasableIndicator]) -> ReleasableIndicator:
    """An indicator with the labels it was released with (``{"code", "en", "es"}``), or a code
    whose labels come from the site's indicators, else from the default vocabulary."""
    if isinstance(d, Mapping):
        code = RELEASABLE_EVIDENCE_FIELDS["indicator"](d.get("code"))
        return ReleasableIndicator(code, str(d.get("en", code)), str(d.get("es", code)))
    code = RELEASABLE_EVIDENCE_FIELDS["indicator"](d)
    if code in known:
        return known[code]
    try:
        v = default_vocabulary()[code]
    except VocabularyError as exc:
        raise TearlineError(f"indicator {code!r} has no labels and {exc}") from exc
    return ReleasableIndicator(v.code, v.en, v.es)


def _chip_data(c: Mapping[str, Any], chip_data: Mapping[str, bytes]) -> bytes:
    name = str(c.get("name", ""))
    m = _DATA_URI.fullmatch(str(c.get("data_uri") or ""))
    if m is not None:
        try:
            return base64.b64decode(m.group(1), validate=True)
        except binascii.Error as exc:
            raise TearlineError(f"chip {name!r} is not base64: {exc}") from exc
    if name in chip_data:
        return chip_data[name]
    raise TearlineError(f"chip {name!r} has no data (embedded or given)")


def _chip_indicator(
    c: Mapping[str, Any], known: Mapping[str, ReleasableIndicator]
) -> ReleasableIndicator:
    code = RELEASABLE_EVIDENCE_FIELDS["indicator"](c.get("indicator"))
    labels_of = c.get("labels")
    if isinstance(labels_of, Mapping):
        return _indicator_from_dict({"code": code, **labels_of}, known)
    return _indicator_from_dict(code, known)


def _chip_name(c: Mapping[str, Any], site_id: str) -> str:
    name = str(c.get("name", ""))
    if re.fullmatch(re.escape(site_id) + r"-[0-9]{2,4}\.jpg", name) is None:
        raise TearlineError(f"chip name {name!r} is not one of site {site_id}'s chips")
    return name


def _chip_from_dict(
    c: Mapping[str, Any],
    site_id: str,
    known: Mapping[str, ReleasableIndicator],
    chip_data: Mapping[str, bytes],
) -> ReleasableChip:
    return ReleasableChip(
        name=_chip_name(c, site_id),
        time=RELEASABLE_EVIDENCE_FIELDS["time"](c.get("time")),
        indicator=_chip_indicator(c, known),
        data=_chip_data(c, chip_data),
    )


def _chip_ref(
    c: Mapping[str, Any], site_id: str, known: Mapping[str, ReleasableIndicator]
) -> dict[str, Any]:
    """A chip of a stored tearline as a reference (what :func:`tearline_dict` writes with
    ``chips="refs"``), checked without decoding its bytes."""
    name = _chip_name(c, site_id)
    sha256 = str(c.get("sha256") or "")
    if _SHA256.fullmatch(sha256) is None:
        raise TearlineError(f"chip {name!r} has no SHA-256")
    indicator = _chip_indicator(c, known)
    return {
        "name": name,
        "time": iso_time(RELEASABLE_EVIDENCE_FIELDS["time"](c.get("time"))),
        "indicator": indicator.code,
        "media_type": "image/jpeg",
        "sha256": sha256,
        "labels": {"en": indicator.en, "es": indicator.es},
    }


def site_from_dict(
    raw: Mapping[str, Any], chip_data: Mapping[str, bytes] | None = None, *, chips: bool = True
) -> ReleasableSite:
    """One site of a stored tearline, every field through its declared converter again
    (:data:`~vigia.share.tearline.RELEASABLE_SITE_FIELDS`); indicators keep the labels they were
    released with. ``chips=False`` leaves the chips out (their bytes are not decoded)."""
    inds = tuple(_indicator_from_dict(i, {}) for i in raw.get("indicators") or [])
    plain = dict(raw, indicators=[i.code for i in inds])
    copied = {k: conv(plain.get(k)) for k, conv in RELEASABLE_SITE_FIELDS.items()}
    by_code = {i.code: i for i in inds}
    copied["indicators"] = tuple(by_code[c] for c in copied["indicators"])
    sid = copied["site_id"]
    found = (
        tuple(_chip_from_dict(c, sid, by_code, chip_data or {}) for c in raw.get("chips") or [])
        if chips
        else ()
    )
    return ReleasableSite(**copied, chips=found)


def chip_refs(raw: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """``((file name, sha256), ...)`` of the chips of one site of a stored tearline, checked
    (no bytes decoded)."""
    site = site_from_dict(raw, chips=False)
    known = {i.code: i for i in site.indicators}
    refs = (_chip_ref(c, site.site_id, known) for c in raw.get("chips") or [])
    return tuple((r["name"], r["sha256"]) for r in refs)


def tearline_refs(d: Mapping[str, Any]) -> dict[str, Any]:
    """A stored tearline as it is served: decoded and encoded again (every field through its
    declared converter, anything undeclared dropped), chips as references without their bytes
    (:func:`tearline_dict` with ``chips="refs"``, without reading the JPEGs)."""
    raw_sites = list(d.get("sites") or [])
    t = tearline_from_dict(dict(d, sites=[dict(s, chips=[]) for s in raw_sites]))
    out = tearline_dict(t, "none")
    for site, o, raw in zip(t.sites, out["sites"], raw_sites, strict=True):
        known = {i.code: i for i in site.indicators}
        o["chips"] = [_chip_ref(c, site.site_id, known) for c in raw.get("chips") or []]
    return out


def tearline_from_dict(
    d: Mapping[str, Any],
    chip_data: Mapping[str, bytes] | None = None,
    *,
    released: datetime | None = None,
) -> Tearline:
    """Inverse of :func:`tearline_dict` (e.g. a tearline read back from storage).

    Every site goes through :func:`site_from_dict`. Chips come from their embedded
    ``data_uri``, else from ``chip_data`` by file name. ``released`` (when given) is the release
    time the store keeps with the product. Raises :class:`~vigia.share.tearline.TearlineError`
    on a tearline that is incomplete or does not pass its declared converters.
    """
    try:
        sites = tuple(site_from_dict(raw, chip_data) for raw in d.get("sites") or [])
        period = d.get("period") or {}
        title = d.get("title") or {}
        return Tearline(
            marking=Marking.from_dict(d["marking"]),
            product_id=str(d["product_id"]),
            kind=str(d["kind"]),
            title_en=str(title.get("en", "")),
            title_es=str(title.get("es", "")),
            created=utc_time(d["created"], "created"),
            sites=sites,
            period_start=_opt_from(period.get("start")),
            period_end=_opt_from(period.get("end")),
            released=released if released is not None else _opt_from(d.get("released")),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise TearlineError(f"stored tearline is incomplete: {exc!r}") from exc


def _opt_from(v: Any) -> datetime | None:
    return None if v is None else utc_time(v)


def product_from_dict(
    d: Mapping[str, Any], chip_data: Mapping[str, bytes] | None = None
) -> Product:
    """Inverse of :func:`product_dict` with ``audience="analyst"``."""
    rel = d.get("release")
    return Product(
        kind=str(d["kind"]),
        id=str(d["id"]),
        created=utc_time(d["created"], "created"),
        marking=Marking.from_dict(d["marking"]),
        author=str(d["author"]),
        lang=str(d.get("lang", "en")),
        body=dict(d.get("body") or {}),
        tearline=tearline_from_dict(d["tearline"], chip_data),
        release=None
        if rel is None
        else Release(
            str(rel["approved_by"]),
            utc_time(rel["approved_at"], "approved_at"),
            str(rel["partner_country"]),
        ),
    )
