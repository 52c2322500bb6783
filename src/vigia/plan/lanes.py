"""Collection patterns of one AOI in a local metric frame: coverage lanes and stare orbits.

Lanes (area task)
-----------------
In a Lambert azimuthal equal-area frame centred on the AOI (metres, offline pyproj pipeline):

1. Shrink the polygon by half the swath plus a small margin (``EDGE_MARGIN_M``): ``inner``. A lane
   inside ``inner`` has its whole swath inside the AOI (buffering ``inner`` back by half the swath
   is a morphological opening, which never leaves the polygon), so no frame taken on a lane looks
   outside consented area.
2. A perimeter lane follows each ring of ``inner``: it covers the band along the AOI edge, lane
   ends included.
3. Inside, parallel lanes along the long side of ``inner``'s minimum rotated rectangle (so the
   fewest lanes and turns) are spaced evenly at no more than ``swath_m * (1 - overlap)``, clipped
   to ``inner``, and joined boustrophedon (alternate directions, row by row).

A lane is the ground track of the frame centre (the gimbal keeps the frame centre on it). Time
over the pattern is lane length / TAS plus an estimate for each connection between lanes:
``straight distance + r_turn * heading change (rad)``.

Orbit (stare task)
------------------
The sensor stares at the centre of the AOI's largest inscribed circle from an orbit of radius
`PlatformProfile.orbit_radius_m`. The frame is narrowed if needed so that it fits inside the AOI;
its disc (radius half the swath) is the predicted coverage.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import shapely
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry

from vigia.plan.platform import PlatformProfile, SensorSetting

EDGE_MARGIN_M = 10.0
"""Extra inset of lanes from the AOI edge (m): absorbs straight-edge differences between the
metric frame and longitude/latitude, where the consent rule draws polygon edges straight."""
DENSIFY_DEG = 0.005
MIN_LANE_M = 1.0
F64 = npt.NDArray[np.float64]


class LocalFrame:
    """Lambert azimuthal equal-area frame (metres) centred on (lat0, lon0) degrees, WGS84."""

    def __init__(self, lat0_deg: float, lon0_deg: float) -> None:
        self.lat0_deg, self.lon0_deg = lat0_deg, lon0_deg
        self._t = Transformer.from_pipeline(
            "+proj=pipeline +step +proj=unitconvert +xy_in=deg +xy_out=rad "
            f"+step +proj=laea +lat_0={lat0_deg:.10f} +lon_0={lon0_deg:.10f} +ellps=WGS84"
        )

    def fwd(self, lon_deg: npt.ArrayLike, lat_deg: npt.ArrayLike) -> tuple[F64, F64]:
        """Longitude/latitude (degrees) -> x/y (metres)."""
        x, y = self._t.transform(np.asarray(lon_deg, float), np.asarray(lat_deg, float))
        return np.asarray(x, float), np.asarray(y, float)

    def inv(self, x_m: npt.ArrayLike, y_m: npt.ArrayLike) -> tuple[F64, F64]:
        """x/y (metres) -> longitude/latitude (degrees)."""
        lo, la = self._t.transform(
            np.asarray(x_m, float), np.asarray(y_m, float), direction="INVERSE"
        )
        return np.asarray(lo, float), np.asarray(la, float)

    def to_local(self, geom: BaseGeometry) -> BaseGeometry:
        """Geometry in lon/lat (edges densified first) -> metres."""
        dense = shapely.segmentize(geom, DENSIFY_DEG)
        return shapely.transform(dense, lambda a: np.column_stack(self.fwd(a[:, 0], a[:, 1])))

    def to_lonlat(self, geom: BaseGeometry) -> BaseGeometry:
        """Geometry in metres -> lon/lat."""
        return shapely.transform(geom, lambda a: np.column_stack(self.inv(a[:, 0], a[:, 1])))


@dataclass
class Pattern:
    """How one AOI is collected with one sensor band, in the AOI's local frame (metres).

    ``lanes``: polylines (k, 2) in flying order (``kind`` ``lane``), or the orbit circle
    (``kind`` ``orbit``). ``lane_s``/``turn_s``: time on each lane and on the connection after
    it (seconds). Reversible: `oriented` gives the same pattern flown from its other end.
    """

    kind: str
    setting: SensorSetting
    frame: LocalFrame
    lanes: list[F64]
    lane_s: list[float]
    turn_s: list[float]
    cover: BaseGeometry  # predicted coverage, local metres
    aim_xy: tuple[float, float] | None = None
    orbit_radius_m: float = 0.0
    cover_radius_m: float = 0.0
    lane_kinds: list[str] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        """Time over the AOI, seconds."""
        return float(sum(self.lane_s) + sum(self.turn_s))

    @property
    def collect_m(self) -> float:
        """Length of the lanes (or orbit path), metres."""
        return float(sum(_length(p) for p in self.lanes))

    def endpoints_lonlat(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """(lon, lat) of the entry and of the exit, flown forwards."""
        a, b = self.lanes[0][0], self.lanes[-1][-1]
        lo, la = self.frame.inv([a[0], b[0]], [a[1], b[1]])
        return (float(lo[0]), float(la[0])), (float(lo[1]), float(la[1]))

    def oriented(self, reverse: bool) -> Pattern:
        """This pattern flown forwards or backwards (same lanes, reversed order and direction)."""
        if not reverse or self.kind == "orbit":
            return self
        n = len(self.lanes)
        turns = [self.turn_s[n - 2 - i] for i in range(n - 1)] + [0.0]
        return Pattern(
            self.kind,
            self.setting,
            self.frame,
            [p[::-1].copy() for p in reversed(self.lanes)],
            list(reversed(self.lane_s)),
            turns,
            self.cover,
            self.aim_xy,
            self.orbit_radius_m,
            self.cover_radius_m,
            list(reversed(self.lane_kinds)),
        )


def _length(p: F64) -> float:
    return float(np.hypot(*np.diff(p, axis=0).T).sum()) if len(p) > 1 else 0.0


def _heading(p: F64, at_end: bool) -> float:
    d = p[-1] - p[-2] if at_end else p[1] - p[0]
    return math.atan2(float(d[1]), float(d[0]))


def _connection_s(a: F64, b: F64, platform: PlatformProfile) -> float:
    """Estimated time from the end of lane ``a`` to the start of lane ``b`` (s)."""
    gap = float(np.hypot(*(b[0] - a[-1])))
    dpsi = abs((_heading(b, False) - _heading(a, True) + math.pi) % (2 * math.pi) - math.pi)
    return (gap + platform.turn_radius_m * dpsi) / platform.tas_mps


def _rotate(xy: F64, angle: float) -> F64:
    c, s = math.cos(angle), math.sin(angle)
    return np.asarray(xy @ np.array([[c, s], [-s, c]]), float)


def _long_axis_angle(poly: BaseGeometry) -> float:
    """Direction (rad) of the long side of the minimum rotated rectangle."""
    rect = shapely.minimum_rotated_rectangle(poly)
    c = np.asarray(shapely.get_coordinates(rect), float)
    if len(c) < 4:
        return 0.0
    e0, e1 = c[1] - c[0], c[2] - c[1]
    e = e0 if np.hypot(*e0) >= np.hypot(*e1) else e1
    return math.atan2(float(e[1]), float(e[0]))


def _rows(part: BaseGeometry, spacing_m: float) -> list[F64]:
    """Boustrophedon interior lanes of one polygon part (metres), in flying order."""
    ang = _long_axis_angle(part)
    rot = shapely.transform(part, lambda a: _rotate(a, ang))
    x0, y0, x1, y1 = rot.bounds
    n = max(0, math.ceil((y1 - y0) / spacing_m) - 1)
    if n == 0:
        return []
    ys = y0 + (y1 - y0) * np.arange(1, n + 1) / (n + 1)
    lines = shapely.linestrings(
        np.stack([np.stack([np.full(n, x0 - 1), ys], 1), np.stack([np.full(n, x1 + 1), ys], 1)], 1)
    )
    clipped = shapely.intersection(lines, rot)
    out: list[F64] = []
    for k, g in enumerate(clipped):
        segs = [
            np.asarray(shapely.get_coordinates(s), float)
            for s in shapely.get_parts(g)
            if s.geom_type == "LineString" and s.length > MIN_LANE_M
        ]
        segs = [s if s[-1, 0] >= s[0, 0] else s[::-1] for s in segs]
        segs.sort(key=lambda s: float(s[0, 0]))
        if k % 2 == 1:
            segs = [s[::-1] for s in reversed(segs)]
        out.extend(_rotate(s, -ang) for s in segs)
    return out


def lane_pattern(
    area_lonlat: BaseGeometry,
    setting: SensorSetting,
    platform: PlatformProfile,
    overlap: float,
) -> Pattern:
    """Perimeter and boustrophedon lanes covering ``area_lonlat`` (module docstring).

    Raises ValueError with the reason when the AOI is too narrow for the swath.
    """
    c = area_lonlat.centroid
    frame = LocalFrame(c.y, c.x)
    poly = frame.to_local(area_lonlat)
    half = setting.swath_m / 2.0
    inner = shapely.buffer(poly, -(half + EDGE_MARGIN_M), join_style="mitre")
    parts = [p for p in shapely.get_parts(inner) if p.geom_type == "Polygon" and p.area > 0]
    if not parts:
        raise ValueError(
            f"narrower than the {setting.band} swath ({setting.swath_m:.0f} m): no lane fits "
            "with its whole swath inside the area"
        )
    spacing = setting.swath_m * (1.0 - overlap)
    lanes: list[F64] = []
    kinds: list[str] = []
    parts.sort(key=lambda p: (-p.centroid.y, p.centroid.x))
    for part in parts:
        rows = _rows(part, spacing)
        rings = [part.exterior, *part.interiors]
        for j, ring in enumerate(rings):
            r = np.asarray(shapely.get_coordinates(ring), float)[:-1]
            # start each ring where the next lane (first row, or next ring) is nearest
            nxt = rows[0][0] if rows else r[0]
            if j + 1 < len(rings):
                nxt = np.asarray(shapely.get_coordinates(rings[j + 1]), float)[0]
            k = int(np.argmin(np.hypot(*(r - nxt).T)))
            lanes.append(np.concatenate([r[k:], r[:k], r[k : k + 1]]))
            kinds.append("perimeter")
        lanes.extend(rows)
        kinds.extend(["boustrophedon"] * len(rows))
    lane_s = [_length(p) / platform.tas_mps for p in lanes]
    turn_s = [_connection_s(a, b, platform) for a, b in itertools.pairwise(lanes)]
    turn_s.append(0.0)
    multi = shapely.multilinestrings([shapely.linestrings(p) for p in lanes])
    cover = shapely.intersection(
        shapely.buffer(multi, half, cap_style="flat", join_style="round"), poly
    )
    return Pattern("lane", setting, frame, lanes, lane_s, turn_s, cover, lane_kinds=kinds)


def orbit_pattern(
    area_lonlat: BaseGeometry,
    setting: SensorSetting,
    platform: PlatformProfile,
    stare_s: float,
    toward_lonlat: tuple[float, float],
) -> Pattern:
    """A stare orbit around the AOI's inscribed-circle centre, entered on the side facing
    ``toward_lonlat`` (the base). The frame's half-width is capped to fit inside the AOI."""
    c = area_lonlat.centroid
    frame = LocalFrame(c.y, c.x)
    poly = frame.to_local(area_lonlat)
    mic = shapely.maximum_inscribed_circle(poly, tolerance=5.0)
    centre = np.asarray(shapely.get_coordinates(mic), float)[0]
    inradius = float(mic.length)
    cover_r = min(setting.swath_m / 2.0, inradius - EDGE_MARGIN_M)
    if cover_r < 25.0:
        raise ValueError("too small to stare at: no frame fits inside the area")
    rho = platform.orbit_radius_m
    bx, by = frame.fwd([toward_lonlat[0]], [toward_lonlat[1]])
    a0 = math.atan2(float(by[0]) - centre[1], float(bx[0]) - centre[0])
    ang = a0 + np.linspace(0.0, 2 * math.pi, 73)
    circle = np.column_stack([centre[0] + rho * np.cos(ang), centre[1] + rho * np.sin(ang)])
    cover = shapely.intersection(shapely.Point(centre).buffer(cover_r, quad_segs=16), poly)
    # narrow the field of view so the frame (swath 2 * cover_r) fits; GSD scales with the IFOV
    hfov = 2 * math.atan(cover_r / setting.slant_range_m)
    narrowed = SensorSetting(
        setting.band,
        math.degrees(hfov),
        setting.gsd_m * hfov / math.radians(setting.hfov_deg),
        cover_r * 2.0,
        setting.slant_range_m,
        setting.height_agl_m,
        setting.target_gsd_m,
    )
    return Pattern(
        "orbit",
        narrowed,
        frame,
        [circle],
        [float(stare_s)],
        [0.0],
        cover,
        (float(centre[0]), float(centre[1])),
        rho,
        cover_r,
        ["orbit"],
    )
