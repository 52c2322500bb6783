"""Pydantic models at the boundary of the HTTP API: what comes in, what goes out.

Inputs are strict about shape (unknown fields refused, by one error however many, lengths
bounded, numbers finite, coordinates in range, units and substances from closed lists) so that
bad input is a 422 with a message before any service runs. Text may not hold NUL or other
control characters (other than tab and newlines).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from vigia.errors import ValidationError
from vigia.store import CLASSIFICATIONS, ROLES, SUBSTANCES, normalise_amount
from vigia.times import check_user_time

__all__ = [
    "COMMON_ERRORS",
    "ERROR_STATUSES",
    "ActionIn",
    "ActionOut",
    "AgencyOut",
    "ApproveIn",
    "AuditVerifyOut",
    "DeliveryOut",
    "ErrorOut",
    "Indicator",
    "LoginIn",
    "LoginOut",
    "MetricsOut",
    "PartnerProduct",
    "PartnerSite",
    "ProductIn",
    "ProductOut",
    "RejectIn",
    "SeizureIn",
    "StaffSite",
    "UserOut",
    "ValidationErrorOut",
    "error_responses",
]

#: Units a seizure may be reported in (normalised by the store to count, kg or L).
UNITS = ("count", "kg", "g", "lb", "L", "gal")


def _clean_text(v: str) -> str:
    bad = [c for c in v if (ord(c) < 32 and c not in "\t\n\r") or ord(c) == 0x7F]
    if bad:
        raise ValueError("text may not contain control characters")
    if any(0xD800 <= ord(c) <= 0xDFFF for c in v):
        raise ValueError("text may not contain lone surrogates")
    return v


Text = Annotated[str, AfterValidator(_clean_text)]
SiteId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
AgencyCode = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9-]{1,15}$")]
CountryCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
Lang = Literal["en", "es"]
#: A time a user may enter: with its offset, within :data:`vigia.times.USER_TIME_RANGE`.
UserTime = Annotated[AwareDatetime, AfterValidator(check_user_time)]


#: Unknown fields named in the one error that refuses them (the rest are counted).
MAX_UNKNOWN_NAMED = 5


class _In(BaseModel):
    """A request body. Unknown fields are refused, not ignored: a misspelt ``releasable_to``
    or ``agencies`` must not fall back silently to a default. They are refused by one error
    that names the first few (a body of 80,000 unknown keys is one error, not 80,000)."""

    model_config = ConfigDict(extra="forbid", str_max_length=20_000)

    @model_validator(mode="before")
    @classmethod
    def _no_unknown_fields(cls, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = [k for k in data if k not in cls.model_fields]
            if unknown:
                named = ", ".join(repr(str(k)[:40]) for k in unknown[:MAX_UNKNOWN_NAMED])
                rest = len(unknown) - MAX_UNKNOWN_NAMED
                more = f" and {rest} more" if rest > 0 else ""
                raise ValueError(f"unknown field{'s' if len(unknown) > 1 else ''}: {named}{more}")
        return data


# --- auth ---------------------------------------------------------------------------------------
class LoginIn(_In):
    """Credentials."""

    username: Annotated[Text, Field(min_length=1, max_length=64)]
    password: Annotated[Text, Field(min_length=1, max_length=1024)]


class UserOut(BaseModel):
    """The logged-in user."""

    username: str
    display_name: str
    role: Literal["analyst", "supervisor", "partner-liaison", "partner-officer"]
    agency: str
    language: Lang


assert set(ROLES) == {"analyst", "supervisor", "partner-liaison", "partner-officer"}


class LoginOut(BaseModel):
    """A bearer token for ``Authorization: Bearer <token>``, and who it is for."""

    token: str
    expires_at: dt.datetime
    user: UserOut


# --- sites ------------------------------------------------------------------------------------
class Indicator(BaseModel):
    """An indicator code and its label in the reader's language."""

    code: str
    label: str


class PartnerSite(BaseModel):
    """A site as a partner sees it: tearline fields, their own status, chips and products."""

    site_id: str
    lat: float
    lon: float
    ce90_m: float
    indicators: list[Indicator]
    first_seen: str
    last_seen: str
    status: str
    partner_status: str | None
    assessment: str | None
    chips: list[str]
    product_ids: list[str]


class StaffSite(BaseModel):
    """Every field of a site (analysts and supervisors)."""

    model_config = ConfigDict(extra="allow")

    site_id: str
    lat: float
    lon: float
    ce90_m: float | None
    indicators: list[Indicator]
    first_seen: str | None
    last_seen: str | None
    status: str | None
    partner_status: str | None
    assessment: str | None
    chips: list[str]
    product_ids: list[str]
    sorties: list[str]
    probability: float | None
    candidate: bool


# --- products ---------------------------------------------------------------------------------
class ProductIn(_In):
    """A product to draft. ``site_report`` needs ``site_id``; ``sortie_summary`` needs
    ``mission_id``; a ``digest`` covers ``period_start``..``period_end`` (default: the span of
    the sites)."""

    kind: Literal["site_report", "sortie_summary", "digest"]
    site_id: SiteId | None = None
    assessment: Annotated[Text, Field(max_length=8000)] | None = None
    classification: Literal[CLASSIFICATIONS] = "UNCLASSIFIED"  # type: ignore[valid-type]
    caveats: list[Annotated[str, Field(pattern=r"^[A-Za-z]{2,10}$")]] = Field(
        default_factory=lambda: ["FOUO"], max_length=5
    )
    releasable_to: list[CountryCode] = Field(
        default_factory=lambda: ["USA", "MEX"], min_length=1, max_length=20
    )
    mission_id: Annotated[Text, Field(min_length=1, max_length=128)] | None = None
    period_start: UserTime | None = None
    period_end: UserTime | None = None
    lang: Lang = "en"

    @field_validator("caveats", mode="before")
    @classmethod
    def _one_caveat(cls, v: Any) -> Any:
        # "FOUO" or "FOUO//LES" as well as ["FOUO", "LES"]
        if isinstance(v, str):
            return [c for c in v.split("//") if c]
        return v


class ProductOut(BaseModel):
    """A product for staff (``body`` and ``tearline`` on single reads)."""

    model_config = ConfigDict(extra="allow")

    product_id: str
    kind: str
    site_id: str | None
    state: str
    classification: str
    releasable_to: list[str]
    released_to: list[str]
    author: str | None


class PartnerProduct(BaseModel):
    """A product released to a partner: its tearline (chips as URLs); once withdrawn, only
    when and why (``state`` = ``withdrawn``)."""

    model_config = ConfigDict(extra="allow")

    product_id: str
    kind: str
    state: str
    released: str | None
    marking: dict[str, Any] | None = None
    title: dict[str, str] | None = None
    sites: list[dict[str, Any]] | None = None
    withdrawn: str | None = None
    withdrawal_reason: str | None = None


class ApproveIn(_In):
    """Agencies (codes) to release the product to."""

    agencies: list[AgencyCode] = Field(min_length=1, max_length=20)


class WithdrawIn(_In):
    """Why the release is withdrawn, and from which agencies (all it is released to if none)."""

    reason: Annotated[Text, Field(min_length=1, max_length=2000)]
    agencies: list[AgencyCode] | None = Field(default=None, min_length=1, max_length=20)


class RejectIn(_In):
    """Why the product is rejected."""

    reason: Annotated[Text, Field(min_length=1, max_length=2000)]


# --- actions ---------------------------------------------------------------------------------
class SeizureIn(_In):
    """One quantity seized: pills by count, powders by mass, precursors by mass or volume."""

    substance: Literal[SUBSTANCES]  # type: ignore[valid-type]
    amount: float = Field(gt=0, allow_inf_nan=False)
    unit: Literal[UNITS]  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _normalisable(self) -> SeizureIn:
        # the store's one rule (positive, finite, whole pills, within bounds in its units)
        try:
            normalise_amount(self.substance, self.amount, self.unit)
        except ValidationError as exc:
            raise ValueError(exc.message) from None
        return self


class ActionIn(_In):
    """What the agency did at a released site, when (a date, or a time with its offset), where
    (both ``lat`` and ``lon``, or neither) and what it seized."""

    kind: Literal["inspection", "operation", "lab_dismantled", "nothing_found"]
    date: dt.date | AwareDatetime
    lat: float | None = Field(default=None, ge=-90, le=90, allow_inf_nan=False)
    lon: float | None = Field(default=None, ge=-180, le=180, allow_inf_nan=False)
    notes: Annotated[Text, Field(max_length=10_000)] | None = None
    seizures: list[SeizureIn] = Field(default_factory=list, max_length=100)

    @field_validator("date")
    @classmethod
    def _plausible(cls, v: dt.date | dt.datetime) -> dt.date | dt.datetime:
        return check_user_time(v, "the action date")


class SeizureOut(BaseModel):
    """A seizure, normalised (count, kg, L) and as reported."""

    substance: str
    amount: float
    unit: str
    original_amount: float
    original_unit: str


class ActionOut(BaseModel):
    """A recorded partner action."""

    id: int
    site_id: str
    agency: str
    user: str | None
    kind: str
    occurred_at: str
    lat: float | None
    lon: float | None
    notes: str | None
    recorded_at: str
    seizures: list[SeizureOut]


# --- metrics, deliveries, audit ----------------------------------------------------------------
class MetricsOut(BaseModel):
    """Programme metrics (a partner gets their agency's)."""

    model_config = ConfigDict(extra="allow")

    agency: str | None
    sites_detected: int | None
    sites_released: int
    sites_acted_on: int
    median_hours_detection_to_release: float | None
    median_hours_release_to_action: float | None
    median_hours_detection_to_action: float | None
    seizures_by_substance: list[dict[str, Any]]
    seizures_by_month: list[dict[str, Any]]


class AgencyOut(BaseModel):
    """A partner agency products can be released to."""

    code: str
    name: str
    country: str
    partner_users: int


class DeliveryOut(BaseModel):
    """One push of a released site to a partner system."""

    id: int
    product_id: str | None
    site_id: str | None
    target: str
    attempts: int
    status: str
    last_error: str | None
    created_at: str
    updated_at: str
    delivered_at: str | None


class AuditVerifyOut(BaseModel):
    """Outcome of walking the audit chain."""

    ok: bool
    entries: int
    last_seq: int
    first_bad_seq: int | None
    problem: str | None
    message: str


# --- errors -----------------------------------------------------------------------------------
class ErrorOut(BaseModel):
    """Every error of the API: ``{"detail": "clear message"}``."""

    model_config = ConfigDict(extra="allow")

    detail: str


class ValidationProblem(BaseModel):
    """One problem of a request that does not fit its model: where, what, which kind."""

    model_config = ConfigDict(extra="allow")

    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorOut(ErrorOut):
    """422: the one-line message, and the problems: ``errors`` for a request that does not fit
    its model, ``problems`` (text) for one a service refuses."""

    errors: list[ValidationProblem] | None = None
    problems: list[str] | None = None


#: What each error status of the API means (the route decorators' ``responses=``).
ERROR_STATUSES: dict[int, str] = {
    400: "malformed request (e.g. a Content-Length that is not a number)",
    401: "not logged in, or the token is unknown, expired or revoked",
    403: "the user's role or agency does not allow it",
    404: "no such object, or not one released to the user's agency",
    409: "the object is not in a state that allows it",
    410: "the release to the user's agency was withdrawn, or a sortie's stream was moved away",
    413: "request body too large",
    416: "the byte range asked for lies outside the file",
    422: "invalid input: the message names each field",
    429: "too many attempts: try again later",
    503: "the database or the audit log is unavailable: try again",
}


#: The error statuses any route of the API may give: a malformed or oversized request, no valid
#: token, invalid input, the store unavailable.
COMMON_ERRORS = (400, 401, 413, 422, 503)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of the error statuses a route gives (:data:`ERROR_STATUSES`)."""
    return {
        s: {
            "model": ValidationErrorOut if s == 422 else ErrorOut,
            "description": ERROR_STATUSES[s],
        }
        for s in statuses
    }
