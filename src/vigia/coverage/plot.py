"""Coverage map as a PNG: H3 cells coloured by passes or best GSD, AOI outlines, no basemap.

Everything is drawn locally with matplotlib's Agg backend (no tiles or fonts are fetched).
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import shapely
from h3.api import basic_int as h3i
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.colors import BoundaryNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter
from shapely.geometry.base import BaseGeometry

from vigia.coverage.consent import AOI, ConsentRegistry
from vigia.errors import GeoError
from vigia.outputs import output_format, writing
from vigia.times import format_time_us

#: Extensions of :func:`plot_coverage`.
MAP_FORMATS = {".png": "png"}

_STATE_STYLE: dict[str, tuple[str, Any, str]] = {
    "consented": ("#1a9850", "-", "consented / consentida"),
    "pending": ("#4575b4", "--", "pending / pendiente"),
    "nominated": ("#f46d43", ":", "nominated / propuesta"),
    "expired": ("#7f7f7f", "--", "expired / vencida"),
    "revoked": ("#d73027", "-.", "revoked / revocada"),
}


def _lon_fmt(v: float, _pos: Any = None) -> str:
    return f"{abs(v):.2f}°{'W' if v < 0 else 'E'}"


def _lat_fmt(v: float, _pos: Any = None) -> str:
    return f"{abs(v):.2f}°{'S' if v < 0 else 'N'}"


def _minute(t_us: int) -> str:
    return str(format_time_us(t_us))[:16].replace("T", " ")


def _rings(geom: BaseGeometry) -> list[np.ndarray]:
    polys = getattr(geom, "geoms", [geom])
    out = []
    for p in polys:
        out.append(np.asarray(p.exterior.coords))
        out.extend(np.asarray(r.coords) for r in p.interiors)
    return out


def plot_coverage(
    cells: pa.Table,
    path: str | PathLike[str],
    *,
    aois: ConsentRegistry | Sequence[AOI] | Sequence[BaseGeometry] | None = None,
    by: str = "passes",
    title: str | None = None,
    at_us: int | None = None,
    dpi: int = 150,
) -> Path:
    """Draw a coverage map of a cells table (from `coverage_from_footprints`) to ``path``.

    ``by`` is ``"passes"`` (number of distinct passes) or ``"gsd"`` (best GSD, metres; cells
    without a GSD are grey). AOIs are outlined and named; with a registry or AOIs their style
    shows the consent state, at ``at_us`` (µs, UTC) when given, else the declared state.
    """
    if by not in ("passes", "gsd"):
        raise GeoError(f"by must be 'passes' or 'gsd', got {by!r}")
    output_format(path, MAP_FORMATS, "coverage map")
    cell = cells.column("cell").to_numpy()
    polys = [np.asarray(h3i.cell_to_boundary(int(c)))[:, ::-1] for c in cell.tolist()]

    fig = Figure(figsize=(10, 8.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_facecolor("#f4f4f0")
    if by == "passes":
        values = cells.column("passes").to_numpy().astype(float)
        top = int(values.max()) if values.size else 1
        bounds = np.arange(0.5, max(top, 1) + 1.5) if top <= 12 else np.linspace(0.5, top + 0.5, 12)
        norm: Normalize = BoundaryNorm(bounds, 256)
        cmap = "viridis"
        label = "Passes / Pasadas"
    else:
        gsd = cells.column("best_gsd_m")
        values = np.asarray(gsd.cast(pa.float64()).fill_null(np.nan).to_numpy(), float)
        finite = values[np.isfinite(values)]
        lo, hi = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
        norm = Normalize(lo, hi if hi > lo else lo + 1e-3)
        cmap = "magma_r"
        label = "Best GSD (m) / Mejor GSD (m)"
    cmap_obj = colormaps[cmap].with_extremes(bad="#b0b0b0")
    coll = PolyCollection(polys, array=np.ma.masked_invalid(values), cmap=cmap_obj, norm=norm)
    coll.set_edgecolor("face")
    coll.set_linewidth(0.2)
    ax.add_collection(coll)
    cb = fig.colorbar(coll, ax=ax, shrink=0.8, pad=0.02)
    cb.set_label(label)
    if by == "passes" and values.size and int(values.max()) <= 12:
        cb.set_ticks(list(range(1, int(values.max()) + 1)))

    xs: list[float] = []
    ys: list[float] = []
    if polys:
        allp = np.concatenate(polys)
        xs += [allp[:, 0].min(), allp[:, 0].max()]
        ys += [allp[:, 1].min(), allp[:, 1].max()]
    handles: list[Any] = []
    seen_states: set[str] = set()
    for item in list(aois) if aois is not None else []:
        geom = item.geometry if isinstance(item, AOI) else item
        if isinstance(item, AOI):
            state = item.status_at(at_us) if at_us is not None else item.state
            name = f"{item.name}\n({item.authority})"
        else:
            state, name = "consented", ""
        color, style, legend = _STATE_STYLE.get(state, _STATE_STYLE["consented"])
        for ring in _rings(geom):
            ax.plot(ring[:, 0], ring[:, 1], color=color, linestyle=style, linewidth=1.8)
        b = geom.bounds
        xs += [b[0], b[2]]
        ys += [b[1], b[3]]
        if name:
            p = shapely.point_on_surface(geom)
            ax.annotate(
                name,
                (p.x, p.y),
                ha="center",
                va="center",
                fontsize=8,
                color=color,
                bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": color, "alpha": 0.8},
            )
        if state not in seen_states:
            seen_states.add(state)
            handles.append(Line2D([], [], color=color, linestyle=style, label=f"AOI {legend}"))
    if by == "gsd" and np.isnan(values).any():
        handles.append(Patch(color="#b0b0b0", label="no GSD / sin GSD"))
    if handles:
        ax.legend(handles=handles, loc="upper left", fontsize=8, framealpha=0.9)

    if xs:
        pad_x = max(0.01, 0.05 * (max(xs) - min(xs)))
        pad_y = max(0.01, 0.05 * (max(ys) - min(ys)))
        ax.set_xlim(min(xs) - pad_x, max(xs) + pad_x)
        ax.set_ylim(min(ys) - pad_y, max(ys) + pad_y)
        mid = 0.5 * (min(ys) + max(ys))
        ax.set_aspect(1.0 / max(0.05, np.cos(np.deg2rad(mid))))
    ax.xaxis.set_major_formatter(FuncFormatter(_lon_fmt))
    ax.yaxis.set_major_formatter(FuncFormatter(_lat_fmt))
    ax.tick_params(axis="x", labelrotation=30)
    ax.grid(True, color="#999999", linewidth=0.5, alpha=0.6)
    ax.set_xlabel("Longitude / Longitud (WGS84)")
    ax.set_ylabel("Latitude / Latitud (WGS84)")
    what = "passes / pasadas" if by == "passes" else "best GSD / mejor GSD"
    fig.suptitle(title or f"Coverage / Cobertura — {what}")
    if cells.num_rows:
        area = float(np.sum([h3i.cell_area(int(c), "km^2") for c in cell[:200_000].tolist()]))
        t0 = cells.column("first_seen").cast(pa.int64()).to_numpy().min()
        t1 = cells.column("last_seen").cast(pa.int64()).to_numpy().max()
        res = h3i.get_resolution(int(cell[0]))
        foot = (
            f"{cells.num_rows:,} H3 cells (res {res}), ≈{area:.2f} km²"
            f"{' (first 200,000)' if cells.num_rows > 200_000 else ''};  "
            f"{_minute(int(t0))} → {_minute(int(t1))} UTC"
        )
    else:
        foot = "no coverage / sin cobertura"
    ax.set_title(foot, fontsize=8, color="#333333")
    out = Path(path)
    with writing(out, "coverage map"):
        fig.savefig(out, dpi=dpi)
    return out
