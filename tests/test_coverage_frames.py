"""The coverage input layer: sensor names, unusable frames, the quadrilateral check."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import shapely
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.helpers.coverage import T0_US, footprints
from vigia.coverage._frames import quads_ok, read_frames
from vigia.telemetry.sensors import classify_sensor_name, sensor_kinds


def test_sensor_names_are_classified_robustly() -> None:
    eo = ["EO Nose", "EO Wide", "EON", "eo", "TV", "HDTV Spotter", "Color", "Daylight TV"]
    eo += ["EO Spotter", "Spotter"]  # a product name alone reads as the day camera
    ir = ["IR Wide", "IR Nose", "MWIR", "LWIR", "SWIR", "IRN", "FLIR", "thermal", "Infrared"]
    ir += ["IR MWIR Spotter"]  # ... but not over a band (the scenario's own IR sensor)
    unknown = ["", "EO/IR", "Sensor 1", "Lasers", "ACME 3000", "EO IR Spotter"]
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
