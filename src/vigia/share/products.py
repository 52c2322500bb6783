"""Intelligence products: site report, sortie summary and periodic digest, with release.

A :class:`Product` has two parts. The **body** is the full analyst-side record (everything the
inputs say, except observations that are not 'ok': withheld rows never reach any product). The
**tearline** (:class:`~vigia.share.tearline.Tearline`) is the partner-releasable part, built from
the declared releasable fields only and checked for leaks of source-sensitive values.

Release follows the two-person rule: an analyst drafts (``author``), a supervisor who is not the
author approves (:func:`approve`). Only a released product may go to the partner
(:func:`require_released`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vigia.errors import ProductError, ReleaseError
from vigia.exploit.vocabulary import Vocabulary
from vigia.share.markings import Marking, MarkingError, portal_ceiling
from vigia.share.tearline import (
    ChipSource,
    ObservationsLike,
    ReleasableSite,
    Tearline,
    TearlineError,
    check_no_leak,
    releasable_observations,
    releasable_sites,
    sensitive_values,
    utc_time,
)
from vigia.times import iso_time

__all__ = [
    "PRODUCT_KINDS",
    "Product",
    "ProductError",
    "Release",
    "ReleaseError",
    "approve",
    "check_releasable",
    "check_release",
    "check_two_person",
    "digest",
    "require_released",
    "site_report",
    "sortie_summary",
]

PRODUCT_KINDS: Final = ("site_report", "sortie_summary", "digest")
_ID_PREFIX: Final = {"site_report": "SR", "sortie_summary": "SS", "digest": "DG"}
#: Role that may approve a release.
RELEASE_ROLE: Final = "supervisor"
SitesLike: TypeAlias = "pa.Table | Sequence[Mapping[str, Any]]"


@dataclass(frozen=True, slots=True)
class Release:
    """Who approved the release, when (UTC), and to which partner country."""

    approved_by: str
    approved_at: datetime
    partner_country: str


@dataclass(frozen=True, slots=True)
class Product:
    """A marked intelligence product: full body for analysts, tearline for the partner."""

    kind: str
    id: str
    created: datetime
    marking: Marking
    author: str
    lang: str
    body: Mapping[str, Any]
    tearline: Tearline
    release: Release | None = None

    @property
    def released(self) -> bool:
        """True once a supervisor approved it."""
        return self.release is not None

    def title(self, lang: str = "en") -> str:
        """Title in ``lang`` (the tearline's: it carries nothing sensitive)."""
        return self.tearline.title(lang)


# --- helpers ------------------------------------------------------------------------------------
def _rows(items: SitesLike | None) -> list[dict[str, Any]]:
    if items is None:
        return []
    if isinstance(items, pa.Table):
        return items.to_pylist()
    return [dict(r) for r in items]


def jsonable(value: Any) -> Any:
    """Plain JSON data from rows: times as ISO-8601 UTC, NaN as null, binary left out."""
    if isinstance(value, datetime):
        return iso_time(utc_time(value)) if value.tzinfo else value.isoformat()
    if isinstance(value, Mapping):
        return {
            str(k): jsonable(v)
            for k, v in value.items()
            if not isinstance(v, bytes | bytearray | memoryview)
        }
    if isinstance(value, list | tuple | np.ndarray):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        return None
    return value


def _now(created: datetime | None) -> datetime:
    return utc_time(created, "created") if created is not None else datetime.now(UTC)


def _product_id(kind: str, created: datetime, author: str, keys: Iterable[str]) -> str:
    h = hashlib.sha256(f"{kind}|{iso_time(created)}|{author}|{'|'.join(keys)}".encode())
    return f"{_ID_PREFIX[kind]}-{h.hexdigest()[:16]}"


def _check_people(author: str) -> str:
    if not isinstance(author, str) or not author.strip():
        raise ProductError("a product needs an author")
    return author.strip()


def _markings(marking: Marking, tearline_marking: Marking | None) -> Marking:
    tl = tearline_marking or marking
    if not isinstance(marking, Marking) or not isinstance(tl, Marking):
        raise ProductError("markings must be Marking objects")
    if tl.classification > marking.classification:
        raise ProductError(
            f"tearline marked {tl.banner()} is classified above its product ({marking.banner()})"
        )
    return tl


def _obs_body(obs: pa.Table) -> list[dict[str, Any]]:
    keep = [c for c in obs.column_names if c != "geometry"]
    return [jsonable(r) for r in obs.select(keep).to_pylist()]


def _chips_for(chips: Mapping[str, ChipSource] | None, obs: pa.Table) -> list[str]:
    if not chips or "obs_id" not in obs.column_names:
        return []
    return [o for o in obs.column("obs_id").to_pylist() if o in chips]


def _site_obs(obs: pa.Table, site_id: str) -> pa.Table:
    if "site_id" not in obs.column_names:
        return obs
    mask = pc.fill_null(pc.equal(obs.column("site_id"), site_id), False)
    return obs.filter(mask)


#: English and Spanish title of each kind, formatted with its subject (site id, day, span).
_TITLES: Final = {
    "site_report": ("Site report {}", "Informe de sitio {}"),
    "sortie_summary": ("Surveillance summary {}", "Resumen de vigilancia {}"),
    "digest": ("Digest {}", "Resumen periódico {}"),
}


@dataclass(frozen=True, slots=True)
class _Draft:
    """The keyword options every builder takes, and what the builders do alike with them."""

    marking: Marking
    author: str
    tearline_marking: Marking | None
    lang: str
    created: datetime | None
    product_id: str | None
    chips: Mapping[str, ChipSource] | None
    vocabulary: Vocabulary | None
    max_chips: int

    def releasable(
        self, sites: list[dict[str, Any]], observations: ObservationsLike | None
    ) -> list[ReleasableSite]:
        """The releasable copies of ``sites``, oldest first (then by id), with their chips."""
        out = releasable_sites(
            sites, observations, self.chips, vocabulary=self.vocabulary, max_chips=self.max_chips
        )
        return sorted(out, key=lambda r: (r.first_seen, r.site_id))

    def evidence(self, obs: pa.Table) -> dict[str, Any]:
        """The body's ``observations`` and ``chips`` entries for the 'ok' rows ``obs``."""
        return {"observations": _obs_body(obs), "chips": _chips_for(self.chips, obs)}

    def build(
        self,
        kind: str,
        subject: str,
        *,
        sites: list[dict[str, Any]],
        releasable: list[ReleasableSite],
        observations: ObservationsLike | None,
        body: dict[str, Any],
        period: tuple[datetime | None, datetime | None],
        extra_sensitive: Iterable[Any] = (),
    ) -> Product:
        """The checked product: its id, the tearline (titled after ``subject``), no leaks."""
        if self.lang not in ("en", "es"):
            raise ProductError(f"unknown language {self.lang!r}; expected 'en' or 'es'")
        author = _check_people(self.author)
        tl_marking = _markings(self.marking, self.tearline_marking)
        when = _now(self.created)
        keys = (s.site_id for s in releasable)
        pid = self.product_id or _product_id(kind, when, author, keys)
        title_en, title_es = (t.format(subject) for t in _TITLES[kind])
        tearline = Tearline(
            marking=tl_marking,
            product_id=pid,
            kind=kind,
            title_en=title_en,
            title_es=title_es,
            created=when,
            sites=tuple(releasable),
            period_start=period[0],
            period_end=period[1],
        )
        check_no_leak(tearline.strings(), sensitive_values(sites, observations, extra_sensitive))
        return Product(
            kind=kind,
            id=pid,
            created=when,
            marking=self.marking,
            author=author,
            lang=self.lang,
            body=body,
            tearline=tearline,
        )


def _day(t: datetime | None) -> str:
    return t.strftime("%Y-%m-%d") if t is not None else "?"


# --- products -------------------------------------------------------------------------------------
def site_report(
    site: Mapping[str, Any],
    observations: ObservationsLike | None = None,
    chips: Mapping[str, ChipSource] | None = None,
    *,
    marking: Marking,
    author: str,
    tearline_marking: Marking | None = None,
    lang: str = "en",
    created: datetime | None = None,
    product_id: str | None = None,
    vocabulary: Vocabulary | None = None,
    max_chips: int = 6,
) -> Product:
    """A report on one site (a ``sites.parquet`` row as a mapping) with its evidence.

    ``observations`` are the site's rows (any status: only 'ok' rows are used anywhere),
    ``chips`` maps ``obs_id`` to a JPEG path or bytes. ``tearline_marking`` defaults to
    ``marking``. Raises :class:`ProductError`, :class:`~vigia.share.tearline.TearlineError`
    (or its ``TearlineLeakError``) on bad or leaking input.
    """
    d = _Draft(
        marking, author, tearline_marking, lang, created, product_id, chips, vocabulary, max_chips
    )
    site_d = dict(site)
    rel = d.releasable([site_d], observations)
    obs = _site_obs(releasable_observations(observations), rel[0].site_id)
    return d.build(
        "site_report",
        rel[0].site_id,
        sites=[site_d],
        releasable=rel,
        observations=observations,
        body={"site": jsonable(site_d), **d.evidence(obs)},
        period=(rel[0].first_seen, rel[0].last_seen),
    )


def sortie_summary(
    sortie: Mapping[str, Any],
    sites: SitesLike,
    observations: ObservationsLike | None = None,
    chips: Mapping[str, ChipSource] | None = None,
    *,
    marking: Marking,
    author: str,
    tearline_marking: Marking | None = None,
    lang: str = "en",
    created: datetime | None = None,
    product_id: str | None = None,
    vocabulary: Vocabulary | None = None,
    candidates_only: bool = True,
    max_chips: int = 2,
) -> Product:
    """What one sortie found: the sites it saw, with the sortie record in the body only.

    ``sortie`` is the analyst-side record (``mission_id``, platform, tail number, track, times:
    all source-sensitive, none of it released). Sites are those whose ``sorties`` list names
    ``sortie['mission_id']`` (all given sites when it has none or they carry no ``sorties``);
    observations are restricted to the sortie's 'ok' rows. With ``candidates_only`` (default)
    sites whose ``candidate`` column is false are left out (a sortie sees many ordinary houses
    and farms: they are no intelligence for the partner). The tearline's period is the span of
    those observations (else of the sites' first/last seen).
    """
    d = _Draft(
        marking, author, tearline_marking, lang, created, product_id, chips, vocabulary, max_chips
    )
    mission = sortie.get("mission_id")
    rows = _rows(sites)
    if mission is not None:
        rows = [r for r in rows if "sorties" not in r or mission in (r.get("sorties") or [])]
    if candidates_only:
        rows = [r for r in rows if r.get("candidate") is not False]
    ok = releasable_observations(observations)
    if mission is not None and "sortie" in ok.column_names:
        ok = ok.filter(pc.fill_null(pc.equal(ok.column("sortie"), mission), False))
    rel = d.releasable(rows, ok)
    times: list[datetime] = []
    if "time" in ok.column_names and ok.column("time").null_count < ok.num_rows:
        span = pc.min_max(ok.column("time"))
        times = [utc_time(span["min"].as_py()), utc_time(span["max"].as_py())]
    if not times:
        times = [t for r in rel for t in (r.first_seen, r.last_seen)]
    period = (min(times), max(times)) if times else (None, None)
    body = {
        "sortie": jsonable(dict(sortie)),
        "candidates_only": candidates_only,
        "sites": [jsonable(r) for r in rows],
    }
    return d.build(
        "sortie_summary",
        _day(period[0]),
        sites=rows,
        releasable=rel,
        observations=observations,
        body=body | d.evidence(ok),
        period=period,
        extra_sensitive=[dict(sortie)],
    )


def digest(
    sites: SitesLike,
    period: tuple[Any, Any],
    observations: ObservationsLike | None = None,
    chips: Mapping[str, ChipSource] | None = None,
    *,
    marking: Marking,
    author: str,
    tearline_marking: Marking | None = None,
    lang: str = "en",
    created: datetime | None = None,
    product_id: str | None = None,
    vocabulary: Vocabulary | None = None,
    candidates_only: bool = True,
    max_chips: int = 1,
) -> Product:
    """The sites active in ``period`` = (start, end) (UTC times; seen at some time in it).

    With ``candidates_only`` (default) sites whose ``candidate`` column is false are left out.
    """
    d = _Draft(
        marking, author, tearline_marking, lang, created, product_id, chips, vocabulary, max_chips
    )
    start, end = utc_time(period[0], "period start"), utc_time(period[1], "period end")
    if end <= start:
        raise ProductError("digest period must end after it starts")
    rows = []
    for r in _rows(sites):
        if candidates_only and r.get("candidate") is False:
            continue
        try:
            first, last = utc_time(r.get("first_seen")), utc_time(r.get("last_seen"))
        except TearlineError as exc:
            raise ProductError(f"site {r.get('site_id')!r}: {exc.message}") from exc
        if first < end and last >= start:
            rows.append(r)
    rel = d.releasable(rows, observations)
    body = {
        "period": [iso_time(start), iso_time(end)],
        "candidates_only": candidates_only,
        "sites": [jsonable(r) for r in rows],
    }
    return d.build(
        "digest",
        f"{_day(start)} – {_day(end)}",
        sites=rows,
        releasable=rel,
        observations=observations,
        body=body,
        period=(start, end),
    )


# --- release --------------------------------------------------------------------------------------
def check_release(
    *,
    author: str,
    approver: str,
    approver_role: str,
    marking: Marking,
    countries: Iterable[str],
    ceiling: Marking | None = None,
) -> None:
    """The release rule, the one implementation of it: raise :class:`ReleaseError` unless
    ``approver`` may release material by ``author`` marked ``marking`` to ``countries``.

    Its two parts are :func:`check_two_person` and :func:`check_releasable`; the error's
    ``rule`` says which part refused: ``"two-person"`` or ``"releasability"``.
    """
    check_two_person(author=author, approver=approver, approver_role=approver_role)
    check_releasable(marking=marking, countries=countries, ceiling=ceiling)


def check_two_person(*, author: str, approver: str, approver_role: str) -> None:
    """Two-person part of :func:`check_release`: the approver holds the supervisor role and is
    not the author (names compared case-insensitively)."""
    if not isinstance(approver, str) or not approver.strip():
        raise ReleaseError("a release needs an approver", rule="two-person")
    if approver_role != RELEASE_ROLE:
        raise ReleaseError(
            f"only a {RELEASE_ROLE} may release a product, not {approver_role!r}",
            rule="two-person",
        )
    if approver.strip().casefold() == author.strip().casefold():
        raise ReleaseError(
            "the author of a product cannot release it (two-person rule)", rule="two-person"
        )


def check_releasable(
    *, marking: Marking, countries: Iterable[str], ceiling: Marking | None = None
) -> None:
    """Releasability part of :func:`check_release`: every country (ISO 3166 alpha-3) is in the
    marking's releasability, and the marking is not above ``ceiling`` (default: the partner
    portal's, :func:`~vigia.share.markings.portal_ceiling`)."""
    codes = [countries] if isinstance(countries, str) else list(countries)
    if not codes:
        raise ReleaseError("name at least one country to release to", rule="releasability")
    try:
        for country in codes:
            marking.require_releasable_to(country)
        marking.require_within(ceiling if ceiling is not None else portal_ceiling())
    except MarkingError as exc:
        raise ReleaseError(exc.message, rule="releasability") from exc


def approve(
    product: Product,
    *,
    approver: str,
    approver_role: str,
    at: datetime | None = None,
    partner_country: str = "MEX",
    ceiling: Marking | None = None,
) -> Product:
    """The product released by ``approver`` to ``partner_country``, or :class:`ReleaseError`
    (the rule is :func:`check_release`, applied to the tearline's marking)."""
    if product.release is not None:
        raise ReleaseError(f"product {product.id} is already released")
    check_release(
        author=product.author,
        approver=approver,
        approver_role=approver_role,
        marking=product.tearline.marking,
        countries=[partner_country],
        ceiling=ceiling,
    )
    when = _now(at)
    if when < product.created:
        raise ReleaseError("a product cannot be released before it was created")
    rel = Release(approver.strip(), when, partner_country.strip().upper())
    return replace(product, release=rel, tearline=replace(product.tearline, released=when))


def require_released(product: Product) -> Release:
    """The product's release, or :class:`ReleaseError` if it was never approved."""
    if product.release is None:
        raise ReleaseError(f"product {product.id} has not been released")
    return product.release
