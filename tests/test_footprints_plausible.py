"""Damaged data never becomes geometry: a real stream with one bit-flipped time, one position
jump, one garbage pose and one packet the decoder flagged keeps those rows, invalid with their
reason, and only those; clean real streams and the scenario lose nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from tests.helpers.data import data_path
from vigia.app.process import iter_footprints
from vigia.footprints import Footprinter, TerrainOptions
from vigia.footprints.plausible import MAX_PLATFORM_SPEED_MPS
from vigia.scenario.sortie import write_sample_sortie
from vigia.telemetry.source import TelemetryReader

#: What a bit flip in the top bytes of ST 0601 item 2 decodes to: the year 4310 (µs).
YEAR_4310_US = 73_869_000_000 * 1_000_000


def _telemetry(name: str) -> pa.Table:
    return pa.concat_tables(list(TelemetryReader(str(data_path("realdata", name)))))


def _set(table: pa.Table, name: str, row: int, value: object) -> pa.Table:
    field = table.schema.field(name)
    values = table.column(name).to_pylist()
    values[row] = value
    return table.set_column(table.schema.get_field_index(name), field, pa.array(values, field.type))


def _reasons(table: pa.Table) -> list[str]:
    # the stream's elevation named: a moved sensor no longer agrees with the platform's frame
    # centre, which the default terrain would refuse (tests/test_terrain_real.py)
    with Footprinter(TerrainOptions(use_stream_elevation=True)) as fp:
        _, out = fp(table)
    assert out.num_rows == table.num_rows  # nothing is dropped
    valid = out["valid"].to_pylist()
    reasons = out["reason"].to_pylist()
    assert [r == "ok" for r in reasons] == valid
    return reasons


def test_each_kind_of_damage_is_flagged_alone() -> None:
    clean = _telemetry("Cheyenne.bin")
    assert set(_reasons(clean)) == {"ok"}
    t = clean
    times = t.column("precision_time_stamp").cast(pa.int64()).to_pylist()
    times[100] = YEAR_4310_US
    t = t.set_column(
        t.schema.get_field_index("precision_time_stamp"),
        t.schema.field("precision_time_stamp"),
        pa.array(times, pa.int64()).cast(t.schema.field("precision_time_stamp").type),
    )
    lat = t.column("sensor_latitude").to_pylist()
    t = _set(t, "sensor_latitude", 200, lat[200] + 1.0)  # 111 km in a fifth of a second
    # a garbage pose: looking straight down through a 150-degree lens
    t = _set(t, "sensor_relative_elevation_angle", 300, -85.0)
    t = _set(t, "sensor_horizontal_field_of_view", 300, 150.0)
    t = _set(t, "sensor_vertical_field_of_view", 300, 150.0)
    t = _set(t, "damage", 50, "checksum")  # as the decoder flags a failed checksum
    reasons = _reasons(t)
    flagged = {i: r for i, r in enumerate(reasons) if r != "ok"}
    assert flagged.get(50) == "damaged"
    assert flagged.get(100) == "bad_time"
    assert flagged.get(200) == "position_jump"
    assert flagged.get(300) in (
        "footprint_too_large",
        "bad_fov",
        "above_horizon",
        "corner_above_horizon",
    )
    assert set(flagged) == {50, 100, 200, 300}  # the neighbours of a damaged packet stay good


def test_a_jump_slower_than_the_platform_is_not_flagged() -> None:
    t = _telemetry("Cheyenne.bin")
    lat = np.asarray(t.column("sensor_latitude").to_pylist())
    # a steady drift of 100 m/s north over the whole stream: fast, but possible
    times = t.column("precision_time_stamp").cast(pa.int64()).to_numpy() / 1e6
    drift = (times - times[0]) * (0.8 * MAX_PLATFORM_SPEED_MPS) / 111_000.0
    t = t.set_column(
        t.schema.get_field_index("sensor_latitude"), "sensor_latitude", pa.array(lat + drift)
    )
    assert "position_jump" not in _reasons(t)


@pytest.mark.parametrize("name", ["Cheyenne.bin", "predator.klv"])
def test_clean_real_streams_lose_nothing(name: str) -> None:
    assert set(_reasons(_telemetry(name))) == {"ok"}


def test_the_scenario_loses_nothing(tmp_path: Path) -> None:
    sortie = write_sample_sortie(tmp_path / "s.ts", minutes=2.0)
    tables = list(iter_footprints(TelemetryReader(str(sortie)), TerrainOptions()))
    assert set(pa.concat_tables(tables)["reason"].to_pylist()) == {"ok"}


def test_vmti_of_a_damaged_packet_is_not_placed(tmp_path: Path) -> None:
    from vigia.exploit.vmti import vmti_observations
    from vigia.exploit.vocabulary import default_vocabulary
    from vigia.scenario import build_world, fly_sorties

    (sortie,) = fly_sorties(build_world(5), tmp_path, 1, minutes=2.0)
    tel = pa.concat_tables(list(TelemetryReader(str(sortie.path))))
    vocab = default_vocabulary()
    clean = vmti_observations(tel, vocab, sortie="S", use_stream_elevation=True)
    assert clean.num_rows and set(clean["status"].to_pylist()) == {"ok"}
    offsets = tel["source_offset"].to_pylist()
    hit = offsets.index(clean["source_offset"][clean.num_rows // 2].as_py())
    damaged = vmti_observations(
        _set(tel, "damage", hit, "checksum"),
        vocab,
        sortie="S",
        use_stream_elevation=True,
    )
    assert damaged.num_rows == clean.num_rows  # kept, not dropped
    bad = [r for r in damaged.to_pylist() if r["status"] != "ok"]
    assert bad and all(r["reason"] == "damaged packet: damaged" for r in bad)
    assert len(bad) == sum(
        1 for r in clean.to_pylist() if r["source_offset"] == tel["source_offset"][hit].as_py()
    )


def test_targets_of_an_unusable_pose_are_placed_on_the_platform_corners(tmp_path: Path) -> None:
    """With the pitch gone (the pose unusable) but the platform's frame centre and corners sent,
    VMTI targets are placed on those corners: 'platform_corners', a CE90 of the frame's
    half-diagonal that covers the true error, never 'sensor_model'."""
    from vigia.exploit.vmti import vmti_observations
    from vigia.exploit.vocabulary import default_vocabulary
    from vigia.scenario import build_world, fly_sorties

    (sortie,) = fly_sorties(build_world(5), tmp_path, 1, minutes=2.0)
    tel = pa.concat_tables(list(TelemetryReader(str(sortie.path))))
    pitch = tel.schema.get_field_index("platform_pitch_angle")
    no_pitch = tel.set_column(
        pitch, tel.schema.field(pitch), pa.nulls(tel.num_rows, tel.schema.field(pitch).type)
    )
    vocab = default_vocabulary()
    clean = vmti_observations(tel, vocab, sortie="S", use_stream_elevation=True)
    placed = vmti_observations(no_pitch, vocab, sortie="S", use_stream_elevation=True)
    assert placed.num_rows == clean.num_rows > 0
    by = placed["geolocated_by"].to_pylist()
    assert "sensor_model" not in by and by.count("platform_corners") > 0
    rows = [r for r in placed.to_pylist() if r["geolocated_by"] == "platform_corners"]
    assert all(r["status"] == "ok" for r in rows)
    ref = {r["obs_id"]: r for r in clean.to_pylist()}
    errs = []
    for r in rows:
        c = ref[r["obs_id"]]
        d_m = np.hypot((r["lat"] - c["lat"]) * 111_000, (r["lon"] - c["lon"]) * 111_000 * 0.9)
        errs.append(d_m)
        assert d_m < r["ce90_m"]  # the unchecked CE90 covers where the pose put it
    assert np.median(errs) < 30.0  # the corners' projective map is close to the pose
