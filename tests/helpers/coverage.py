"""Footprint tables for the coverage and consent tests, built from centres or explicit corners."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

T0_US = 1_780_272_000_000_000  # 2026-06-01T00:00:00Z
CULIACAN = (24.80, -107.39)
M_PER_DEG = 111_320.0


def footprints(
    lat: Sequence[float] | np.ndarray,
    lon: Sequence[float] | np.ndarray,
    time_us: Sequence[int] | np.ndarray,
    *,
    half_m: float | np.ndarray = 300.0,
    aspect: float = 1.3,
    rotation_deg: float | np.ndarray = 0.0,
    gsd_m: float | np.ndarray = 0.5,
    valid: bool | np.ndarray = True,
    sensor: str | Sequence[str] | None = None,
    sortie: str | None = None,
) -> pa.Table:
    """Rectangular footprints (half-width ``half_m`` metres, rotated) centred on lat/lon."""
    lat = np.asarray(lat, float)
    lon = np.asarray(lon, float)
    n = lat.size
    half = np.broadcast_to(np.asarray(half_m, float), (n,))
    rot = np.deg2rad(np.broadcast_to(np.asarray(rotation_deg, float), (n,)))
    k = np.cos(np.deg2rad(lat))
    cols: dict[str, object] = {
        "time": pa.array(np.asarray(time_us, np.int64), pa.timestamp("us", tz="UTC")),
        "center_lat": lat,
        "center_lon": lon,
    }
    for c, (a, b) in enumerate([(-1, -1), (1, -1), (1, 1), (-1, 1)], start=1):
        x = a * half * aspect
        y = b * half
        e = x * np.cos(rot) - y * np.sin(rot)
        nn = x * np.sin(rot) + y * np.cos(rot)
        cols[f"corner{c}_lat"] = lat + nn / M_PER_DEG
        cols[f"corner{c}_lon"] = lon + e / (M_PER_DEG * k)
    cols["slant_range_m"] = np.full(n, 9000.0)
    cols["gsd_m"] = np.broadcast_to(np.asarray(gsd_m, float), (n,)).copy()
    cols["valid"] = np.broadcast_to(np.asarray(valid, bool), (n,)).copy()
    cols["reason"] = pa.array([""] * n)
    if sensor is not None:
        names = [sensor] * n if isinstance(sensor, str) else list(sensor)
        cols["image_source_sensor"] = pa.array(names)
    if sortie is not None:
        cols["sortie"] = pa.array([sortie] * n)
    return pa.table(cols)


def quad_table(
    corners: Sequence[Sequence[tuple[float, float]]], time_us: Sequence[int]
) -> pa.Table:
    """Footprints from explicit corner lists [(lon, lat) x 4] per frame."""
    arr = np.asarray(corners, float)
    cols: dict[str, object] = {
        "time": pa.array(np.asarray(time_us, np.int64), pa.timestamp("us", tz="UTC")),
        "center_lat": arr[:, :, 1].mean(1),
        "center_lon": arr[:, :, 0].mean(1),
    }
    for c in range(4):
        cols[f"corner{c + 1}_lat"] = arr[:, c, 1]
        cols[f"corner{c + 1}_lon"] = arr[:, c, 0]
    n = arr.shape[0]
    cols["slant_range_m"] = np.full(n, 9000.0)
    cols["gsd_m"] = np.full(n, 0.5)
    cols["valid"] = np.ones(n, bool)
    cols["reason"] = pa.array([""] * n)
    return pa.table(cols)


def orbit(n: int, *, hz: float = 30.0, t0_us: int = T0_US, seed: int = 0, **kw: object) -> pa.Table:
    """A small orbit-and-scan sortie near Culiacán: rotating, zooming footprints."""
    rng = np.random.default_rng(seed)
    s = np.arange(n) / hz
    ang = 2 * np.pi * s / 120.0 + rng.uniform(0, 2 * np.pi)
    lat = CULIACAN[0] + 0.008 * np.sin(ang) + 0.002 * np.sin(s / 3.0)
    lon = CULIACAN[1] + 0.008 * np.cos(ang)
    half = 220.0 + 120.0 * np.sin(s / 9.0)
    return footprints(
        lat,
        lon,
        t0_us + np.round(s * 1e6).astype(np.int64),
        half_m=half,
        rotation_deg=np.rad2deg(ang) * 0.5,
        **kw,  # type: ignore[arg-type]
    )
