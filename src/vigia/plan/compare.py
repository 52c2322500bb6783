"""Plan versus flown: which planned H3 cells were seen, which were missed, what was seen off-plan.

Planned coverage is rebuilt from the plan's own features (lanes buffered by half their
``swath_m``, orbits' stare discs), so a plan file on disk is enough. Flown coverage is an H3 cells
table (column ``cell``, as from `vigia.coverage.coverage_from_footprints`), a footprints table
(corner columns; coverage computed with `coverage_from_footprints`), footprint polygons, or files
of those (Parquet or GeoJSON).

With an AOI registry, flown coverage goes through the consent rule first: footprints not
consented by `consented_mask` (the one decision, `consent_status`), and cells whose first or last
sighting is not consented, are not counted as covered; they are reported as withheld.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq
import shapely
from h3.api import numpy_int as h3n
from shapely.geometry.base import BaseGeometry

from vigia.coverage.accumulate import DEFAULT_RES, coverage_from_footprints
from vigia.coverage.consent import ConsentRegistry, consented_mask
from vigia.errors import PlanError
from vigia.plan.lanes import LocalFrame
from vigia.plan.planner import SortiePlan
from vigia.plan.registry import PlanningRegistry, load_planning_aois

U64 = npt.NDArray[np.uint64]
PlanLike: TypeAlias = "SortiePlan | Mapping[str, Any] | str | PathLike[str]"
FlownLike: TypeAlias = "pa.Table | BaseGeometry | Sequence[BaseGeometry] | str | PathLike[str]"


def _read_plan(plan: PlanLike) -> dict[str, Any]:
    if isinstance(plan, SortiePlan):
        return plan.to_geojson()
    if isinstance(plan, Mapping):
        return dict(plan)
    try:
        doc = json.loads(Path(plan).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PlanError(f"cannot read plan {plan}: {exc}") from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise PlanError(f"plan {plan} is not a GeoJSON FeatureCollection")
    return doc


def planned_geometry(plan: PlanLike) -> dict[str, BaseGeometry]:
    """Predicted coverage per AOI (lon/lat): lane swaths and stare discs of the plan."""
    doc = _read_plan(plan)
    parts: dict[str, list[BaseGeometry]] = {}
    for f in doc.get("features", []):
        p = f.get("properties") or {}
        kind = p.get("kind")
        if kind not in ("lane", "orbit"):
            continue
        name = str(p.get("aoi", ""))
        xy = np.asarray(f["geometry"]["coordinates"], float)
        if kind == "lane":
            mid = xy.mean(axis=0)
            frame = LocalFrame(float(mid[1]), float(mid[0]))
            line = frame.to_local(shapely.linestrings(xy))
            g = shapely.buffer(line, float(p["swath_m"]) / 2, cap_style="flat", join_style="round")
        else:
            frame = LocalFrame(float(p["aim_lat"]), float(p["aim_lon"]))
            g = shapely.Point(0.0, 0.0).buffer(float(p["cover_radius_m"]), quad_segs=16)
        parts.setdefault(name, []).append(frame.to_lonlat(g))
    return {k: shapely.union_all(v) for k, v in parts.items()}


def _cells_of(geom: BaseGeometry, res: int) -> U64:
    if geom.is_empty:
        return np.zeros(0, np.uint64)
    return np.unique(np.asarray(h3n.geo_to_cells(geom, res), np.uint64))


def cells_to_res(cells: U64, res: int) -> U64:
    """H3 cells (uint64) at ``res``: parents of finer cells (index bits: resolution in bits
    52-55, one 3-bit digit per resolution, unused digits 7); coarser cells are refused."""
    cells = np.asarray(cells, np.uint64)
    if cells.size == 0:
        return cells
    cur = ((cells >> np.uint64(52)) & np.uint64(0xF)).astype(np.int64)
    if (cur < res).any():
        raise PlanError(f"flown cells at H3 resolution {int(cur.min())}, coarser than {res}")
    out = (cells & ~np.uint64(0xF << 52)) | np.uint64(res << 52)
    for r in range(res + 1, 16):
        out |= np.uint64(7 << ((15 - r) * 3))
    return out


def _area_km2(cells: U64) -> float:
    return float(sum(h3n.cell_area(c, "km^2") for c in cells.tolist()))


@dataclass
class FlownCells:
    """Flown coverage as cells, with what the consent rule held back."""

    cells: U64
    withheld_cells: int = 0
    withheld_frames: int = 0


def _plan_res(doc: Mapping[str, Any]) -> int:
    s = doc.get("vigia_plan")
    return int(s.get("h3_res", DEFAULT_RES)) if isinstance(s, Mapping) else DEFAULT_RES


def flown_cells(source: FlownLike, res: int, registry: ConsentRegistry | None = None) -> FlownCells:
    """Flown coverage of one source at resolution ``res`` (module docstring for the forms)."""
    if isinstance(source, str | PathLike):
        path = Path(source)
        if path.suffix.lower() in (".geojson", ".json"):
            try:
                doc = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise PlanError(f"cannot read flown coverage {path}: {exc}") from None
            feats = doc.get("features", []) if isinstance(doc, Mapping) else []
            geoms = [shapely.from_geojson(json.dumps(f["geometry"])) for f in feats]
            return flown_cells(geoms, res, registry)
        try:
            source = pq.read_table(path)
        except (OSError, pa.ArrowInvalid) as exc:
            raise PlanError(f"cannot read flown coverage {path}: {exc}") from None
    if isinstance(source, pa.Table):
        names = source.column_names
        if "cell" in names:
            raw = np.asarray(source.column("cell").to_numpy(zero_copy_only=False), np.uint64)
            keep = np.ones(raw.size, bool)
            if registry is not None and {"lat", "lon"} <= set(names):
                lat = source.column("lat").to_numpy(zero_copy_only=False)
                lon = source.column("lon").to_numpy(zero_copy_only=False)
                for tcol in ("first_seen", "last_seen"):
                    if tcol in names:
                        col = source.column(tcol)
                        if pa.types.is_timestamp(col.type):
                            col = col.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
                        t = np.asarray(col.to_numpy(zero_copy_only=False), np.int64)
                        keep &= consented_mask({"lat": lat, "lon": lon, "time": t}, registry)
            return FlownCells(np.unique(cells_to_res(raw[keep], res)), int((~keep).sum()))
        if "corner1_lat" in names:
            frames_withheld = 0
            if registry is not None:
                mask = ~consented_mask(source, registry)
                frames_withheld = int(mask.sum())
                source = source.filter(pa.array(~mask))
            cov = coverage_from_footprints(source, res=res)
            cells = np.asarray(cov.column("cell").to_numpy(zero_copy_only=False), np.uint64)
            return FlownCells(np.unique(cells), 0, frames_withheld)
        raise PlanError("flown table has neither a 'cell' column nor footprint corner columns")
    geoms = [source] if isinstance(source, BaseGeometry) else list(source)
    return FlownCells(
        _cells_of(shapely.union_all(geoms), res) if geoms else _cells_of(shapely.Polygon(), res)
    )


@dataclass
class PlanComparison:
    """Covered (planned and flown), missed (planned, not flown), out of plan (flown only)."""

    h3_res: int
    planned: U64
    flown: U64
    covered: U64
    missed: U64
    out_of_plan: U64
    per_aoi: list[dict[str, Any]] = field(default_factory=list)
    withheld_cells: int = 0
    withheld_frames: int = 0

    @property
    def covered_fraction(self) -> float:
        """Share of the planned cells that were flown."""
        return self.covered.size / self.planned.size if self.planned.size else 0.0

    def summary(self) -> dict[str, Any]:
        """JSON-ready figures (cells and km²)."""

        def block(c: U64) -> dict[str, Any]:
            return {"cells": int(c.size), "km2": round(_area_km2(c), 3)}

        return {
            "h3_res": self.h3_res,
            "planned": block(self.planned),
            "flown": block(self.flown),
            "covered": block(self.covered),
            "missed": block(self.missed),
            "out_of_plan": block(self.out_of_plan),
            "covered_fraction": round(self.covered_fraction, 4),
            "withheld_cells": self.withheld_cells,
            "withheld_frames": self.withheld_frames,
            "per_aoi": self.per_aoi,
        }

    def cells_table(self) -> pa.Table:
        """One row per cell with ``status``: covered, missed or out_of_plan."""
        cells = np.concatenate([self.covered, self.missed, self.out_of_plan])
        status = ["covered"] * self.covered.size + ["missed"] * self.missed.size
        status += ["out_of_plan"] * self.out_of_plan.size
        return pa.table({"cell": pa.array(cells, pa.uint64()), "status": pa.array(status)})


def compare_plan(
    plan: PlanLike,
    flown: FlownLike | Iterable[FlownLike],
    *,
    aois: str | PathLike[str] | Mapping[str, Any] | PlanningRegistry | None = None,
    res: int | None = None,
) -> PlanComparison:
    """Compare a plan (object, GeoJSON mapping or file) with one or more flown sources.

    ``aois``: the AOI file or registry, to put flown coverage through the consent rule.
    ``res``: H3 resolution (default: the plan's).
    """
    doc = _read_plan(plan)
    r = _plan_res(doc) if res is None else res
    registry = None if aois is None else load_planning_aois(aois).consent
    if isinstance(flown, str | PathLike | pa.Table | BaseGeometry):
        sources: list[Any] = [flown]
    else:
        items = list(flown)
        sources = [items] if items and all(isinstance(g, BaseGeometry) for g in items) else items
    got = [flown_cells(s, r, registry) for s in sources]
    flown_c = np.unique(np.concatenate([g.cells for g in got])) if got else np.zeros(0, np.uint64)
    by_aoi = {k: _cells_of(g, r) for k, g in planned_geometry(doc).items()}
    planned = np.unique(np.concatenate(list(by_aoi.values()))) if by_aoi else np.zeros(0, np.uint64)
    per_aoi = []
    for name, c in by_aoi.items():
        hit = np.isin(c, flown_c)
        per_aoi.append(
            {
                "aoi": name,
                "planned_cells": int(c.size),
                "covered_cells": int(hit.sum()),
                "missed_cells": int((~hit).sum()),
                "covered_fraction": round(float(hit.mean()), 4) if c.size else 0.0,
            }
        )
    return PlanComparison(
        r,
        planned,
        flown_c,
        np.intersect1d(planned, flown_c),
        np.setdiff1d(planned, flown_c),
        np.setdiff1d(flown_c, planned),
        per_aoi,
        sum(g.withheld_cells for g in got),
        sum(g.withheld_frames for g in got),
    )
