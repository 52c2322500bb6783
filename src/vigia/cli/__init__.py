"""The ``vigia`` command: a thin shell over the application layer (:mod:`vigia.app`).

One module per command group: :mod:`~vigia.cli.process` (inspect, telemetry, footprints,
coverage, compliance), :mod:`~vigia.cli.plan`, :mod:`~vigia.cli.exploit` (ingest, sites),
:mod:`~vigia.cli.scenario` (scenario, demo) and :mod:`~vigia.cli.admin` (audit, users, metrics,
serve). Errors go through the one handler of :mod:`~vigia.cli.errors`; shared options are in
:mod:`~vigia.cli.options`.
"""

from __future__ import annotations

# Importing a module registers its commands, in the order `vigia --help` lists them.
# isort: off
from vigia.cli import process  # noqa: F401
from vigia.cli import plan  # noqa: F401
from vigia.cli import exploit  # noqa: F401
from vigia.cli import scenario  # noqa: F401
from vigia.cli import admin  # noqa: F401

# isort: on
from vigia.cli.root import app

__all__ = ["app", "main"]


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
    app()
