"""The process stage: ``inspect``, ``telemetry``, ``footprints``, ``coverage``, ``compliance``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from vigia.cli.errors import EXIT_OF_VERDICT
from vigia.cli.options import (
    DemOpt,
    DurationOpt,
    JsonOpt,
    SourceArg,
    StreamElevationOpt,
    StrictOpt,
    TerrainHeightOpt,
    console,
    out,
    progress_bars,
    terrain,
)
from vigia.cli.root import app


@app.command()
def inspect(
    source: SourceArg,
    as_json: JsonOpt = False,
    strict: StrictOpt = False,
    duration: DurationOpt = None,
    gap: Annotated[float, typer.Option(help="A time step longer than this is a gap (s)")] = 1.0,
    geo: Annotated[
        bool, typer.Option("--geo", help="Compare our frame centre and corners to the platform's")
    ] = False,
    terrain_height: TerrainHeightOpt = None,
    dem: DemOpt = None,
    stream_elevation: StreamElevationOpt = False,
) -> None:
    """Summarise a sortie: duration, packets, items, platform, track, damage."""
    from vigia.app.process import inspect_source

    opts = terrain(terrain_height, dem, stream_elevation=stream_elevation)
    with progress_bars() as bars:
        report = inspect_source(
            source, opts, strict=strict, duration_s=duration, gap_s=gap, geo=geo, progress=bars
        )
    if as_json:
        out.print_json(json.dumps(report, default=str))
    else:
        print_inspect(report)


def print_inspect(r: dict[str, Any]) -> None:
    """The report of :func:`vigia.app.process.inspect_source` as two tables."""
    from vigia.klv.st0601 import BY_COLUMN

    t = Table(title=f"Sortie {r['source']}", show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column()
    dur = r["duration_s"]
    klv = r["klv"]
    rows = [
        ("kind", f"{r['kind']}  ({r['size_bytes'] or 0:,} bytes)"),
        (
            "packets",
            f"{r['packets']:,} ST 0601"
            if r["packets"] == klv["packets"]
            else f"{r['packets']:,} telemetry rows ({klv['packets']:,} ST 0601)",
        ),
        ("KLV families", ", ".join(f"{k} ({v:,})" for k, v in klv["families"].items()) or "-"),
        ("time", f"{r['start']} → {r['end']}"),
        ("duration", "unknown" if dur is None else f"{dur:,.1f} s ({dur / 3600:.2f} h)"),
        ("mission id", str(r["mission_id"] or "-")),
        ("platform", f"{r['platform'] or '-'}  tail {r['tail_number'] or '-'}"),
        ("sensors", ", ".join(f"{k} ({v:,})" for k, v in r["sensors"].items()) or "-"),
    ]
    bb = r["track_bbox"]
    if bb:
        rows.append(
            (
                "track bbox",
                f"lat {bb['min_lat']:.5f}…{bb['max_lat']:.5f}, "
                f"lon {bb['min_lon']:.5f}…{bb['max_lon']:.5f}",
            )
        )
    rows += [
        ("checksum failures", f"{klv['checksum_failures']:,}"),
        ("damaged packets", f"{klv['damaged_packets']:,} ({klv['bytes_skipped']:,} bytes skipped)"),
        ("gaps", f"{r['gaps']['count']:,} longer than {r['gaps']['threshold_s']} s"),
    ]
    if r["transport"]:
        tr = r["transport"]
        cc = tr.get("cc_errors", {})
        rows.append(("CC errors", f"{sum(cc.values()) if isinstance(cc, dict) else cc:,}"))
        rows.append(("TS resyncs", f"{tr.get('resyncs', 0):,}"))
    vm = r.get("vmti")
    if vm and vm["packets"]:
        rows.append(
            (
                "VMTI",
                f"{vm['packets']:,} packets ({vm['standalone_packets']:,} stand-alone), "
                f"{vm['targets']:,} targets, {vm['malformed_packets']:,} malformed",
            )
        )
    if klv["deviations"]:
        rows.append(("recovered", ", ".join(f"{k} ({v:,})" for k, v in klv["deviations"].items())))
    if klv["damage"]:
        rows.append(("damaged rows", ", ".join(f"{k} ({v:,})" for k, v in klv["damage"].items())))
    if klv["sentinels"]:
        rows.append(("error values", ", ".join(f"{k} ({v})" for k, v in klv["sentinels"].items())))
    if klv["item_errors"]:
        rows.append(("bad items", ", ".join(f"{k} ({v})" for k, v in klv["item_errors"].items())))
    g = r.get("geo_vs_platform")
    if g:
        for part in ("frame_center", "corners"):
            st = g[part]
            text = (
                "no platform values"
                if not st["n"]
                else f"median {st['median_m']:.2f} m, p95 {st['p95_m']:.2f} m (n={st['n']:,})"
            )
            rows.append((f"ours vs platform {part.replace('_', ' ')}", text))
        b = g["bearing_offset"]
        if b["n"]:
            rows.append(
                (
                    "platform frame centre bearing",
                    f"off our boresight by median {b['median_deg']:.2f} deg, p95 "
                    f"{b['p95_deg']:.2f} deg: {g['platform_pose']}",
                )
            )
    for k, v in rows:
        t.add_row(k, v)
    out.print(t)
    items = Table(title="Items present", title_justify="left")
    items.add_column("tag", justify="right")
    items.add_column("item")
    items.add_column("packets", justify="right")
    for col, n in r["items_present"].items():
        it = BY_COLUMN.get(col)
        items.add_row(str(it.tag) if it else "", it.name if it else col, f"{n:,}")
    out.print(items)
    for w in r.get("warnings", []):
        console.print(f"[yellow]warning:[/yellow] {w}")


@app.command()
def telemetry(
    source: SourceArg,
    output: Annotated[Path, typer.Option("-o", "--output", help="Output .parquet file")],
    strict: StrictOpt = False,
    duration: DurationOpt = None,
) -> None:
    """Decode a sortie's ST 0601 telemetry into one GeoParquet table."""
    from vigia.app.telemetry import decode_telemetry

    with progress_bars() as bars:
        done = decode_telemetry(source, output, strict=strict, duration_s=duration, progress=bars)
    print_telemetry(done)


def print_telemetry(done: Any) -> None:
    """One line about a :class:`vigia.app.process.TelemetryDone`."""
    st = done.stats
    console.print(
        f"{done.rows:,} packets → {done.path}  "
        f"(checksum failures {st.checksum_failures:,}, damaged {st.damaged_packets:,})"
    )


@app.command("footprints")
def footprints_cmd(
    source: SourceArg,
    output: Annotated[
        Path,
        typer.Option("-o", "--output", help="Output .parquet (GeoParquet), .geojson or .json"),
    ],
    terrain_height: TerrainHeightOpt = None,
    dem: DemOpt = None,
    stream_elevation: StreamElevationOpt = False,
    frame_width: Annotated[int, typer.Option(help="Frame width (pixels), for the GSD")] = 1280,
    frame_height: Annotated[int, typer.Option(help="Frame height (pixels)")] = 720,
    strict: StrictOpt = False,
) -> None:
    """Ground footprint of every frame: centre, corners, slant range, GSD, validity."""
    from vigia.app.process import footprints_to_file

    opts = terrain(
        terrain_height,
        dem,
        stream_elevation=stream_elevation,
        frame_width=frame_width,
        frame_height=frame_height,
    )
    with progress_bars() as bars:
        rows = footprints_to_file(source, output, opts, strict=strict, progress=bars)
    console.print(f"{rows:,} footprints → {output}")


@app.command()
def coverage(
    sources: Annotated[list[str], typer.Argument(help="Sortie sources (files or udp://)")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output cells .parquet")],
    png: Annotated[Path | None, typer.Option("--png", help="Also draw a coverage map")] = None,
    aois: Annotated[Path | None, typer.Option("--aois", help="AOI GeoJSON to outline")] = None,
    res: Annotated[int, typer.Option(help="H3 resolution")] = 10,
    pass_gap: Annotated[float, typer.Option(help="Seconds between distinct passes")] = 120.0,
    by: Annotated[str, typer.Option(help="Colour the map by 'passes' or 'gsd'")] = "passes",
    terrain_height: TerrainHeightOpt = None,
    dem: DemOpt = None,
    stream_elevation: StreamElevationOpt = False,
) -> None:
    """Accumulate footprints into H3 cells: first/last seen, passes, best GSD, EO/IR, day/night."""
    from vigia.app.process import coverage_to_file

    cells = coverage_to_file(
        sources,
        output,
        terrain(terrain_height, dem, stream_elevation=stream_elevation),
        png=png,
        aois=aois,
        res=res,
        pass_gap_s=pass_gap,
        by=by,
    )
    print_coverage(cells.num_rows, output, png)


def print_coverage(n_cells: int, output: Path, png: Path | None) -> None:
    """One line about the cells (and map) written."""
    console.print(f"{n_cells:,} cells → {output}" + (f", map → {png}" if png else ""))


@app.command()
def compliance(
    source: SourceArg,
    aois: Annotated[Path, typer.Option("--aois", help="Consented AOIs (GeoJSON)")],
    as_json: JsonOpt = False,
    res: Annotated[int, typer.Option(help="H3 resolution of the area accounting")] = 10,
    terrain_height: TerrainHeightOpt = None,
    dem: DemOpt = None,
    stream_elevation: StreamElevationOpt = False,
) -> None:
    """Consent compliance: observed ground inside consent, and every out-of-consent span.

    The verdict is compliant (exit 0), not_compliant (exit 3: something was observed outside
    consent) or undetermined (exit 4: a frame could not be placed on the ground, or no frame).
    """
    from vigia.app.process import compliance_report

    report = compliance_report(
        source, aois, terrain(terrain_height, dem, stream_elevation=stream_elevation), res=res
    )
    if as_json:
        out.print_json(json.dumps(report.to_dict(), default=str))
    else:
        out.print(report.to_rich())
    code = EXIT_OF_VERDICT[report.verdict]
    if code:
        raise typer.Exit(code)
