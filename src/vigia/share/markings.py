"""Classification and releasability markings of intelligence products, in ST 0102 terms.

A :class:`Marking` is the classification (the ST 0102 item 1 enumeration, reused from
:mod:`vigia.klv.st0102`), the dissemination caveats (item 5) and the countries the product may
be released to (item 6, ISO 3166 alpha-3 codes). It renders as a banner line, in English or
Spanish::

    UNCLASSIFIED//FOUO//REL TO USA, MEX
    SIN CLASIFICAR//FOUO//REL A USA, MEX

and converts to and from :class:`~vigia.klv.st0102.SecurityMetadata`, so a product carries the
same vocabulary as the motion imagery it came from.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from vigia.errors import MarkingError
from vigia.klv.st0102 import (
    Classification,
    CountryCodingMethod,
    ObjectCountryCodingMethod,
    SecurityMetadata,
    releasability_countries,
)

__all__ = [
    "CAVEATS",
    "CLASSIFICATION_LABELS",
    "PORTAL_CEILING",
    "Classification",
    "Marking",
    "MarkingError",
    "parse_banner",
    "portal_ceiling",
]

#: ST 0102 revision written into the security metadata of products.
ST0102_VERSION: Final = 12

LANGS: Final = ("en", "es")

#: Banner words of each classification level.
CLASSIFICATION_LABELS: Final[Mapping[str, Mapping[Classification, str]]] = {
    "en": {c: c.label for c in Classification},
    "es": {
        Classification.UNCLASSIFIED: "SIN CLASIFICAR",
        Classification.RESTRICTED: "RESTRINGIDO",
        Classification.CONFIDENTIAL: "CONFIDENCIAL",
        Classification.SECRET: "SECRETO",
        Classification.TOP_SECRET: "ALTO SECRETO",
    },
}

#: Dissemination caveats Vigía knows, in banner order, with their meaning in EN and ES.
CAVEATS: Final[Mapping[str, Mapping[str, str]]] = {
    "NOFORN": {"en": "Not releasable to foreign nationals", "es": "No divulgable a extranjeros"},
    "ORCON": {"en": "Originator controlled", "es": "Controlado por el originador"},
    "PROPIN": {"en": "Proprietary information", "es": "Información de propiedad exclusiva"},
    "LES": {"en": "Law enforcement sensitive", "es": "Sensible para la aplicación de la ley"},
    "FOUO": {"en": "For official use only", "es": "Solo para uso oficial"},
}

_REL_WORDS: Final = {"en": "REL TO", "es": "REL A"}
_COUNTRY = re.compile(r"[A-Z]{3}")
_THREE_LETTER_METHODS: Final = frozenset(
    {
        int(CountryCodingMethod.ISO_3166_THREE_LETTER),
        int(CountryCodingMethod.GENC_THREE_LETTER),
        int(CountryCodingMethod.STANAG_1059_THREE_LETTER),
        int(CountryCodingMethod.ISO_3166_MIXED),
        int(CountryCodingMethod.GENC_MIXED),
    }
)


def _classification(value: Classification | str | int) -> Classification:
    if isinstance(value, Classification):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return Classification(value)
        except ValueError as exc:
            raise MarkingError(f"unknown classification level {value}") from exc
    if isinstance(value, str):
        text = " ".join(value.strip().upper().replace("_", " ").split())
        for lang in LANGS:
            for level, label in CLASSIFICATION_LABELS[lang].items():
                if text == label:
                    return level
        known = ", ".join(c.label for c in Classification)
        raise MarkingError(f"unknown classification {value!r}; expected one of {known}")
    raise MarkingError(f"classification must be a name or a level, not {type(value).__name__}")


def _caveats(values: Iterable[str]) -> tuple[str, ...]:
    out: set[str] = set()
    for raw in values:
        if not isinstance(raw, str):
            raise MarkingError(f"caveat must be text, not {type(raw).__name__}")
        cav = raw.strip().upper()
        if cav not in CAVEATS:
            raise MarkingError(f"unknown caveat {raw!r}; expected one of {', '.join(CAVEATS)}")
        out.add(cav)
    return tuple(c for c in CAVEATS if c in out)


def _countries(values: Iterable[str], classifying: str) -> tuple[str, ...]:
    seen: list[str] = []
    for raw in values:
        if not isinstance(raw, str):
            raise MarkingError(f"country code must be text, not {type(raw).__name__}")
        code = raw.strip().upper()
        if not _COUNTRY.fullmatch(code):
            raise MarkingError(f"country code {raw!r} is not an ISO 3166 alpha-3 code (e.g. MEX)")
        if code not in seen:
            seen.append(code)
    # Banner order: the classifying country first, then the others alphabetically.
    rest = sorted(c for c in seen if c != classifying)
    return ((classifying,) if classifying in seen else ()) + tuple(rest)


@dataclass(frozen=True, slots=True)
class Marking:
    """Classification, caveats and releasability of a product (or of its tearline).

    ``releasable_to`` holds ISO 3166 alpha-3 codes; the classifying country comes first and the
    others follow in alphabetical order, as in a banner line. Construction validates and
    normalises every part and raises :class:`MarkingError` on bad input (unknown level or
    caveat, malformed country code, NOFORN together with REL TO).
    """

    classification: Classification
    caveats: tuple[str, ...] = ()
    releasable_to: tuple[str, ...] = ()
    classifying_country: str = "USA"

    def __init__(
        self,
        classification: Classification | str | int,
        caveats: Iterable[str] = (),
        releasable_to: Iterable[str] = (),
        classifying_country: str = "USA",
    ) -> None:
        if isinstance(caveats, str) or isinstance(releasable_to, str):
            raise MarkingError("caveats and releasable_to are sequences of codes, not one string")
        owner = _countries([classifying_country], "")[0]
        object.__setattr__(self, "classification", _classification(classification))
        object.__setattr__(self, "caveats", _caveats(caveats))
        object.__setattr__(self, "releasable_to", _countries(releasable_to, owner))
        object.__setattr__(self, "classifying_country", owner)
        if "NOFORN" in self.caveats and self.releasable_to:
            raise MarkingError(
                "NOFORN cannot be combined with REL TO (not releasable to foreign nationals)"
            )
        if "FOUO" in self.caveats and self.classification > Classification.UNCLASSIFIED:
            raise MarkingError(
                f"FOUO is a control of unclassified material, not of {self.classification.label}"
            )

    # --- rendering -----------------------------------------------------------------------
    def banner(self, lang: str = "en") -> str:
        """The banner line, e.g. ``"UNCLASSIFIED//FOUO//REL TO USA, MEX"`` (``lang`` en|es)."""
        if lang not in LANGS:
            raise MarkingError(f"unknown language {lang!r}; expected one of {LANGS}")
        parts = [CLASSIFICATION_LABELS[lang][self.classification], *self.caveats]
        if self.releasable_to:
            parts.append(f"{_REL_WORDS[lang]} {', '.join(self.releasable_to)}")
        return "//".join(parts)

    def caveat_legend(self, lang: str = "en") -> tuple[tuple[str, str], ...]:
        """Each caveat with its meaning in ``lang``."""
        return tuple((c, CAVEATS[c][lang if lang in LANGS else "en"]) for c in self.caveats)

    def __str__(self) -> str:
        return self.banner("en")

    # --- releasability ---------------------------------------------------------------------
    def is_releasable_to(self, country: str) -> bool:
        """True when a reader of ``country`` (alpha-3) may receive material with this marking."""
        code = country.strip().upper()
        if code == self.classifying_country:
            return True
        return "NOFORN" not in self.caveats and code in self.releasable_to

    def require_releasable_to(self, country: str) -> None:
        """Raise :class:`MarkingError` unless :meth:`is_releasable_to` ``country``."""
        if not self.is_releasable_to(country):
            raise MarkingError(
                f"material marked {self.banner()} is not releasable to {country} "
                f"(its releasability: {', '.join(self.releasable_to) or 'none'})"
            )

    def permits(self, other: Marking) -> bool:
        """True when material marked ``other`` may be part of material with this marking.

        That is: ``other`` is not classified higher, and it is releasable to every country this
        marking releases to.
        """
        return other.classification <= self.classification and all(
            other.is_releasable_to(c) for c in self.releasable_to
        )

    def exceeds(self, ceiling: Marking) -> bool:
        """True when this marking is classified above ``ceiling`` (e.g. a portal's maximum)."""
        return self.classification > ceiling.classification

    def require_within(self, ceiling: Marking, where: str = "the partner portal") -> None:
        """Raise :class:`MarkingError` when :meth:`exceeds` ``ceiling``."""
        if self.exceeds(ceiling):
            raise MarkingError(
                f"{self.banner()} is above the maximum classification of {where} "
                f"({ceiling.banner()})"
            )

    # --- ST 0102 ---------------------------------------------------------------------------
    def to_security_metadata(self, object_countries: Iterable[str] = ()) -> SecurityMetadata:
        """The ST 0102 local set of this marking (ISO 3166 alpha-3 coding throughout).

        ``object_countries`` are the countries the product is about (item 13), e.g. ``("MEX",)``.
        """
        objects = _countries(object_countries, "")
        return SecurityMetadata(
            classification=self.classification,
            country_coding_method=CountryCodingMethod.ISO_3166_THREE_LETTER,
            classifying_country=f"//{self.classifying_country}",
            caveats=" ".join(self.caveats) or None,
            releasing_instructions=" ".join(self.releasable_to) or None,
            object_country_coding_method=ObjectCountryCodingMethod.ISO_3166_THREE_LETTER,
            object_country_codes=";".join(objects) or None,
            version=ST0102_VERSION,
        )

    @classmethod
    def from_security_metadata(cls, sm: SecurityMetadata) -> Marking:
        """The marking of an ST 0102 local set (e.g. decoded from the video's item 48)."""
        if sm.classification is None:
            raise MarkingError("ST 0102 metadata has no classification (item 1)")
        method = sm.country_coding_method
        countries = releasability_countries(sm)
        owner = sm.classifying_country_code or "USA"
        if (countries or sm.classifying_country) and (
            method is not None and int(method) not in _THREE_LETTER_METHODS
        ):
            raise MarkingError(
                f"ST 0102 country coding method {int(method)} is not a three-letter code list"
            )
        caveats = [c for c in re.split(r"[\s/,]+", sm.caveats or "") if c]
        return cls(sm.classification, caveats, countries, owner)

    # --- plain data ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: classification name, caveats, releasable_to, banners."""
        return {
            "classification": self.classification.label,
            "caveats": list(self.caveats),
            "releasable_to": list(self.releasable_to),
            "classifying_country": self.classifying_country,
            "banner": self.banner("en"),
            "banner_es": self.banner("es"),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Marking:
        """Inverse of :meth:`to_dict` (banner keys are ignored)."""
        if "classification" not in data:
            raise MarkingError("marking needs a classification")
        return cls(
            data["classification"],
            data.get("caveats") or (),
            data.get("releasable_to") or (),
            data.get("classifying_country") or "USA",
        )


def parse_banner(text: str, classifying_country: str = "USA") -> Marking:
    """Read a banner line (English or Spanish), e.g. ``"UNCLASSIFIED//FOUO//REL TO USA, MEX"``."""
    parts = [p.strip() for p in text.strip().split("//")]
    if not parts or not parts[0]:
        raise MarkingError(f"empty banner line {text!r}")
    caveats: list[str] = []
    countries: list[str] = []
    for part in parts[1:]:
        upper = part.upper()
        rel = next((w for w in _REL_WORDS.values() if upper.startswith(w + " ")), None)
        if rel is not None:
            countries.extend(c for c in re.split(r"[\s,]+", upper[len(rel) :]) if c)
        elif part:
            caveats.append(part)
    return Marking(parts[0], caveats, countries, classifying_country)


#: Default maximum classification of the partner portal (its accreditation).
PORTAL_CEILING: Final = "UNCLASSIFIED//FOUO"
#: Environment variable that sets another maximum (a banner line).
PORTAL_CEILING_ENV: Final = "VIGIA_PORTAL_MAX_CLASSIFICATION"


def portal_ceiling() -> Marking:
    """The partner portal's maximum classification: ``$VIGIA_PORTAL_MAX_CLASSIFICATION`` (a
    banner line such as ``CONFIDENTIAL``) or :data:`PORTAL_CEILING`. Nothing above it may be
    drafted for or released to a partner."""
    return parse_banner(os.environ.get(PORTAL_CEILING_ENV) or PORTAL_CEILING)
