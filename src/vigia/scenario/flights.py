"""Sorties of the Vigía scenario: an MQ-9-class aircraft searches the consented AOIs of a
:class:`~vigia.scenario.world.World` and writes what it saw as STANAG 4609 transport streams
(ST 0601 telemetry, ST 0903 VMTI in item 74, optionally H.264 video).

Physics, in order:

1. **Flight.** The aircraft (~85 m/s, 6.5-7.8 km HAE) orbits the AOI being searched (radius
   4.5-6 km) and transits to the next; a bank-limited guidance law gives heading, roll and
   position at every packet.
2. **Search.** The turret steps and stares over a grid of aim points covering each AOI's search
   box (boustrophedon, ``dwell_s`` per aim point, AOIs in random order, a fresh grid offset per
   cover), repeating until the sortie ends. Relative azimuth/elevation are computed from the
   TRUE attitude so that the aim point is at the image centre (see
   :mod:`vigia.geo.sensor` for the conventions); the zoom sets the HFOV for a target GSD.
3. **Report.** The telemetry in the stream is the true pose plus errors: per component a bias
   that drifts slowly (Ornstein-Uhlenbeck, :data:`BIAS_TAU_S`) and per-packet noise, with
   total one-sigma :data:`SCENARIO_POSE_SIGMAS`. Frame centre, corners and slant range are
   computed from the REPORTED pose on the world's DEM, as the aircraft would with its own
   terrain data: the frame-centre elevation (items 25 / 78) is the relief's there.
4. **Detections.** Objects sit on the relief (:mod:`vigia.scenario.relief`) and are
   projected with the TRUE pose; aim points are on the relief too, and GSDs are those where
   the true boresight meets it. A "pass" over an object is a run
   of VMTI frames with the object in view, with no gap over the vocabulary's ``pass_gap_s``;
   each indicator is present on a pass with the object's per-pass probability (thermal: IR at
   night on active nights), then detected in each VMTI frame with a probability that falls with
   GSD (:func:`detection_probability`). Centroids get pixel noise; false alarms are Poisson per
   frame at random pixels. Every VMTI frame carries a VMTI pack, empty (0 targets) when
   nothing is detected.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from vigia.exploit.vocabulary import Indicator, default_vocabulary
from vigia.geo import (
    PoseSigmas,
    ecef_to_ned,
    footprints,
    geodetic_to_ecef,
    ground_to_pixel,
    msl_height_m,
    pixel_to_ground,
)
from vigia.geo.pixel import homography
from vigia.geo.wgs84 import radii_of_curvature_m
from vigia.klv.encode import encode_st0601_stream
from vigia.klv.st0601 import BY_COLUMN
from vigia.klv.st0903 import DetectionStatus, TargetLocation, VmtiPacket, VTarget, encode_vmti
from vigia.mpegts import write_klv_ts, write_video_klv_ts
from vigia.scenario.sortie import pts_from_times
from vigia.scenario.world import ScenarioError, World, from_local_m, to_local_m
from vigia.telemetry.sensors import SENSOR_IR, classify_sensor_name

__all__ = [
    "DEM_FILE",
    "SCENARIO_POSE_SIGMAS",
    "SortieFile",
    "SortiePlan",
    "SortieSpec",
    "detection_probability",
    "fly_sorties",
    "passes_per_object",
    "plan_sortie",
    "render_frame",
    "sortie_specs",
]

FloatArray = npt.NDArray[np.float64]

#: One-sigma errors of the reported pose (a good GPS/INS and a stabilised turret); the errors
#: written in the streams have exactly these magnitudes.
SCENARIO_POSE_SIGMAS: Final = PoseSigmas(
    horizontal_m=3.0,
    vertical_m=4.0,
    heading_deg=0.05,
    pitch_deg=0.03,
    roll_deg=0.03,
    azimuth_deg=0.04,
    elevation_deg=0.04,
    sensor_roll_deg=0.03,
    fov_fraction=0.002,
    terrain_m=1.0,
)
#: Split of each pose error's variance: slowly drifting bias and per-packet noise
#: (0.8² + 0.6² = 1).
BIAS_SHARE: Final = 0.8
NOISE_SHARE: Final = 0.6
#: Correlation time of the drifting bias (s).
BIAS_TAU_S: Final = 90.0

SPEED_MPS: Final = 85.0
MAX_BANK_DEG: Final = 25.0
ALTITUDE_RANGE_M: Final = (6500.0, 7800.0)
ORBIT_RADIUS_RANGE_M: Final = (4500.0, 6000.0)
HFOV_RANGE_DEG: Final = (1.5, 9.0)
#: Target GSD at the frame centre per sensor, (low, high) of a per-sortie uniform draw (m).
TARGET_GSD_RANGE_M: Final = {"EO": (0.6, 0.85), "IR": (0.75, 1.05)}
#: Spread of the GSD from one aim point to the next (sigma of a log-normal factor).
GSD_JITTER: Final = 0.12
#: The aircraft turns for the next AOI this long before the turret starts searching it (s).
ORBIT_LEAD_S: Final = 90.0
#: Aim-grid spacing as a fraction of the frame height on the ground at the target GSD.
GRID_SPACING_FRACTION: Final = 0.75
DEFAULT_MINUTES: Final = 30.0
DEFAULT_VMTI_HZ: Final = 2.0
DEFAULT_DWELL_S: Final = 2.0
DEFAULT_FRAME: Final = (1280, 720)
#: Name of the DEM GeoTIFF :func:`fly_sorties` writes beside the sorties.
DEM_FILE: Final = "terrain.tif"
VIDEO_FRAME: Final = (640, 360)
#: Mean number of false alarms per VMTI frame.
FALSE_ALARMS_PER_FRAME: Final = 0.03
#: Share of VMTI targets that also carry VTarget item 17 (on-board target location).
LOCATION_SHARE: Final = 0.25
#: Pixel noise of a detection's centroid (one sigma, px).
CENTROID_SIGMA_PX: Final = 1.5
#: Ground size of each indicator's feature (m): sizes VMTI boxes and rendered shapes.
FEATURE_SIZE_M: Final = {
    "tarp_structure": 10.0,
    "chemical_containers": 3.0,
    "remote_vehicle_cluster": 10.0,
    "thermal_hotspot_night": 4.0,
    "vegetation_clearing": 30.0,
    "improvised_structure": 7.0,
    "burn_waste_pit": 6.0,
}
EO_SENSOR: Final = "EO Spotter"
IR_SENSOR: Final = "IR MWIR Spotter"
VMTI_SYSTEM: Final = "VIGIA-SYNTH VMTI"
PLATFORM: Final = "MQ-9"
#: Local time windows of sorties (hours after local midnight, MST = UTC-7).
NIGHT_WINDOW_H: Final = (20.5, 28.5)
DAY_WINDOW_H: Final = (8.5, 17.5)

_G: Final = 9.80665
_US: Final = 1_000_000


def detection_probability(gsd_m: npt.ArrayLike, *, thermal: bool = False) -> FloatArray:
    """Probability that a present indicator is detected in one VMTI frame at a GSD (m):
    0.77 at 0.8 m, 0.5 at 1.3 m, ~0 beyond 2 m. Hot spots stand out on IR: their GSD counts
    1.5 times finer."""
    g = np.asarray(gsd_m, np.float64)
    if thermal:
        g = g / 1.5
    with np.errstate(over="ignore", invalid="ignore"):
        p = 0.8 / (1.0 + np.exp((g - 1.3) / 0.15))
    return np.where(np.isfinite(p), p, 0.0)


@dataclass(frozen=True)
class SortieSpec:
    """What one sortie is: when, which sensor, how it flies and searches."""

    index: int
    sortie_id: str
    start_us: int
    night: bool
    sensor: str
    """'EO' by day, 'IR' at night."""
    image_source_sensor: str
    n_packets: int
    rate_hz: float
    vmti_every: int
    """A VMTI pack every this many packets."""
    width_px: int
    height_px: int
    target_gsd_m: float
    dwell_s: float
    altitude_m: float
    orbit_radius_m: float
    clockwise: bool
    seed: int


@dataclass(frozen=True)
class SortiePlan:
    """The true flight of a sortie: pose columns (ST 0601 names and units), the aim point of
    every row (deg, m HAE) and the index of the aim cell and AOI of every row."""

    spec: SortieSpec
    true_columns: dict[str, Any]
    aim_lat: FloatArray
    aim_lon: FloatArray
    aim_h_m: FloatArray
    cell: npt.NDArray[np.int64]
    aoi: npt.NDArray[np.int64]


@dataclass(frozen=True)
class SortieFile:
    """One written sortie and the truth of what it saw.

    ``detections``: one row per VMTI target in the stream (time_us, packet_index,
    frame_number, target_id, object_id (null for false alarms), kind, indicator, algorithm_id,
    reported pixel x_px/y_px (centre of the reported pixel), true_x_px/true_y_px, true position
    of the feature true_lat/true_lon/true_h_m, gsd_m, confidence_pct, history, pass_index,
    has_location, false_alarm). ``looks``: one row per pass over an object (object_id, kind,
    pass_index, start_us, end_us, n_frames, min_gsd_m, median_gsd_m, adequate, sensor, night,
    active, indicators_present, n_detections).
    """

    path: Path
    sortie_id: str
    start_us: int
    end_us: int
    n_packets: int
    n_vmti_frames: int
    n_detections: int
    night: bool
    sensor: str
    frame_width: int
    frame_height: int
    video: bool
    detections: pa.Table = field(repr=False)
    looks: pa.Table = field(repr=False)
    dem_path: Path | None = None
    """The world's DEM GeoTIFF written beside the sortie (``terrain.tif``)."""


# --- planning ---------------------------------------------------------------------------------
def sortie_specs(
    world: World,
    sorties: int = 6,
    *,
    seed: int | None = None,
    minutes: float = DEFAULT_MINUTES,
    rate_hz: float = 10.0,
    vmti_hz: float = DEFAULT_VMTI_HZ,
    dwell_s: float = DEFAULT_DWELL_S,
    frame_size: tuple[int, int] = DEFAULT_FRAME,
) -> list[SortieSpec]:
    """Plan ``sorties`` sorties on distinct days of the campaign, alternating night (IR, first)
    and day (EO), at random local times inside the night/day windows. Deterministic."""
    if sorties < 0:
        raise ScenarioError("the number of sorties must not be negative")
    if not (minutes > 0 and rate_hz > 0 and vmti_hz > 0 and dwell_s > 0):
        raise ScenarioError("minutes, rate_hz, vmti_hz and dwell_s must be positive")
    base = world.seed + 1000 if seed is None else seed
    rng = np.random.default_rng([base, 0x50])
    days = world.campaign_days
    # Distinct days at least two apart when they fit (a night sortie ends the next morning).
    spare = days - 2 * (sorties - 1)
    if spare > 0:
        day = np.sort(rng.integers(0, spare, sorties)) + 2 * np.arange(sorties)
    else:
        day = (np.arange(sorties) * days) // max(sorties, 1)
    n_packets = max(1, round(minutes * 60.0 * rate_hz))
    vmti_every = max(1, round(rate_hz / vmti_hz))
    dur_h = n_packets / rate_hz / 3600.0
    out = []
    for k in range(sorties):
        night = k % 2 == 0
        lo, hi = NIGHT_WINDOW_H if night else DAY_WINDOW_H
        hour = rng.uniform(lo, max(lo, hi - dur_h))
        start = world.campaign_start_us + int(day[k]) * 86_400 * _US + round(hour * 3600) * _US
        sensor = "IR" if night else "EO"
        date = datetime.fromtimestamp(start / _US, UTC).strftime("%Y%m%d")
        out.append(
            SortieSpec(
                index=k,
                sortie_id=f"VIGIA-SIN-{date}-{k + 1}",
                start_us=start,
                night=night,
                sensor=sensor,
                image_source_sensor=IR_SENSOR if night else EO_SENSOR,
                n_packets=n_packets,
                rate_hz=float(rate_hz),
                vmti_every=vmti_every,
                width_px=int(frame_size[0]),
                height_px=int(frame_size[1]),
                target_gsd_m=float(rng.uniform(*TARGET_GSD_RANGE_M[sensor])),
                dwell_s=float(dwell_s),
                altitude_m=float(rng.uniform(*ALTITUDE_RANGE_M)),
                orbit_radius_m=float(rng.uniform(*ORBIT_RADIUS_RANGE_M)),
                clockwise=bool(rng.random() < 0.5),
                seed=int(rng.integers(0, 2**31)),
            )
        )
    return out


def _aim_cells(
    world: World, spec: SortieSpec, rng: np.random.Generator, n_cells: int
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.int64]]:
    """Aim points (local east/north m) and their AOI, cover after cover, ``n_cells`` in all."""
    spacing = GRID_SPACING_FRACTION * spec.height_px * spec.target_gsd_m
    boxes = [a.box_local_m(world.origin) for a in world.aois]
    es: list[FloatArray] = []
    ns: list[FloatArray] = []
    js: list[npt.NDArray[np.int64]] = []
    total = 0
    while total < n_cells:
        for j in rng.permutation(len(boxes)):
            e0, n0, e1, n1 = boxes[j]
            nx = max(1, math.ceil((e1 - e0) / spacing))
            ny = max(1, math.ceil((n1 - n0) / spacing))
            sx, sy = (e1 - e0) / nx, (n1 - n0) / ny
            shift_e, shift_n = rng.uniform(-0.25, 0.25, 2) * (sx, sy)
            ge = e0 + (np.arange(nx) + 0.5) * sx + shift_e
            gn = n0 + (np.arange(ny) + 0.5) * sy + shift_n
            if rng.random() < 0.5:
                ge = ge[::-1]
            if rng.random() < 0.5:
                gn = gn[::-1]
            if rng.random() < 0.5:  # rows east-west, boustrophedon
                ee = np.tile(ge, (ny, 1))
                ee[1::2] = ee[1::2, ::-1]
                nn = np.repeat(gn, nx).reshape(ny, nx)
            else:  # rows north-south
                nn = np.tile(gn, (nx, 1))
                nn[1::2] = nn[1::2, ::-1]
                ee = np.repeat(ge, ny).reshape(nx, ny)
            es.append(ee.ravel())
            ns.append(nn.ravel())
            js.append(np.full(ee.size, j, np.int64))
            total += ee.size
    return np.concatenate(es)[:n_cells], np.concatenate(ns)[:n_cells], np.concatenate(js)[:n_cells]


def _guidance(
    centre_e: FloatArray,
    centre_n: FloatArray,
    spec: SortieSpec,
    phase: float,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Fly orbits about the per-row centres: east, north (m), course (rad), turn rate (rad/s).

    Bank-limited vector-field guidance to a circle of ``spec.orbit_radius_m``; starts on the
    first circle, on course.
    """
    n = centre_e.size
    dt = 1.0 / spec.rate_hz
    radius = spec.orbit_radius_m
    v = SPEED_MPS
    s = 1.0 if spec.clockwise else -1.0
    wmax = _G * math.tan(math.radians(MAX_BANK_DEG)) / v
    pe = float(centre_e[0]) + radius * math.sin(phase)
    pn = float(centre_n[0]) + radius * math.cos(phase)
    chi = phase + s * math.pi / 2
    out_e = np.empty(n)
    out_n = np.empty(n)
    out_chi = np.empty(n)
    out_w = np.empty(n)
    ce_l = centre_e.tolist()
    cn_l = centre_n.tolist()
    two_pi = 2.0 * math.pi
    for i in range(n):
        re = pe - ce_l[i]
        rn = pn - cn_l[i]
        d = math.hypot(re, rn)
        th = math.atan2(re, rn)
        chi_d = th + s * (math.pi / 2 + math.atan(2.0 * (d - radius) / radius))
        err = (chi_d - chi + math.pi) % two_pi - math.pi
        w = s * v / max(d, radius) + 0.08 * err
        w = max(-wmax, min(wmax, w))
        out_e[i] = pe
        out_n[i] = pn
        out_chi[i] = chi
        out_w[i] = w
        chi += w * dt
        pe += v * dt * math.sin(chi)
        pn += v * dt * math.cos(chi)
    return out_e, out_n, out_chi, out_w


def _quantise(values: FloatArray, column: str) -> FloatArray:
    """Round to the resolution of an ST 0601 mapped item, so the stream carries the value."""
    item = BY_COLUMN[column]
    assert item.lo is not None and item.hi is not None and item.length is not None
    lsb = (item.hi - item.lo) / float((1 << (8 * item.length)) - 1)
    return np.round(values / lsb) * lsb


def _look_angles(
    lat: FloatArray,
    lon: FloatArray,
    h: FloatArray,
    heading: FloatArray,
    pitch: FloatArray,
    roll: FloatArray,
    tlat: FloatArray,
    tlon: FloatArray,
    th: FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Relative azimuth and elevation (deg) that put the target at the image centre, from the
    platform attitude (MISB z-y-x conventions); also slant range (m) and depression (rad)."""
    px, py, pz = geodetic_to_ecef(lat, lon, h)
    gx, gy, gz = geodetic_to_ecef(tlat, tlon, th)
    north, east, down = ecef_to_ned(gx - px, gy - py, gz - pz, lat, lon)
    sy, cy = np.sin(np.radians(heading)), np.cos(np.radians(heading))
    sp, cp = np.sin(np.radians(pitch)), np.cos(np.radians(pitch))
    sr, cr = np.sin(np.radians(roll)), np.cos(np.radians(roll))
    # body = Rx(-roll) Ry(-pitch) Rz(-heading) ned
    x1 = cy * north + sy * east
    y1 = -sy * north + cy * east
    z1 = down
    x2 = cp * x1 - sp * z1
    z2 = sp * x1 + cp * z1
    y3 = cr * y1 + sr * z2
    z3 = -sr * y1 + cr * z2
    az = np.degrees(np.arctan2(y3, x2)) % 360.0
    el = np.degrees(np.arctan2(-z3, np.hypot(x2, y3)))
    slant = np.sqrt(north * north + east * east + down * down)
    return az, el, slant, np.arcsin(np.clip(down / slant, -1.0, 1.0))


def plan_sortie(world: World, spec: SortieSpec) -> SortiePlan:
    """The true flight and sensor pointing of one sortie (deterministic from ``spec.seed``)."""
    rng = np.random.default_rng([spec.seed, 1])
    n = spec.n_packets
    t = np.arange(n) / spec.rate_hz
    n_cells = math.ceil(n / spec.rate_hz / spec.dwell_s) + 1
    cell_e, cell_n, cell_aoi = _aim_cells(world, spec, rng, n_cells)
    cell = np.minimum((t / spec.dwell_s).astype(np.int64), n_cells - 1)
    boxes = np.array([a.box_local_m(world.origin) for a in world.aois])
    centres_e = 0.5 * (boxes[:, 0] + boxes[:, 2])
    centres_n = 0.5 * (boxes[:, 1] + boxes[:, 3])
    aoi = cell_aoi[cell]
    # The aircraft heads for the next AOI a little before the turret gets there.
    lead = round(ORBIT_LEAD_S * spec.rate_hz)
    orbit = aoi[np.minimum(np.arange(n) + lead, n - 1)]
    pe, pn, chi, w = _guidance(
        centres_e[orbit], centres_n[orbit], spec, rng.uniform(0, 2 * math.pi)
    )
    lat, lon = from_local_m(pe, pn, world.origin)
    ph = rng.uniform(0, 2 * math.pi, 5)
    h = spec.altitude_m + 20.0 * np.sin(2 * math.pi * t / 300.0 + ph[0])
    heading = (np.degrees(chi) + 0.6 * np.sin(2 * math.pi * t / 47.0 + ph[1])) % 360.0
    pitch = 1.5 + 0.4 * np.sin(2 * math.pi * t / 31.0 + ph[2])
    roll = np.degrees(np.arctan(SPEED_MPS * w / _G)) + 0.4 * np.sin(2 * math.pi * t / 13.0 + ph[3])
    aim_lat, aim_lon = from_local_m(cell_e[cell], cell_n[cell], world.origin)
    aim_h = world.ground_height_m(aim_lat, aim_lon)
    az, el, slant, dep = _look_angles(lat, lon, h, heading, pitch, roll, aim_lat, aim_lon, aim_h)
    # Zoom: per aim point, the HFOV that gives the target GSD at the frame centre.
    first = np.searchsorted(cell, np.arange(n_cells))
    first = np.minimum(first, n - 1)
    gsd_cell = spec.target_gsd_m * rng.lognormal(0.0, GSD_JITTER, n_cells)
    ifov = gsd_cell * np.sqrt(np.sin(dep[first])) / slant[first]
    hfov_cell = np.degrees(2.0 * np.arctan(0.5 * spec.width_px * ifov))
    hfov_cell = np.clip(hfov_cell, *HFOV_RANGE_DEG)
    hfov = _quantise(hfov_cell[cell], "sensor_horizontal_field_of_view")
    ratio = spec.height_px / spec.width_px
    vfov = np.degrees(2.0 * np.arctan(np.tan(np.radians(hfov) / 2.0) * ratio))
    vfov = _quantise(vfov, "sensor_vertical_field_of_view")
    vn = SPEED_MPS * np.cos(chi)
    ve = SPEED_MPS * np.sin(chi)
    cols: dict[str, Any] = {
        "precision_time_stamp": spec.start_us + np.round(t * 1e6).astype(np.int64),
        "mission_id": [spec.sortie_id] * n,
        "platform_designation": [PLATFORM] * n,
        "image_source_sensor": [spec.image_source_sensor] * n,
        "platform_heading_angle": heading,
        "platform_pitch_angle": pitch,
        "platform_roll_angle": roll,
        "platform_true_airspeed": np.full(n, round(SPEED_MPS), np.int64),
        "platform_indicated_airspeed": np.full(n, round(SPEED_MPS * 0.72), np.int64),
        "sensor_latitude": lat,
        "sensor_longitude": lon,
        "sensor_ellipsoid_height": h,
        "sensor_horizontal_field_of_view": hfov,
        "sensor_vertical_field_of_view": vfov,
        "sensor_relative_azimuth_angle": az,
        "sensor_relative_elevation_angle": el,
        "sensor_relative_roll_angle": np.zeros(n),
        "platform_ground_speed": np.full(n, round(SPEED_MPS), np.int64),
        "sensor_north_velocity": vn,
        "sensor_east_velocity": ve,
        "uas_datalink_ls_version_number": np.full(n, 19, np.int64),
    }
    return SortiePlan(spec, cols, aim_lat, aim_lon, aim_h, cell, aoi)


# --- the reported pose ------------------------------------------------------------------------
def _drifting_errors(n: int, rate_hz: float, k: int, rng: np.random.Generator) -> FloatArray:
    """(n, k) unit-variance errors: a drifting bias (OU, tau = BIAS_TAU_S) plus white noise."""
    secs = math.ceil(n / rate_hz) + 2
    a = math.exp(-1.0 / BIAS_TAU_S)
    b = math.sqrt(1.0 - a * a)
    w = rng.standard_normal((secs, k))
    ou = np.empty((secs, k))
    ou[0] = w[0]
    for i in range(1, secs):
        ou[i] = a * ou[i - 1] + b * w[i]
    t = np.arange(n) / rate_hz
    bias = np.stack([np.interp(t, np.arange(secs), ou[:, j]) for j in range(k)], axis=1)
    return BIAS_SHARE * bias + NOISE_SHARE * rng.standard_normal((n, k))


def _reported_columns(world: World, plan: SortiePlan, rng: np.random.Generator) -> dict[str, Any]:
    """The telemetry the aircraft sends: true pose + errors, and its own frame geometry."""
    spec = plan.spec
    tc = plan.true_columns
    n = spec.n_packets
    s = SCENARIO_POSE_SIGMAS
    e = _drifting_errors(n, spec.rate_hz, 9, rng)
    lat = np.asarray(tc["sensor_latitude"])
    m_rad, n_rad = radii_of_curvature_m(lat)
    cols = dict(tc)
    cols["sensor_latitude"] = lat + np.degrees(s.horizontal_m * e[:, 0] / m_rad)
    cols["sensor_longitude"] = np.asarray(tc["sensor_longitude"]) + np.degrees(
        s.horizontal_m * e[:, 1] / (n_rad * np.cos(np.radians(lat)))
    )
    cols["sensor_ellipsoid_height"] = np.asarray(tc["sensor_ellipsoid_height"]) + (
        s.vertical_m * e[:, 2]
    )
    cols["platform_heading_angle"] = (tc["platform_heading_angle"] + s.heading_deg * e[:, 3]) % 360
    cols["platform_pitch_angle"] = tc["platform_pitch_angle"] + s.pitch_deg * e[:, 4]
    cols["platform_roll_angle"] = tc["platform_roll_angle"] + s.roll_deg * e[:, 5]
    cols["sensor_relative_azimuth_angle"] = (
        tc["sensor_relative_azimuth_angle"] + s.azimuth_deg * e[:, 6]
    ) % 360.0
    cols["sensor_relative_elevation_angle"] = (
        tc["sensor_relative_elevation_angle"] + s.elevation_deg * e[:, 7]
    )
    cols["sensor_relative_roll_angle"] = (
        tc["sensor_relative_roll_angle"] + s.sensor_roll_deg * e[:, 8]
    ) % 360.0
    # Zoom read-out error: one per aim point (the lens does not move during a stare).
    fov_err = 1.0 + s.fov_fraction * rng.standard_normal(int(plan.cell.max()) + 1)[plan.cell]
    for name in ("sensor_horizontal_field_of_view", "sensor_vertical_field_of_view"):
        cols[name] = _quantise(np.asarray(tc[name]) * fov_err, name)
    for name in (
        "sensor_latitude",
        "sensor_longitude",
        "sensor_ellipsoid_height",
        "platform_heading_angle",
        "platform_pitch_angle",
        "platform_roll_angle",
    ):
        cols[name] = _quantise(np.asarray(cols[name]), name)
    cols["sensor_true_altitude"] = msl_height_m(
        cols["sensor_ellipsoid_height"], cols["sensor_latitude"], cols["sensor_longitude"]
    )
    res = footprints(
        cols, dem=world.dem(), frame_width_px=spec.width_px, frame_height_px=spec.height_px
    )
    ok = res["valid"]
    clat, clon = res["center_lat"], res["center_lon"]
    cols["frame_center_latitude"] = np.where(ok, clat, np.nan)
    cols["frame_center_longitude"] = np.where(ok, clon, np.nan)
    cols["frame_center_height_above_ellipsoid"] = np.where(ok, res["center_h"], np.nan)
    cols["frame_center_elevation"] = np.where(ok, msl_height_m(res["center_h"], clat, clon), np.nan)
    cols["slant_range"] = np.where(ok, res["slant_range_m"], np.nan)
    for k in range(1, 5):
        dlat = res[f"corner{k}_lat"] - clat
        dlon = res[f"corner{k}_lon"] - clon
        fits = ok & (np.abs(dlat) < 0.075) & (np.abs(dlon) < 0.075)
        cols[f"offset_corner_latitude_point_{k}"] = np.where(fits, dlat, np.nan)
        cols[f"offset_corner_longitude_point_{k}"] = np.where(fits, dlon, np.nan)
    return cols


# --- detections -------------------------------------------------------------------------------
Arrays = dict[str, np.ndarray]


def _pose_rows(columns: Mapping[str, Any], rows: npt.NDArray[np.intp]) -> dict[str, Any]:
    """The numeric columns of some rows (a small pose table)."""
    return {k: v[rows] for k, v in columns.items() if isinstance(v, np.ndarray)}


def _take(arrays: Arrays, index: npt.NDArray[np.intp]) -> Arrays:
    return {k: v[index] for k, v in arrays.items()}


def _concat(a: Arrays, b: Arrays) -> Arrays:
    return {k: np.concatenate([a[k], b[k]]) for k in a}


def _rank_in_group(group: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Position of each element within its run of equal ``group`` values (0, 1, 2, ...)."""
    pos = np.arange(group.size)
    start = np.ones(group.size, bool)
    start[1:] = group[1:] != group[:-1]
    return pos - np.maximum.accumulate(np.where(start, pos, 0))


def _offset_latlon(
    lat: FloatArray, lon: FloatArray, east: FloatArray, north: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Points ``east``/``north`` metres from (lat, lon) (deg), on the local tangent plane."""
    m_rad, n_rad = radii_of_curvature_m(lat)
    return (
        lat + np.degrees(north / m_rad),
        lon + np.degrees(east / (n_rad * np.cos(np.radians(lat)))),
    )


@dataclass(frozen=True)
class _Looks:
    """Each (VMTI frame, object) with the object's centre in view, sorted by object then time,
    and the passes they form."""

    frame: npt.NDArray[np.int64]
    obj: npt.NDArray[np.int64]
    pass_of: npt.NDArray[np.int64]
    starts: npt.NDArray[np.int64]
    """Index of the first look of each pass."""

    @property
    def n_pass(self) -> int:
        return int(self.starts.size)

    @property
    def pass_obj(self) -> npt.NDArray[np.int64]:
        return self.obj[self.starts]


def _find_looks(in_view: npt.NDArray[np.bool_], t_s: FloatArray, gap_s: float) -> _Looks:
    """Split each object's looks into passes wherever the gap exceeds ``gap_s`` seconds."""
    fi, ki = np.nonzero(in_view)
    order = np.lexsort((fi, ki))
    fi, ki = fi[order].astype(np.int64), ki[order].astype(np.int64)
    new = np.ones(fi.size, bool)
    new[1:] = (ki[1:] != ki[:-1]) | (np.diff(t_s[fi]) > gap_s)
    return _Looks(fi, ki, np.cumsum(new) - 1, np.flatnonzero(new))


def _allowed(spec: SortieSpec, inds: Sequence[Indicator]) -> npt.NDArray[np.bool_]:
    """Indicators this sortie's sensor can report (thermal: IR at night)."""
    return np.array(
        [spec.sensor in i.sensors and (not i.night_only or spec.night) for i in inds], bool
    )


def _true_targets(
    world: World,
    plan: SortiePlan,
    vrows: npt.NDArray[np.int64],
    gsd_f: FloatArray,
    looks: _Looks,
    present: npt.NDArray[np.bool_],
    thermal: npt.NDArray[np.bool_],
    rng: np.random.Generator,
) -> Arrays:
    """Detections of present features in each VMTI frame of each pass (TRUE pose)."""
    spec = plan.spec
    jj, ii = np.nonzero(present[looks.pass_of])
    k = looks.obj[jj]
    f = looks.frame[jj]
    off_e, off_n = world.feature_offsets_m()
    lat, lon = _offset_latlon(
        world.column("lat")[k], world.column("lon")[k], off_e[k, ii], off_n[k, ii]
    )
    h = world.column("h_m")[k].astype(np.float64)
    g = ground_to_pixel(plan.true_columns, vrows[f], lat, lon, h, spec.width_px, spec.height_px)
    is_hot = thermal[ii]
    p_det = np.where(
        is_hot, detection_probability(gsd_f[f], thermal=True), detection_probability(gsd_f[f])
    )
    det = g["in_view"] & (rng.random(jj.size) < p_det)
    return {
        "frame": f[det],
        "obj": k[det],
        "ind": ii[det].astype(np.int64),
        "pass_id": looks.pass_of[jj][det],
        "true_x": g["x_px"][det],
        "true_y": g["y_px"][det],
        "true_lat": lat[det],
        "true_lon": lon[det],
        "true_h": h[det],
    }


def _false_alarms(
    n_frames: int, allowed: npt.NDArray[np.bool_], width: int, height: int, rng: np.random.Generator
) -> Arrays:
    """Poisson false alarms per VMTI frame at random pixels, with random allowed indicators."""
    frame = np.repeat(np.arange(n_frames), rng.poisson(FALSE_ALARMS_PER_FRAME, n_frames))
    m = frame.size
    ok = np.flatnonzero(allowed)
    nan = np.full(m, np.nan)
    return {
        "frame": frame.astype(np.int64),
        "obj": np.full(m, -1, np.int64),
        "ind": ok[rng.integers(0, ok.size, m)].astype(np.int64),
        "pass_id": np.full(m, -1, np.int64),
        "true_x": rng.uniform(0, width, m),
        "true_y": rng.uniform(0, height, m),
        "true_lat": nan,
        "true_lon": nan,
        "true_h": nan.copy(),
    }


def _vmti_targets(
    targets: Arrays,
    gsd_f: FloatArray,
    inds: Sequence[Indicator],
    width: int,
    height: int,
    rng: np.random.Generator,
) -> Arrays:
    """What the VMTI reports of each target: pixel centroid (1-based column/row), box, tracker
    id, history, confidence and algorithm id; sorted by frame."""
    t = _take(targets, np.lexsort((targets["ind"], targets["obj"], targets["frame"])))
    m = t["frame"].size
    fa = t["obj"] < 0
    noise = np.where(fa, 0.0, CENTROID_SIGMA_PX)
    rx = np.clip(t["true_x"] + noise * rng.standard_normal(m), 0.0, width - 1e-6)
    ry = np.clip(t["true_y"] + noise * rng.standard_normal(m), 0.0, height - 1e-6)
    t["col"] = np.floor(rx).astype(np.int64) + 1
    t["row"] = np.floor(ry).astype(np.int64) + 1
    # Tracker ids: one per (pass, indicator), numbered by first detection; fresh for false alarms.
    key = np.where(fa, -1 - np.arange(m), t["pass_id"] * len(inds) + t["ind"])
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    rank = np.empty(first.size, np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(first.size)
    t["target_id"] = rank[inverse.reshape(-1)] + 1
    by_track = np.lexsort((t["frame"], t["target_id"]))
    history = np.empty(m, np.int64)
    history[by_track] = _rank_in_group(t["target_id"][by_track])
    t["history"] = history
    gsd = gsd_f[t["frame"]]
    size = np.array([FEATURE_SIZE_M.get(i.code, 5.0) for i in inds])[t["ind"]] / gsd
    for name, centre, limit in (("x", rx, width), ("y", ry, height)):
        half = np.maximum(1.5, 0.5 * size * rng.uniform(0.8, 1.25, m))
        t[f"{name}0"] = np.floor(np.clip(centre - half, 0, limit - 1)).astype(np.int64) + 1
        t[f"{name}1"] = np.floor(np.clip(centre + half, 0, limit - 1)).astype(np.int64) + 1
    conf_true = rng.normal(76.0, 9.0, m) - 20.0 * np.maximum(gsd - 0.9, 0.0)
    conf_fa = rng.normal(50.0, 12.0, m)
    t["confidence"] = np.where(
        fa, np.clip(np.round(conf_fa), 15, 90), np.clip(np.round(conf_true), 40, 98)
    ).astype(np.int64)
    t["algorithm"] = np.array([i.vmti_algorithm_id for i in inds], np.int64)[t["ind"]]
    t["gsd"] = gsd
    return t


def _target_locations(
    world: World,
    spec: SortieSpec,
    reported: Mapping[str, Any],
    rows: npt.NDArray[np.int64],
    t: Arrays,
    rng: np.random.Generator,
) -> dict[int, TargetLocation]:
    """VTarget item 17 for a share of the targets, computed on board from the REPORTED pose."""
    idx = np.flatnonzero(rng.random(t["frame"].size) < LOCATION_SHARE)
    if not idx.size:
        return {}
    g = pixel_to_ground(
        _pose_rows(reported, rows[idx]),
        np.arange(idx.size),
        t["col"][idx] - 0.5,
        t["row"][idx] - 0.5,
        spec.width_px,
        spec.height_px,
        dem=world.dem(),
        sigmas=SCENARIO_POSE_SIGMAS,
    )
    se, sn = np.sqrt(g["cov_ee_m2"]), np.sqrt(g["cov_nn_m2"])
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.clip(g["cov_en_m2"] / (se * sn), -1.0, 1.0)
    out = {}
    for j in np.flatnonzero(g["valid"]).tolist():
        out[int(idx[j])] = TargetLocation(
            float(g["lat"][j]),
            float(g["lon"][j]),
            float(g["h"][j]),
            float(min(se[j], 650.0)),
            float(min(sn[j], 650.0)),
            float(SCENARIO_POSE_SIGMAS.terrain_m),
            float(rho[j]) if np.isfinite(rho[j]) else 0.0,
            0.0,
            0.0,
        )
    return out


def _encode_packs(
    spec: SortieSpec,
    reported: Mapping[str, Any],
    vrows: npt.NDArray[np.int64],
    t: Arrays,
    locations: Mapping[int, TargetLocation],
) -> list[bytes | None]:
    """One VMTI local set (item 74 value) per VMTI frame, empty when nothing was detected."""
    width = spec.width_px
    times = np.asarray(reported["precision_time_stamp"], np.int64)
    hfov = np.asarray(reported["sensor_horizontal_field_of_view"])
    vfov = np.asarray(reported["sensor_vertical_field_of_view"])
    bounds = np.searchsorted(t["frame"], np.arange(vrows.size + 1)).tolist()
    centroid = (t["col"] + (t["row"] - 1) * width).tolist()
    top_left = (t["x0"] + (t["y0"] - 1) * width).tolist()
    bottom_right = (t["x1"] + (t["y1"] - 1) * width).tolist()
    tid, conf = t["target_id"].tolist(), t["confidence"].tolist()
    alg, hist = t["algorithm"].tolist(), t["history"].tolist()
    packs: list[bytes | None] = [None] * spec.n_packets
    for f, r in enumerate(vrows.tolist()):
        targets = tuple(
            VTarget(
                tid[j],
                centroid_pixel=centroid[j],
                bbox_top_left_pixel=top_left[j],
                bbox_bottom_right_pixel=bottom_right[j],
                confidence_pct=conf[j],
                history=hist[j],
                location=locations.get(j),
                algorithm_id=alg[j],
                detection_status=DetectionStatus.ACTIVE_STOPPED,
            )
            for j in range(bounds[f], bounds[f + 1])
        )
        packs[r] = encode_vmti(
            VmtiPacket(
                timestamp_us=int(times[r]),
                system_name=VMTI_SYSTEM,
                version=6,
                total_targets_detected=len(targets),
                targets_reported=len(targets),
                frame_number=r,
                frame_width=width,
                frame_height=spec.height_px,
                source_sensor=spec.image_source_sensor,
                horizontal_fov_deg=float(hfov[r]),
                vertical_fov_deg=float(vfov[r]),
                targets=targets,
            )
        )
    return packs


def _detections_table(
    world: World,
    spec: SortieSpec,
    times: npt.NDArray[np.int64],
    vrows: npt.NDArray[np.int64],
    t: Arrays,
    locations: Mapping[int, TargetLocation],
) -> pa.Table:
    m = t["frame"].size
    fa = t["obj"] < 0
    ids = world.column("object_id").astype(object)
    kinds = world.column("kind").astype(object)
    k = np.where(fa, 0, t["obj"])
    has_location = np.zeros(m, bool)
    has_location[list(locations)] = True
    rows = vrows[t["frame"]]
    return pa.table(
        {
            "sortie_id": pa.array([spec.sortie_id] * m, pa.string()),
            "time_us": times[rows],
            "packet_index": rows,
            "frame_number": rows,
            "target_id": t["target_id"],
            "object_id": pa.array(ids[k], pa.string(), mask=fa),
            "kind": pa.array(kinds[k], pa.string(), mask=fa),
            "indicator": pa.array(np.asarray(world.indicator_codes, object)[t["ind"]], pa.string()),
            "algorithm_id": t["algorithm"],
            "x_px": t["col"] - 0.5,
            "y_px": t["row"] - 0.5,
            "true_x_px": t["true_x"],
            "true_y_px": t["true_y"],
            "true_lat": t["true_lat"],
            "true_lon": t["true_lon"],
            "true_h_m": t["true_h"],
            "gsd_m": t["gsd"],
            "confidence_pct": t["confidence"],
            "history": t["history"],
            "pass_index": t["pass_id"],
            "has_location": has_location,
            "false_alarm": fa,
        }
    )


def _looks_table(
    world: World,
    spec: SortieSpec,
    times: npt.NDArray[np.int64],
    vrows: npt.NDArray[np.int64],
    gsd_f: FloatArray,
    looks: _Looks,
    present: npt.NDArray[np.bool_],
    active: npt.NDArray[np.bool_],
    t: Arrays,
) -> pa.Table:
    n = looks.n_pass
    starts = looks.starts
    ends = np.append(starts[1:], looks.frame.size)[:n].astype(np.int64)
    g = gsd_f[looks.frame]
    k = looks.pass_obj
    codes = world.indicator_codes
    min_gsd = np.minimum.reduceat(g, starts) if n else np.empty(0)
    median_gsd = np.array([np.median(g[a:b]) for a, b in zip(starts, ends, strict=True)])
    n_det = np.bincount(t["pass_id"][t["obj"] >= 0], minlength=n)[:n]
    return pa.table(
        {
            "sortie_id": pa.array([spec.sortie_id] * n, pa.string()),
            "object_id": pa.array(world.column("object_id").astype(object)[k], pa.string()),
            "kind": pa.array(world.column("kind").astype(object)[k], pa.string()),
            "pass_index": np.arange(n, dtype=np.int64),
            "pass_of_object": _rank_in_group(k),
            "start_us": times[vrows[looks.frame[starts]]],
            "end_us": times[vrows[looks.frame[ends - 1]]],
            "n_frames": ends - starts,
            "min_gsd_m": min_gsd,
            "median_gsd_m": median_gsd.astype(np.float64),
            "adequate": min_gsd <= default_vocabulary().scoring.adequate_gsd_m,
            "sensor": pa.array([spec.sensor] * n, pa.string()),
            "night": np.full(n, spec.night),
            "active": active[k],
            "indicators_present": pa.array(
                [",".join(codes[i] for i in np.flatnonzero(row)) for row in present], pa.string()
            ),
            "n_detections": n_det.astype(np.int64),
        }
    )


def _simulate(
    world: World,
    plan: SortiePlan,
    reported: Mapping[str, Any],
    rng: np.random.Generator,
) -> tuple[list[bytes | None], pa.Table, pa.Table, npt.NDArray[np.bool_]]:
    """VMTI packs per packet (None where no VMTI), the detections truth, the looks table and
    which objects are active during the sortie."""
    spec = plan.spec
    voc = default_vocabulary()
    inds = [voc[c] for c in world.indicator_codes]
    width, height = spec.width_px, spec.height_px
    tc = plan.true_columns
    times = np.asarray(tc["precision_time_stamp"], np.int64)
    vrows = np.arange(0, spec.n_packets, spec.vmti_every, dtype=np.int64)
    fp = footprints(
        _pose_rows(tc, vrows), dem=world.dem(), frame_width_px=width, frame_height_px=height
    )
    gsd_f = np.where(fp["valid"], fp["gsd_m"], np.inf)
    lat, lon, h = world.column("lat"), world.column("lon"), world.column("h_m")
    in_view = ground_to_pixel(tc, vrows[:, None], lat, lon, h, width, height)["in_view"]
    looks = _find_looks(in_view, (times[vrows] - times[0]) / 1e6, voc.scoring.pass_gap_s)

    # Indicators present on each pass: once per object, pass and indicator.
    allowed = _allowed(spec, inds)
    thermal = np.array([i.night_only for i in inds], bool)
    active = rng.random(world.n_objects) < world.column("activity")
    prob = world.probabilities()[looks.pass_obj] * allowed
    prob[:, thermal] *= active[looks.pass_obj, None]
    present = rng.random(prob.shape) < prob

    targets = _concat(
        _true_targets(world, plan, vrows, gsd_f, looks, present, thermal, rng),
        _false_alarms(vrows.size, allowed, width, height, rng),
    )
    t = _vmti_targets(targets, gsd_f, inds, width, height, rng)
    locations = _target_locations(world, spec, reported, vrows[t["frame"]], t, rng)
    packs = _encode_packs(spec, reported, vrows, t, locations)
    detections = _detections_table(world, spec, times, vrows, t, locations)
    looks_table = _looks_table(world, spec, times, vrows, gsd_f, looks, present, active, t)
    return packs, detections, looks_table, active


# --- rendering --------------------------------------------------------------------------------
_TEXTURE_PX: Final = 512  # a power of two: texel indices wrap with a mask
_TEXEL_M: Final = 1.5
_EO_GROUND: Final = (128.0, 118.0, 88.0)
_IR_GROUND: Final = 70.0

Colour = tuple[int, int, int]


@lru_cache(maxsize=8)
def _ground_texture(seed: int, ir: bool) -> npt.NDArray[np.uint8]:
    """A tileable low-contrast ground texture, (512 * 512, 3) RGB texels of 1.5 m."""
    rng = np.random.default_rng([seed, 0x7E])
    noise = np.zeros((_TEXTURE_PX, _TEXTURE_PX), np.float32)
    for scale, amp in ((64, 0.5), (16, 0.3), (4, 0.15), (1, 0.05)):
        k = _TEXTURE_PX // scale
        fine = np.repeat(np.repeat(rng.standard_normal((k, k)), scale, 0), scale, 1)
        if scale > 1:  # wrapping box blur, so the blocks do not show
            for axis in (0, 1):
                acc = np.zeros_like(fine)
                for s in range(scale):
                    acc += np.roll(fine, s, axis=axis)
                fine = acc / scale
        noise += amp * (fine / max(float(fine.std()), 1e-6)).astype(np.float32)
    noise = np.clip(noise / 2.0, -1.0, 1.0)
    if ir:
        rgb = np.repeat((_IR_GROUND + 18.0 * noise)[..., None], 3, axis=2)
    else:
        rgb = np.asarray(_EO_GROUND, np.float32) + 16.0 * noise[..., None]
    return np.clip(rgb, 0, 255).astype(np.uint8).reshape(-1, 3)


def _box(img: npt.NDArray[np.uint8], x: float, y: float, hw: float, hh: float, c: Colour) -> None:
    h, w = img.shape[:2]
    x0, x1 = max(0, round(x - hw)), min(w, round(x + hw) + 1)
    y0, y1 = max(0, round(y - hh)), min(h, round(y + hh) + 1)
    if x0 < x1 and y0 < y1:
        img[y0:y1, x0:x1] = c


def _disc(
    img: npt.NDArray[np.uint8], x: float, y: float, radius: float, c: Colour, *, glow: bool = False
) -> None:
    h, w = img.shape[:2]
    radius = max(radius, 0.7)
    reach = radius * (3.0 if glow else 1.0) + 1.0
    x0, x1 = max(0, int(x - reach)), min(w, int(x + reach) + 1)
    y0, y1 = max(0, int(y - reach)), min(h, int(y + reach) + 1)
    if x0 >= x1 or y0 >= y1:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1]
    d2 = (xx + 0.5 - x) ** 2 + (yy + 0.5 - y) ** 2
    win = img[y0:y1, x0:x1]
    if glow:
        a = np.exp(-d2 / (2.0 * radius * radius))[..., None]
        blend = a * np.asarray(c, np.float64) + (1.0 - a) * win
        win[...] = np.maximum(win, np.clip(blend, 0, 255).astype(np.uint8))
    else:
        win[d2 <= radius * radius] = c


def _draw_object(
    img: npt.NDArray[np.uint8],
    kind: str,
    at: Mapping[str, tuple[float, float]],
    centre: tuple[float, float],
    px_per_m: float,
    ir: bool,
    hot: bool,
) -> None:
    """Draw one place: its kind's base shape, then each feature it has (``at``: pixel position
    of each feature present)."""
    m = px_per_m
    x, y = centre

    def c(eo: Colour, ir_level: int) -> Colour:
        return (ir_level, ir_level, ir_level) if ir else eo

    if kind == "farm":
        _box(img, x, y, 24 * m, 16 * m, c((72, 118, 58), 95))
    if "vegetation_clearing" in at and not ir:
        _box(img, *at["vegetation_clearing"], 16 * m, 11 * m, (186, 166, 124))
    if kind == "building":
        _box(img, x, y, 6 * m, 6 * m, c((168, 168, 162), 112))
    if kind == "ranch":
        _box(img, x, y, 9 * m, 7 * m, c((122, 92, 62), 88))
    if "improvised_structure" in at:
        _box(img, *at["improvised_structure"], 3.5 * m, 2.5 * m, c((140, 136, 126), 105))
    if "tarp_structure" in at:
        _box(img, *at["tarp_structure"], 5 * m, 3.5 * m, c((40, 92, 192), 120))
    if "burn_waste_pit" in at:
        _disc(img, *at["burn_waste_pit"], 3 * m, c((48, 38, 32), 100))
    if "chemical_containers" in at and not ir:
        cx, cy = at["chemical_containers"]
        for dx, dy in ((-1, -1), (1, -1), (-1, 1), (1, 1)):
            _disc(img, cx + 0.9 * dx * m, cy + 0.9 * dy * m, 0.6 * m, (34, 44, 72))
    if "remote_vehicle_cluster" in at:
        cx, cy = at["remote_vehicle_cluster"]
        for j, colour in enumerate(((230, 230, 225), (150, 30, 30), (40, 40, 42))):
            _box(img, cx + (j - 1) * 3.2 * m, cy, 1.0 * m, 2.2 * m, c(colour, 130))
    if ir and hot and "thermal_hotspot_night" in at:
        _disc(img, *at["thermal_hotspot_night"], 2.0 * m, (255, 255, 255), glow=True)


def render_frame(
    columns_true: Mapping[str, Any],
    row: int,
    world: World,
    width: int,
    height: int,
    *,
    active: npt.ArrayLike | None = None,
) -> npt.NDArray[np.uint8]:
    """A synthetic (H, W, 3) RGB frame of ``row`` of the TRUE telemetry: a ground texture fixed
    to the ground (on the level plane through the frame centre, where the boresight meets the
    relief), and every object in view drawn where the pose projects it (on the relief), sized by
    the GSD.

    EO (an ``image_source_sensor`` that :func:`vigia.telemetry.sensors.classify_sensor_name`
    does not call IR): colours (green fields, tan clearings, grey buildings and sheds, blue
    tarps, dark drums and pits, vehicles); IR: grey levels, and bright
    blobs for the thermal hotspots of objects that are ``active`` (per object; default:
    activity >= 0.5). A frame whose corners miss the ground is black.
    """
    pose = {k: v[row : row + 1] for k, v in columns_true.items() if isinstance(v, np.ndarray)}
    src = columns_true.get("image_source_sensor")
    ir = src is not None and classify_sensor_name(str(src[row])) == SENSOR_IR
    # The frame centre meets the relief; the texture lies on the level plane through it.
    on_dem = footprints(pose, dem=world.dem(), frame_width_px=width, frame_height_px=height)
    fp = footprints(
        pose, terrain_height_m=on_dem["center_h"], frame_width_px=width, frame_height_px=height
    )
    fp["gsd_m"] = on_dem["gsd_m"]
    corners_lat = np.array([fp[f"corner{k}_lat"][0] for k in range(1, 5)])
    corners_lon = np.array([fp[f"corner{k}_lon"][0] for k in range(1, 5)])
    if not np.all(np.isfinite(corners_lat + corners_lon)):
        return np.zeros((height, width, 3), np.uint8)
    ce, cn = to_local_m(corners_lat, corners_lon, world.origin)
    image = np.array([[0.0, 0.0], [width, 0.0], [width, height], [0.0, height]])
    hom = homography(image, np.stack([ce, cn], axis=1))
    # Ground (east, north) of every pixel centre: the plane-to-image map is a homography.
    xs = (np.arange(width, dtype=np.float32) + 0.5)[None, :]
    ys = (np.arange(height, dtype=np.float32) + 0.5)[:, None]
    h32 = hom.astype(np.float32)
    den = h32[2, 0] * xs + h32[2, 1] * ys + h32[2, 2]
    east = (h32[0, 0] * xs + h32[0, 1] * ys + h32[0, 2]) / den
    north = (h32[1, 0] * xs + h32[1, 1] * ys + h32[1, 2]) / den
    mask = _TEXTURE_PX - 1
    ti = np.floor(north * (1.0 / _TEXEL_M)).astype(np.int32) & mask
    tj = np.floor(east * (1.0 / _TEXEL_M)).astype(np.int32) & mask
    tex = _ground_texture(world.seed, ir)
    img = np.take(tex, (ti * _TEXTURE_PX + tj).ravel(), axis=0).reshape(height, width, 3)

    lat_o, lon_o, h_o = world.column("lat"), world.column("lon"), world.column("h_m")
    p = ground_to_pixel(pose, 0, lat_o, lon_o, h_o, width, height)
    gsd = float(fp["gsd_m"][0])
    margin = 60.0 / gsd
    x_o, y_o = p["x_px"], p["y_px"]
    with np.errstate(invalid="ignore"):
        near = p["valid"] & (np.abs(x_o - width / 2) < width / 2 + margin)
        near &= np.abs(y_o - height / 2) < height / 2 + margin
    if not near.any():
        return img
    # Ground metres -> pixels near the frame centre (inverse Jacobian of the homography).
    cx, cy = width / 2.0, height / 2.0
    d = 1.0
    pts = np.array([[cx, cy, 1.0], [cx + d, cy, 1.0], [cx, cy + d, 1.0]]) @ hom.T
    g = pts[:, :2] / pts[:, 2:3]
    jac = np.stack([g[1] - g[0], g[2] - g[0]], axis=1) / d
    to_px = np.linalg.inv(jac)
    px_per_m = 1.0 / math.sqrt(abs(float(np.linalg.det(jac))))
    kinds = world.column("kind")
    probs = world.probabilities()
    codes = world.indicator_codes
    off_e, off_n = world.feature_offsets_m()
    hot = world.column("activity") >= 0.5 if active is None else np.asarray(active, bool)
    for k in np.flatnonzero(near):
        shift = to_px @ np.stack([off_e[k], off_n[k]])
        at = {
            code: (float(x_o[k] + shift[0, i]), float(y_o[k] + shift[1, i]))
            for i, code in enumerate(codes)
            if probs[k, i] > 0
        }
        centre = (float(x_o[k]), float(y_o[k]))
        _draw_object(img, str(kinds[k]), at, centre, px_per_m, ir, bool(hot[k]))
    return img


def _frames(
    world: World, plan: SortiePlan, active: npt.NDArray[np.bool_]
) -> Iterator[npt.NDArray[np.uint8]]:
    for r in range(plan.spec.n_packets):
        yield render_frame(
            plan.true_columns,
            r,
            world,
            plan.spec.width_px,
            plan.spec.height_px,
            active=active,
        )


# --- the shell --------------------------------------------------------------------------------
def fly_sorties(
    world: World,
    out_dir: str | Path,
    sorties: int = 6,
    *,
    seed: int | None = None,
    minutes: float = DEFAULT_MINUTES,
    rate_hz: float = 10.0,
    video: bool = False,
    vmti_hz: float = DEFAULT_VMTI_HZ,
    dwell_s: float = DEFAULT_DWELL_S,
    frame_size: tuple[int, int] | None = None,
) -> list[SortieFile]:
    """Fly ``sorties`` sorties over ``world`` and write one MPEG-TS per sortie in ``out_dir``
    (``<sortie_id>.ts``): ST 0601 at ``rate_hz`` packets per second with a VMTI pack (item 74)
    at ``vmti_hz``. With ``video``, each packet rides with one rendered H.264 frame (fps =
    ``rate_hz``, default 640x360; keep such sorties short). ``seed`` defaults to the world's
    seed + 1000. The world's DEM is written beside them (``terrain.tif``, see
    :meth:`World.write_dem`; each :class:`SortieFile` names it). Deterministic: the same
    arguments write the same bytes.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    size = frame_size or (VIDEO_FRAME if video else DEFAULT_FRAME)
    specs = sortie_specs(
        world,
        sorties,
        seed=seed,
        minutes=minutes,
        rate_hz=rate_hz,
        vmti_hz=vmti_hz,
        dwell_s=dwell_s,
        frame_size=size,
    )
    dem_path = world.write_dem(out / DEM_FILE)
    files = []
    for spec in specs:
        plan = plan_sortie(world, spec)
        rng = np.random.default_rng([spec.seed, 2])
        reported = _reported_columns(world, plan, rng)
        packs, detections, looks, active = _simulate(world, plan, reported, rng)
        cols = {k: v for k, v in reported.items() if k in BY_COLUMN}
        cols["vmti_local_set"] = packs
        data, offsets = encode_st0601_stream(cols)
        packets = [data[offsets[i] : offsets[i + 1]] for i in range(spec.n_packets)]
        path = out / f"{spec.sortie_id}.ts"
        times = np.asarray(reported["precision_time_stamp"], np.int64)
        if video:
            write_video_klv_ts(path, _frames(world, plan, active), spec.rate_hz, packets)
        else:
            write_klv_ts(path, packets, pts_from_times(times))
        files.append(
            SortieFile(
                path=path,
                sortie_id=spec.sortie_id,
                start_us=int(times[0]),
                end_us=int(times[-1]),
                n_packets=spec.n_packets,
                n_vmti_frames=sum(p is not None for p in packs),
                n_detections=detections.num_rows,
                night=spec.night,
                sensor=spec.sensor,
                frame_width=spec.width_px,
                frame_height=spec.height_px,
                video=video,
                detections=detections,
                looks=looks,
                dem_path=dem_path,
            )
        )
    return files


def passes_per_object(files: Sequence[SortieFile], *, adequate_only: bool = True) -> pa.Table:
    """Number of passes (and night passes) over each object across sorties, from the looks."""
    tables = [f.looks for f in files if f.looks.num_rows]
    if not tables:
        return pa.table({"object_id": pa.array([], pa.string())})
    looks = pa.concat_tables(tables)
    if adequate_only:
        looks = looks.filter(looks.column("adequate"))
    night = looks.column("night").to_numpy(zero_copy_only=False)
    looks = looks.append_column("night_pass", pa.array(night.astype(np.int64)))
    return looks.group_by(["object_id", "kind"]).aggregate(
        [("pass_index", "count"), ("night_pass", "sum"), ("n_detections", "sum")]
    )
