"""Sample sorties written as real STANAG 4609 transport streams (for the demo and tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vigia.geo import footprints, msl_height_m
from vigia.klv.encode import encode_st0601_stream
from vigia.mpegts import write_klv_ts
from vigia.scenario.synthetic import synthetic_columns

#: PTS of the first packet (90 kHz ticks): one second into the stream.
FIRST_PTS = 90_000


def pts_from_times(time_us: np.ndarray) -> np.ndarray:
    """90 kHz presentation time stamps for precision time stamps (µs), wrapped to 33 bits."""
    t = np.asarray(time_us, dtype=np.int64)
    return (FIRST_PTS + ((t - t[0]) * 9 + 50) // 100) % (1 << 33)


#: Orbit centre of the demo sortie: north-east of Culiacán, over the Tepuche valley (deg).
DEMO_ORBIT = (24.84, -107.33)


def sortie_columns(
    n: int,
    *,
    seed: int = 7,
    rate_hz: float = 30.0,
    terrain_height_m: float = 60.0,
    orbit: tuple[float, float] = DEMO_ORBIT,
    steady: bool = False,
) -> dict[str, np.ndarray | list[str]]:
    """Telemetry of a coherent sortie: the frame centre, corners and slant range the platform
    reports are those of its pose over terrain at ``terrain_height_m`` (m HAE), with the small
    errors of an on-board computation (about 1 m)."""
    cols = synthetic_columns(
        n, seed=seed, rate_hz=rate_hz, center_lat=orbit[0], center_lon=orbit[1], steady=steady
    )
    rng = np.random.default_rng(seed + 1)
    hae = np.asarray(cols["sensor_ellipsoid_height"], dtype=float)
    cols["sensor_true_altitude"] = msl_height_m(
        hae, np.asarray(cols["sensor_latitude"]), np.asarray(cols["sensor_longitude"])
    )
    res = footprints(cols, terrain_height_m=terrain_height_m)
    ok = res["valid"]
    jitter = 1.0 / 111_320.0
    lat = res["center_lat"] + rng.normal(0, jitter, n)
    lon = res["center_lon"] + rng.normal(0, jitter, n)
    cols["frame_center_latitude"] = np.where(ok, lat, np.nan)
    cols["frame_center_longitude"] = np.where(ok, lon, np.nan)
    cols["frame_center_height_above_ellipsoid"] = np.where(ok, res["center_h"], np.nan)
    cols["frame_center_elevation"] = np.where(
        ok, msl_height_m(res["center_h"], res["center_lat"], res["center_lon"]), np.nan
    )
    cols["slant_range"] = np.where(ok, res["slant_range_m"], np.nan)
    for k in range(1, 5):
        dlat = res[f"corner{k}_lat"] - lat
        dlon = res[f"corner{k}_lon"] - lon
        fits = ok & (np.abs(dlat) < 0.075) & (np.abs(dlon) < 0.075)
        cols[f"offset_corner_latitude_point_{k}"] = np.where(fits, dlat, np.nan)
        cols[f"offset_corner_longitude_point_{k}"] = np.where(fits, dlon, np.nan)
    return cols


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
    cols = sortie_columns(n, seed=seed, rate_hz=rate_hz)
    data, offsets = encode_st0601_stream(cols)
    packets = [data[offsets[i] : offsets[i + 1]] for i in range(n)]
    pts = pts_from_times(np.asarray(cols["precision_time_stamp"]))
    out = Path(path)
    write_klv_ts(out, packets, pts, carriage=carriage)
    return out
