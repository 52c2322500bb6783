"""The ``vigia`` command itself: one error handler, --version, -h, flags in help, output
extensions, tables without Python reprs, and the ``plan`` group."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from vigia.cli import app
from vigia.errors import OutputFormatError
from vigia.plan import demo_plan_aois_path
from vigia.scenario.sortie import write_sample_sortie

runner = CliRunner()
KLV = Path(__file__).parent / "data" / "klv"
PLAN = [
    "--aois",
    str(demo_plan_aois_path()),
    "--base",
    "24.764,-107.474",
    "--start",
    "2026-03-14T19:00:00-07:00",
]


@pytest.fixture(scope="module")
def sortie(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sample_sortie(tmp_path_factory.mktemp("s") / "sortie.ts", minutes=0.5)


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


# --- the one error handler ----------------------------------------------------------------
def test_vigia_error_is_one_line_and_exit_2(tmp_path: Path) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00not klv at all" * 10)
    res = runner.invoke(app, ["inspect", str(junk)])
    assert res.exit_code == 2
    assert res.stdout == ""
    lines = _lines(res.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert "Traceback" not in res.output


def test_vigia_error_from_a_subgroup(tmp_path: Path) -> None:
    res = runner.invoke(app, ["sites", "show", "nope", "--data-dir", str(tmp_path)])
    assert res.exit_code == 2
    assert len(_lines(res.stderr)) == 1 and res.stderr.startswith("error: ")


def test_unexpected_error_is_one_line_with_a_debug_hint(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import vigia.app.process

    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("division by zero in the summary")

    monkeypatch.setattr(vigia.app.process, "inspect_source", broken)
    src = str(KLV / "st0601_example_dynamic_only.bin")
    res = runner.invoke(app, ["inspect", src])
    assert res.exit_code == 1
    lines = _lines(res.stderr)
    assert len(lines) == 1, res.stderr
    assert "ZeroDivisionError" in lines[0] and "--debug" in lines[0]
    assert "Traceback" not in res.output
    res = runner.invoke(app, ["--debug", "inspect", src])
    assert res.exit_code == 1
    assert "Traceback (most recent call last)" in res.stderr
    assert "in broken" in res.stderr and "division by zero in the summary" in res.stderr


def test_a_message_of_several_lines_is_printed_on_one(monkeypatch: pytest.MonkeyPatch) -> None:
    import vigia.app.process
    from vigia.errors import ConsentError

    def refuse(*args: object, **kwargs: object) -> None:
        raise ConsentError("2 AOIs refused:\n  #0 Bowtie: self-intersecting\n  #3 Hole: empty")

    monkeypatch.setattr(vigia.app.process, "inspect_source", refuse)
    res = runner.invoke(app, ["inspect", str(KLV / "st0601_example_dynamic_only.bin")])
    assert res.exit_code == 2
    assert res.stderr == "error: 2 AOIs refused:; #0 Bowtie: self-intersecting; #3 Hole: empty\n"


def test_usage_errors_stay_usage_errors() -> None:
    res = runner.invoke(app, ["footprints"])
    assert res.exit_code == 2
    assert "Usage:" in res.output and "error: " not in res.output


# --- --version, -h, flags -----------------------------------------------------------------
def test_version() -> None:
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0
    assert res.stdout.strip() == f"vigia {version('vigia')}"


def _commands(cmd: typer.core.TyperGroup, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    for name, sub in getattr(cmd, "commands", {}).items():
        found += _commands(sub, (*path, name))
    return found


def test_every_command_has_short_help_and_shows_flags_as_flags() -> None:
    root = typer.main.get_command(app)
    paths = _commands(root)
    assert ("plan", "run") in paths and ("users", "add") in paths and len(paths) > 20
    for path in paths:
        short = runner.invoke(app, [*path, "-h"])
        assert short.exit_code == 0, (path, short.output)
        assert short.output.startswith("Usage: "), path
        assert short.output == runner.invoke(app, [*path, "--help"]).output
        assert "<bool>" not in short.output, (path, short.output)
    help_text = runner.invoke(app, ["footprints", "-h"]).output
    assert "--stream-elevation " in help_text and "--strict " in help_text
    assert "--no-strict" not in help_text


# --- output extensions ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("command", "name"),
    [
        ("footprints", "fp.txt"),
        ("footprints", "fp.csv"),
        ("footprints", "fp"),
        ("telemetry", "tel.geojson"),
        ("coverage", "cells.csv"),
    ],
)
def test_bad_output_extension_is_refused(
    sortie: Path, tmp_path: Path, command: str, name: str
) -> None:
    out = tmp_path / name
    res = runner.invoke(app, [command, str(sortie), "-o", str(out)])
    assert res.exit_code == 2, res.output
    assert len(_lines(res.stderr)) == 1 and "extension" in res.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_plan_output_extension_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "plan.kml"
    res = runner.invoke(app, ["plan", "run", *PLAN, "-o", str(out)])
    assert res.exit_code == 2, res.output
    assert "extension" in res.stderr and list(tmp_path.iterdir()) == []


def test_footprints_writer_refuses_unknown_extension(tmp_path: Path) -> None:
    from vigia.app.process import write_footprints

    with pytest.raises(OutputFormatError, match=r"\.parquet, \.geojson, \.json"):
        write_footprints(iter(()), tmp_path / "fp.shp")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["fp.geojson", "fp.json", "FP.GEOJSON"])
def test_geojson_output_is_geojson(sortie: Path, tmp_path: Path, name: str) -> None:
    out = tmp_path / name
    res = runner.invoke(app, ["footprints", str(sortie), "-o", str(out), "--terrain-height", "60"])
    assert res.exit_code == 0, res.output
    fc = json.loads(out.read_text())
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 900
    assert {f["geometry"]["type"] for f in fc["features"]} == {"Polygon"}


# --- tables ---------------------------------------------------------------------------------
def _no_repr(text: str) -> None:
    for bad in ("{'", "['", '{"', '["', "None"):
        assert bad not in text, (bad, text)


def test_tables_have_no_python_reprs(sortie: Path, tmp_path: Path) -> None:
    plan_path = tmp_path / "plan.geojson"
    res = runner.invoke(app, ["plan", "run", *PLAN, "-o", str(plan_path)])
    assert res.exit_code == 0, res.output
    _no_repr(res.stdout)
    assert "24.76400, -107.47400" in res.stdout  # the base, as LAT, LON
    res = runner.invoke(app, ["plan", "compare", str(plan_path), str(sortie)])
    assert res.exit_code == 0, res.output
    _no_repr(res.stdout)
    assert "covered" in res.stdout
    res = runner.invoke(app, ["inspect", str(sortie)])
    assert res.exit_code == 0, res.output
    _no_repr(res.stdout)
    res = runner.invoke(app, ["plan", "run", *PLAN, "--until", "2026-03-16T19:00:00-07:00"])
    assert res.exit_code == 0, res.output
    _no_repr(res.stdout)


def test_format_value() -> None:
    from vigia.cli.format import format_value

    assert format_value({"lat": 19.4321, "lon": -99.1332}) == "19.43210, -99.13320"
    assert format_value([{"aoi": "A", "km2": 1.5}, "x"]) == "aoi A · km2 1.500\nx"
    assert format_value({"cells": 3, "inner": {"n": None}}) == "cells 3 · inner n -"


# --- the plan group -------------------------------------------------------------------------
def test_plan_is_a_group_of_run_and_compare(tmp_path: Path) -> None:
    plan_group = typer.main.get_command(app).commands["plan"]  # type: ignore[attr-defined]
    assert sorted(plan_group.commands) == ["compare", "run"]
    assert not plan_group.params  # no options of its own: `vigia plan` runs nothing
    res = runner.invoke(app, ["plan", *PLAN])
    assert res.exit_code == 2 and "No such option: --aois" in res.output
    res = runner.invoke(app, ["plan"])
    assert "run" in res.output and "compare" in res.output
    res = runner.invoke(app, ["plan", "run", *PLAN, "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["duration_h"] > 0
