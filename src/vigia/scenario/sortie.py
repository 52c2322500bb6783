"""Sample sorties written as real STANAG 4609 transport streams (for the demo and tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vigia.klv.encode import encode_st0601_stream
from vigia.mpegts import write_klv_ts
from vigia.scenario.synthetic import synthetic_columns

#: PTS of the first packet (90 kHz ticks): one second into the stream.
FIRST_PTS = 90_000


def pts_from_times(time_us: np.ndarray) -> np.ndarray:
    """90 kHz presentation time stamps for precision time stamps (µs), wrapped to 33 bits."""
    t = np.asarray(time_us, dtype=np.int64)
    return (FIRST_PTS + ((t - t[0]) * 9 + 50) // 100) % (1 << 33)


def write_sample_sortie(
    path: str | Path,
    *,
    minutes: float = 10.0,
    rate_hz: float = 30.0,
    seed: int = 7,
    carriage: str = "async",
) -> Path:
    """Write a KLV-only MPEG-TS sortie of ``minutes`` at ``rate_hz`` packets per second."""
    n = max(1, round(minutes * 60 * rate_hz))
    cols = synthetic_columns(n, seed=seed, rate_hz=rate_hz)
    data, offsets = encode_st0601_stream(cols)
    packets = [data[offsets[i] : offsets[i + 1]] for i in range(n)]
    pts = pts_from_times(np.asarray(cols["precision_time_stamp"]))
    out = Path(path)
    write_klv_ts(out, packets, pts, carriage=carriage)
    return out
