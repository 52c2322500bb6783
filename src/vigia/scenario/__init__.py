"""Synthetic scenarios: telemetry for tests and benchmarks, sample sorties, and the Vigía
scenario (a world of laboratories and decoys east of Culiacán, and the sorties that search it).
"""

from vigia.scenario.flights import (
    SCENARIO_POSE_SIGMAS,
    SortieFile,
    SortiePlan,
    SortieSpec,
    detection_probability,
    fly_sorties,
    passes_per_object,
    plan_sortie,
    render_frame,
    sortie_specs,
)
from vigia.scenario.world import (
    AoiSpec,
    ScenarioError,
    World,
    build_world,
    lab_pass_probabilities,
)

__all__ = [
    "SCENARIO_POSE_SIGMAS",
    "AoiSpec",
    "ScenarioError",
    "SortieFile",
    "SortiePlan",
    "SortieSpec",
    "World",
    "build_world",
    "detection_probability",
    "fly_sorties",
    "lab_pass_probabilities",
    "passes_per_object",
    "plan_sortie",
    "render_frame",
    "sortie_specs",
]
