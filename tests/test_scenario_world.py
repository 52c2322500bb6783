"""The scenario world and its sorties: determinism, consent, stream decoding, pointing, and the
honesty of the simulated errors (geolocation errors consistent with SCENARIO_POSE_SIGMAS)."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pyarrow as pa
import pytest

from vigia.coverage.consent import load_aois
from vigia.coverage.solar import solar_elevation_deg
from vigia.exploit.vocabulary import default_vocabulary
from vigia.geo import footprints, ground_to_pixel, pixel_to_ground
from vigia.klv.st0903 import decode_vmti, pixel_to_row_col
from vigia.scenario import (
    SCENARIO_POSE_SIGMAS,
    SortieFile,
    World,
    build_world,
    detection_probability,
    fly_sorties,
    passes_per_object,
    plan_sortie,
    render_frame,
    sortie_specs,
)
from vigia.scenario.world import MIN_SEPARATION_M, to_local_m
from vigia.telemetry.source import read_telemetry


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(5)


@pytest.fixture(scope="module")
def short_sorties(world: World, tmp_path_factory: pytest.TempPathFactory) -> list[SortieFile]:
    """Six 4-minute sorties of the default world (three night, three day)."""
    return fly_sorties(world, tmp_path_factory.mktemp("sorties"), 6, minutes=4.0)


@pytest.fixture(scope="module")
def decoded(short_sorties: list[SortieFile]) -> list[pa.Table]:
    return [read_telemetry(str(f.path))[0] for f in short_sorties]


def _distance_m(
    lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray
) -> np.ndarray:
    k = np.cos(np.radians(lat2))
    return np.hypot((lat1 - lat2) * 110_800.0, (lon1 - lon2) * 111_320.0 * k)


# --- world --------------------------------------------------------------------------------------
def test_world_is_deterministic_from_seed() -> None:
    a, b, c = build_world(3), build_world(3), build_world(4)
    assert a.objects.equals(b.objects)
    assert a.to_json() == b.to_json()
    assert not a.objects.equals(c.objects)


def test_world_counts_kinds_and_probabilities(world: World) -> None:
    kinds = world.column("kind")
    assert (kinds == "lab").sum() == 25
    assert (kinds != "lab").sum() == 40
    assert set(kinds) == {"lab", "farm", "ranch", "building"}
    p = world.probabilities()
    assert p.shape == (65, len(default_vocabulary().codes))
    assert np.all((p >= 0) & (p <= 0.95))
    # Decoys show indicators too, labs do not always show all of them.
    lab = world.is_lab()
    assert (p[~lab] > 0).any(axis=0).all()
    assert (p[lab] == 0).any()
    assert len(set(world.column("object_id"))) == 65


def test_likelihood_ratios_roughly_those_of_the_vocabulary() -> None:
    voc = default_vocabulary()
    ratios = [build_world(s).likelihood_ratios() for s in range(1, 6)]
    for ind in voc.indicators:
        mean = float(np.mean([r[ind.code] for r in ratios]))
        assert ind.likelihood_ratio / 1.6 < mean < ind.likelihood_ratio * 1.6, ind.code


def test_objects_inside_consent_out_of_the_city_and_apart(world: World) -> None:
    registry = load_aois(world.aois_geojson())
    assert 2 <= len(registry) <= 4
    lat, lon = world.column("lat"), world.column("lon")
    for day in (0, 7, world.campaign_days - 1):
        t = np.full(lat.size, world.campaign_start_us + day * 86_400_000_000 + 3_600_000_000)
        assert registry.is_consented(lat, lon, t).all()
    assert np.all((lat > 24.75) & (lat < 24.96) & (lon > -107.37) & (lon < -107.19))
    e, n = to_local_m(lat, lon, world.origin)
    d = np.hypot(e[:, None] - e[None, :], n[:, None] - n[None, :])
    d[np.diag_indices_from(d)] = np.inf
    assert d.min() >= MIN_SEPARATION_M - 1e-6
    # on the ground: the DEM's height there (m HAE)
    assert np.allclose(world.column("h_m"), world.ground_height_m(lat, lon), atol=1e-6)


def test_truth_lists_the_labs(world: World) -> None:
    truth = world.truth()
    assert len(truth) == 25
    lab_ids = set(world.column("object_id")[world.is_lab()])
    assert {t["object_id"] for t in truth} == lab_ids
    doc = json.loads(world.to_json())
    assert len(doc["objects"]) == 65
    assert doc["terrain_height_m"] == world.terrain_height_m
    assert load_aois(doc["aois"])


# --- planning and pointing ------------------------------------------------------------------------
def test_sorties_alternate_night_ir_and_day_eo_on_distinct_days(world: World) -> None:
    specs = sortie_specs(world, 6, minutes=30.0)
    assert [s.night for s in specs] == [True, False] * 3
    assert len({s.sortie_id for s in specs}) == 6
    dates = [s.sortie_id.split("-")[2] for s in specs]
    assert len(set(dates)) == 6
    span_days = (specs[-1].start_us - specs[0].start_us) / 86_400e6
    assert 5 < span_days < 15
    for s in specs:
        t = s.start_us + np.arange(0, 1801, 300) * 1_000_000
        elev = solar_elevation_deg(np.full(t.size, world.origin_lat), world.origin_lon, t)
        if s.night:
            assert s.image_source_sensor.startswith("IR") and np.all(elev < -6)
        else:
            assert s.image_source_sensor.startswith("EO") and np.all(elev > -6)


def test_aim_point_is_at_the_image_centre_with_the_true_pose(world: World) -> None:
    spec = sortie_specs(world, 2, minutes=3.0)[1]
    plan = plan_sortie(world, spec)
    rows = np.arange(spec.n_packets)
    g = ground_to_pixel(
        plan.true_columns, rows, plan.aim_lat, plan.aim_lon, plan.aim_h_m, 1280, 720
    )
    assert g["valid"].all()
    assert np.max(np.abs(g["x_px"] - 640)) < 1e-3
    assert np.max(np.abs(g["y_px"] - 360)) < 1e-3
    # MQ-9 class flight: altitude, speed, field of view, slant range.
    tc = plan.true_columns
    assert np.all((tc["sensor_ellipsoid_height"] > 6000) & (tc["sensor_ellipsoid_height"] < 8000))
    assert np.all(tc["sensor_horizontal_field_of_view"] >= 1.4)
    assert np.all(tc["sensor_horizontal_field_of_view"] <= 9.1)
    fp = footprints(tc, dem=world.dem())
    assert fp["valid"].all()
    assert np.allclose(fp["center_h"], plan.aim_h_m, atol=0.05)  # the aim is on the relief
    assert np.all((fp["slant_range_m"] > 6500) & (fp["slant_range_m"] < 16000))
    assert 0.45 < np.median(fp["gsd_m"]) < 1.2
    step = np.hypot(
        np.diff(tc["sensor_latitude"]) * 110_800, np.diff(tc["sensor_longitude"]) * 101_000
    )
    assert np.allclose(step * spec.rate_hz, 85.0, rtol=0.02)


def test_detection_probability_falls_with_gsd() -> None:
    p = detection_probability(np.array([0.5, 0.8, 1.3, 2.0, 3.0]))
    assert np.all(np.diff(p) < 0)
    assert 0.75 < p[1] <= 0.8
    assert p[3] < 0.01
    assert detection_probability(2.0, thermal=True) > p[3]


# --- written sorties ----------------------------------------------------------------------------
def test_sortie_decodes_with_empty_and_full_vmti_packs(
    short_sorties: list[SortieFile], decoded: list[pa.Table]
) -> None:
    for f, tab in zip(short_sorties, decoded, strict=True):
        assert tab.num_rows == f.n_packets == 2400
        assert set(tab.column("mission_id").to_pylist()) == {f.sortie_id}
        assert set(tab.column("platform_designation").to_pylist()) == {"MQ-9"}
        sensor = tab.column("image_source_sensor")[0].as_py()
        assert sensor.startswith("IR" if f.night else "EO")
        packs = [
            (i, decode_vmti(v, strict=True))
            for i, v in enumerate(tab.column("vmti_local_set").to_pylist())
            if v is not None
        ]
        assert len(packs) == f.n_vmti_frames == 480
        counts = np.array([len(p.targets) for _, p in packs])
        assert counts.sum() == f.n_detections
        assert (counts == 0).any() and (counts > 0).any()
        assert all(p.targets_reported == len(p.targets) for _, p in packs)
        assert all((p.frame_width, p.frame_height) == (1280, 720) for _, p in packs)
        # The stream's targets are the truth's, in order.
        det = f.detections
        rows = [i for i, p in packs for _ in p.targets]
        ids = [t.target_id for _, p in packs for t in p.targets]
        alg = [t.algorithm_id for _, p in packs for t in p.targets]
        cen = np.array([t.centroid_pixel for _, p in packs for t in p.targets])
        assert rows == det.column("packet_index").to_pylist()
        assert ids == det.column("target_id").to_pylist()
        assert alg == det.column("algorithm_id").to_pylist()
        r, c = pixel_to_row_col(cen, 1280)
        assert np.allclose(c - 0.5, det.column("x_px").to_numpy())
        assert np.allclose(r - 0.5, det.column("y_px").to_numpy())


def test_detections_truth_is_sensible(short_sorties: list[SortieFile], world: World) -> None:
    voc = default_vocabulary()
    det = pa.concat_tables([f.detections for f in short_sorties])
    fa = det.column("false_alarm").to_numpy()
    assert 0 < fa.sum() < 0.2 * fa.size
    ids_alg = {i.code: i.vmti_algorithm_id for i in voc.indicators}
    for code, alg in zip(
        det.column("indicator").to_pylist(), det.column("algorithm_id").to_pylist(), strict=True
    ):
        assert ids_alg[code] == alg
    conf = det.column("confidence_pct").to_numpy()
    assert np.median(conf[~fa]) > np.median(conf[fa])
    # Thermal only at night, drums and clearings only by day.
    for f in short_sorties:
        codes = set(
            f.detections.filter(~f.detections.column("false_alarm").to_numpy())
            .column("indicator")
            .to_pylist()
        )
        if f.night:
            assert not codes & {"chemical_containers", "vegetation_clearing"}
        else:
            assert "thermal_hotspot_night" not in codes
    # Labs show more indicators per pass than decoys.
    looks = pa.concat_tables([f.looks for f in short_sorties])
    n_ind = np.array(
        [len(s.split(",")) if s else 0 for s in looks.column("indicators_present").to_pylist()]
    )
    is_lab = np.array(looks.column("kind").to_pylist()) == "lab"
    assert n_ind[is_lab].mean() > 1.5 * n_ind[~is_lab].mean()


def test_frame_geometry_in_the_stream_is_that_of_the_reported_pose(
    world: World, decoded: list[pa.Table]
) -> None:
    tab = decoded[0]
    fp = footprints(tab, dem=world.dem())
    d = _distance_m(
        fp["center_lat"],
        fp["center_lon"],
        tab.column("frame_center_latitude").to_numpy(),
        tab.column("frame_center_longitude").to_numpy(),
    )
    assert np.nanmax(d) < 1.0
    registry = load_aois(world.aois_geojson())
    t = tab.column("precision_time_stamp").cast(pa.int64()).to_numpy()
    for k in range(1, 5):
        lat = fp[f"corner{k}_lat"]
        lon = fp[f"corner{k}_lon"]
        assert registry.is_consented(lat, lon, t).all()


def test_geolocation_errors_match_scenario_sigmas(
    world: World, short_sorties: list[SortieFile], decoded: list[pa.Table]
) -> None:
    """VMTI centroids geolocated through the REPORTED pose with SCENARIO_POSE_SIGMAS fall inside
    their CE90 about 90 % of the time: the simulated errors are neither larger nor smaller than
    the sigmas say."""
    inside, err, ce = [], [], []
    for f, tab in zip(short_sorties, decoded, strict=True):
        det = f.detections.filter(~f.detections.column("false_alarm").to_numpy())
        g = pixel_to_ground(
            tab,
            det.column("packet_index").to_numpy(),
            det.column("x_px").to_numpy(),
            det.column("y_px").to_numpy(),
            f.frame_width,
            f.frame_height,
            dem=world.dem(),
            sigmas=SCENARIO_POSE_SIGMAS,
        )
        assert g["valid"].all()
        d = _distance_m(
            g["lat"], g["lon"], det.column("true_lat").to_numpy(), det.column("true_lon").to_numpy()
        )
        inside.append(d <= g["ce90_m"])
        err.append(d)
        ce.append(g["ce90_m"])
    frac = np.concatenate(inside).mean()
    assert np.concatenate(inside).size > 1000
    assert 0.75 <= frac <= 0.98
    assert np.median(np.concatenate(err)) > 0.3 * np.median(np.concatenate(ce))
    assert 8.0 < np.median(np.concatenate(ce)) < 60.0


def test_onboard_target_locations_use_the_reported_pose(
    world: World, short_sorties: list[SortieFile], decoded: list[pa.Table]
) -> None:
    f, tab = short_sorties[1], decoded[1]
    rows, xs, ys, locs = [], [], [], []
    for i, v in enumerate(tab.column("vmti_local_set").to_pylist()):
        if v is None:
            continue
        pkt = decode_vmti(v)
        for t in pkt.targets:
            if t.location is not None:
                assert t.centroid_pixel is not None and pkt.frame_width == 1280
                r, c = pixel_to_row_col(t.centroid_pixel, 1280)
                rows.append(i)
                xs.append(c - 0.5)
                ys.append(r - 0.5)
                locs.append(t.location)
    n_targets = f.n_detections
    assert 0.1 * n_targets < len(locs) < 0.4 * n_targets
    g = pixel_to_ground(
        tab,
        np.array(rows),
        np.array(xs),
        np.array(ys),
        f.frame_width,
        f.frame_height,
        dem=world.dem(),
        sigmas=SCENARIO_POSE_SIGMAS,
    )
    lat = np.array([loc.latitude_deg for loc in locs])
    lon = np.array([loc.longitude_deg for loc in locs])
    assert np.max(_distance_m(lat, lon, g["lat"], g["lon"])) < 0.5
    se = np.array([loc.sigma_east_m for loc in locs])
    assert np.allclose(se, np.sqrt(g["cov_ee_m2"]), rtol=0.02, atol=0.05)


def test_fly_sorties_is_deterministic(world: World, tmp_path: Path) -> None:
    a = fly_sorties(world, tmp_path / "a", 1, minutes=0.5)
    b = fly_sorties(world, tmp_path / "b", 1, minutes=0.5)
    c = fly_sorties(world, tmp_path / "c", 1, minutes=0.5, seed=99)
    assert a[0].path.read_bytes() == b[0].path.read_bytes()
    assert a[0].path.read_bytes() != c[0].path.read_bytes()


@pytest.mark.slow
def test_default_scenario_looks_at_every_lab_several_times_day_and_night(
    tmp_path: Path,
) -> None:
    world = build_world(1)
    files = fly_sorties(world, tmp_path, 6)
    assert len(files) == 6
    assert all(f.end_us - f.start_us == pytest.approx(30 * 60e6, rel=0.001) for f in files)
    passes = passes_per_object(files)
    labs = passes.filter(pa.compute.equal(passes.column("kind"), "lab"))
    assert labs.num_rows == 25
    assert labs.column("pass_index_count").to_numpy().min() >= 6
    assert labs.column("night_pass_sum").to_numpy().min() >= 3
    assert labs.column("n_detections_sum").to_numpy().min() > 0


# --- video --------------------------------------------------------------------------------------
def test_video_sortie_decodes_with_pyav(world: World, tmp_path: Path) -> None:
    (f,) = fly_sorties(world, tmp_path, 1, minutes=0.1, video=True)
    assert f.video and (f.frame_width, f.frame_height) == (640, 360)
    with av.open(str(f.path)) as container:
        frames = [fr for fr in container.decode(video=0)]
    assert len(frames) == f.n_packets == 60
    assert (frames[0].width, frames[0].height) == (640, 360)
    tab, _ = read_telemetry(str(f.path))
    assert tab.num_rows == 60
    pkt = decode_vmti(next(v for v in tab.column("vmti_local_set").to_pylist() if v))
    assert (pkt.frame_width, pkt.frame_height) == (640, 360)


def test_render_frame_draws_objects_where_the_pose_projects_them(world: World) -> None:
    spec = next(
        s for s in sortie_specs(world, 2, minutes=20.0, frame_size=(640, 360)) if not s.night
    )
    plan = plan_sortie(world, spec)
    lab_tarp = np.flatnonzero(world.is_lab() & (world.column("p_tarp_structure") > 0))
    off_e = world.column("tarp_structure_east_m")[lab_tarp]
    off_n = world.column("tarp_structure_north_m")[lab_tarp]
    lat0, lon0 = world.column("lat")[lab_tarp], world.column("lon")[lab_tarp]
    lat = lat0 + off_n / 110_800.0
    lon = lon0 + off_e / (111_320.0 * np.cos(np.radians(lat0)))
    rows = np.arange(0, spec.n_packets, 10)
    h = world.ground_height_m(lat, lon)  # the tarps sit on the relief
    g = ground_to_pixel(plan.true_columns, rows[:, None], lat[None], lon[None], h[None], 640, 360)
    inner = g["in_view"] & (g["x_px"] > 20) & (g["x_px"] < 620) & (g["y_px"] > 20)
    inner &= g["y_px"] < 340
    hits = np.argwhere(inner)
    assert hits.size
    checked = 0
    for fi, k in hits[:: max(1, len(hits) // 5)]:
        img = render_frame(plan.true_columns, int(rows[fi]), world, 640, 360)
        assert img.shape == (360, 640, 3) and img.dtype == np.uint8
        x, y = int(g["x_px"][fi, k]), int(g["y_px"][fi, k])
        patch = img[y - 2 : y + 3, x - 2 : x + 3].reshape(-1, 3).astype(int)
        blue = (patch[:, 2] > patch[:, 0] + 60) & (patch[:, 2] > patch[:, 1] + 40)
        assert blue.any()  # a blue tarp (other features may cover part of it)
        checked += 1
    assert checked >= 2
