"""Builders of footprint tables for the coverage and consent tests, and tests of the input layer."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import shapely
from hypothesis import example, given, settings
from hypothesis import strategies as st

from vigia.coverage._frames import quads_ok, read_frames
from vigia.telemetry.sensors import classify_sensor_name, sensor_kinds

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


# --- tests of the input layer -------------------------------------------------------------------
def test_sensor_names_are_classified_robustly() -> None:
    eo = ["EO Nose", "EO Wide", "EON", "eo", "TV", "HDTV Spotter", "Color", "Daylight TV"]
    ir = ["IR Wide", "IR Nose", "MWIR", "LWIR", "SWIR", "IRN", "FLIR", "thermal", "Infrared"]
    unknown = ["", "EO/IR", "Sensor 1", "Lasers", "ACME 3000"]
    assert [classify_sensor_name(n) for n in eo] == [1] * len(eo)
    assert [classify_sensor_name(n) for n in ir] == [2] * len(ir)
    assert [classify_sensor_name(n) for n in unknown] == [0] * len(unknown)
    assert classify_sensor_name(None) == 0
    got = sensor_kinds(pa.array(["EO Nose", None, "MWIR", "EO Nose"]).dictionary_encode())
    assert got.tolist() == [1, 0, 2, 1]


def test_read_frames_marks_unusable_frames() -> None:
    t = footprints([24.8] * 4, [-107.4] * 4, [T0_US + i for i in range(4)], valid=True)
    t = t.set_column(
        t.schema.get_field_index("valid"), "valid", pa.array([True, False, True, None])
    )
    lat1 = t.column("corner1_lat").to_numpy().copy()
    lat1[2] = np.nan
    t = t.set_column(t.schema.get_field_index("corner1_lat"), "corner1_lat", pa.array(lat1))
    fr = read_frames(t)
    assert fr.ok.tolist() == [True, False, False, False]
    # int64 microseconds and datetime64 give the same times as an Arrow timestamp.
    d = {name: t.column(name).to_numpy(zero_copy_only=False) for name in t.column_names}
    d["time"] = t.column("time").cast(pa.int64()).to_numpy()
    assert (read_frames(d).time_us == fr.time_us).all()
    d["time"] = d["time"].astype("datetime64[us]")
    assert (read_frames(d).time_us == fr.time_us).all()


coord = st.floats(-1.0, 1.0, allow_nan=False).map(lambda v: round(v, 2))


def _corner_touches_far_edge(pts: Sequence[tuple[float, float]]) -> bool:
    """A corner lies exactly on an edge it does not belong to (exact integer arithmetic on the
    0.01 grid of ``coord``); consecutive repeated corners are merged first."""
    ring = [(round(x * 100), round(y * 100)) for x, y in pts]
    ring = [p for i, p in enumerate(ring) if p != ring[i - 1]] or ring[:1]
    n = len(ring)
    for k in range(n):
        for i in range(n):
            a, b = ring[i], ring[(i + 1) % n]
            if k in (i, (i + 1) % n):
                continue
            p = ring[k]
            cross = (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])
            inside = min(a[0], b[0]) <= p[0] <= max(a[0], b[0])
            if cross == 0 and inside and min(a[1], b[1]) <= p[1] <= max(a[1], b[1]):
                return True
    return False


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(coord, coord), min_size=4, max_size=4))
@example([(0.0, 0.0), (0.2, 0.0), (-0.92, 0.63), (-0.28, 0.27)])  # corner 3 on edge 1-2
@example([(-0.91, -0.06), (-0.49, -0.48), (0.45, -0.51), (-0.21, -0.76)])  # corner 1 on 3-0
def test_quad_check_agrees_with_shapely(pts: list[tuple[float, float]]) -> None:
    """Shapely is the oracle, except where a corner lies exactly on another edge: there its
    answer depends on how the coordinates round, and ours is 'not simple' (never a bow-tie)."""
    arr = np.asarray(pts, float)
    ours = bool(quads_ok(arr[None, :, 0] - 107.4, arr[None, :, 1] + 24.8)[0])
    if _corner_touches_far_edge(pts):
        assert not ours
        return
    poly = shapely.Polygon(arr)
    assert ours == (poly.is_valid and poly.area > 0)
