"""Revisit scheduling: sorties over several days that keep each AOI within its revisit interval.

`schedule_revisits` works with one aircraft from one base:

* An AOI with ``revisit_h`` must be visited (arrival over it) within ``revisit_h`` of the start of
  its requirement, then within ``revisit_h`` of each previous visit, while it is consented inside
  ``[start, end)``. The sensor/light rule of the sortie planner applies to every visit (an ``IR``
  AOI is visited at night).
* Sorties are planned one after another: the aircraft is free again ``turnaround_h`` after
  landing. The next sortie launches when the first AOI falls due (half its interval after its
  last visit) or when the aircraft is free, whichever is later; launch times up to
  ``(launch_options - 1) * launch_step_h`` later are also tried (to reach night for IR areas)
  and the one that visits the most AOIs before their deadlines wins (earliest on ties). A sortie
  takes the AOIs due during it, most urgent first, through the sortie planner's route builder.
* The result says, per AOI, whether its requirement is met; for those that are not, the largest
  gap and the reason (reach, light, consent window, endurance shared with other AOIs...).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

from vigia.coverage.accumulate import DEFAULT_RES
from vigia.errors import PlanError
from vigia.outputs import output_format, writing
from vigia.plan.planner import (
    DEFAULT_OVERLAP,
    US,
    AOISource,
    Candidates,
    LeftOut,
    SortiePlan,
    TimeLike,
    _check_base,
    _iso,
    assemble,
    time_us,
)
from vigia.plan.platform import PlatformProfile, load_platform
from vigia.plan.registry import load_planning_aois

H_US = 3_600 * US
GAP_SLACK_US = 60 * US
NOT_CONSENTED = ("nominated", "expired", "revoked", "pending")


@dataclass
class RevisitRequirement:
    """One AOI's revisit requirement and how the schedule meets it."""

    aoi: str
    revisit_h: float
    sensor: str
    status: str  # met, unmet, not_consented
    visits_us: list[int] = field(default_factory=list)
    max_gap_h: float | None = None
    reason: str = ""

    @property
    def met(self) -> bool:
        """True when met, or when there is nothing to meet (not consented in the horizon)."""
        return self.status != "unmet"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "aoi": self.aoi,
            "revisit_h": self.revisit_h,
            "sensor": self.sensor,
            "status": self.status,
            "visits": [_iso(t) for t in self.visits_us],
            "max_gap_h": None if self.max_gap_h is None else round(self.max_gap_h, 2),
            "reason": self.reason,
        }


@dataclass
class RevisitSchedule:
    """Sorties in time order and the state of every revisit requirement."""

    start_us: int
    end_us: int
    sorties: list[SortiePlan]
    requirements: list[RevisitRequirement]
    left_out: list[LeftOut]

    @property
    def unmet(self) -> list[RevisitRequirement]:
        """Requirements the schedule cannot meet."""
        return [r for r in self.requirements if r.status == "unmet"]

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "start": _iso(self.start_us),
            "end": _iso(self.end_us),
            "sorties": [
                {
                    "start": _iso(s.start_us),
                    "end": _iso(s.end_us),
                    "duration_h": round(s.duration_h, 3),
                    "endurance_fraction": round(s.endurance_fraction, 4),
                    "aois": [
                        {
                            "aoi": p.aoi.name,
                            "arrive": _iso(p.arrive_us),
                            "sensor": p.pattern.setting.band,
                        }
                        for p in s.planned
                    ],
                }
                for s in self.sorties
            ],
            "requirements": [r.to_dict() for r in self.requirements],
            "unmet": [{"aoi": r.aoi, "reason": r.reason} for r in self.unmet],
            "left_out": [lo.to_dict() for lo in self.left_out],
        }

    def write_json(self, path: str | PathLike[str]) -> None:
        """Write `summary` to a ``.json`` file."""
        output_format(path, {".json": "json"}, "revisit schedule")
        text = json.dumps(self.summary(), indent=2, default=str)
        with writing(path, "revisit schedule"):
            Path(path).write_text(text, encoding="utf-8")


def schedule_revisits(
    aois: AOISource,
    base: Sequence[float],
    start: TimeLike,
    end: TimeLike,
    platform: str | PathLike[str] | Mapping[str, Any] | PlatformProfile = "mq9",
    *,
    turnaround_h: float = 3.0,
    launch_step_h: float = 2.0,
    launch_options: int = 7,
    overlap: float = DEFAULT_OVERLAP,
    h3_res: int = DEFAULT_RES,
    predict_cells: bool = False,
) -> RevisitSchedule:
    """Schedule sorties in ``[start, end)`` that meet the AOIs' ``revisit_h`` (module docstring).

    ``predict_cells``: also compute each sortie's predicted H3 cells (slower).
    """
    reg = load_planning_aois(aois)
    prof = platform if isinstance(platform, PlatformProfile) else load_platform(platform)
    b = _check_base(base)
    t_start, t_end = time_us(start, "start"), time_us(end, "end")
    if t_end <= t_start:
        raise PlanError("schedule end must be after its start")
    if turnaround_h < 0 or launch_step_h <= 0 or launch_options < 1:
        raise PlanError("turnaround_h >= 0, launch_step_h > 0 and launch_options >= 1 required")
    usable_us = round(prof.usable_endurance_s * US)
    cands = Candidates(reg, prof, b, t_start, t_end + usable_us, overlap)
    # requirements: [rs, re) where consented within the horizon
    req: dict[int, tuple[int, int, int]] = {}
    for ci, c in enumerate(cands.items):
        if c.aoi.revisit_h is None:
            continue
        ws, we = c.aoi.aoi.window_us
        req[ci] = (max(t_start, ws), min(t_end, we), round(c.aoi.revisit_h * H_US))
    last: dict[int, int | None] = dict.fromkeys(req)
    visits: dict[int, list[int]] = {ci: [] for ci in req}
    why: dict[int, LeftOut] = {}
    sorties: list[SortiePlan] = []

    def deadline(ci: int) -> int:
        rs, _re, iv = req[ci]
        lv = last[ci]
        return (rs if lv is None else lv) + iv

    def due_from(ci: int) -> int:
        rs, _re, iv = req[ci]
        lv = last[ci]
        return rs if lv is None else max(rs, lv + iv // 2)

    t_free = t_start
    step = round(launch_step_h * H_US)
    for _ in range(1000):
        active = [
            ci for ci, (rs, re, _iv) in req.items() if re > rs and re > t_free and deadline(ci) < re
        ]
        if not active:
            break
        s0 = max(t_free, min(due_from(ci) for ci in active))
        if s0 >= t_end:
            break
        best: tuple[int, int, Any, list[LeftOut]] | None = None
        for k in range(launch_options):
            s = s0 + k * step
            if s >= t_end:
                break
            sel = [
                ci for ci in active if due_from(ci) <= s + usable_us and req[ci][0] < s + usable_us
            ]
            sel.sort(key=lambda ci: (deadline(ci), cands.items[ci].aoi.priority))
            sim, dropped = cands.route(s, sel)
            score = sum(2 if v.arrive_us <= deadline(v.ci) else 1 for v in sim.visits)
            if best is None or score > best[0]:
                best = (score, s, sim, dropped)
        if best is None or not best[2].visits:
            if best is not None:
                for lo in best[3]:
                    why[next(ci for ci in active if cands.items[ci].aoi.name == lo.aoi)] = lo
            t_free = s0 + max(1, launch_options) * step
            continue
        _score, s, sim, dropped = best
        for lo in dropped:
            for ci in active:
                if cands.items[ci].aoi.name == lo.aoi:
                    why[ci] = lo
        sorties.append(assemble(cands, s, sim, dropped, h3_res=h3_res, predict_cells=predict_cells))
        for v in sim.visits:
            if v.ci in req:
                last[v.ci] = v.arrive_us
                visits[v.ci].append(v.arrive_us)
        t_free = sim.end_us + round(turnaround_h * H_US)

    requirements = _judge(cands, req, visits, why)
    names = {c.aoi.name for c in cands.items}
    for lo in cands.left_out:
        try:
            a = reg[lo.aoi]
        except KeyError:
            continue
        if a.revisit_h is not None and a.name not in names:
            status = "not_consented" if lo.code in NOT_CONSENTED else "unmet"
            requirements.append(
                RevisitRequirement(a.name, a.revisit_h, a.sensor, status, reason=lo.reason)
            )
    requirements.sort(key=lambda r: r.aoi)
    return RevisitSchedule(t_start, t_end, sorties, requirements, list(cands.left_out))


def _judge(
    cands: Candidates,
    req: dict[int, tuple[int, int, int]],
    visits: dict[int, list[int]],
    why: dict[int, LeftOut],
) -> list[RevisitRequirement]:
    out = []
    for ci, (rs, re, iv) in req.items():
        a = cands.items[ci].aoi
        if re <= rs:
            out.append(
                RevisitRequirement(
                    a.name,
                    a.revisit_h or 0.0,
                    a.sensor,
                    "not_consented",
                    reason="not consented during the schedule",
                )
            )
            continue
        vs = sorted(t for t in visits[ci] if rs <= t < re)
        marks = [rs, *vs, re]
        gaps = [(marks[i], marks[i + 1]) for i in range(len(marks) - 1)]
        worst = max(gaps, key=lambda g: g[1] - g[0])
        max_gap_h = (worst[1] - worst[0]) / H_US
        if worst[1] - worst[0] <= iv + GAP_SLACK_US:
            out.append(
                RevisitRequirement(a.name, a.revisit_h or 0.0, a.sensor, "met", vs, max_gap_h)
            )
            continue
        cause = f" ({why[ci].reason})" if ci in why else ""
        reason = (
            f"gap of {max_gap_h:.1f} h from {_iso(worst[0])} to {_iso(worst[1])} exceeds the "
            f"{a.revisit_h:g} h revisit interval{cause}"
        )
        out.append(
            RevisitRequirement(a.name, a.revisit_h or 0.0, a.sensor, "unmet", vs, max_gap_h, reason)
        )
    return out
