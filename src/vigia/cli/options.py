"""Options shared by the commands, the terrain they make, the consoles and progress bars."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

if TYPE_CHECKING:
    from vigia.app.process import ProgressFactory
    from vigia.footprints import TerrainOptions

#: Messages and progress (standard error).
console = Console(stderr=True)
#: Results: tables and JSON (standard output).
out = Console()

#: Files larger than this get a progress bar (bytes).
PROGRESS_MIN_BYTES = 4 << 20

TerrainHeightOpt = Annotated[
    float | None,
    typer.Option("--terrain-height", help="A constant terrain height above the ellipsoid (m)"),
]
DemOpt = Annotated[
    Path | None,
    typer.Option(
        "--dem",
        help="A DEM GeoTIFF, heights above mean sea level (default: $VIGIA_DEM if set)",
    ),
]
StreamElevationOpt = Annotated[
    bool,
    typer.Option(
        "--stream-elevation",
        help="Use the stream's own frame-centre elevation (items 25/78) as terrain "
        "(the default when there is no DEM)",
    ),
]
SourceArg = Annotated[
    str, typer.Argument(help="A .ts/.mpg transport stream, a raw KLV file, or udp://HOST:PORT")
]
DataDirOpt = Annotated[
    Path, typer.Option("--data-dir", help="Data directory (observations, sites, store)")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")]
StrictOpt = Annotated[bool, typer.Option("--strict", help="Stop at the first damaged packet")]
DurationOpt = Annotated[float | None, typer.Option(help="Seconds to listen to a udp:// source")]

DEFAULT_DATA_DIR = Path("vigia-data")


def terrain(
    terrain_height: float | None,
    dem: Path | None,
    *,
    stream_elevation: bool = False,
    frame_width: int = 1280,
    frame_height: int = 720,
) -> TerrainOptions:
    """The terrain options of ``--dem`` / ``--terrain-height`` / ``--stream-elevation`` (at most
    one); with none, :func:`vigia.footprints.resolve_terrain` chooses when the stream is read."""
    from vigia.footprints import TerrainOptions

    return TerrainOptions(
        terrain_height_m=terrain_height,
        dem_path=str(dem) if dem else None,
        use_stream_elevation=stream_elevation,
        frame_width_px=frame_width,
        frame_height_px=frame_height,
    )


@contextmanager
def progress_bars() -> Iterator[ProgressFactory]:
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
