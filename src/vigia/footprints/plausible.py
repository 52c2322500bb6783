"""Damaged data never becomes geometry: the physical checks every footprint passes.

A packet can decode cleanly and still be impossible: a bit flip in the time or the position
(checksums are optional in ST 0601, and some encoders get them wrong), or a garbage pose whose
footprint covers a province. :func:`implausible_reasons` names, per row, why a footprint that
the sensor model computed must not be used; the footprints stage marks those rows invalid with
that reason (the row is kept), so coverage, consent and everything after skip them.

Checks, in order (the first that applies wins):

* ``damaged``: the decoder flagged the packet (:func:`vigia.telemetry.usable_rows`: cut
  short, a failed checksum, an implausible time);
* ``bad_time``: no time, or one outside 1990-2100 (:func:`vigia.times.implausible_time_mask`),
  or more than :data:`MAX_TIME_FROM_MEDIAN_S` from the chunk's median time (the stream's span);
* ``position_jump``: the sensor position is farther from the running median of its neighbours
  (:data:`JUMP_WINDOW` packets) than :data:`MAX_PLATFORM_SPEED_MPS` allows over their time
  span, plus :data:`JUMP_SLACK_M`;
* ``footprint_too_large``: a corner lies farther from the frame centre than
  :data:`MAX_CORNER_TO_SLANT` slant ranges (a pose at the edge of validity).
"""

from __future__ import annotations

import warnings
from typing import Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from vigia.geo.sensor import column
from vigia.geo.wgs84 import great_circle_m
from vigia.telemetry import usable_rows
from vigia.times import implausible_time_mask, time_us_column

__all__ = [
    "JUMP_SLACK_M",
    "JUMP_WINDOW",
    "MAX_CORNER_TO_SLANT",
    "MAX_PLATFORM_SPEED_MPS",
    "MAX_TIME_FROM_MEDIAN_S",
    "implausible_packets",
    "implausible_reasons",
]

#: Fastest any platform of the program flies (m/s): an MQ-9 dashes at about 130 m/s; a manned
#: aircraft carrying a pod at about 300.
MAX_PLATFORM_SPEED_MPS: Final = 350.0
#: Packets in the running median a position is checked against (odd).
JUMP_WINDOW: Final = 9
#: Distance allowed beyond the speed limit (m): GPS noise, rounding of the items.
JUMP_SLACK_M: Final = 500.0
#: The longest a chunk of one stream spans around its median time (s): a sortie is under 40 h.
MAX_TIME_FROM_MEDIAN_S: Final = 48 * 3600.0
#: A corner farther from the frame centre than this many slant ranges is not a camera's.
MAX_CORNER_TO_SLANT: Final = 4.0


def _running_median(x: npt.NDArray[np.float64], window: int) -> npt.NDArray[np.float64]:
    half = window // 2
    padded = np.pad(x, half, mode="edge")
    view = np.lib.stride_tricks.sliding_window_view(padded, window)
    with np.errstate(all="ignore"):
        out: npt.NDArray[np.float64] = np.nanmedian(view, axis=1)
    return out


def _position_jumps(telemetry: pa.Table, t_us: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    n = telemetry.num_rows
    lat = column(telemetry, "sensor_latitude", n)
    lon = column(telemetry, "sensor_longitude", n)
    if n < 3 or not np.isfinite(lat).any():
        return np.zeros(n, bool)
    w = min(JUMP_WINDOW, n if n % 2 else n - 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows
        med_lat = _running_median(lat, w)
        med_lon = _running_median(lon, w)
    half = w // 2
    t = t_us.astype(np.float64) / 1e6
    tp = np.pad(t, half, mode="edge")
    span_s = np.abs(tp[2 * half :] - tp[: len(t)]) if half else np.zeros(n)
    allowed = MAX_PLATFORM_SPEED_MPS * span_s + JUMP_SLACK_M
    d = great_circle_m(lat, lon, med_lat, med_lon)
    return np.isfinite(d) & (d > allowed)


def implausible_packets(telemetry: pa.Table) -> npt.NDArray[np.object_]:
    """Per telemetry row: ``damaged``, ``bad_time`` or ``position_jump`` (module doc), or None;
    what makes a packet unusable whatever is computed from it (footprints, VMTI positions)."""
    n = telemetry.num_rows
    why = np.full(n, None, dtype=object)
    if n == 0:
        return why
    why[~usable_rows(telemetry)] = "damaged"
    t_us, has_t = time_us_column(telemetry.column("precision_time_stamp"))
    bad_t = ~has_t | implausible_time_mask(t_us)
    if (~bad_t).any():
        median = float(np.median(t_us[~bad_t]))
        bad_t |= np.abs(t_us.astype(np.float64) - median) > MAX_TIME_FROM_MEDIAN_S * 1e6
    why[bad_t & (why == None)] = "bad_time"  # noqa: E711 (element-wise on an object array)
    jump = _position_jumps(telemetry, t_us) & ~bad_t
    why[jump & (why == None)] = "position_jump"  # noqa: E711
    return why


def implausible_reasons(telemetry: pa.Table, res: dict[str, np.ndarray]) -> npt.NDArray[np.object_]:
    """Per row of ``telemetry`` (and its footprint results ``res``, see
    :func:`vigia.geo.footprints`): why the footprint must not be used, or None (module doc)."""
    why = implausible_packets(telemetry)
    n = telemetry.num_rows
    if n == 0:
        return why
    slant = np.asarray(res["slant_range_m"], np.float64)
    far = np.zeros(n, bool)
    for k in range(1, 5):
        d = great_circle_m(
            res["center_lat"], res["center_lon"], res[f"corner{k}_lat"], res[f"corner{k}_lon"]
        )
        with np.errstate(invalid="ignore"):
            far |= np.isfinite(d) & np.isfinite(slant) & (d > MAX_CORNER_TO_SLANT * slant)
    why[far & (why == None)] = "footprint_too_large"  # noqa: E711
    return why
