"""The synthetic world: ``scenario evaluate`` and ``demo``."""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from vigia.cli.errors import group
from vigia.cli.exploit import print_ingest, sites_list, sites_show
from vigia.cli.format import format_value
from vigia.cli.options import JsonOpt, console, out, progress_bars
from vigia.cli.plan import print_plan
from vigia.cli.process import print_coverage, print_inspect, print_telemetry
from vigia.cli.root import app

if TYPE_CHECKING:
    from vigia.app.demo import DemoStore, DemoWorld
    from vigia.app.ingest import IngestReport
    from vigia.app.process import ProgressFactory, TelemetryDone

scenario_app = group(help="The synthetic world: labs, decoys and sorties over Culiacán.")
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
    compare_terrain: Annotated[
        bool,
        typer.Option(
            help="Also ingest with the stream's frame-centre elevation and with a constant "
            "height, and score each (by_terrain)"
        ),
    ] = True,
    as_json: JsonOpt = False,
) -> None:
    """Build the world (with relief), fly the sorties to MPEG-TS, run the pipeline with the
    world's DEM, and score the result: recall, precision (a site matches a lab within 50 m),
    localisation error, passes to detection; then the same with each terrain fallback."""
    from vigia.app.evaluate import TERRAINS, evaluate

    with console.status("building the world, flying the sorties, running the pipeline"):
        res = evaluate(
            seed,
            labs=labs,
            decoys=decoys,
            sorties=sorties,
            work_dir=keep,
            log=lambda m: console.log(m),
            terrains=TERRAINS if compare_terrain else ("dem",),
        )
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
        t.add_row(k, format_value(res[k]))
    out.print(t)
    by = Table(title="localisation by terrain (the same sorties; errors in m)")
    heads = {
        "recall": "recall",
        "precision": "precision",
        "median_error_m": "median",
        "p90_error_m": "p90",
        "lab_offset_median_m": "lab offset",
        "lab_offset_p90_m": "offset p90",
    }
    by.add_column("terrain")
    for head in heads.values():
        by.add_column(head, justify="right")
    labels = {
        "dem": "DEM",
        "stream_elevation": "stream elevation",
        "constant": f"constant {res['terrain_height_m']:g} m",
    }
    for name, row in res["by_terrain"].items():
        by.add_row(labels.get(name, name), *(format_value(row[k]) for k in heads))
    out.print(by)


class _Printer:
    """Shows the demo's steps as the commands print their results (see vigia.app.demo)."""

    def step(self, title: str) -> None:
        console.rule(f"[bold]{title}")

    def busy(self, what: str) -> AbstractContextManager[object]:
        return console.status(what)

    def progress(self) -> AbstractContextManager[ProgressFactory]:
        return progress_bars()

    def world(self, world: DemoWorld) -> None:
        console.print(
            f"{world.n_objects} places east of Culiacán ({world.labs} laboratories, the rest "
            f"farms, ranches and houses) in {world.n_aois} consented AOIs → {world.aois}"
        )
        for f in [*world.sorties, *world.video]:
            kind = "video + KLV" if f.video else "KLV"
            console.print(
                f"  {f.path.name}: {f.n_packets:,} packets ({kind}), {f.sensor}, "
                f"{'night' if f.night else 'day'}, {f.n_detections:,} VMTI targets"
            )

    def inspected(self, report: dict[str, Any]) -> None:
        print_inspect(report)

    def telemetry(self, done: TelemetryDone) -> None:
        print_telemetry(done)

    def footprints(self, rows: int, path: Path) -> None:
        console.print(f"{rows:,} footprints → {path}")

    def coverage(self, n_cells: int, path: Path, png: Path) -> None:
        print_coverage(n_cells, path, png)

    def compliance(self, report: Any) -> None:
        out.print(report.to_rich())

    def ingested(self, report: IngestReport, data_dir: Path) -> None:
        print_ingest(report, data_dir)

    def sites(self, data_dir: Path, limit: int) -> None:
        sites_list(data_dir=data_dir, show_all=False, limit=limit, as_json=False)

    def site(self, site_id: str, data_dir: Path) -> None:
        sites_show(site_id, data_dir=data_dir, as_json=False)

    def plan(self, summary: dict[str, Any], path: Path) -> None:
        print_plan(summary, path)

    def store(self, made: DemoStore, data_dir: Path) -> None:
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
            f"Serve it: [bold]vigia serve --data-dir {data_dir}[/] and open "
            "http://127.0.0.1:8000/ (partner accounts see only what was released to their agency)"
        )


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
    from vigia.app.demo import run_demo

    run_demo(out_dir, _Printer(), data_dir=data_dir, seed=seed, sorties=sorties)
