"""The pymap3d line-of-sight oracle (tests/helpers/geo.py) checks itself on known answers."""

from __future__ import annotations

from tests.helpers.geo import horizontal_m, los_ellipsoid, los_terrain, ned_direction


# --- the oracle checks itself on cases with a known answer -----------------------------------
def _row(**kw: float) -> dict[str, float]:
    row = {
        "platform_heading_angle": 0.0,
        "platform_pitch_angle": 0.0,
        "platform_roll_angle": 0.0,
        "sensor_relative_azimuth_angle": 0.0,
        "sensor_relative_elevation_angle": -90.0,
        "sensor_relative_roll_angle": 0.0,
        "sensor_horizontal_field_of_view": 10.0,
        "sensor_vertical_field_of_view": 10.0,
    }
    row.update(kw)
    return row


def test_oracle_nadir_hits_below() -> None:
    la, lo, d = los_ellipsoid(20.0, -100.0, 3000.0, ned_direction(_row()))
    assert abs(la - 20.0) < 1e-9 and abs(lo + 100.0) < 1e-9
    assert abs(d - 3000.0) < 1e-3


def test_oracle_terrain_matches_ellipsoid_at_zero() -> None:
    ned = ned_direction(_row(sensor_relative_elevation_angle=-30.0))
    la, lo, _ = los_ellipsoid(20.0, -100.0, 3000.0, ned)
    la2, lo2, h2, _ = los_terrain(20.0, -100.0, 3000.0, ned, lambda _a, _b: 0.0, step_m=50.0)
    assert horizontal_m(la, lo, la2, lo2) < 0.01 and abs(h2) < 1e-3
