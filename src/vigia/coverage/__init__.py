"""Coverage (H3 accumulation, passes, day/night, maps) and consent compliance.

Public entry points (the CLI and later stages use these):

* `coverage_from_footprints` / `CoverageAccumulator`, `write_cells`, `read_cells`
* `plot_coverage`
* `vigia.coverage.consent`: `load_aois`, `ConsentRegistry`, `consent_status`
  (the one decision), `apply_consent`, `consented_mask`, `require_releasable` (the gate)
* `compliance` -> `ComplianceReport`
* `solar_elevation_deg`
"""

from importlib.resources import files
from pathlib import Path

from vigia.coverage.accumulate import (
    CoverageAccumulator,
    coverage_from_footprints,
    coverage_metadata,
    read_cells,
    write_cells,
)
from vigia.coverage.compliance import ComplianceReport, compliance
from vigia.coverage.consent import (
    ConsentRegistry,
    apply_consent,
    consent_status,
    consented_mask,
    load_aois,
    releasable_mask,
    require_releasable,
)
from vigia.coverage.plot import plot_coverage
from vigia.coverage.solar import solar_elevation_deg


def demo_aois_path() -> Path:
    """Path of the demo AOI file shipped with Vigía (fictitious 2026 consents in Sinaloa)."""
    return Path(str(files("vigia.coverage") / "data" / "demo_aois.geojson"))


__all__ = [
    "ComplianceReport",
    "ConsentRegistry",
    "CoverageAccumulator",
    "apply_consent",
    "compliance",
    "consent_status",
    "consented_mask",
    "coverage_from_footprints",
    "coverage_metadata",
    "demo_aois_path",
    "load_aois",
    "plot_coverage",
    "read_cells",
    "releasable_mask",
    "require_releasable",
    "solar_elevation_deg",
    "write_cells",
]
