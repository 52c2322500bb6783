"""Planning use cases: a sortie plan or a revisit schedule written out, and a plan compared
with what was flown (the footprints of the flown sorties)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vigia.app.process import iter_footprints
from vigia.footprints import TerrainOptions
from vigia.plan import compare_plan, parse_base, plan_sortie, schedule_revisits
from vigia.telemetry.source import TelemetryReader
from vigia.times import user_time_us

__all__ = ["plan_run", "plan_vs_flown"]


def plan_run(
    aois: Path,
    base: str,
    start: str,
    *,
    platform: str = "mq9",
    until: str | None = None,
    output: Path | None = None,
) -> dict[str, Any]:
    """Plan one sortie from ``base`` (``"LAT,LON"``) at ``start`` over the consented ``aois``
    or, with ``until``, a revisit schedule; return the summary. With ``output``, write the plan
    GeoJSON there (and its KML beside it) or, for a schedule, the summary as JSON."""
    b = parse_base(base)
    user_time_us(start, "--start")
    if until is not None:
        user_time_us(until, "--until")
    if until is not None:
        schedule = schedule_revisits(aois, b, start, until, platform)
        if output is not None:
            schedule.write_json(output)
        return schedule.summary()
    sortie_plan = plan_sortie(aois, b, start, platform)
    if output is not None:
        sortie_plan.write_geojson(output)
        sortie_plan.write_kml(output.with_suffix(".kml"))
    return sortie_plan.summary()


def plan_vs_flown(
    plan_file: Path, sources: Sequence[str], terrain: TerrainOptions, *, aois: Path | None = None
) -> dict[str, Any]:
    """Compare a plan GeoJSON with the sorties flown: covered, missed and out-of-plan areas."""
    flown = [t for src in sources for t in iter_footprints(TelemetryReader(src), terrain)]
    return compare_plan(plan_file, flown, aois=aois).summary()
