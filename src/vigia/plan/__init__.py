"""Planning: consented AOIs, platform profiles, sortie plans, revisit schedules, plan vs flown.

Entry points (the ``vigia plan`` commands call these):

* `plan_sortie` -> `SortiePlan` (``write_geojson``, ``write_kml``, ``summary``, ``cells_table``)
* `schedule_revisits` -> `RevisitSchedule` (``summary``, ``sorties``, ``unmet``)
* `compare_plan` -> `PlanComparison` (``summary``, ``cells_table``)
* `load_planning_aois` -> `PlanningRegistry` (consent from `vigia.coverage.consent`), `revoke`
* `load_platform`, `available_platforms` -> `PlatformProfile`
"""

from vigia.errors import PlanError
from vigia.plan.compare import PlanComparison, compare_plan, flown_cells, planned_geometry
from vigia.plan.kml import plan_to_kml
from vigia.plan.planner import LeftOut, PlannedAOI, SortiePlan, parse_base, plan_sortie
from vigia.plan.platform import (
    PlatformProfile,
    SensorProfile,
    SensorSetting,
    available_platforms,
    load_platform,
)
from vigia.plan.registry import (
    AOIProblem,
    PlanningAOI,
    PlanningRegistry,
    demo_plan_aois_path,
    load_planning_aois,
)
from vigia.plan.schedule import RevisitRequirement, RevisitSchedule, schedule_revisits

__all__ = [
    "AOIProblem",
    "LeftOut",
    "PlanComparison",
    "PlanError",
    "PlannedAOI",
    "PlanningAOI",
    "PlanningRegistry",
    "PlatformProfile",
    "RevisitRequirement",
    "RevisitSchedule",
    "SensorProfile",
    "SensorSetting",
    "SortiePlan",
    "available_platforms",
    "compare_plan",
    "demo_plan_aois_path",
    "flown_cells",
    "load_planning_aois",
    "load_platform",
    "parse_base",
    "plan_sortie",
    "plan_to_kml",
    "planned_geometry",
    "schedule_revisits",
]
