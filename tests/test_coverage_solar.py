"""Solar elevation against an independent route (right ascension and sidereal time)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pymap3d.sidereal
from hypothesis import given, settings
from hypothesis import strategies as st

from vigia.coverage.solar import CIVIL_TWILIGHT_DEG, is_day, solar_elevation_deg

CULIACAN = (24.8091, -107.3940)


def reference_elevation_deg(lat: float, lon: float, when: datetime) -> float:
    """Elevation from the low-precision solar coordinates of the Astronomical Almanac (~0.01°)
    and pymap3d's local sidereal time: no equation of time, a different path from the code."""
    jd = when.timestamp() / 86400.0 + 2440587.5
    n = jd - 2451545.0
    mean_long = math.radians((280.460 + 0.9856474 * n) % 360)
    anomaly = math.radians((357.528 + 0.9856003 * n) % 360)
    ecl_long = mean_long + math.radians(1.915 * math.sin(anomaly) + 0.020 * math.sin(2 * anomaly))
    obliquity = math.radians(23.439 - 0.0000004 * n)
    ra = math.atan2(math.cos(obliquity) * math.sin(ecl_long), math.cos(ecl_long))
    dec = math.asin(math.sin(obliquity) * math.sin(ecl_long))
    lst = pymap3d.sidereal.datetime2sidereal(when, math.radians(lon), force_non_astropy=True)
    ha = lst - ra
    phi = math.radians(lat)
    s = math.sin(phi) * math.sin(dec) + math.cos(phi) * math.cos(dec) * math.cos(ha)
    return math.degrees(math.asin(s))


def us(when: datetime) -> int:
    return round(when.timestamp() * 1e6)


@settings(max_examples=150, deadline=None)
@given(
    st.datetimes(datetime(2000, 1, 1), datetime(2049, 12, 31), timezones=st.just(UTC)),
    st.floats(-60, 60),
    st.floats(-179, 179),
)
def test_matches_independent_reference(when: datetime, lat: float, lon: float) -> None:
    got = float(solar_elevation_deg(lat, lon, us(when)))
    assert abs(got - reference_elevation_deg(lat, lon, when)) < 0.1


def test_noon_at_culiacan_on_solstice_and_equinox() -> None:
    # Culiacán lies 1.4° north of the Tropic of Cancer: the Sun culminates at about 88.6°.
    day = datetime(2026, 6, 21, tzinfo=UTC)
    minutes = [day + timedelta(minutes=m) for m in range(24 * 60)]
    elev = solar_elevation_deg(
        np.full(len(minutes), CULIACAN[0]), CULIACAN[1], [us(m) for m in minutes]
    )
    assert abs(elev.max() - (90 - (CULIACAN[0] - 23.436))) < 0.1
    noon = minutes[int(elev.argmax())]
    assert noon.hour == 19 and 5 <= noon.minute <= 15  # 107.4°W: about 19:10 UTC
    # Equinox (2026-03-20): culmination at about 90° - latitude.
    day = datetime(2026, 3, 20, tzinfo=UTC)
    t = [us(day + timedelta(minutes=m)) for m in range(24 * 60)]
    elev = solar_elevation_deg(np.full(len(t), CULIACAN[0]), CULIACAN[1], t)
    assert abs(elev.max() - (90 - CULIACAN[0])) < 0.3


def test_day_night_switches_at_civil_twilight() -> None:
    """Civil dawn found on the reference; `is_day` flips within a minute of it."""
    lo = datetime(2026, 6, 1, 11, 0, tzinfo=UTC)  # 04:00 local (UTC-7): night
    hi = datetime(2026, 6, 1, 14, 0, tzinfo=UTC)  # 07:00 local: day
    for _ in range(40):
        mid = lo + (hi - lo) / 2
        if reference_elevation_deg(*CULIACAN, mid) > CIVIL_TWILIGHT_DEG:
            hi = mid
        else:
            lo = mid
    dawn = lo
    # Solar noon ~12:10 local (UTC-7), civil day ~14.4 h in early June: civil dawn ~04:55 local.
    local = dawn - timedelta(hours=7)
    assert (4, 40) <= (local.hour, local.minute) <= (5, 10)
    before, after = us(dawn - timedelta(minutes=1)), us(dawn + timedelta(minutes=1))
    assert is_day(CULIACAN[0], CULIACAN[1], [before, after]).tolist() == [False, True]
