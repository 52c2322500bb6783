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

SourceArg = Annotated[
    str, typer.Argument(help="A .ts/.mpg transport stream, a raw KLV file, or udp://HOST:PORT")
]


@contextmanager
def _progress(size: int | None, label: str) -> Iterator[Callable[[int], None] | None]:
    """A Rich progress bar over ``size`` bytes, or nothing for small or live sources."""
    if size is None or size < PROGRESS_MIN_BYTES or not console.is_terminal:
        yield None
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
        task = prog.add_task(label, total=size)
        yield lambda n: prog.advance(task, n)


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
) -> None:
    """Summarise a sortie: duration, packets, items, platform, track, damage."""
    from vigia.telemetry.source import TelemetryReader, describe
    from vigia.telemetry.table import TelemetrySummary

    try:
        info = describe(source)
        summary = TelemetrySummary(gap_s=gap)
        with _progress(info.size, "reading") as prog:
            reader = TelemetryReader(source, strict=strict, duration_s=duration, progress=prog)
            for table in reader:
                summary.update(table)
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


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out", help="Where to write the demo sortie")] = Path(
        "vigia-demo"
    ),
    minutes: Annotated[float, typer.Option(help="Length of the generated sortie")] = 10.0,
    seed: Annotated[int, typer.Option(help="Scenario seed")] = 7,
) -> None:
    """Generate a sample sortie over Sinaloa and run the pipeline on it."""
    from vigia.scenario.sortie import write_sample_sortie

    out_dir.mkdir(parents=True, exist_ok=True)
    ts_path = write_sample_sortie(out_dir / "sortie.ts", minutes=minutes, seed=seed)
    console.print(f"[bold]sample sortie[/] → {ts_path}")
    inspect(str(ts_path), as_json=False, strict=False, duration=None, gap=1.0)
    telemetry(str(ts_path), output=out_dir / "telemetry.parquet", strict=False, duration=None)


def main() -> None:
    """Entry point of the ``vigia`` command."""
    try:
        app()
    except VigiaError as exc:  # pragma: no cover - commands handle their own
        console.print(f"[bold red]error:[/] {exc}")
        sys.exit(2)


if __name__ == "__main__":  # pragma: no cover
    main()
