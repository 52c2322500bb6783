"""Every conversion of times in Vigía, in one place.

Inside the pipeline a time is an ``int`` of microseconds since 1970-01-01T00:00:00Z (``_us``,
as ST 0601 item 2 carries it) or an aware UTC :class:`~datetime.datetime`; at the edges it is
ISO 8601 text with an offset. A time without a time zone is refused, never guessed, except for
values read back from the store's own columns (:func:`aware_utc`: SQLite keeps naive UTC).

Errors are :class:`~vigia.errors.TimeError` (also a :class:`ValueError`); stages that want their
own error type wrap these functions.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from vigia.errors import TimeError

__all__ = [
    "EPOCH",
    "PLAUSIBLE_US",
    "USER_TIME_RANGE",
    "US_PER_S",
    "aware_utc",
    "check_user_time",
    "format_time_us",
    "implausible_time_mask",
    "iso_time",
    "iso_time_column",
    "iso_time_fixed_us",
    "null_implausible_times",
    "parse_time_us",
    "time_us",
    "time_us_column",
    "user_time_us",
    "utc_time",
]

_D = TypeVar("_D", date, datetime)

#: Microseconds per second.
US_PER_S = 1_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Times a platform can really carry, ``[first, last)`` in µs: 1990-01-01 to 2100-01-01 UTC.
#: A decoded time outside is damage (a flipped bit, a wrong epoch), never a date to print.
PLAUSIBLE_US = (631_152_000 * US_PER_S, 4_102_444_800 * US_PER_S)
#: Dates and times a user may enter (an action's date, a digest period, a plan's start, an AOI's
#: consent window), ``[first, last)``: 2000-01-01 to 2100-01-01 UTC. Anything else is a typo or
#: a probe (year 1, year 9999), refused at the boundary before any arithmetic can overflow.
USER_TIME_RANGE = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


def _us_of(t: datetime) -> int:
    delta = t - EPOCH
    return (delta.days * 86_400 + delta.seconds) * US_PER_S + delta.microseconds


def utc_time(v: Any, what: str = "time") -> datetime:
    """A UTC datetime from an aware datetime, µs since 1970 (int, NumPy or Arrow scalar),
    ``datetime64`` or ISO 8601 text with an offset (``Z`` allowed)."""
    if isinstance(v, pa.Scalar):
        v = v.as_py()
    if isinstance(v, np.datetime64):
        v = int(v.astype("datetime64[us]").astype(np.int64))
    if isinstance(v, int | np.integer) and not isinstance(v, bool):
        return datetime.fromtimestamp(int(v) / US_PER_S, UTC)
    if isinstance(v, str):
        try:
            v = datetime.fromisoformat(v.strip().replace("Z", "+00:00"))
        except ValueError:
            raise TimeError(f"{what} {v!r} is not an ISO-8601 time") from None
    if isinstance(v, datetime):
        if v.tzinfo is None or v.utcoffset() is None:
            raise TimeError(f"{what} {v.isoformat()} has no UTC offset (no time zone)")
        return v.astimezone(UTC)
    raise TimeError(f"{what} is missing or not a time ({type(v).__name__})")


def check_user_time(value: _D, what: str = "time") -> _D:
    """``value`` unchanged when it is a date or time a user may enter (:data:`USER_TIME_RANGE`;
    a date is its 00:00 UTC, a datetime needs a time zone); else :class:`TimeError` naming
    ``what``. The one check of user-entered dates: the API's models, the CLI's options and the
    store's services call it."""
    lo, hi = USER_TIME_RANGE
    span = f"{lo.date().isoformat()}..{hi.year - 1}-12-31"
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise TimeError(f"{what} {value.isoformat()} has no time zone; give Z or an offset")
        inside = lo <= value < hi  # aware comparison: no conversion, no overflow at year 1/9999
    elif isinstance(value, date):
        inside = lo.date() <= value < hi.date()
    else:
        raise TimeError(f"{what} is not a date or time ({type(value).__name__})")
    if not inside:
        raise TimeError(f"{what} {value.isoformat()} is outside {span} (UTC)")
    return value


def user_time_us(value: Any, what: str = "time") -> int:
    """µs since the epoch of a time a user entered (ISO 8601 text with an offset, or an aware
    datetime), checked by :func:`check_user_time`."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise TimeError(f"{what} is not an ISO 8601 time: {value!r}") from None
        value = parsed
    if not isinstance(value, datetime):
        raise TimeError(f"{what} must be an ISO 8601 time with an offset, got {value!r}")
    return _us_of(check_user_time(value, what))


def parse_time_us(value: Any, what: str = "time") -> int:
    """ISO 8601 text with a UTC offset -> µs since the epoch (text only)."""
    if not isinstance(value, str) or not value.strip():
        raise TimeError(f"{what} must be an ISO 8601 time string, got {value!r}")
    try:
        dt = datetime.fromisoformat(value.strip())
    except ValueError:
        raise TimeError(f"{what} is not an ISO 8601 time: {value!r}") from None
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise TimeError(f"{what} has no time zone ({value!r}); give Z or a UTC offset")
    return _us_of(dt)


def time_us(value: Any, what: str = "time") -> int:
    """µs since the epoch from an int (already µs), an aware datetime or ISO 8601 text."""
    if isinstance(value, bool):
        raise TimeError(f"{what}: not a time: {value!r}")
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise TimeError(f"{what}: naive datetime; give a time zone")
        return _us_of(value)
    return parse_time_us(value, what)


def iso_time(t: datetime) -> str:
    """ISO 8601 UTC with milliseconds and ``Z``, e.g. ``2026-03-14T05:12:00.000Z``."""
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_time_fixed_us(t: datetime) -> str:
    """ISO 8601 UTC with exactly six decimals, ``2026-05-10T14:03:07.123456Z`` (the form that
    enters the audit chain's hashes: it must never change)."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_time_us(t: int | None) -> str | None:
    """µs since the epoch -> ISO 8601 UTC text (decimals only when there are any); None stays
    None."""
    if t is None:
        return None
    return datetime.fromtimestamp(t / US_PER_S, UTC).isoformat().replace("+00:00", "Z")


def aware_utc(t: datetime | str) -> datetime:
    """A time read back from the store (aggregates bypass the column type: SQLite gives naive
    UTC text, PostgreSQL an aware datetime) as an aware UTC datetime."""
    if isinstance(t, str):
        t = datetime.fromisoformat(t)
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def time_us_column(col: Any) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Times as int64 microseconds since the epoch (UTC) and a mask of rows that have a time.

    Accepts Arrow timestamps of any unit (a naive Arrow timestamp is read as UTC, the Arrow
    convention for epoch-based values), Arrow/NumPy int64 microseconds or NumPy datetime64.
    """
    if isinstance(col, pa.ChunkedArray | pa.Array):
        if pa.types.is_timestamp(col.type):
            col = col.cast(pa.timestamp("us", tz=col.type.tz)).cast(pa.int64())
        has = ~np.asarray(col.is_null().to_numpy(zero_copy_only=False), bool)
        vals = np.asarray(col.cast(pa.int64()).fill_null(0).to_numpy(), np.int64)
        return vals, has
    arr = np.asarray(col)
    if np.issubdtype(arr.dtype, np.datetime64):
        has = ~np.isnat(arr)
        return arr.astype("datetime64[us]").astype(np.int64), has
    return arr.astype(np.int64), np.ones(arr.shape, bool)


def implausible_time_mask(t_us: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """True where a time (µs since the epoch) lies outside :data:`PLAUSIBLE_US`: damage."""
    arr = np.asarray(t_us, np.int64)
    lo, hi = PLAUSIBLE_US
    return (arr < lo) | (arr >= hi)


def null_implausible_times(table: pa.Table) -> tuple[pa.Table, int]:
    """``table`` with every timestamp value outside :data:`PLAUSIBLE_US` made null, and how many
    were (so that no reader dies converting a stored value: Python's datetime stops at 9999)."""
    bad_total = 0
    for i, field in enumerate(table.schema):
        if not pa.types.is_timestamp(field.type):
            continue
        col = table.column(i)
        t_us, has = time_us_column(col)
        bad = has & implausible_time_mask(t_us)
        n = int(bad.sum())
        if n:
            bad_total += n
            fixed = pc.if_else(pa.array(bad), pa.scalar(None, field.type), col)
            table = table.set_column(i, field, fixed)
    return table, bad_total


def iso_time_column(col: pa.Array | pa.ChunkedArray) -> list[str | None]:
    """ISO 8601 UTC text of each value of an Arrow timestamp column, with the column's own
    sub-second digits (``2026-03-14T05:12:24.000000Z`` for µs); null stays None."""
    utc = col.cast(pa.timestamp(col.type.unit, tz="UTC"))
    out: list[str | None] = pc.strftime(utc, format="%Y-%m-%dT%H:%M:%SZ").to_pylist()
    return out
