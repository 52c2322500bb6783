"""The data directory of ingested sorties: observations, coverage passes, sites, chips.

Layout (all written atomically: a temporary file renamed over the old one)::

    DATA_DIR/
      ingested.json           manifest: one entry per ingested input (by SHA-256), settings
      aois.geojson            the consent AOIs the data was ingested under
      observations.parquet    every observation (any status), with the site it was fused into
      coverage_passes.parquet looks at each H3 cell, per pass (the negative evidence)
      coverage.parquet        per-cell coverage (see vigia.coverage)
      sites.parquet           fused, scored sites (vigia.exploit.scoring.SITE_SCHEMA)
      chips/<obs_id>.jpg      image chips cut around detections, where video was present
"""

from __future__ import annotations

import json
import logging
import os
from os import PathLike
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vigia.errors import CatalogError
from vigia.exploit.observations import OBSERVATION_SCHEMA
from vigia.exploit.scoring import PASSES_SCHEMA, SITE_SCHEMA
from vigia.store.files import private_dir
from vigia.times import null_implausible_times

__all__ = ["OBSERVATIONS_WITH_SITE", "Catalog", "CatalogError"]

DEFAULT_DATA_DIR = Path("vigia-data")

OBSERVATIONS_WITH_SITE = OBSERVATION_SCHEMA.append(pa.field("site_id", pa.string()))

log = logging.getLogger(__name__)


class Catalog:
    """Read and write the files of one data directory."""

    def __init__(self, data_dir: str | PathLike[str] = DEFAULT_DATA_DIR) -> None:
        self.root = Path(data_dir)

    # --- paths -------------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        """``ingested.json``."""
        return self.root / "ingested.json"

    @property
    def aois_path(self) -> Path:
        """``aois.geojson``."""
        return self.root / "aois.geojson"

    @property
    def captures_dir(self) -> Path:
        """Where streams received live (``udp://``) are recorded before they are ingested."""
        return self.root / "captures"

    @property
    def chips_dir(self) -> Path:
        """``chips/``."""
        return self.root / "chips"

    def path(self, name: str) -> Path:
        """Path of one of the Parquet files (``observations``, ``sites``, ...)."""
        return self.root / f"{name}.parquet"

    def chip_path(self, obs_id: str) -> Path | None:
        """The JPEG chip of an observation, if one was cut."""
        p = self.chips_dir / f"{obs_id}.jpg"
        return p if p.is_file() else None

    # --- manifest ----------------------------------------------------------------------------
    def manifest(self) -> dict[str, Any]:
        """The manifest (empty when nothing was ingested yet)."""
        if not self.manifest_path.exists():
            return {"version": 1, "inputs": {}}
        try:
            data = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise CatalogError(f"damaged manifest {self.manifest_path}: {exc}") from exc
        if not isinstance(data, dict) or "inputs" not in data:
            raise CatalogError(f"damaged manifest {self.manifest_path}")
        return data

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        """Replace the manifest."""
        self._atomic_text(self.manifest_path, json.dumps(manifest, indent=2, sort_keys=True))

    # --- tables ------------------------------------------------------------------------------
    def _read(self, name: str, schema: pa.Schema) -> pa.Table:
        p = self.path(name)
        if not p.exists():
            return schema.empty_table()
        try:
            table = pq.read_table(p)
        except (OSError, pa.ArrowInvalid) as exc:
            raise CatalogError(f"cannot read {p}: {exc}") from exc
        table, bad = null_implausible_times(table)
        if bad:
            log.warning("%s: %d time value(s) outside 1990-2100 read as null", p, bad)
        return table

    def observations(self, site_id: str | None = None) -> pa.Table:
        """All observations, or those fused into ``site_id``."""
        t = self._read("observations", OBSERVATIONS_WITH_SITE)
        if site_id is not None:
            t = t.filter(pc.equal(t.column("site_id"), site_id))
        return t

    def sites(self) -> pa.Table:
        """The scored sites, highest log-odds first."""
        return self._read("sites", SITE_SCHEMA)

    def site(self, site_id: str) -> dict[str, Any] | None:
        """One site as a dict, or None (a unique prefix of the id is enough)."""
        t = self.sites()
        ids = t.column("site_id").to_pylist()
        hits = [i for i, s in enumerate(ids) if s == site_id]
        if not hits:
            hits = [i for i, s in enumerate(ids) if s.startswith(site_id)]
        if len(hits) != 1:
            return None
        return dict(t.slice(hits[0], 1).to_pylist()[0])

    def coverage_passes(self) -> pa.Table:
        """Looks at each H3 cell, one row per cell and pass."""
        return self._read("coverage_passes", PASSES_SCHEMA)

    def write_table(self, name: str, table: pa.Table) -> None:
        """Replace one of the Parquet files."""
        private_dir(self.root)
        tmp = self.path(name).with_suffix(".parquet.tmp")
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, self.path(name))

    def _atomic_text(self, path: Path, text: str) -> None:
        private_dir(self.root)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)

    def write_aois(self, geojson: dict[str, Any]) -> None:
        """Keep the consent AOIs the data is ingested under."""
        self._atomic_text(self.aois_path, json.dumps(geojson, indent=1))
