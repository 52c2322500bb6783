"""Consent compliance of a sortie: how much of what was seen was seen inside consent.

Areas are measured on H3 cells (resolution ``h3_res``) with the same exact observation rule as
coverage (a frame observes a cell whose centre lies inside its footprint; see
`vigia.coverage.accumulate`). Each (cell, run) observation is judged at the cell centre at the
run's time; runs are split at every instant where a consent window opens or closes, so the
judgement holds for every frame of the run. Why cells and not a polygon union in an equal-area
projection: the union of millions of footprints is expensive and fragile, while cells stream in
chunks, give the per-span cell lists the partner asks for, and use H3's own cell areas (exact on
the ellipsoid-authalic sphere). The price is discretisation: the error on an area is about half
the cells along its boundary (for a 10 km square at resolution 10, under 1 %).

Definitions
-----------
* observed area: area of the distinct cells observed by usable frames.
* out-of-consent area: area of the distinct cells observed at least once while not consented.
* consented fraction: 1 - out-of-consent area / observed area (None when nothing was observed).
* frame counts: each frame's status from `consent.consent_status` (a frame partly outside
  consent is withheld even though most of its cells may be consented).
* out-of-consent spans: withheld frames and out-of-consent observations, merged into time spans
  when less than ``span_gap_s`` apart, each with its withheld frames and out-of-consent cells.
* per AOI: cells whose centre lies in the AOI, observed inside its window or outside it (before
  it opened, after it expired or was revoked, or while only nominated).

The verdict fails closed
------------------------
* ``not_compliant``: a frame was withheld or a cell was observed outside consent.
* ``undetermined``: nothing was seen outside consent, but a frame could not be placed on the
  ground (no footprint, no time: its consent status is 'undetermined', so where it looked is
  unknown), or there was no frame at all. ``undetermined_by_reason`` counts those frames by the
  footprint's ``reason`` ('no_time' for a frame without a time, 'unusable_footprint' for corners
  that do not form a usable quadrilateral).
* ``compliant``: every frame consented and nothing observed outside consent.

``reasons`` counts what decided the verdict (``withheld_frames``, ``out_of_consent_cells``,
``undetermined_frames``, ``no_frames``), non-zero entries only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
from h3.api import basic_int as h3i

from vigia.coverage._frames import FootprintsLike, Frames, read_frames
from vigia.coverage.accumulate import DEFAULT_RES, CentreIndex, make_runs, observe
from vigia.coverage.consent import (
    CONSENTED,
    UNDETERMINED,
    WITHHELD,
    ConsentRegistry,
    consent_status,
    consented_mask,
)
from vigia.errors import GeoError
from vigia.times import format_time_us, time_us_column

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
B = npt.NDArray[np.bool_]

COMPLIANT = "compliant"
NOT_COMPLIANT = "not_compliant"
VERDICTS = (COMPLIANT, NOT_COMPLIANT, UNDETERMINED)
#: How `ComplianceReport.to_text` / `to_rich` name each verdict.
VERDICT_LABELS = {
    COMPLIANT: "COMPLIANT",
    NOT_COMPLIANT: "NOT COMPLIANT",
    UNDETERMINED: "UNDETERMINED",
}


@dataclass(frozen=True)
class OutOfConsentSpan:
    """A time span of observation outside consent."""

    start_us: int
    end_us: int
    n_frames: int  # withheld frames in the span
    area_km2: float  # area of the out-of-consent cells observed in the span
    cells: tuple[str, ...]  # those cells, H3 strings

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        d = asdict(self)
        d["start"] = format_time_us(self.start_us)
        d["end"] = format_time_us(self.end_us)
        d["cells"] = list(self.cells)
        return d


@dataclass(frozen=True)
class AoiSummary:
    """What was observed inside one AOI, inside and outside its consent window."""

    name: str
    authority: str
    state: str
    window_start_us: int
    window_end_us: int
    n_cells: int
    observed_km2: float
    in_window_km2: float
    outside_window_km2: float
    first_seen_us: int | None
    last_seen_us: int | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        d = asdict(self)
        for k in ("window_start", "window_end", "first_seen", "last_seen"):
            d[k] = format_time_us(d[f"{k}_us"])
        return d


@dataclass(frozen=True)
class ComplianceReport:
    """Consent compliance of a set of footprints against a registry."""

    h3_res: int
    frames_total: int
    frames_consented: int
    frames_withheld: int
    frames_undetermined: int
    observed_km2: float
    out_of_consent_km2: float
    consented_fraction: float | None
    spans: tuple[OutOfConsentSpan, ...]
    aois: tuple[AoiSummary, ...]
    out_of_consent_cells: int = 0
    undetermined_by_reason: Mapping[str, int] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        """'compliant', 'not_compliant' or 'undetermined' (see the module docstring)."""
        if self.frames_withheld or self.out_of_consent_cells or self.out_of_consent_km2:
            return NOT_COMPLIANT
        if self.frames_undetermined or self.frames_total == 0:
            return UNDETERMINED
        return COMPLIANT

    @property
    def compliant(self) -> bool:
        """True only when the verdict is 'compliant' (fails closed: undetermined is not)."""
        return self.verdict == COMPLIANT

    @property
    def reasons(self) -> dict[str, int]:
        """What decided the verdict, counted (non-zero entries only)."""
        counts = {
            "withheld_frames": self.frames_withheld,
            "out_of_consent_cells": self.out_of_consent_cells,
            "undetermined_frames": self.frames_undetermined,
            "no_frames": int(self.frames_total == 0),
        }
        return {k: v for k, v in counts.items() if v}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (times as ISO 8601 UTC strings and µs)."""
        d = {k: v for k, v in asdict(self).items() if k not in ("spans", "aois")}
        d["undetermined_by_reason"] = dict(self.undetermined_by_reason)
        d["verdict"] = self.verdict
        d["reasons"] = self.reasons
        d["compliant"] = self.compliant
        d["spans"] = [s.to_dict() for s in self.spans]
        d["aois"] = [a.to_dict() for a in self.aois]
        return d

    def to_text(self, *, max_cells: int = 8) -> str:
        """Plain-text rendering for a terminal or a log (English / Spanish headings)."""
        frac = (
            "n/a" if self.consented_fraction is None else f"{100 * self.consented_fraction:.2f} %"
        )
        lines = [
            "Consent compliance / Cumplimiento del consentimiento",
            f"  verdict / dictamen:        {VERDICT_LABELS[self.verdict]}",
            f"  reasons / motivos:         {self._reasons_text()}",
            f"  frames / cuadros:          {self.frames_total:,} total, "
            f"{self.frames_consented:,} consented, {self.frames_withheld:,} withheld, "
            f"{self.frames_undetermined:,} undetermined",
            *(
                f"    undetermined, {k}: {v:,}"
                for k, v in sorted(self.undetermined_by_reason.items())
            ),
            f"  observed area / área:      {self.observed_km2:.3f} km² (H3 res {self.h3_res})",
            f"  out of consent / fuera:    {self.out_of_consent_km2:.3f} km²",
            f"  consented fraction:        {frac}",
        ]
        lines.append(f"Out-of-consent spans / Periodos fuera de consentimiento: {len(self.spans)}")
        for s in self.spans:
            cells = ", ".join(s.cells[:max_cells]) + (" …" if len(s.cells) > max_cells else "")
            lines.append(
                f"  {format_time_us(s.start_us)} → {format_time_us(s.end_us)}  "
                f"{s.n_frames:,} frames  {s.area_km2:.3f} km²  [{cells}]"
            )
        lines.append("Areas of interest / Áreas de interés:")
        for a in self.aois:
            lines.append(
                f"  {a.name} ({a.authority}, {a.state}; window {format_time_us(a.window_start_us)}"
                f" → {format_time_us(a.window_end_us)}): observed {a.observed_km2:.3f} km², "
                f"in window {a.in_window_km2:.3f} km², "
                f"outside window {a.outside_window_km2:.3f} km²"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()

    def _reasons_text(self) -> str:
        return ", ".join(f"{k} {v:,}" for k, v in self.reasons.items()) or "none"

    def to_rich(self) -> Any:
        """A rich renderable (tables), for ``rich.console.Console().print``."""
        from rich.console import Group
        from rich.table import Table

        head = Table(title="Consent compliance / Cumplimiento", show_header=False)
        head.add_column("", style="bold")
        head.add_column("")
        style = {COMPLIANT: "green", NOT_COMPLIANT: "bold red", UNDETERMINED: "bold yellow"}
        verdict = f"[{style[self.verdict]}]{VERDICT_LABELS[self.verdict]}[/]"
        frac = (
            "n/a" if self.consented_fraction is None else f"{100 * self.consented_fraction:.2f} %"
        )
        for k, v in [
            ("verdict / dictamen", verdict),
            ("reasons / motivos", self._reasons_text()),
            ("frames consented", f"{self.frames_consented:,} / {self.frames_total:,}"),
            ("frames withheld", f"{self.frames_withheld:,}"),
            ("frames undetermined", f"{self.frames_undetermined:,}"),
            *(
                (f"  undetermined: {k}", f"{v:,}")
                for k, v in sorted(self.undetermined_by_reason.items())
            ),
            ("out-of-consent cells", f"{self.out_of_consent_cells:,}"),
            ("observed area", f"{self.observed_km2:.3f} km² (H3 res {self.h3_res})"),
            ("out of consent", f"{self.out_of_consent_km2:.3f} km²"),
            ("consented fraction", frac),
        ]:
            head.add_row(k, v)
        spans = Table(title="Out-of-consent spans / Periodos fuera de consentimiento")
        for c in ("start (UTC)", "end (UTC)", "frames", "km²", "cells"):
            spans.add_column(c)
        for s in self.spans:
            spans.add_row(
                str(format_time_us(s.start_us)),
                str(format_time_us(s.end_us)),
                f"{s.n_frames:,}",
                f"{s.area_km2:.3f}",
                str(len(s.cells)),
            )
        aois = Table(title="Areas of interest / Áreas de interés")
        for c in ("AOI", "authority", "state", "observed km²", "in window", "outside window"):
            aois.add_column(c)
        for a in self.aois:
            aois.add_row(
                a.name,
                a.authority,
                a.state,
                f"{a.observed_km2:.3f}",
                f"{a.in_window_km2:.3f}",
                f"{a.outside_window_km2:.3f}",
            )
        return Group(head, spans, aois)


def _reduce_cells(cells: U64, *flags: npt.NDArray[Any]) -> tuple[U64, list[npt.NDArray[Any]]]:
    """Unique cells and, per flag array, its maximum (``any`` for booleans) per cell."""
    if cells.size == 0:
        return cells, [f[:0] for f in flags]
    o = np.argsort(cells, kind="stable")
    c = cells[o]
    new = np.ones(c.size, bool)
    new[1:] = c[1:] != c[:-1]
    i = np.flatnonzero(new)
    return c[i], [np.maximum.reduceat(f[o], i) for f in flags]


def _reduce_min(cells: U64, values: I64) -> I64:
    o = np.argsort(cells, kind="stable")
    c = cells[o]
    new = np.ones(c.size, bool)
    new[1:] = c[1:] != c[:-1]
    return np.asarray(np.minimum.reduceat(values[o], np.flatnonzero(new)), np.int64)


class _Areas:
    """H3 cell areas in km², cached."""

    def __init__(self) -> None:
        self._cache: dict[int, float] = {}

    def __call__(self, cells: U64) -> npt.NDArray[np.float64]:
        out = np.empty(cells.size)
        for i, c in enumerate(cells.tolist()):
            a = self._cache.get(c)
            if a is None:
                a = self._cache[c] = h3i.cell_area(c, "km^2")
            out[i] = a
        return out


def compliance(
    footprints: FootprintsLike | Iterable[FootprintsLike],
    registry: ConsentRegistry,
    *,
    h3_res: int = DEFAULT_RES,
    step_s: float = 1.0,
    span_gap_s: float = 120.0,
) -> ComplianceReport:
    """Consent compliance of footprints (one table or an iterable of chunks); see module doc."""
    if isinstance(footprints, pa.Table) or (
        isinstance(footprints, Mapping) and "time" in footprints
    ):
        footprints = [footprints]
    if not step_s > 0:
        raise GeoError(f"step_s must be positive, got {step_s}")
    step_us = max(1, round(step_s * 1e6))
    index = CentreIndex(h3_res)
    bps = registry.breakpoints_us()
    n_aoi = len(registry)
    counts = {CONSENTED: 0, WITHHELD: 0, UNDETERMINED: 0}
    why_undetermined: Counter[str] = Counter()
    withheld_t: list[I64] = []
    cell_parts: list[tuple[U64, B]] = []
    out_parts: list[tuple[U64, I64, I64]] = []
    aoi_parts: list[list[tuple[U64, B, B, I64, I64]]] = [[] for _ in range(n_aoi)]

    for chunk in footprints:
        frames = read_frames(chunk)
        status = consent_status(chunk, registry)
        for k in counts:
            counts[k] += int(np.count_nonzero(status == k))
        why_undetermined.update(_undetermined_reasons(chunk, frames, status == UNDETERMINED))
        withheld_t.append(frames.time_us[status == WITHHELD])
        runs = make_runs(frames, step_us=step_us, breakpoints_us=bps)
        obs = observe(runs, index)
        t0, t1 = obs.t0, obs.t1
        mid = (t0 + t1) // 2
        cons = consented_mask({"lat": obs.lat, "lon": obs.lon, "time": mid}, registry)
        cu, (any_out,) = _reduce_cells(obs.cell, ~cons)
        cell_parts.append((cu, any_out))
        bad = ~cons
        out_parts.append((obs.cell[bad], t0[bad], t1[bad]))
        if n_aoi and len(obs):
            uc, inv = np.unique(obs.cell, return_inverse=True)
            first = np.zeros(uc.size, np.int64)
            first[inv[::-1]] = np.arange(inv.size)[::-1]
            inside = registry.aoi_of_points(obs.lat[first], obs.lon[first])
            for j, a in enumerate(registry.aois):
                sel = inside[inv.reshape(-1), j]
                if not sel.any():
                    continue
                act = a.active(mid[sel])
                c, (w, o, t_last) = _reduce_cells(obs.cell[sel], act, ~act, t1[sel])
                aoi_parts[j].append((c, w, o, _reduce_min(obs.cell[sel], t0[sel]), t_last))

    area = _Areas()
    if cell_parts:
        cells, (any_out,) = _reduce_cells(
            np.concatenate([p[0] for p in cell_parts]), np.concatenate([p[1] for p in cell_parts])
        )
    else:
        cells, any_out = np.zeros(0, np.uint64), np.zeros(0, bool)
    cell_km2 = area(cells)
    observed = float(cell_km2.sum())
    out_km2 = float(cell_km2[any_out].sum())
    fraction = None if observed == 0 else 1.0 - out_km2 / observed

    spans = _spans(
        np.sort(np.concatenate(withheld_t)) if withheld_t else np.zeros(0, np.int64),
        *(np.concatenate([p[k] for p in out_parts]) for k in range(3))
        if out_parts
        else (np.zeros(0, np.uint64), np.zeros(0, np.int64), np.zeros(0, np.int64)),
        gap_us=round(span_gap_s * 1e6),
        area=area,
    )
    summaries = []
    for j, a in enumerate(registry.aois):
        parts = aoi_parts[j]
        ws, we = a.window_us
        if parts:
            c_all = np.concatenate([p[0] for p in parts])
            c, (w, o, tl) = _reduce_cells(
                c_all, *(np.concatenate([p[k] for p in parts]) for k in (1, 2, 4))
            )
            tf = _reduce_min(c_all, np.concatenate([p[3] for p in parts]))
            km2 = area(c)
            summaries.append(
                AoiSummary(
                    a.name,
                    a.authority,
                    a.state,
                    ws,
                    we,
                    int(c.size),
                    float(km2.sum()),
                    float(km2[w].sum()),
                    float(km2[o].sum()),
                    int(tf.min()),
                    int(tl.max()),
                )
            )
        else:
            summaries.append(
                AoiSummary(a.name, a.authority, a.state, ws, we, 0, 0.0, 0.0, 0.0, None, None)
            )
    return ComplianceReport(
        h3_res=h3_res,
        frames_total=sum(counts.values()),
        frames_consented=counts[CONSENTED],
        frames_withheld=counts[WITHHELD],
        frames_undetermined=counts[UNDETERMINED],
        observed_km2=observed,
        out_of_consent_km2=out_km2,
        consented_fraction=fraction,
        spans=tuple(spans),
        aois=tuple(summaries),
        out_of_consent_cells=int(np.count_nonzero(any_out)),
        undetermined_by_reason=dict(sorted(why_undetermined.items())),
    )


def _undetermined_reasons(chunk: FootprintsLike, frames: Frames, undetermined: B) -> Counter[str]:
    """Why the undetermined frames could not be placed, counted: the footprint's ``reason`` when
    it is not 'ok', else 'no_time' (no time), else 'unusable_footprint' (corners that do not form
    a usable quadrilateral)."""
    if not undetermined.any():
        return Counter()
    n = len(frames)
    col = (
        (chunk.column("reason") if "reason" in chunk.column_names else None)
        if isinstance(chunk, pa.Table)
        else chunk.get("reason")
    )
    if col is None:
        given = np.full(n, "", dtype=object)
    elif isinstance(col, pa.ChunkedArray | pa.Array):
        given = np.asarray(col.cast(pa.string()).fill_null("").to_pylist(), dtype=object)
    else:
        given = np.asarray(["" if r is None else str(r) for r in col], dtype=object)
    _, has_time = time_us_column(
        chunk.column("time") if isinstance(chunk, pa.Table) else chunk["time"]
    )
    plain = (given == "") | (given == "ok")
    why = np.where(plain & ~has_time, "no_time", np.where(plain, "unusable_footprint", given))
    names, counts = np.unique(why[undetermined].astype(str), return_counts=True)
    return Counter(dict(zip(names.tolist(), counts.tolist(), strict=True)))


def _spans(
    frame_t: I64, cell: U64, t0: I64, t1: I64, *, gap_us: int, area: _Areas
) -> list[OutOfConsentSpan]:
    """Merge withheld frame times and out-of-consent observation intervals into spans."""
    s = np.concatenate([frame_t, t0])
    e = np.concatenate([frame_t, t1])
    if s.size == 0:
        return []
    o = np.argsort(s, kind="stable")
    s, e = s[o], e[o]
    reach = np.maximum.accumulate(e)
    new = np.ones(s.size, bool)
    new[1:] = s[1:] > reach[:-1] + gap_us
    i = np.flatnonzero(new)
    starts, ends = s[i], np.maximum.reduceat(e, i)
    n_frames = np.searchsorted(frame_t, ends, "right") - np.searchsorted(frame_t, starts, "left")
    owner = np.searchsorted(starts, t0, "right") - 1
    out = []
    for k in range(starts.size):
        cs = np.unique(cell[owner == k])
        out.append(
            OutOfConsentSpan(
                int(starts[k]),
                int(ends[k]),
                int(n_frames[k]),
                float(area(cs).sum()),
                tuple(h3i.int_to_str(c) for c in cs.tolist()),
            )
        )
    return out
