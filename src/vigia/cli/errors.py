"""The one error handler of the ``vigia`` command.

Every command group is a :class:`VigiaGroup`, whose :meth:`~VigiaGroup.invoke` runs the chosen
command and turns what it raises into one line on standard error:

* a :class:`~vigia.errors.VigiaError` (bad input, refused request): ``error: <message>``, exit 2;
* any other exception (a bug): ``error: <type>: <message>`` and a hint to rerun with
  ``--debug``, exit 1; with ``vigia --debug`` the traceback is printed instead.

Click's own exits (usage errors, ``--help``, ``typer.Exit``) pass through untouched.

Exit statuses of the ``vigia`` command: 0 done; 1 a bug; 2 refused input or request (or a usage
error); ``vigia compliance`` exits 0 only when the verdict is ``compliant``, 3 when it is
``not_compliant`` and 4 when it is ``undetermined`` (`EXIT_OF_VERDICT`).
"""

from __future__ import annotations

import traceback
from typing import Any

import typer
from typer.core import TyperGroup

from vigia.errors import VigiaError

#: Exit status of a refused input or request (a VigiaError); a usage error is also 2.
EXIT_REFUSED = 2
#: Exit status of an unexpected error.
EXIT_BUG = 1
#: Exit status of ``vigia compliance`` when something was observed outside consent.
EXIT_NOT_COMPLIANT = 3
#: Exit status of ``vigia compliance`` when consent could not be decided (frames that cannot be
#: placed on the ground, or no frame at all): fails closed, never 0.
EXIT_UNDETERMINED = 4
#: ``vigia compliance``'s exit status for each verdict.
EXIT_OF_VERDICT = {
    "compliant": 0,
    "not_compliant": EXIT_NOT_COMPLIANT,
    "undetermined": EXIT_UNDETERMINED,
}
#: Key of the ``--debug`` flag in the root context's ``meta``.
DEBUG_KEY = "vigia.debug"

CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"]}


#: What passes through the handler: Typer's own exits (``--help``, ``typer.Exit``, usage errors).
_TYPER_EXITS: tuple[type[BaseException], ...] = (typer.Exit, typer.Abort, typer.TyperException)


def one_line(message: object) -> str:
    """A message on one line: its lines joined with ``; ``."""
    return "; ".join(x.strip() for x in str(message).splitlines() if x.strip())


def _debug(ctx: Any) -> bool:
    return bool(ctx.find_root().meta.get(DEBUG_KEY, False))


class VigiaGroup(TyperGroup):
    """A Typer group whose commands' errors go through the one handler (module doc)."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except _TYPER_EXITS:
            raise
        except VigiaError as exc:
            typer.echo(f"error: {one_line(exc)}", err=True)
            ctx.exit(EXIT_REFUSED)
        except Exception as exc:
            if _debug(ctx):
                typer.echo(traceback.format_exc().rstrip(), err=True)
            else:
                typer.echo(
                    f"error: {type(exc).__name__}: {one_line(exc)} "
                    "(a bug; rerun with --debug for the traceback)",
                    err=True,
                )
            ctx.exit(EXIT_BUG)


def group(**kwargs: Any) -> typer.Typer:
    """A Typer app (command group) of the ``vigia`` command: the one error handler, ``-h`` as
    well as ``--help``, and plain help in which flags show as flags."""
    kwargs.setdefault("no_args_is_help", True)
    return typer.Typer(
        cls=VigiaGroup,
        rich_markup_mode=None,
        context_settings=CONTEXT_SETTINGS,
        add_completion=False,
        **kwargs,
    )
