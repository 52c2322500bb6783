"""The root ``vigia`` group: ``--version``, ``--debug`` and the command groups' parent."""

from __future__ import annotations

from typing import Annotated

import typer

from vigia.cli.errors import DEBUG_KEY, group

app = group(
    help="Vigía: FMV metadata processing for the partner counter-drug surveillance program.",
)


def version() -> str:
    """The installed version of Vigía (the package's own when it is not installed)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("vigia")
    except PackageNotFoundError:
        import vigia

        return str(getattr(vigia, "__version__", "unknown"))


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"vigia {version()}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the traceback of an unexpected error")
    ] = False,
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit", callback=_print_version, is_eager=True
        ),
    ] = False,
) -> None:
    """Vigía: FMV metadata processing for the partner counter-drug surveillance program."""
    ctx.meta[DEBUG_KEY] = debug
