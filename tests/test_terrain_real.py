"""Real KLV fixtures (``tests/data/realdata``): every source works with every command, and the
terrain a footprint meets is never silently the ellipsoid at 0 m.

Measured with the default terrain (the stream's own frame-centre elevation), ours against the
platform's frame centre (items 23/24), by ``vigia inspect FILE --geo``: see the README table.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from itertools import pairwise
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import rasterio
from rasterio.transform import from_origin
from typer.testing import CliRunner

from tests.helpers.data import data_path
from tests.helpers.ports import free_port
from vigia import footprints, geo
from vigia.app.process import iter_footprints
from vigia.cli import app
from vigia.errors import GeoError
from vigia.footprints import TerrainOptions
from vigia.klv.encode import encode_table
from vigia.mpegts.mux import write_klv_ts
from vigia.telemetry.source import TelemetryReader

runner = CliRunner()

RAW_KLV = ("Cheyenne.bin", "predator.klv", "HD_H264_06011_TS_ASYN_V1_001.klv")

#: The environment variable naming the default DEM.
DEM_ENV = "VIGIA_DEM"

#: Fixtures whose pose is usable: (file, the largest median and p95 (m) we accept).
#: Measured: Cheyenne 8.5 / 34.6 m, predator 2.8 / 4.8 m.
SENSOR_MODEL = (("Cheyenne.bin", 15.0, 50.0), ("predator.klv", 15.0, 10.0))

#: Fixtures whose pose cannot be used: 06011 sends pitch (item 6) as the error value in every
#: packet, the ST 0902 minimum set sends no pitch at all. Both send a frame centre.
PLATFORM = ("HD_H264_06011_TS_ASYN_V1_001.klv", "HD_MP2_0902_TS_SYN_V1_001.klv")


def real(name: str) -> Path:
    """A real fixture (provenance in ``tests/data/realdata/SOURCES.md``)."""
    return data_path("realdata", name)


def telemetry(path: Path) -> pa.Table:
    return pa.concat_tables(list(TelemetryReader(str(path))))


def footprints_file(source: Path, out: Path, *extra: str) -> pa.Table:
    res = runner.invoke(app, ["footprints", str(source), "-o", str(out), *extra])
    assert res.exit_code == 0, res.output
    return pq.read_table(out)


def centre_m(tel: pa.Table, fp: pa.Table) -> np.ndarray:
    """Per-row distance (m) of our frame centre from the platform's (items 23/24)."""
    res = {c: fp[c].to_numpy(zero_copy_only=False) for c in fp.column_names if "_l" in c}
    res["center_h"] = fp["center_h"].to_numpy(zero_copy_only=False)
    d = np.asarray(geo.compare_with_platform(tel, res)["center_horizontal_m"], float)
    return d[np.isfinite(d)]


@pytest.mark.parametrize(("name", "max_median", "max_p95"), SENSOR_MODEL)
def test_default_frame_centres_agree_with_the_platform(
    name: str, max_median: float, max_p95: float, tmp_path: Path
) -> None:
    fp = footprints_file(real(name), tmp_path / "fp.parquet")
    tel = telemetry(real(name))
    assert set(fp["terrain_source"].to_pylist()) == {"stream_elevation"}
    assert set(fp["geo_source"].to_pylist()) == {"sensor_model"}
    d = centre_m(tel, fp)
    assert d.size == tel.num_rows
    assert np.median(d) < max_median
    assert np.percentile(d, 95) < max_p95


@pytest.mark.parametrize("name", PLATFORM)
def test_unusable_pose_takes_the_platform_frame_centre(name: str, tmp_path: Path) -> None:
    fp = footprints_file(real(name), tmp_path / "fp.parquet")
    tel = telemetry(real(name))
    plat = geo.platform_geolocation(tel, tel.num_rows)
    assert set(fp["geo_source"].to_pylist()) == {"platform"}
    np.testing.assert_array_equal(fp["center_lat"].to_numpy(), plat["center_lat"])
    np.testing.assert_array_equal(fp["center_lon"].to_numpy(), plat["center_lon"])
    assert np.isnan(fp["gsd_m"].to_numpy()).all()  # nothing to measure a pixel with
    # a row is valid (a polygon) exactly where the platform sends all four corners
    corners = np.ones(tel.num_rows, bool)
    for k in range(1, 5):
        corners &= np.isfinite(plat[f"corner{k}_lat"]) & np.isfinite(plat[f"corner{k}_lon"])
    np.testing.assert_array_equal(fp["valid"].to_numpy(zero_copy_only=False), corners)
    gj = tmp_path / "fp.geojson"
    assert runner.invoke(app, ["footprints", str(real(name)), "-o", str(gj)]).exit_code == 0
    props = [f["properties"] for f in json.loads(gj.read_text())["features"]]
    assert len(props) == int(corners.sum())
    assert all(p["geo_source"] == "platform" and p["gsd_m"] is None for p in props)
    assert all(p["terrain_source"] == "stream_elevation" for p in props)
    # inspect --geo compares only what we computed ourselves: nothing here
    res = runner.invoke(app, ["inspect", str(real(name)), "--geo", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["geo_vs_platform"]["frame_center"]["n"] == 0


@pytest.mark.parametrize("name", [n for n, _, _ in SENSOR_MODEL])
def test_real_platform_centres_agree_with_their_pose(name: str) -> None:
    off = geo.platform_bearing_offsets(telemetry(real(name)))
    assert np.nanmedian(np.abs(off["bearing_offset_deg"])) < 0.5
    assert geo.platform_pose_verdict(**off) == "consistent"


DAY_FLIGHT = "day_truncated_keys.klv"


def test_day_flight_centre_ignores_the_heading() -> None:
    """Why FFmpeg's "Day Flight" frame centre is 35 km from ours: its bearing from the sensor
    is the sensor relative azimuth (item 18) within 2e-4 deg, heading (item 5, 82-235 deg, which
    the track's own course confirms) left out; its item 25 carries the relative elevation
    angle (deg) within item 25's 0.3 m step."""
    tel = telemetry(real(DAY_FLIGHT))
    off = geo.platform_bearing_offsets(tel)
    assert np.nanmax(np.abs(off["relative_azimuth_offset_deg"])) < 1e-3
    heading = tel["platform_heading_angle"].to_numpy(zero_copy_only=False)
    assert np.nanmedian(np.abs(off["bearing_offset_deg"])) > 45.0
    assert heading.min() > 80.0
    assert geo.platform_pose_verdict(**off) == "ignores_heading"
    elev = tel["frame_center_elevation"].to_numpy(zero_copy_only=False)
    rel_el = tel["sensor_relative_elevation_angle"].to_numpy(zero_copy_only=False)
    assert np.abs(elev - rel_el).max() < 0.35


def test_day_flight_elevation_is_not_the_default_terrain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DEM_ENV, raising=False)
    out = tmp_path / "f.parquet"
    res = runner.invoke(app, ["footprints", str(real(DAY_FLIGHT)), "-o", str(out)])
    assert res.exit_code == 2, res.output
    assert "ignores_heading" in res.output and "--dem" in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    # named explicitly, the stream's elevation is used, and said
    fp = footprints_file(real(DAY_FLIGHT), tmp_path / "fp.parquet", "--stream-elevation")
    assert set(fp["terrain_source"].to_pylist()) == {"stream_elevation"}
    # inspect --geo tells the analyst why
    res = runner.invoke(app, ["inspect", str(real(DAY_FLIGHT)), "--geo", "--stream-elevation"])
    assert res.exit_code == 0, res.output
    assert "ignores_heading" in res.output
    res = runner.invoke(
        app, ["inspect", str(real(DAY_FLIGHT)), "--geo", "--stream-elevation", "--json"]
    )
    report = json.loads(res.stdout)
    assert report["geo_vs_platform"]["platform_pose"] == "ignores_heading"
    assert any("relative azimuth" in w for w in report["warnings"])


def test_0903_sample_is_not_a_flight() -> None:
    """Why the ST 0903 sample is left out of the agreement test: its ST 0601 packets are test
    values, not a track (the sensor jumps across the globe from packet to packet)."""
    tel = telemetry(real("HD_H264_0903_TS_SYN_V1_001.klv"))
    lat = tel["sensor_latitude"].to_numpy(zero_copy_only=False)
    assert np.nanmax(np.abs(np.diff(lat))) > 10.0  # degrees between consecutive packets


@pytest.mark.parametrize("name", [n for n, _, _ in SENSOR_MODEL])
def test_inspect_geo_equals_footprints(name: str, tmp_path: Path) -> None:
    fp = footprints_file(real(name), tmp_path / "fp.parquet")
    d = centre_m(telemetry(real(name)), fp)
    res = runner.invoke(app, ["inspect", str(real(name)), "--geo", "--json"])
    assert res.exit_code == 0, res.output
    fc = json.loads(res.stdout)["geo_vs_platform"]["frame_center"]
    assert fc["n"] == d.size
    assert fc["median_m"] == pytest.approx(float(np.median(d)), abs=1e-6)
    assert fc["p95_m"] == pytest.approx(float(np.percentile(d, 95)), abs=1e-6)


def test_chips_of_a_raw_klv_file_are_none_not_an_error(tmp_path: Path) -> None:
    from vigia.exploit.chips import cut_chips
    from vigia.exploit.detect import carries_video
    from vigia.exploit.observations import OBSERVATION_SCHEMA

    assert not carries_video(real("Cheyenne.bin"))
    chips = cut_chips(real("Cheyenne.bin"), OBSERVATION_SCHEMA.empty_table(), tmp_path)
    assert len(chips) == 0 and not chips.counts.video.has_video


def test_ingest_accepts_raw_klv_and_says_chips_are_skipped(tmp_path: Path) -> None:
    args = ["ingest", *(str(real(n)) for n in RAW_KLV), "--data-dir", str(tmp_path), "--json"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert res.exception is None
    report = json.loads(res.stdout)
    assert [i["status"] for i in report["inputs"]] == ["ingested"] * len(RAW_KLV)
    assert all(i["packets"] > 0 for i in report["inputs"])
    assert all(i["chips"] == 0 for i in report["inputs"])
    assert {i["terrain"] for i in report["inputs"]} == {"stream_elevation"}
    for name in RAW_KLV:
        assert any(name in w and "chips" in w and "skipped" in w for w in report["warnings"])


@pytest.fixture
def cheyenne_ts(tmp_path: Path) -> Path:
    """Cheyenne's packets in a transport stream without video (async KLV at 30 Hz of PTS)."""
    raw = real("Cheyenne.bin").read_bytes()
    offsets = [*telemetry(real("Cheyenne.bin"))["source_offset"].to_pylist(), len(raw)]
    packets = [raw[a:b] for a, b in pairwise(offsets)]
    path = tmp_path / "cheyenne.ts"
    write_klv_ts(path, packets, np.arange(len(packets), dtype=np.int64) * 3000 + 90_000)
    return path


def test_ingest_of_a_transport_stream_without_video_says_so(
    cheyenne_ts: Path, tmp_path: Path
) -> None:
    res = runner.invoke(app, ["ingest", str(cheyenne_ts), "--data-dir", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["inputs"][0]["packets"] == 407
    assert any("cheyenne.ts: no video" in w for w in report["warnings"])


def test_udp_footprints_are_those_of_the_file(cheyenne_ts: Path) -> None:
    data = cheyenne_ts.read_bytes()
    bound = threading.Event()
    with free_port("udp") as port:

        def ready() -> None:
            port.release()
            bound.set()

        reader = TelemetryReader(
            f"udp://127.0.0.1:{port.number}", duration_s=20.0, idle_timeout_s=1.0, on_ready=ready
        )
        tables: list[pa.Table] = []
        consumer = threading.Thread(
            target=lambda: tables.extend(iter_footprints(reader, TerrainOptions()))
        )
        consumer.start()
        assert bound.wait(timeout=10), "the UDP reader never bound its socket"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        for i in range(0, len(data), 188 * 7):
            tx.sendto(data[i : i + 188 * 7], ("127.0.0.1", port.number))
            if (i // (188 * 7)) % 20 == 0:
                time.sleep(0.002)
    consumer.join(timeout=30)
    assert not consumer.is_alive()
    live = pa.concat_tables(tables)
    assert set(live["terrain_source"].to_pylist()) == {"stream_elevation"}
    from_file = pa.concat_tables(
        list(iter_footprints(TelemetryReader(str(real("Cheyenne.bin"))), TerrainOptions()))
    )
    assert live.num_rows == from_file.num_rows == 407
    np.testing.assert_allclose(live["center_lat"].to_numpy(), from_file["center_lat"].to_numpy())
    np.testing.assert_allclose(live["center_lon"].to_numpy(), from_file["center_lon"].to_numpy())


@pytest.fixture
def no_elevation(tmp_path: Path) -> Path:
    """Cheyenne without items 25 and 78: no frame-centre elevation in the stream."""
    tel = telemetry(real("Cheyenne.bin"))
    tel = tel.drop_columns(["frame_center_elevation", "frame_center_height_above_ellipsoid"])
    path = tmp_path / "no_elevation.klv"
    path.write_bytes(encode_table(tel))
    return path


@pytest.mark.parametrize("command", ["footprints", "coverage", "inspect", "ingest"])
def test_no_terrain_at_all_is_refused(
    command: str, no_elevation: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DEM_ENV, raising=False)
    args = {
        "footprints": ["-o", str(tmp_path / "fp.parquet")],
        "coverage": ["-o", str(tmp_path / "cells.parquet")],
        "inspect": ["--geo"],
        "ingest": ["--data-dir", str(tmp_path / "data")],
    }[command]
    res = runner.invoke(app, [command, str(no_elevation), *args])
    assert res.exit_code == 2, res.output
    assert "no terrain" in res.output and "--terrain-height" in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)


def test_no_elevation_with_stream_elevation_option_is_refused(no_elevation: Path) -> None:
    with pytest.raises(GeoError, match="no terrain"):
        footprints.resolve_terrain(
            TerrainOptions(use_stream_elevation=True), telemetry(no_elevation)
        )


def test_constant_height_is_used_and_said(no_elevation: Path, tmp_path: Path) -> None:
    fp = footprints_file(no_elevation, tmp_path / "fp.parquet", "--terrain-height", "1880")
    assert set(fp["terrain_source"].to_pylist()) == {"constant"}
    np.testing.assert_allclose(fp["center_h"].to_numpy(), 1880.0, atol=0.05)


def test_dem_env_name() -> None:
    assert footprints.DEM_ENV == DEM_ENV


def test_options_are_exclusive() -> None:
    with pytest.raises(GeoError, match="one of"):
        TerrainOptions(terrain_height_m=0.0, use_stream_elevation=True)


def _flat_dem(path: Path, lat: float, lon: float, height_msl: float) -> Path:
    size, res = 64, 0.01
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=size,
        height=size,
        count=1,
        dtype="float32",
        crs="EPSG:4326",
        transform=from_origin(lon - size * res / 2, lat + size * res / 2, res, res),
        nodata=-9999.0,
    ) as ds:
        ds.write(np.full((size, size), height_msl, np.float32), 1)
    return path


def test_vigia_dem_is_the_default_and_beats_the_stream(
    no_elevation: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tel = telemetry(real("Cheyenne.bin"))
    lat = float(np.nanmedian(tel["frame_center_latitude"].to_numpy(zero_copy_only=False)))
    lon = float(np.nanmedian(tel["frame_center_longitude"].to_numpy(zero_copy_only=False)))
    msl = float(np.nanmedian(tel["frame_center_elevation"].to_numpy(zero_copy_only=False)))
    dem = _flat_dem(tmp_path / "dem.tif", lat, lon, msl)
    monkeypatch.setenv(DEM_ENV, str(dem))
    for source in (real("Cheyenne.bin"), no_elevation):
        fp = footprints_file(source, tmp_path / f"{source.stem}.parquet")
        assert set(fp["terrain_source"].to_pylist()) == {"dem"}
        assert np.median(centre_m(tel, fp)) < 50.0  # a flat DEM at the median elevation
    # an explicit option still wins over the environment
    fp = footprints_file(real("Cheyenne.bin"), tmp_path / "se.parquet", "--stream-elevation")
    assert set(fp["terrain_source"].to_pylist()) == {"stream_elevation"}


def _half_diagonal_geodesic_m(fp: pa.Table) -> np.ndarray:
    """Half the longer diagonal of each footprint, by the WGS84 geodesic (pyproj)."""
    from pyproj import Geod

    g = Geod(ellps="WGS84")
    lat = {k: fp[f"corner{k}_lat"].to_numpy(zero_copy_only=False) for k in range(1, 5)}
    lon = {k: fp[f"corner{k}_lon"].to_numpy(zero_copy_only=False) for k in range(1, 5)}
    d13 = g.inv(lon[1], lat[1], lon[3], lat[3])[2]
    d24 = g.inv(lon[2], lat[2], lon[4], lat[4])[2]
    return 0.5 * np.maximum(d13, d24)


@pytest.mark.parametrize("name", PLATFORM)
def test_platform_footprints_carry_the_unchecked_ce90(name: str, tmp_path: Path) -> None:
    """The platform's own frame centre is unchecked: its CE90 is the frame's half-diagonal,
    unknown (NaN) where the platform sends no corners to bound it (the ST 0902 minimum set)."""
    fp = footprints_file(real(name), tmp_path / "fp.parquet")
    valid = fp.filter(fp["valid"])
    assert (valid.num_rows == 0) == ("0902" in name)
    ce90 = valid["center_ce90_m"].to_numpy(zero_copy_only=False)
    np.testing.assert_allclose(ce90, _half_diagonal_geodesic_m(valid), rtol=5e-3)
    invalid = fp.filter(pa.compute.invert(fp["valid"]))
    assert np.isnan(invalid["center_ce90_m"].to_numpy(zero_copy_only=False)).all()


@pytest.mark.parametrize("name", [n for n, _, _ in SENSOR_MODEL])
def test_sensor_model_footprints_carry_the_propagated_ce90(name: str, tmp_path: Path) -> None:
    """The centre's CE90 is the pose uncertainty propagated to the centre pixel (the one
    propagation of vigia.geo.pixel_to_ground), over the plane at the centre's height."""
    fp = footprints_file(real(name), tmp_path / "fp.parquet")
    tel = telemetry(real(name))
    ce90 = fp["center_ce90_m"].to_numpy(zero_copy_only=False)
    assert np.isfinite(ce90).all() and (ce90 > 0).all()
    g = geo.pixel_to_ground(
        tel,
        np.arange(tel.num_rows),
        640.0,
        360.0,
        1280,
        720,
        terrain_height_m=fp["center_h"].to_numpy(zero_copy_only=False),
    )
    np.testing.assert_allclose(ce90, g["ce90_m"], rtol=1e-9)
    # it grows with the slant range: a longer lever arm for the same angular errors
    slant = fp["slant_range_m"].to_numpy(zero_copy_only=False)
    assert np.corrcoef(slant, ce90)[0, 1] > 0.5
