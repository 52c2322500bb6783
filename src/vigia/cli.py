"""The ``vigia`` command: a thin shell over the pipeline stages."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from vigia.errors import VigiaError
from vigia.klv.st0601 import BY_COLUMN

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Vigía: FMV metadata processing for the partner counter-drug surveillance program.",
)
console = Console(stderr=True)
out = Console()

#: Files larger than this get a progress bar (bytes).
PROGRESS_MIN_BYTES = 4 << 20

TerrainHeightOpt = Annotated[
    float | None,
    typer.Option("--terrain-height", help="Terrain height above the ellipsoid (m)"),
]
DemOpt = Annotated[
    Path | None, typer.Option("--dem", help="A DEM GeoTIFF (heights in m above the ellipsoid)")
]

SourceArg = Annotated[
    str, typer.Argument(help="A .ts/.mpg transport stream, a raw KLV file, or udp://HOST:PORT")
]


@contextmanager
def _progress_factory() -> Iterator[Callable[[str, int | None], Callable[[int], None] | None]]:
    """A factory of per-file byte progress bars sharing one Rich display; small or live
    sources, and output that is not a terminal, get none."""
    if not console.is_terminal:
        yield lambda label, size: None
        return
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as prog:

        def make(label: str, size: int | None) -> Callable[[int], None] | None:
            if size is None or size < PROGRESS_MIN_BYTES:
                return None
            task = prog.add_task(label, total=size)
            return lambda n: prog.advance(task, n)

        yield make


@contextmanager
def _progress(size: int | None, label: str) -> Iterator[Callable[[int], None] | None]:
    """A Rich progress bar over ``size`` bytes, or nothing for small or live sources."""
    with _progress_factory() as make:
        yield make(label, size)


def _terrain(
    terrain_height: float | None,
    dem: Path | None,
    *,
    stream_elevation: bool = False,
    frame_width: int = 1280,
    frame_height: int = 720,
) -> Any:
    from vigia.footprints import TerrainOptions

    if terrain_height is not None and dem is not None:
        raise VigiaError("give --terrain-height or --dem, not both")
    return TerrainOptions(
        terrain_height_m=terrain_height,
        dem_path=str(dem) if dem else None,
        use_stream_elevation=stream_elevation,
        frame_width_px=frame_width,
        frame_height_px=frame_height,
    )


def _open_dem(opts: Any) -> Any:
    from vigia.geo import Dem

    return Dem(opts.dem_path) if opts.dem_path else None


def _fail(exc: VigiaError) -> None:
    console.print(f"[bold red]error:[/] {exc}")
    raise typer.Exit(code=2)


@app.command()
def inspect(
    source: SourceArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")] = False,
    strict: Annotated[bool, typer.Option(help="Stop at the first damaged packet")] = False,
    duration: Annotated[
        float | None, typer.Option(help="Seconds to listen to a udp:// source")
    ] = None,
    gap: Annotated[float, typer.Option(help="A time step longer than this is a gap (s)")] = 1.0,
    geo: Annotated[
        bool, typer.Option("--geo", help="Compare our frame centre and corners to the platform's")
    ] = False,
    terrain_height: TerrainHeightOpt = None,
    dem: DemOpt = None,
) -> None:
    """Summarise a sortie: duration, packets, items, platform, track, damage."""
    from vigia.footprints import GeoAccuracy, compute_footprints
    from vigia.telemetry.source import TelemetryReader, describe
    from vigia.telemetry.table import TelemetrySummary

    accuracy = GeoAccuracy() if geo else None
    try:
        info = describe(source)
        summary = TelemetrySummary(gap_s=gap)
        opts = _terrain(
            terrain_height, dem, stream_elevation=terrain_height is None and dem is None
        )
        dem_obj = _open_dem(opts)
        with _progress(info.size, "reading") as prog:
            reader = TelemetryReader(source, strict=strict, duration_s=duration, progress=prog)
            for table in reader:
                summary.update(table)
                if accuracy is not None:
                    accuracy.update(table, compute_footprints(table, dem_obj, opts))
    except VigiaError as exc:
        _fail(exc)
        return
    report: dict[str, Any] = {
        "source": info.name,
        "kind": info.kind,
        "size_bytes": info.size,
        **summary.as_dict(),
        "klv": reader.stats.as_dict(),
        "transport": reader.transport_stats(),
    }
    if accuracy is not None:
        report["geo_vs_platform"] = accuracy.as_dict()
    if as_json:
        out.print_json(json.dumps(report, default=str))
        return
    _print_inspect(report)


def _print_inspect(r: dict[str, Any]) -> None:
    t = Table(title=f"Sortie {r['source']}", show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column()
    dur = r["duration_s"]
    klv = r["klv"]
    rows = [
        ("kind", f"{r['kind']}  ({r['size_bytes'] or 0:,} bytes)"),
        ("packets", f"{r['packets']:,} ST 0601"),
        ("time", f"{r['start']} → {r['end']}"),
        ("duration", "unknown" if dur is None else f"{dur:,.1f} s ({dur / 3600:.2f} h)"),
        ("mission id", str(r["mission_id"])),
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


@app.command()
def telemetry(
    source: SourceArg,
    output: Annotated[Path, typer.Option("-o", "--output", help="Output .parquet file")],
    strict: Annotated[bool, typer.Option(help="Stop at the first damaged packet")] = False,
    duration: Annotated[
        float | None, typer.Option(help="Seconds to listen to a udp:// source")
    ] = None,
) -> None:
    """Decode a sortie's ST 0601 telemetry into one GeoParquet table."""
    from vigia.telemetry.source import TelemetryReader, describe
    from vigia.telemetry.table import TelemetryWriter

    try:
        info = describe(source)
        with _progress(info.size, "decoding") as prog:
            reader = TelemetryReader(source, strict=strict, duration_s=duration, progress=prog)
            with TelemetryWriter(output) as writer:
                for table in reader:
                    writer.write(table)
    except VigiaError as exc:
        _fail(exc)
        return
    st = reader.stats
    console.print(
        f"{writer.rows:,} packets → {output}  "
        f"(checksum failures {st.checksum_failures:,}, damaged {st.damaged_packets:,})"
    )


@app.command("footprints")
def footprints_cmd(
    source: SourceArg,
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Output .parquet (GeoParquet) or .geojson")
    ],
    terrain_height: TerrainHeightOpt = None,
    dem: DemOpt = None,
    stream_elevation: Annotated[
        bool, typer.Option(help="Use the stream's own frame-centre elevation as terrain")
    ] = False,
    frame_width: Annotated[int, typer.Option(help="Frame width (pixels), for the GSD")] = 1280,
    frame_height: Annotated[int, typer.Option(help="Frame height (pixels)")] = 720,
    strict: Annotated[bool, typer.Option(help="Stop at the first damaged packet")] = False,
) -> None:
    """Ground footprint of every frame: centre, corners, slant range, GSD, validity."""
    from vigia.app.process import iter_footprints, write_footprints
    from vigia.telemetry.source import TelemetryReader, describe

    try:
        opts = _terrain(
            terrain_height,
            dem,
            stream_elevation=stream_elevation,
            frame_width=frame_width,
            frame_height=frame_height,
        )
        info = describe(source)
        with _progress(info.size, "footprints") as prog:
            reader = TelemetryReader(source, strict=strict, progress=prog)
            rows = write_footprints(iter_footprints(reader, opts), output)
    except VigiaError as exc:
        _fail(exc)
        return
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
) -> None:
    """Accumulate footprints into H3 cells: first/last seen, passes, best GSD, EO/IR, day/night."""
    from vigia.app.process import iter_footprints
    from vigia.coverage import coverage_from_footprints, load_aois, plot_coverage, write_cells
    from vigia.telemetry.source import TelemetryReader

    try:
        opts = _terrain(terrain_height, dem)
        registry = load_aois(aois) if aois else None

        def all_footprints() -> Iterator[Any]:
            for src in sources:
                yield from iter_footprints(TelemetryReader(src), opts)

        cells = coverage_from_footprints(all_footprints(), res=res, pass_gap_s=pass_gap)
        write_cells(cells, output)
        if png is not None:
            plot_coverage(cells, png, aois=registry, by=by, title=", ".join(sources))
    except VigiaError as exc:
        _fail(exc)
        return
    console.print(f"{cells.num_rows:,} cells → {output}" + (f", map → {png}" if png else ""))


@app.command()
def compliance(
    source: SourceArg,
    aois: Annotated[Path, typer.Option("--aois", help="Consented AOIs (GeoJSON)")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    res: Annotated[int, typer.Option(help="H3 resolution of the area accounting")] = 10,
    terrain_height: TerrainHeightOpt = None,
    dem: DemOpt = None,
) -> None:
    """Consent compliance: observed ground inside consent, and every out-of-consent span."""
    from vigia.app.process import iter_footprints
    from vigia.coverage import compliance as run_compliance
    from vigia.coverage import load_aois
    from vigia.telemetry.source import TelemetryReader

    try:
        registry = load_aois(aois)
        opts = _terrain(terrain_height, dem)
        report = run_compliance(
            iter_footprints(TelemetryReader(source), opts), registry, h3_res=res
        )
    except VigiaError as exc:
        _fail(exc)
        return
    if as_json:
        out.print_json(json.dumps(report.to_dict(), default=str))
    else:
        out.print(report.to_rich())


plan_app = typer.Typer(
    help="Plan sorties over consented AOIs, schedule revisits, compare plans with what was flown."
)
app.add_typer(plan_app, name="plan")


@plan_app.callback(invoke_without_command=True)
def plan(
    ctx: typer.Context,
    aois: Annotated[Path | None, typer.Option("--aois", help="AOI GeoJSON")] = None,
    base: Annotated[str | None, typer.Option("--base", help="Base as LAT,LON (degrees)")] = None,
    platform: Annotated[str, typer.Option(help="Platform profile name or JSON file")] = "mq9",
    start: Annotated[str | None, typer.Option(help="Take-off time, ISO 8601 with offset")] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Plan .geojson (a .kml beside it too)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON")] = False,
    until: Annotated[
        str | None, typer.Option(help="Schedule revisits from --start until this time")
    ] = None,
) -> None:
    """Plan one sortie (or, with --until, a revisit schedule) over the consented AOIs."""
    if ctx.invoked_subcommand is not None:
        return
    from vigia.plan import parse_base, plan_sortie, schedule_revisits

    if aois is None or base is None or start is None:
        console.print("[bold red]error:[/] --aois, --base and --start are required")
        raise typer.Exit(code=2)
    try:
        b = parse_base(base)
        if until is not None:
            schedule = schedule_revisits(aois, b, start, until, platform)
            summary = schedule.summary()
            if output is not None:
                output.write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
        else:
            sortie_plan = plan_sortie(aois, b, start, platform)
            summary = sortie_plan.summary()
            if output is not None:
                sortie_plan.write_geojson(output)
                sortie_plan.write_kml(output.with_suffix(".kml"))
    except VigiaError as exc:
        _fail(exc)
        return
    if as_json:
        out.print_json(json.dumps(summary, default=str))
    else:
        _print_summary("Plan / Plan de vuelo", summary)
        if output is not None:
            console.print(f"plan → {output}")


def _print_summary(title: str, summary: dict[str, Any]) -> None:
    t = Table(title=title, show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column()
    for k, v in summary.items():
        if isinstance(v, list):
            text = "\n".join(
                (
                    " · ".join(f"{a}={b}" for a, b in x.items() if a != "geometry")
                    if isinstance(x, dict)
                    else str(x)
                )
                for x in v
            )
        elif isinstance(v, float):
            text = f"{v:.3f}"
        else:
            text = str(v)
        t.add_row(k, text or "-")
    out.print(t)


@plan_app.command("compare")
def plan_compare(
    plan_file: Annotated[Path, typer.Argument(help="A plan GeoJSON from `vigia plan`")],
    sources: Annotated[list[str], typer.Argument(help="Flown sorties (files or udp://)")],
    aois: Annotated[
        Path | None, typer.Option("--aois", help="Put flown coverage through consent")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    terrain_height: TerrainHeightOpt = None,
    dem: DemOpt = None,
) -> None:
    """Compare a plan with what was flown: covered, missed and out-of-plan areas."""
    from vigia.app.process import iter_footprints
    from vigia.plan import compare_plan
    from vigia.telemetry.source import TelemetryReader

    try:
        opts = _terrain(terrain_height, dem)
        flown = [t for src in sources for t in iter_footprints(TelemetryReader(src), opts)]
        result = compare_plan(plan_file, flown, aois=aois)
    except VigiaError as exc:
        _fail(exc)
        return
    if as_json:
        out.print_json(json.dumps(result.summary(), default=str))
    else:
        _print_summary("Plan vs flown / Plan contra lo volado", result.summary())


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Where to write the demo sorties")] = Path(
        "vigia-demo"
    ),
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="Data directory to leave behind (default OUT/data)"),
    ] = None,
    seed: Annotated[int, typer.Option(help="Scenario seed")] = 7,
    sorties: Annotated[int, typer.Option(help="Sorties to fly")] = 6,
) -> None:
    """Fly the scenario's sorties over Culiacán and run the whole chain on them."""
    from vigia.scenario import build_world, fly_sorties

    out_dir.mkdir(parents=True, exist_ok=True)
    data = data_dir or out_dir / "data"
    console.rule("[bold]1. the world and its sorties")
    world = build_world(seed)
    aois = out_dir / "aois.geojson"
    aois.write_text(json.dumps(world.aois_geojson(), ensure_ascii=False, indent=1))
    with console.status("flying the sorties (MPEG-TS: ST 0601 + ST 0903 VMTI)"):
        files = fly_sorties(world, out_dir / "sorties", sorties, seed=seed)
        video = fly_sorties(world, out_dir / "video", 1, seed=seed + 500, video=True, minutes=1.5)
    labs = sum(1 for k in world.objects.column("kind").to_pylist() if k == "lab")
    console.print(
        f"{world.n_objects} places east of Culiacán ({labs} laboratories, the rest farms, "
        f"ranches and houses) in {len(world.aois)} consented AOIs → {aois}"
    )
    for f in [*files, *video]:
        kind = "video + KLV" if f.video else "KLV"
        console.print(
            f"  {f.path.name}: {f.n_packets:,} packets ({kind}), {f.sensor}, "
            f"{'night' if f.night else 'day'}, {f.n_detections:,} VMTI targets"
        )
    src = str(files[0].path)
    h = world.terrain_height_m
    console.rule("[bold]2. inspect the first sortie")
    inspect(
        src, as_json=False, strict=False, duration=None, gap=1.0, geo=True,
        terrain_height=h, dem=None,
    )  # fmt: skip
    console.rule("[bold]3. telemetry")
    telemetry(src, output=out_dir / "telemetry.parquet", strict=False, duration=None)
    console.rule("[bold]4. footprints")
    footprints_cmd(
        src, output=out_dir / "footprints.parquet", terrain_height=h, dem=None,
        stream_elevation=False, frame_width=1280, frame_height=720, strict=False,
    )  # fmt: skip
    console.rule("[bold]5. coverage of every sortie")
    coverage(
        [str(f.path) for f in files], output=out_dir / "cells.parquet",
        png=out_dir / "coverage.png", aois=aois, res=10, pass_gap=120.0, by="passes",
        terrain_height=h, dem=None,
    )  # fmt: skip
    console.rule("[bold]6. consent compliance")
    compliance(src, aois=aois, as_json=False, res=10, terrain_height=h, dem=None)
    console.rule("[bold]7. ingest: observations → fused, scored sites")
    ingest(
        [f.path for f in [*files, *video]], data_dir=data, aois=aois, terrain_height=h,
        dem=None, detector=None, classes=None, threshold=None, every_n=5, as_json=False,
    )  # fmt: skip
    console.rule("[bold]8. ranked candidate sites")
    sites_list(data_dir=data, show_all=False, limit=15, as_json=False)
    from vigia.store.catalog import Catalog

    top = Catalog(data).sites()
    if top.num_rows:
        console.rule("[bold]9. why the top site scores as it does")
        sites_show(top.column("site_id")[0].as_py(), data_dir=data, as_json=False)
    console.rule("[bold]10. next sortie plan")
    from vigia.plan import demo_plan_aois_path

    plan_path = out_dir / "plan.geojson"
    plan(
        typer.Context(typer.main.get_command(app)),
        aois=demo_plan_aois_path(),
        base="24.764,-107.474",
        platform="mq9",
        start="2026-03-14T19:00:00-07:00",
        output=plan_path,
        as_json=False,
        until=None,
    )
    console.rule("[bold]11. the store: demo users and released products")
    _demo_store(data, out_dir / "products")


def _demo_store(data: Path, export_dir: Path) -> None:
    """Step 11 of the demo: store, accounts (passwords printed once) and released products."""
    from vigia.api.demo import prepare_demo_store

    try:
        with console.status("syncing sites, creating users, drafting and releasing products"):
            made = prepare_demo_store(data, export_dir=export_dir)
    except VigiaError as exc:
        _fail(exc)
        return
    sync = made.sync
    console.print(f"store: {sync.inserted} sites added, {sync.updated} updated")
    users = Table(title="Demo accounts / Cuentas de demostración (passwords shown once)")
    for col in ("user", "role", "agency", "password"):
        users.add_column(col)
    for u in made.users:
        users.add_row(u.username, u.role, u.agency, u.password)
    out.print(users)
    if made.products_kept:
        console.print(f"{made.products_kept} products already in the store: none added")
    else:
        products = Table(title="Products (analyst drafts, supervisor releases)")
        for col in ("product", "kind", "site", "state", "released to"):
            products.add_column(col)
        for p in made.products:
            products.add_row(
                p.product_id, p.kind, p.site_id or "", p.state, ", ".join(p.agencies) or "-"
            )
        out.print(products)
    for path in made.exported:
        console.print(f"partner rendering → {path}")
    out.print(
        f"Serve it: [bold]vigia serve --data-dir {data}[/] and open http://127.0.0.1:8000/ "
        "(partner accounts see only what was released to their agency)"
    )


DataDirOpt = Annotated[
    Path, typer.Option("--data-dir", help="Data directory (observations, sites, store)")
]


@app.command()
def ingest(
    sources: Annotated[
        list[Path], typer.Argument(help="Sortie streams (.ts/.klv) and marks/tips (.geojson)")
    ],
    data_dir: DataDirOpt = Path("vigia-data"),
    aois: Annotated[
        Path | None,
        typer.Option("--aois", help="Consented AOIs (GeoJSON); kept in the data directory"),
    ] = None,
    terrain_height: TerrainHeightOpt = None,
    dem: DemOpt = None,
    detector: Annotated[
        Path | None,
        typer.Option(
            "--detector", help="An ONNX detector to run on the video (boxes/scores/labels)"
        ),
    ] = None,
    classes: Annotated[
        Path | None,
        typer.Option(
            "--classes", help='JSON map of detector labels to indicators: {"0": "tarp_structure"}'
        ),
    ] = None,
    threshold: Annotated[
        list[str] | None,
        typer.Option("--threshold", help="Score threshold, all (0.5) or per indicator (CODE=0.6)"),
    ] = None,
    every_n: Annotated[
        int, typer.Option("--every-n", help="Run the detector on every n-th frame")
    ] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Telemetry -> footprints -> coverage -> observations -> scored sites, stored.

    Ingesting a file again changes nothing.
    """
    from vigia.app.ingest import ingest as run_ingest
    from vigia.store.catalog import Catalog

    try:
        opts = _terrain(terrain_height, dem)
        det = _detector(detector, classes, threshold or [])
        with _progress_factory() as bar:
            report = run_ingest(
                sources,
                Catalog(data_dir),
                aois=aois,
                terrain=opts,
                detector=det,
                every_n_frames=every_n,
                progress=bar,
            )
    except VigiaError as exc:
        _fail(exc)
        return
    if as_json:
        out.print_json(json.dumps(report.as_dict(), default=str))
        return
    t = Table(title=f"ingest → {data_dir}")
    for c in ("input", "status", "sortie", "packets", "observations", "by status"):
        t.add_column(c)
    for r in report.inputs:
        st = ", ".join(f"{k} {v}" for k, v in sorted(r.by_status.items()))
        t.add_row(
            Path(r.path).name, r.status, r.sortie or "", f"{r.packets:,}", f"{r.observations:,}", st
        )
    out.print(t)
    out.print(
        f"{report.sites:,} sites, {report.candidates:,} candidates, "
        f"{report.observations:,} observations stored"
    )
    for w in report.warnings:
        out.print(f"[bold yellow]warning:[/] {w}")


def _detector(model: Path | None, classes: Path | None, thresholds: list[str]) -> Any:
    """An OnnxDetector from the ingest options, or None."""
    if model is None:
        if classes is not None or thresholds:
            raise VigiaError("--classes and --threshold need --detector")
        return None
    from vigia.exploit.detect import DetectorError, OnnxDetector

    if classes is None:
        raise VigiaError("--detector needs --classes (labels to indicator codes)")
    try:
        raw = json.loads(classes.read_text(encoding="utf-8"))
        class_map = {int(k): str(v) for k, v in raw.items()}
    except (OSError, ValueError, AttributeError) as exc:
        raise DetectorError(f"cannot read classes {classes}: {exc}") from exc
    score: float | dict[str, float] = 0.5
    per: dict[str, float] = {}
    for t in thresholds:
        code, sep, val = t.partition("=")
        try:
            if sep:
                per[code] = float(val)
            else:
                score = float(t)
        except ValueError as exc:
            raise DetectorError(f"bad --threshold {t!r}") from exc
    if per:
        base = score if isinstance(score, float) else 0.5
        score = {c: per.get(c, base) for c in set(class_map.values()) | set(per)}
    return OnnxDetector(model, class_map, score_threshold=score)


#: Short names of the indicators in ranked lists.
_SHORT = {
    "tarp_structure": "TARP",
    "chemical_containers": "DRUMS",
    "remote_vehicle_cluster": "VEH",
    "thermal_hotspot_night": "HEAT",
    "vegetation_clearing": "CLEAR",
    "improvised_structure": "STRUCT",
    "burn_waste_pit": "PIT",
}

sites_app = typer.Typer(no_args_is_help=True, help="Candidate sites: ranked list and evidence.")
app.add_typer(sites_app, name="sites")


def _catalog_sites(data_dir: Path) -> Any:
    from vigia.store.catalog import Catalog

    return Catalog(data_dir)


@sites_app.command("list")
def sites_list(
    data_dir: DataDirOpt = Path("vigia-data"),
    show_all: Annotated[
        bool, typer.Option("--all", help="Include sites below the candidate threshold")
    ] = False,
    limit: Annotated[int, typer.Option(help="At most this many rows")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Sites ranked by the probability that they are laboratories."""
    from vigia.exploit.vocabulary import default_vocabulary

    try:
        sites = _catalog_sites(data_dir).sites()
    except VigiaError as exc:
        _fail(exc)
        return
    rows = [r for r in sites.to_pylist() if show_all or r["candidate"]][:limit]
    if as_json:
        for r in rows:
            r.pop("explanation", None)
        out.print_json(json.dumps(rows, default=str))
        return
    vocab = default_vocabulary()
    t = Table(title=f"sites in {data_dir} ({len(rows)} of {sites.num_rows})")
    for c in ("#", "site", "p", "status", "passes", "CE90 m", "lat, lon", "indicators"):
        t.add_column(c, justify="right" if c in ("#", "p", "passes", "CE90 m") else "left")
    for i, r in enumerate(rows, 1):
        inds = " ".join(_SHORT.get(c, c) for c in r["indicators"])
        flag = "*" if r["new_since_previous_pass"] else ""
        t.add_row(
            str(i),
            r["site_id"],
            f"{r['probability']:.2f}",
            r["status"] + flag,
            str(r["n_passes"]),
            f"{r['ce90_m']:.0f}",
            f"{r['lat']:.5f}, {r['lon']:.5f}",
            inds,
        )
    out.print(t)
    legend = ", ".join(f"{v} {vocab[k].en.lower()}" for k, v in _SHORT.items() if k in vocab)
    out.print(f"[dim]{legend}; * new since the previous pass over the place[/]")


@sites_app.command("show")
def sites_show(
    site_id: Annotated[str, typer.Argument(help="Site id (a unique prefix is enough)")],
    data_dir: DataDirOpt = Path("vigia-data"),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Why a site scores as it does, and its evidence."""
    from vigia.exploit.scoring import site_explanation
    from vigia.exploit.vocabulary import default_vocabulary

    try:
        cat = _catalog_sites(data_dir)
        site = cat.site(site_id)
        if site is None:
            raise VigiaError(f"no site {site_id!r} (or the prefix is ambiguous) in {data_dir}")
        ev = cat.observations(site["site_id"])
    except VigiaError as exc:
        _fail(exc)
        return
    terms = site_explanation(site)
    evidence = ev.drop_columns(["geometry"]).to_pylist()
    for e in evidence:
        chip = cat.chip_path(e["obs_id"])
        e["chip"] = str(chip) if chip else None
    if as_json:
        site["explanation"] = terms
        out.print_json(json.dumps({"site": site, "evidence": evidence}, default=str))
        return
    vocab = default_vocabulary()
    out.print(
        f"[bold]{site['site_id']}[/]  p = {site['probability']:.3f} "
        f"(log-odds {site['log_odds']:+.2f})  status {site['status']}"
        + ("  [yellow]new since the previous pass[/]" if site["new_since_previous_pass"] else "")
    )
    out.print(
        f"{site['lat']:.6f}, {site['lon']:.6f}  CE90 {site['ce90_m']:.1f} m  "
        f"AOI {site['aoi'] or '-'}  first seen {site['first_seen']}  last seen "
        f"{site['last_seen']}"
    )
    out.print(
        f"{site['n_observations']} observations on {site['n_passes']} passes "
        f"({site['night_passes']} at night) from {site['n_sorties']} sorties; "
        f"{site['empty_passes']} adequate passes saw nothing"
    )
    t = Table(title="why this score (natural log-odds, summed)")
    t.add_column("term")
    t.add_column("detail")
    t.add_column("log LR", justify="right")
    for term in terms:
        t.add_row(term["term"], term["detail"], f"{term['log_lr']:+.3f}")
    t.add_row("[bold]total", f"probability {site['probability']:.3f}", f"{site['log_odds']:+.3f}")
    out.print(t)
    e_t = Table(title=f"evidence ({len(evidence)})")
    for c in ("time (UTC)", "source", "indicator", "conf", "CE90 m", "sortie", "frame", "chip"):
        e_t.add_column(c)
    for e in evidence[:40]:
        ind = e["indicator"]
        e_t.add_row(
            str(e["time"])[:19],
            e["source"],
            vocab[ind].en if ind in vocab else ind,
            "" if e["confidence"] is None else f"{e['confidence']:.2f}",
            "" if e["ce90_m"] is None else f"{e['ce90_m']:.0f}",
            e["sortie"] or "",
            "" if e["pts_90k"] is None else f"pts {e['pts_90k']}",
            e["chip"] or "",
        )
    out.print(e_t)
    if len(evidence) > 40:
        out.print(f"… and {len(evidence) - 40} more (--json for all)")


scenario_app = typer.Typer(
    no_args_is_help=True, help="The synthetic world: labs, decoys and sorties over Culiacán."
)
app.add_typer(scenario_app, name="scenario")


@scenario_app.command("evaluate")
def scenario_evaluate(
    seed: Annotated[int, typer.Option(help="World and sortie seed")] = 1,
    labs: Annotated[int, typer.Option(help="Laboratories in the world")] = 25,
    decoys: Annotated[int, typer.Option(help="Decoys (farms, ranches, buildings)")] = 40,
    sorties: Annotated[int, typer.Option(help="Sorties flown")] = 6,
    keep: Annotated[
        Path | None, typer.Option("--keep", help="Keep the streams and data directory here")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Build the world, fly the sorties to MPEG-TS, run the pipeline, and score the result:
    recall, precision (a site matches a lab within 50 m), localisation error, passes to
    detection."""
    from vigia.app.evaluate import evaluate

    try:
        with console.status("building the world, flying the sorties, running the pipeline"):
            res = evaluate(
                seed,
                labs=labs,
                decoys=decoys,
                sorties=sorties,
                work_dir=keep,
                log=lambda m: console.log(m),
            )
    except VigiaError as exc:
        _fail(exc)
        return
    if as_json:
        out.print_json(json.dumps(res))
        return
    t = Table(title=f"scenario seed {seed}: {labs} labs, {decoys} decoys, {sorties} sorties")
    t.add_column("figure")
    t.add_column("value", justify="right")
    for k in (
        "recall",
        "precision",
        "median_error_m",
        "p90_error_m",
        "median_passes_to_detection",
        "candidates",
        "false_positives_on_decoys",
        "false_positives_elsewhere",
        "packets",
        "observations",
        "sites",
    ):
        t.add_row(k, str(res[k]))
    out.print(t)


audit_app = typer.Typer(no_args_is_help=True, help="The hash-chained audit log.")
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify_cmd(data_dir: DataDirOpt = Path("vigia-data")) -> None:
    """Check every entry of the audit log: exit 0 when intact, 1 when an entry was altered or
    removed (naming the first bad one)."""
    from vigia.app.admin import audit_verify

    try:
        code = audit_verify(data_dir, echo=out.print)
    except VigiaError as exc:
        _fail(exc)
        return
    raise typer.Exit(code)


users_app = typer.Typer(no_args_is_help=True, help="Accounts of the API and web UI.")
app.add_typer(users_app, name="users")
PasswordStdinOpt = Annotated[
    bool,
    typer.Option(
        "--password-stdin", help="Read the password from standard input (else one is generated)"
    ),
]


def _stdin_password(use: bool) -> str | None:
    return sys.stdin.readline().rstrip("\r\n") if use else None


def _show_password(username: str, password: str | None) -> None:
    if password is not None:
        out.print(f"password for {username} (shown once): {password}")


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="Lower-case login name")],
    role: Annotated[
        str, typer.Option(help="analyst, supervisor, partner-liaison or partner-officer")
    ],
    agency: Annotated[str, typer.Option(help="Agency code, e.g. VIGIA, SEMAR, FGR")],
    name: Annotated[str | None, typer.Option("--name", help="Display name")] = None,
    language: Annotated[
        str | None, typer.Option(help="en or es (default: es for partner roles)")
    ] = None,
    password_stdin: PasswordStdinOpt = False,
    data_dir: DataDirOpt = Path("vigia-data"),
) -> None:
    """Create an account; without --password-stdin a password is generated and printed once."""
    from vigia.app.admin import add_user

    try:
        info, generated = add_user(
            data_dir,
            username,
            role,
            agency,
            password=_stdin_password(password_stdin),
            display_name=name,
            language=language,
        )
    except VigiaError as exc:
        _fail(exc)
        return
    out.print(f"created {info.username} ({info.role}, {info.agency}, {info.language})")
    _show_password(info.username, generated)


@users_app.command("list")
def users_list(
    data_dir: DataDirOpt = Path("vigia-data"),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Every account: role, agency, language and whether it is enabled."""
    from dataclasses import asdict

    from vigia.app.admin import list_user_info

    try:
        rows = list_user_info(data_dir)
    except VigiaError as exc:
        _fail(exc)
        return
    if as_json:
        out.print_json(json.dumps([asdict(r) for r in rows], ensure_ascii=False))
        return
    t = Table(title=f"{len(rows)} accounts")
    for col in ("user", "name", "role", "agency", "lang", "enabled"):
        t.add_column(col)
    for r in rows:
        t.add_row(
            r.username, r.display_name, r.role, r.agency, r.language, "yes" if r.active else "no"
        )
    out.print(t)


@users_app.command("passwd")
def users_passwd(
    username: Annotated[str, typer.Argument(help="Login name")],
    password_stdin: PasswordStdinOpt = False,
    data_dir: DataDirOpt = Path("vigia-data"),
) -> None:
    """Replace a password (revoking the user's tokens); generated unless --password-stdin."""
    from vigia.app.admin import reset_password

    try:
        generated = reset_password(data_dir, username, password=_stdin_password(password_stdin))
    except VigiaError as exc:
        _fail(exc)
        return
    out.print(f"password of {username} replaced; their sessions are signed out")
    _show_password(username, generated)


def _set_active(username: str, active: bool, data_dir: Path) -> None:
    from vigia.app.admin import set_user_active

    try:
        info = set_user_active(data_dir, username, active)
    except VigiaError as exc:
        _fail(exc)
        return
    out.print(f"{info.username} {'enabled' if active else 'disabled and signed out'}")


@users_app.command("disable")
def users_disable(
    username: Annotated[str, typer.Argument(help="Login name")],
    data_dir: DataDirOpt = Path("vigia-data"),
) -> None:
    """Disable an account and revoke its tokens."""
    _set_active(username, False, data_dir)


@users_app.command("enable")
def users_enable(
    username: Annotated[str, typer.Argument(help="Login name")],
    data_dir: DataDirOpt = Path("vigia-data"),
) -> None:
    """Enable a disabled account again."""
    _set_active(username, True, data_dir)


@app.command()
def metrics(
    data_dir: DataDirOpt = Path("vigia-data"),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    agency: Annotated[str | None, typer.Option(help="Only this partner agency")] = None,
    lang: Annotated[str, typer.Option(help="en or es")] = "en",
) -> None:
    """Sites detected / released / acted on, times from detection to release to action, and
    seizure totals over time."""
    from vigia.app.admin import format_metrics
    from vigia.app.admin import metrics as compute

    try:
        m = compute(data_dir, agency=agency)
    except VigiaError as exc:
        _fail(exc)
        return
    if as_json:
        out.print_json(json.dumps(m, ensure_ascii=False, default=str))
    else:
        out.print(format_metrics(m, lang))


@app.command()
def serve(
    data_dir: DataDirOpt = Path("vigia-data"),
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int | None, typer.Option(help="Worker processes")] = None,
    tak: Annotated[
        str | None, typer.Option(help="Partner TAK server for released sites, tcp://HOST:PORT")
    ] = None,
) -> None:
    """The API (/api, OpenAPI at /openapi.json) and the web UI of a data directory."""
    from vigia.api.serve import serve as run_serve

    try:
        run_serve(data_dir, host, port, workers=workers, tak=tak)
    except VigiaError as exc:
        _fail(exc)


# --- commands of the exploit, share and serve stages: each module registers its own --------
# (one line each; the modules import their heavy dependencies inside the command bodies)


def _keep_freed_memory() -> None:
    """Ask glibc to reuse freed large blocks instead of returning them to the system.

    Decoding allocates and frees many array temporaries of a few MB per chunk; by default each
    is a fresh ``mmap`` whose pages fault in again. Raising the thresholds keeps them in the heap.
    """
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 256 << 20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 512 << 20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):  # not glibc: nothing to tune
        pass


def main() -> None:
    """Entry point of the ``vigia`` command."""
    _keep_freed_memory()
    try:
        app()
    except VigiaError as exc:  # pragma: no cover - commands handle their own
        console.print(f"[bold red]error:[/] {exc}")
        sys.exit(2)


if __name__ == "__main__":  # pragma: no cover
    main()
