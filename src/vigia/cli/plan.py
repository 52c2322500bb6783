"""``vigia plan run`` (a sortie plan or a revisit schedule) and ``vigia plan compare``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from vigia.cli.errors import group
from vigia.cli.format import print_summary
from vigia.cli.options import (
    DemOpt,
    JsonOpt,
    StreamElevationOpt,
    TerrainHeightOpt,
    console,
    out,
    terrain,
)
from vigia.cli.root import app

plan_app = group(
    help="Plan sorties over consented AOIs, schedule revisits, compare plans with what was flown."
)
app.add_typer(plan_app, name="plan")


@plan_app.command("run")
def plan_run(
    aois: Annotated[Path, typer.Option("--aois", help="AOI GeoJSON")],
    base: Annotated[str, typer.Option("--base", help="Base as LAT,LON (degrees)")],
    start: Annotated[str, typer.Option(help="Take-off time, ISO 8601 with offset")],
    platform: Annotated[str, typer.Option(help="Platform profile name or JSON file")] = "mq9",
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            help="Plan .geojson (a .kml beside it too); with --until, the schedule .json",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON")] = False,
    until: Annotated[
        str | None, typer.Option(help="Schedule revisits from --start until this time")
    ] = None,
) -> None:
    """Plan one sortie (or, with --until, a revisit schedule) over the consented AOIs."""
    from vigia.app.plan import plan_run as run

    summary = run(aois, base, start, platform=platform, until=until, output=output)
    if as_json:
        out.print_json(json.dumps(summary, default=str))
    else:
        print_plan(summary, output)


def print_plan(summary: dict[str, Any], output: Path | None) -> None:
    """The summary of a plan (or schedule) as a table, and where it was written."""
    print_summary("Plan / Plan de vuelo", summary)
    if output is not None:
        console.print(f"plan → {output}")


@plan_app.command("compare")
def plan_compare(
    plan_file: Annotated[Path, typer.Argument(help="A plan GeoJSON from `vigia plan run`")],
    sources: Annotated[list[str], typer.Argument(help="Flown sorties (files or udp://)")],
    aois: Annotated[
        Path | None, typer.Option("--aois", help="Put flown coverage through consent")
    ] = None,
    as_json: JsonOpt = False,
    terrain_height: TerrainHeightOpt = None,
    dem: DemOpt = None,
    stream_elevation: StreamElevationOpt = False,
) -> None:
    """Compare a plan with what was flown: covered, missed and out-of-plan areas."""
    from vigia.app.plan import plan_vs_flown

    opts = terrain(terrain_height, dem, stream_elevation=stream_elevation)
    summary = plan_vs_flown(plan_file, sources, opts, aois=aois)
    if as_json:
        out.print_json(json.dumps(summary, default=str))
    else:
        print_summary("Plan vs flown / Plan contra lo volado", summary)
