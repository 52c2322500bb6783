"""MGRS grid references (Military Grid Reference System), from WGS84 latitude and longitude.

The UTM zone's easting/northing come from pyproj; the 100 km square letters follow the MGRS
lettering (AA scheme, WGS84): column letters cycle in sets of eight with the zone (``zone mod
3``), row letters run over twenty letters from A (odd zones) or F (even zones). Latitudes
84°N–80°S only (UPS polar areas are refused); the Norway and Svalbard zone exceptions are
applied.
"""

from __future__ import annotations

import math
from functools import lru_cache

from pyproj import Transformer

from vigia.errors import GeoError

__all__ = ["to_mgrs"]

_BANDS = "CDEFGHJKLMNPQRSTUVWX"
_COLS = ("ABCDEFGH", "JKLMNPQR", "STUVWXYZ")
_ROWS = "ABCDEFGHJKLMNPQRSTUV"


def _zone(lat_deg: float, lon_deg: float) -> int:
    zone = int((lon_deg + 180.0) // 6.0) % 60 + 1
    if 56.0 <= lat_deg < 64.0 and 3.0 <= lon_deg < 12.0:
        return 32
    if 72.0 <= lat_deg < 84.0 and 0.0 <= lon_deg < 42.0:
        return (31, 33, 35, 37)[min(int((lon_deg + 3.0) // 12.0), 3)] if lon_deg >= 9 else 31
    return zone


@lru_cache(maxsize=120)
def _utm(zone: int, south: bool) -> Transformer:
    return Transformer.from_crs(4326, (32700 if south else 32600) + zone, always_xy=True)


def to_mgrs(lat_deg: float, lon_deg: float, digits: int = 5) -> str:
    """The MGRS reference of a point, e.g. ``13R DL 12345 67890`` (``digits`` per coordinate:
    5 is 1 m)."""
    if not (math.isfinite(lat_deg) and math.isfinite(lon_deg)) or not -80.0 <= lat_deg <= 84.0:
        raise GeoError(f"no MGRS reference for latitude {lat_deg} (84°N to 80°S only)")
    lon = (lon_deg + 180.0) % 360.0 - 180.0
    zone = _zone(lat_deg, lon)
    band = _BANDS[min(int((lat_deg + 80.0) // 8.0), len(_BANDS) - 1)]
    e, n = _utm(zone, lat_deg < 0).transform(lon, lat_deg)
    col = _COLS[(zone - 1) % 3][int(e // 100_000) - 1]
    row = _ROWS[(int(n // 100_000) + (0 if zone % 2 else 5)) % 20]
    scale = 10 ** (5 - digits)
    ee = int(e % 100_000) // scale
    nn = int(n % 100_000) // scale
    return f"{zone}{band} {col}{row} {ee:0{digits}d} {nn:0{digits}d}"
