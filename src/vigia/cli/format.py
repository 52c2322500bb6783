"""Values as people read them in tables: never a Python repr (no ``{'lat': …}`` nor ``[…]``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.table import Table

from vigia.cli.options import out


def format_value(v: Any) -> str:
    """``v`` as text: floats to 3 decimals (positions to 5), a ``lat``/``lon`` mapping as
    ``LAT, LON``, other mappings as ``key value · key value``, lists one item a line."""
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.3f}"
    if isinstance(v, int):
        return f"{v:,}" if abs(v) >= 10_000 else str(v)
    if isinstance(v, Mapping):
        if set(v) == {"lat", "lon"}:
            return f"{v['lat']:.5f}, {v['lon']:.5f}"
        parts = [f"{k} {format_value(x)}" for k, x in v.items() if k != "geometry"]
        return " · ".join(parts)
    if isinstance(v, list | tuple | set):
        return "\n".join(format_value(x) for x in v)
    return str(v)


def print_summary(title: str, summary: Mapping[str, Any]) -> None:
    """A two-column table of a summary (figure, value)."""
    t = Table(title=title, show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column()
    for k, v in summary.items():
        t.add_row(str(k), format_value(v) or "-")
    out.print(t)
