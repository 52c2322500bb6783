"""Coverage (H3 accumulation, passes, day/night, maps) and consent compliance.

Public entry points (the CLI and later stages use these):

* `coverage_from_footprints` / `CoverageAccumulator`, `write_cells`, `read_cells`
* `plot_coverage`
* `vigia.coverage.consent`: `load_aois`, `ConsentRegistry`, `apply_consent`,
  `require_releasable`, `withheld_mask`, `footprint_consent`
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
    footprint_consent,
    load_aois,
    require_releasable,
    withheld_mask,
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
    "coverage_from_footprints",
    "coverage_metadata",
    "demo_aois_path",
    "footprint_consent",
    "load_aois",
    "plot_coverage",
    "read_cells",
    "require_releasable",
    "solar_elevation_deg",
    "withheld_mask",
    "write_cells",
]
