"""The tearline: the partner-releasable part of a product, built by copying declared fields.

Principle 3 of the design lives here: **one declaration** (:data:`RELEASABLE_SITE_FIELDS` and
:data:`RELEASABLE_EVIDENCE_FIELDS`) says what may cross to the partner. A tearline is built only
by copying those fields out of the analyst-side data (an allow-list); nothing is ever built by
removing sensitive fields from a copy of everything. A field added upstream therefore stays on
the analyst side until it is declared here.

:data:`SOURCE_SENSITIVE_FIELDS` is *not* used to build anything. It names the fields whose
values must never be seen in a tearline, and :func:`check_no_leak` scans a finished tearline for
their values (e.g. an analyst assessment that names the mission) as a second line of defence.

Observations enter only through :func:`releasable_observations`, which keeps the rows
:func:`vigia.exploit.observations.usable_mask` passes (the consent gate, then 'ok'): rows not
consented (withheld or undetermined) and ungeolocated rows never reach a product.
"""

from __future__ import annotations

import base64
import hashlib
import io
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from os import PathLike
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vigia import times
from vigia.errors import TearlineError, TearlineLeakError, TimeError
from vigia.exploit.observations import usable_mask
from vigia.exploit.vocabulary import Vocabulary, VocabularyError, default_vocabulary
from vigia.share.markings import Marking

__all__ = [
    "RELEASABLE_EVIDENCE_FIELDS",
    "RELEASABLE_SITE_FIELDS",
    "SOURCE_SENSITIVE_FIELDS",
    "ReleasableChip",
    "ReleasableIndicator",
    "ReleasableSite",
    "Tearline",
    "TearlineError",
    "TearlineLeakError",
    "check_no_leak",
    "releasable_observations",
    "releasable_site",
    "releasable_sites",
    "sanitize_chip",
    "sensitive_values",
]

ChipSource: TypeAlias = str | PathLike[str] | bytes
ObservationsLike: TypeAlias = "pa.Table | Sequence[Mapping[str, Any]]"


# --- converters: each checks and copies one releasable value -----------------------------------
_TOKEN = re.compile(r"[a-z][a-z0-9_]{0,31}")
_SITE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
MAX_ASSESSMENT_CHARS: Final = 8000


def _site_id(v: Any) -> str:
    if not isinstance(v, str) or not _SITE_ID.fullmatch(v):
        raise TearlineError(f"site_id {v!r} is not an identifier (letters, digits, _.:-)")
    return v


def _number(v: Any, what: str) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError) as exc:
        raise TearlineError(f"{what} {v!r} is not a number") from exc
    if not math.isfinite(x):
        raise TearlineError(f"{what} is missing or not finite")
    return x


def _lat(v: Any) -> float:
    x = _number(v, "lat")
    if not -90.0 <= x <= 90.0:
        raise TearlineError(f"lat {x} is outside -90..90 degrees")
    return x


def _lon(v: Any) -> float:
    x = _number(v, "lon")
    if not -180.0 <= x <= 180.0:
        raise TearlineError(f"lon {x} is outside -180..180 degrees")
    return x


def _ce90(v: Any) -> float:
    x = _number(v, "ce90_m")
    if x < 0:
        raise TearlineError(f"ce90_m {x} is negative")
    return x


def utc_time(v: Any, what: str = "time") -> datetime:
    """:func:`vigia.times.utc_time`, refusing with :class:`TearlineError`."""
    try:
        return times.utc_time(v, what)
    except TimeError as exc:
        raise TearlineError(exc.message) from None


def _status(v: Any) -> str:
    if not isinstance(v, str) or not _TOKEN.fullmatch(v):
        raise TearlineError(f"status {v!r} is not a status code (lower-case word)")
    return v


def _assessment(v: Any) -> str | None:
    if v is None:
        return None
    if not isinstance(v, str):
        raise TearlineError(f"assessment must be text, not {type(v).__name__}")
    text = v.strip()
    if len(text) > MAX_ASSESSMENT_CHARS:
        raise TearlineError(f"assessment longer than {MAX_ASSESSMENT_CHARS} characters")
    return text or None


def _codes(v: Any) -> tuple[str, ...]:
    if v is None:
        return ()
    if isinstance(v, str):
        raise TearlineError("indicators must be a list of codes, not one string")
    out: list[str] = []
    for c in v:
        if not isinstance(c, str) or not _TOKEN.fullmatch(c):
            raise TearlineError(f"indicator code {c!r} is not a code")
        if c not in out:
            out.append(c)
    return tuple(out)


# --- THE declaration -------------------------------------------------------------------------
#: Site fields that may be released, each with the converter that checks and copies it.
#: Nothing else of a site ever reaches a tearline.
RELEASABLE_SITE_FIELDS: Final[Mapping[str, Callable[[Any], Any]]] = MappingProxyType(
    {
        "site_id": _site_id,
        "lat": _lat,
        "lon": _lon,
        "ce90_m": _ce90,
        "indicators": _codes,
        "first_seen": lambda v: utc_time(v, "first_seen"),
        "last_seen": lambda v: utc_time(v, "last_seen"),
        "status": _status,
        "assessment": _assessment,
    }
)

#: Fields of an observation ('ok' status only) that may be released with its image chip.
RELEASABLE_EVIDENCE_FIELDS: Final[Mapping[str, Callable[[Any], Any]]] = MappingProxyType(
    {
        "time": lambda v: utc_time(v, "observation time"),
        "indicator": lambda v: _codes([v])[0],
    }
)

#: Fields whose values must never be seen in a tearline (used to *check*, never to build).
SOURCE_SENSITIVE_FIELDS: Final = frozenset(
    {
        "platform",
        "platform_designation",
        "platform_tail_number",
        "tail_number",
        "mission_id",
        "sortie",
        "sorties",
        "sortie_id",
        "sortie_ids",
        "sortie_track",
        "track",
        "sensor",
        "sensor_details",
        "image_source_sensor",
        "image_coordinate_system",
        "source_file",
        "source_files",
        "vmti_algorithm_id",
        "algorithm",
        "withheld",
    }
)

#: Sensitive values shorter than this are not scanned for (e.g. 'EO', 'IR' would match labels).
MIN_SCANNED_CHARS: Final = 4


@dataclass(frozen=True, slots=True)
class ReleasableIndicator:
    """An indicator code with its English and Spanish labels (from the vocabulary)."""

    code: str
    en: str
    es: str

    def label(self, lang: str = "en") -> str:
        """The label in ``lang`` ('en' or 'es')."""
        return self.es if lang == "es" else self.en


@dataclass(frozen=True, slots=True)
class ReleasableChip:
    """An image chip of a releasable observation, re-encoded (no metadata) as JPEG."""

    name: str
    time: datetime
    indicator: ReleasableIndicator
    data: bytes
    media_type: str = "image/jpeg"

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of :attr:`data`."""
        return hashlib.sha256(self.data).hexdigest()

    def data_uri(self) -> str:
        """``data:image/jpeg;base64,...``."""
        return f"data:{self.media_type};base64,{base64.b64encode(self.data).decode('ascii')}"


@dataclass(frozen=True, slots=True)
class ReleasableSite:
    """The releasable description of one site: the declared fields, labels and chips."""

    site_id: str
    lat: float
    lon: float
    ce90_m: float
    indicators: tuple[ReleasableIndicator, ...]
    first_seen: datetime
    last_seen: datetime
    status: str
    assessment: str | None
    chips: tuple[ReleasableChip, ...] = ()

    def strings(self) -> Iterable[str]:
        """Every text value this site carries (for leak scans)."""
        yield self.site_id
        yield self.status
        if self.assessment:
            yield self.assessment
        for ind in (*self.indicators, *(c.indicator for c in self.chips)):
            yield from (ind.code, ind.en, ind.es)
        for chip in self.chips:
            yield chip.name


# The dataclass carries exactly the declared fields (plus chips, built from declared evidence).
assert {f.name for f in fields(ReleasableSite)} == {*RELEASABLE_SITE_FIELDS, "chips"}


@dataclass(frozen=True, slots=True)
class Tearline:
    """The partner-releasable part of a product: its marking, titles, times and sites."""

    marking: Marking
    product_id: str
    kind: str
    title_en: str
    title_es: str
    created: datetime
    sites: tuple[ReleasableSite, ...]
    period_start: datetime | None = None
    period_end: datetime | None = None
    released: datetime | None = None

    def title(self, lang: str = "en") -> str:
        """The title in ``lang``."""
        return self.title_es if lang == "es" else self.title_en

    def chips(self) -> dict[str, ReleasableChip]:
        """Every chip of the tearline by file name."""
        return {c.name: c for s in self.sites for c in s.chips}

    def strings(self) -> Iterable[str]:
        """Every text value the tearline carries."""
        yield from (self.product_id, self.kind, self.title_en, self.title_es)
        for site in self.sites:
            yield from site.strings()


# --- observations ------------------------------------------------------------------------------
def _as_table(observations: ObservationsLike | None) -> pa.Table:
    if observations is None:
        empty = pa.array([], pa.string())
        return pa.table({"status": empty, "consent_status": empty})
    if isinstance(observations, pa.Table):
        return observations
    return pa.Table.from_pylist([dict(r) for r in observations])


def releasable_observations(observations: ObservationsLike | None) -> pa.Table:
    """Only the observations that may appear in a product (:func:`usable_mask`).

    Rows the consent gate holds back (withheld, undetermined) and ungeolocated rows are dropped
    here, the one entry every product goes through. A table whose consent was never decided (no
    ``consent_status`` column) or without a ``status`` column is refused.
    """
    table = _as_table(observations)
    for col in ("status", "consent_status"):
        if col not in table.column_names:
            raise TearlineError(f"observations have no {col!r} column: consent was never applied")
    return table.filter(pa.array(usable_mask(table), pa.bool_()))


# --- chips ------------------------------------------------------------------------------------
#: Largest side of a released chip (pixels); larger chips are scaled down.
MAX_CHIP_PX: Final = 1024


def sanitize_chip(source: ChipSource) -> bytes:
    """Decode an image chip and re-encode its pixels only as a baseline JPEG.

    Whatever metadata the source file carried (EXIF, comments, XMP, ICC, thumbnails) is not
    copied: only pixels cross the tearline.
    """
    from PIL import Image, UnidentifiedImageError

    raw = source if isinstance(source, bytes) else Path(source).read_bytes()
    try:
        with Image.open(io.BytesIO(raw)) as img:
            img.load()
            pixels = img.convert("RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise TearlineError(f"image chip cannot be decoded: {exc}") from exc
    pixels.thumbnail((MAX_CHIP_PX, MAX_CHIP_PX))
    clean = Image.new("RGB", pixels.size)
    clean.paste(pixels)
    out = io.BytesIO()
    clean.save(out, format="JPEG", quality=88, optimize=True)
    return out.getvalue()


def _indicator(code: str, vocab: Vocabulary) -> ReleasableIndicator:
    try:
        ind = vocab[code]
    except VocabularyError as exc:
        raise TearlineError(str(exc)) from exc
    return ReleasableIndicator(ind.code, ind.en, ind.es)


def _evidence_rows(
    site_ids: Sequence[str],
    observations: ObservationsLike | None,
    chips: Mapping[str, ChipSource],
    max_chips: int,
) -> dict[str, list[dict[str, Any]]]:
    """For each site, its up-to-``max_chips`` releasable observations that have a chip.

    Vectorised over all sites: 'ok' rows with a chip, of the given sites, ranked by confidence
    (which picks, it is not released) then time; the chosen ones come back in time order.
    Rows without a ``site_id`` column belong to the site only when there is exactly one.
    """
    if not chips or max_chips <= 0 or not site_ids:
        return {}
    obs = releasable_observations(observations)
    if "obs_id" not in obs.column_names or "time" not in obs.column_names or obs.num_rows == 0:
        return {}
    obs = obs.filter(pc.fill_null(pc.is_in(obs.column("obs_id"), pa.array(list(chips))), False))
    if "site_id" not in obs.column_names:
        if len(site_ids) != 1:
            return {}
        obs = obs.append_column("site_id", pa.array([site_ids[0]] * obs.num_rows, pa.string()))
    obs = obs.filter(pc.fill_null(pc.is_in(obs.column("site_id"), pa.array(list(site_ids))), False))
    if obs.num_rows == 0:
        return {}
    keys = [("site_id", "ascending")]
    if "confidence" in obs.column_names:
        keys.append(("confidence", "descending"))
    keys.append(("time", "ascending"))
    obs = obs.take(pc.sort_indices(obs, sort_keys=keys))
    sid = np.asarray(obs.column("site_id").to_pylist(), dtype=object)
    starts = np.flatnonzero(np.r_[True, sid[1:] != sid[:-1]])
    rank = np.arange(sid.size) - np.repeat(starts, np.diff(np.r_[starts, sid.size]))
    obs = obs.filter(pa.array(rank < max_chips))
    obs = obs.take(
        pc.sort_indices(obs, sort_keys=[("site_id", "ascending"), ("time", "ascending")])
    )
    out: dict[str, list[dict[str, Any]]] = {}
    for row in obs.select(["site_id", "obs_id", *RELEASABLE_EVIDENCE_FIELDS]).to_pylist():
        out.setdefault(row["site_id"], []).append(row)
    return out


def _chips_of(
    site_id: str,
    rows: Sequence[Mapping[str, Any]],
    chips: Mapping[str, ChipSource],
    vocab: Vocabulary,
) -> tuple[ReleasableChip, ...]:
    out: list[ReleasableChip] = []
    for k, row in enumerate(rows, start=1):
        copied = {name: conv(row[name]) for name, conv in RELEASABLE_EVIDENCE_FIELDS.items()}
        out.append(
            ReleasableChip(
                name=f"{site_id}-{k:02d}.jpg",
                time=copied["time"],
                indicator=_indicator(copied["indicator"], vocab),
                data=sanitize_chip(chips[row["obs_id"]]),
            )
        )
    return tuple(out)


# --- the site -----------------------------------------------------------------------------------
def _copy_site(site: Mapping[str, Any], vocab: Vocabulary) -> dict[str, Any]:
    missing = [k for k in RELEASABLE_SITE_FIELDS if k not in site and k != "assessment"]
    if missing:
        raise TearlineError(f"site lacks releasable field(s) {missing}")
    copied = {name: conv(site.get(name)) for name, conv in RELEASABLE_SITE_FIELDS.items()}
    if copied["last_seen"] < copied["first_seen"]:
        raise TearlineError(f"site {copied['site_id']}: last_seen is before first_seen")
    copied["indicators"] = tuple(_indicator(c, vocab) for c in copied["indicators"])
    return copied


def releasable_sites(
    sites: Sequence[Mapping[str, Any]],
    observations: ObservationsLike | None = None,
    chips: Mapping[str, ChipSource] | None = None,
    *,
    vocabulary: Vocabulary | None = None,
    max_chips: int = 6,
) -> list[ReleasableSite]:
    """Copy the declared releasable fields of each site (``sites.parquet`` rows as mappings).

    ``observations`` (any rows; only 'ok' ones are used; ``site_id`` column as in
    ``observations.parquet``) and ``chips`` (``obs_id`` -> JPEG path or bytes) give each site up
    to ``max_chips`` image chips, re-encoded without metadata and named ``<site_id>-NN.jpg``.
    Raises :class:`TearlineError` when a declared field is missing or bad.
    """
    vocab = vocabulary or default_vocabulary()
    copied = [_copy_site(s, vocab) for s in sites]
    ids = [c["site_id"] for c in copied]
    evidence = _evidence_rows(ids, observations, chips or {}, max_chips)
    return [
        ReleasableSite(
            **c, chips=_chips_of(c["site_id"], evidence.get(c["site_id"], []), chips or {}, vocab)
        )
        for c in copied
    ]


def releasable_site(
    site: Mapping[str, Any],
    observations: ObservationsLike | None = None,
    chips: Mapping[str, ChipSource] | None = None,
    *,
    vocabulary: Vocabulary | None = None,
    max_chips: int = 6,
) -> ReleasableSite:
    """:func:`releasable_sites` of one site."""
    return releasable_sites(
        [site], observations, chips, vocabulary=vocabulary, max_chips=max_chips
    )[0]


# --- leak check --------------------------------------------------------------------------------
def _strings_in(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _strings_in(v)
    elif isinstance(value, list | tuple | set | frozenset | np.ndarray):
        for v in value:
            yield from _strings_in(v)


def sensitive_values(
    sites: Iterable[Mapping[str, Any]] = (),
    observations: ObservationsLike | None = None,
    extra: Iterable[Any] = (),
) -> frozenset[str]:
    """Text values of the source-sensitive fields of the inputs (all observation rows).

    ``extra`` adds values (or mappings whose values) the caller knows are sensitive, e.g. the
    sortie record of a sortie summary.
    """
    found: set[str] = set()
    for site in sites:
        for key in SOURCE_SENSITIVE_FIELDS & set(site):
            found.update(_strings_in(site[key]))
    table = _as_table(observations)
    for key in SOURCE_SENSITIVE_FIELDS & set(table.column_names):
        col = table.column(key)
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            found.update(v for v in pc.unique(col).to_pylist() if isinstance(v, str))
        elif pa.types.is_list(col.type) or pa.types.is_large_list(col.type):
            found.update(_strings_in(pc.unique(pc.list_flatten(col)).to_pylist()))
    for item in extra:
        if isinstance(item, Mapping):
            for key in SOURCE_SENSITIVE_FIELDS & set(item):
                found.update(_strings_in(item[key]))
        else:
            found.update(_strings_in(item))
    return frozenset(v.strip() for v in found if len(v.strip()) >= MIN_SCANNED_CHARS)


def check_no_leak(texts: Iterable[str], sensitive: Iterable[str]) -> None:
    """Raise :class:`TearlineLeakError` if any sensitive value occurs in any of ``texts``.

    Matching ignores case and requires the value not to be part of a longer word.
    """
    values = sorted({s for s in sensitive if len(s) >= MIN_SCANNED_CHARS}, key=len, reverse=True)
    if not values:
        return
    pattern = re.compile(
        "|".join(rf"(?<![\w]){re.escape(v)}(?![\w])" for v in values), re.IGNORECASE
    )
    for text in texts:
        if pattern.search(text):
            raise TearlineLeakError(
                "the releasable text mentions a source-sensitive value (mission, platform, "
                "sensor or source); edit the assessment before release"
            )
