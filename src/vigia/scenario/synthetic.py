"""Synthetic ST 0601 telemetry: random but physical values, for tests and benchmarks.

An MQ-9-class platform flies a racetrack at 6-8 km over Sinaloa while its sensor ball looks
down at the ground; values stay within what the standard can encode and what the aircraft can
do, so decoders can be cross-checked item by item against independent implementations.
"""

from __future__ import annotations

import numpy as np

#: Culiacán, Sinaloa (deg).
CULIACAN_LAT, CULIACAN_LON = 24.8091, -107.3940
#: 2026-03-14T02:00:00Z in µs since 1970 (a night sortie, local evening).
DEFAULT_START_US = 1_773_453_600_000_000


def synthetic_columns(
    n: int,
    *,
    seed: int = 0,
    rate_hz: float = 30.0,
    start_us: int = DEFAULT_START_US,
    strings: bool = True,
    center_lat: float = CULIACAN_LAT,
    center_lon: float = CULIACAN_LON,
    steady: bool = False,
) -> dict[str, np.ndarray | list[str]]:
    """``n`` rows of ~20 ST 0601 items in the standard's units (deg, m, µs).

    Positions follow a 12 km-radius orbit around (``center_lat``, ``center_lon``), by default
    Culiacán, at 7 km; attitude, pointing and the
    field of view vary smoothly with noise. Deterministic for a given ``seed``. ``steady``
    removes the packet-to-packet noise of attitude and pointing (a stabilised sensor).
    """
    rng = np.random.default_rng(seed)
    t = np.arange(n, dtype=np.float64) / rate_hz
    omega = 2 * np.pi / 900.0  # one orbit in 15 minutes
    phase = rng.uniform(0, 2 * np.pi)
    ang = phase + omega * t
    r_m = 12_000.0
    lat = center_lat + (r_m * np.sin(ang)) / 111_320.0
    lon = center_lon + (r_m * np.cos(ang)) / (111_320.0 * np.cos(np.radians(center_lat)))
    heading = (-np.degrees(ang)) % 360.0  # counter-clockwise orbit: track = position angle + 90°
    alt = 7000.0 + 150.0 * np.sin(t / 300.0) + rng.normal(0, 2.0, n)
    hfov = np.clip(2.0 + 1.5 * np.sin(t / 120.0) + rng.normal(0, 0.01, n), 0.3, 40.0)
    k = 0.0 if steady else 1.0
    cols: dict[str, np.ndarray | list[str]] = {
        "precision_time_stamp": (start_us + np.rint(t * 1e6)).astype(np.int64),
        "platform_heading_angle": heading,
        "platform_pitch_angle": np.clip(1.0 + k * rng.normal(0.0, 1.5, n), -20, 20),
        "platform_roll_angle": np.clip(-12.0 + k * rng.normal(0, 2.0, n), -50, 50),
        "platform_true_airspeed": rng.integers(80, 95, n).astype(np.int64),
        "platform_indicated_airspeed": rng.integers(60, 75, n).astype(np.int64),
        "sensor_latitude": lat,
        "sensor_longitude": lon,
        "sensor_true_altitude": alt - 10.0,
        "sensor_horizontal_field_of_view": hfov,
        "sensor_vertical_field_of_view": hfov * 9.0 / 16.0,
        "sensor_relative_azimuth_angle": (270.0 + k * rng.normal(0, 5.0, n)) % 360.0,
        "sensor_relative_elevation_angle": np.clip(-35.0 + k * rng.normal(0, 3.0, n), -90, 0),
        "sensor_relative_roll_angle": np.zeros(n),
        "slant_range": np.clip(11_500.0 + rng.normal(0, 300.0, n), 0, 5e6),
        "frame_center_latitude": CULIACAN_LAT + rng.normal(0, 0.01, n),
        "frame_center_longitude": CULIACAN_LON + rng.normal(0, 0.01, n),
        "frame_center_elevation": np.clip(60.0 + rng.normal(0, 20.0, n), -900, 19000),
        "sensor_ellipsoid_height": alt,
        "uas_datalink_ls_version_number": np.full(n, 19, dtype=np.int64),
    }
    if strings:
        cols["mission_id"] = ["VIGIA-SIN-0314"] * n
        cols["platform_designation"] = ["MQ-9"] * n
        cols["image_source_sensor"] = ["EO Wide" if x < 0.7 else "IR Wide" for x in rng.random(n)]
    return cols
