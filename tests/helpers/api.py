"""A data directory full of sentinels and a TestClient on its API, for the HTTP API tests.

:func:`build_data_dir` writes ``sites.parquet``, ``observations.parquet``, chips, AOIs and
coverage whose source-sensitive fields hold the values of :data:`SENTINELS`; :class:`Api` logs
in as the seed users of ``tests/helpers/users.py``. The ``api`` fixture is in ``conftest.py``.
"""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select

from tests.helpers.sites import SITE_SCHEMA, T0, site_row
from tests.helpers.users import SEED_USERS
from vigia.api import create_app
from vigia.coverage import demo_aois_path
from vigia.coverage.accumulate import CELLS_SCHEMA
from vigia.store import Action, AuditEntry, Product, ProductRelease, Seizure, open_store
from vigia.store.catalog import OBSERVATIONS_WITH_SITE

# --- sentinels: values of source-sensitive (or simply not releasable) fields -------------------
SENTINELS = {
    "mission_id": "SNTL-MSN-4471",
    "sortie_id": "SNTL-SORTIE-0002",
    "platform": "SNTL-PLATFORM-MQ9X",
    "tail_number": "SNTL-TAIL-N7731",
    "sensor": "SNTL-SENSOR-EO9",
    "source_file": "/data/raw/SNTL-FILE-88.ts",
    "vmti_algorithm": "SNTL-VMTI-ALGO-3",
    "withheld_note": "SNTL-WITHHELD-NOTE-99",
    "withheld_obs": "sntlwithheldobs0099",
    "analyst_note": "SNTL-ANALYST-NOTE-5",
    "explanation": "SNTL-EXPLANATION-TERM",
    "vocabulary": "SNTL-VOCAB@9",
    "aoi_of_site": "SNTL-AOI-NAME",
    "chip_exif": "SNTL-EXIF-COMMENT",
}
SITES = [f"S{i:08x}" for i in range(4)]
INDICATORS = ["tarp_structure", "chemical_containers"]


def _jpeg(colour: tuple[int, int, int]) -> bytes:
    """A chip whose EXIF and comment hold the ``chip_exif`` sentinel."""
    img = Image.new("RGB", (48, 32), colour)
    exif = Image.Exif()
    exif[0x010E] = SENTINELS["chip_exif"]  # ImageDescription
    out = io.BytesIO()
    img.save(out, "JPEG", comment=SENTINELS["chip_exif"].encode(), exif=exif.tobytes())
    return out.getvalue()


def build_data_dir(root: Path) -> dict[str, list[str]]:
    """Write the data directory; returns site_id -> ids of its observations with chips."""
    rows = [
        site_row(
            i,
            indicators=INDICATORS,
            sorties=[SENTINELS["mission_id"], SENTINELS["sortie_id"]],
            aoi=SENTINELS["aoi_of_site"],
            vocabulary=SENTINELS["vocabulary"],
            explanation=json.dumps(
                [{"term": SENTINELS["explanation"], "detail": "", "log_lr": 1.0}]
            ),
        )
        for i in range(len(SITES))
    ]
    pq.write_table(pa.Table.from_pylist(rows, schema=SITE_SCHEMA), root / "sites.parquet")
    obs: list[dict[str, Any]] = []
    chips: dict[str, list[str]] = {s: [] for s in SITES}
    for i, site in enumerate(SITES):
        for k in range(2):
            oid = f"obs{i:02d}{k:02d}aabbccdd"
            obs.append(
                {
                    "obs_id": oid,
                    "time": T0 + timedelta(hours=k + 1),
                    "sortie": SENTINELS["mission_id"],
                    "source": "detector",
                    "indicator": INDICATORS[k % 2],
                    "confidence": 0.9 - 0.1 * k,
                    "lat": 24.80 + 0.01 * i,
                    "lon": -107.40 - 0.01 * i,
                    "ce90_m": 12.0,
                    "status": "ok",
                    "consent_status": "consented",
                    "sensor": SENTINELS["sensor"],
                    "note": SENTINELS["analyst_note"],
                    "source_file": SENTINELS["source_file"],
                    "site_id": site,
                }
            )
            chips[site].append(oid)
    # An observation outside consent, wrongly carrying a site id: it must never be released.
    obs.append(
        {
            "obs_id": SENTINELS["withheld_obs"],
            "time": T0 + timedelta(hours=3),
            "sortie": SENTINELS["mission_id"],
            "source": "detector",
            "indicator": "burn_waste_pit",
            "confidence": 0.99,
            "lat": 24.80,
            "lon": -107.40,
            "status": "ok",
            "consent_status": "withheld",
            "note": SENTINELS["withheld_note"],
            "site_id": SITES[0],
        }
    )
    table = pa.Table.from_pylist(obs, schema=OBSERVATIONS_WITH_SITE)
    n = table.num_rows
    table = (
        table.append_column("platform", pa.array([SENTINELS["platform"]] * n))
        .append_column("platform_tail_number", pa.array([SENTINELS["tail_number"]] * n))
        .append_column("mission_id", pa.array([SENTINELS["mission_id"]] * n))
        .append_column("vmti_algorithm_id", pa.array([SENTINELS["vmti_algorithm"]] * n))
    )
    pq.write_table(table, root / "observations.parquet")
    (root / "chips").mkdir(exist_ok=True)
    for j, o in enumerate(obs):
        (root / "chips" / f"{o['obs_id']}.jpg").write_bytes(_jpeg((40 + 20 * j, 90, 60)))
    shutil.copyfile(demo_aois_path(), root / "aois.geojson")
    cells = pa.table(
        {
            "cell": pa.array([0x894802BA62BFFFF, 0x894802BA627FFFF], pa.uint64()),
            "lat": [24.80, 24.81],
            "lon": [-107.40, -107.41],
            "first_seen": pa.array([T0, T0], pa.timestamp("us", tz="UTC")),
            "last_seen": pa.array([T0, T0], pa.timestamp("us", tz="UTC")),
            "passes": pa.array([2, 1], pa.int32()),
            "n_frames": pa.array([40, 12], pa.int64()),
            "best_gsd_m": [0.3, 0.5],
            "seen_eo": [True, True],
            "seen_ir": [False, True],
            "seen_day": [True, False],
            "seen_night": [False, True],
        },
        schema=CELLS_SCHEMA,
    )
    pq.write_table(cells, root / "coverage.parquet")
    return chips


# --- a running API ------------------------------------------------------------------------------
@dataclass
class Api:
    """A TestClient on the app of a data directory, with logged-in users."""

    client: TestClient
    data_dir: Path
    database_url: str
    chips: dict[str, list[str]]
    _headers: dict[str, dict[str, str]] = field(default_factory=dict)

    def headers(self, username: str | None) -> dict[str, str]:
        """Authorization header of ``username`` (logged in once); {} for anonymous."""
        if username is None:
            return {}
        if username not in self._headers:
            r = self.client.post(
                "/api/auth/login",
                json={"username": username, "password": SEED_USERS[username].password},
            )
            assert r.status_code == 200, r.text
            self._headers[username] = {"Authorization": f"Bearer {r.json()['token']}"}
        return self._headers[username]

    def get(self, path: str, user: str | None, **kw: Any) -> Any:
        """GET as ``user``."""
        return self.client.get(path, headers=self.headers(user) | kw.pop("headers", {}), **kw)

    def post(self, path: str, user: str | None, **kw: Any) -> Any:
        """POST as ``user``."""
        return self.client.post(path, headers=self.headers(user) | kw.pop("headers", {}), **kw)

    def draft(self, kind: str = "site_report", user: str = "ana", **body: Any) -> str:
        """Draft a product as ``user``; its id."""
        payload = {"kind": kind, **body}
        if kind == "site_report":
            payload.setdefault("site_id", SITES[0])
        r = self.post("/api/products", user, json=payload)
        assert r.status_code == 201, r.text
        return str(r.json()["product_id"])

    def release(self, site_id: str, agencies: list[str], **body: Any) -> str:
        """Draft a site report and have a supervisor release it to ``agencies``; its id."""
        pid = self.draft(site_id=site_id, **body)
        r = self.post(f"/api/products/{pid}/approve", "sam", json={"agencies": agencies})
        assert r.status_code == 200, r.text
        return pid

    def counts(self) -> dict[str, int]:
        """Rows of the tables a write could change."""
        with open_store(self.data_dir, self.database_url) as store, store.read_only() as s:
            return {
                m.__tablename__: int(s.execute(select(func.count()).select_from(m)).scalar_one())
                for m in (Action, Seizure, Product, ProductRelease, AuditEntry)
            }


def open_api(data_dir: Path, database_url: str) -> Iterator[Api]:
    """The API over a fresh data directory (written here) and the test database."""
    chips = build_data_dir(data_dir)
    app = create_app(data_dir, database_url=database_url)
    with TestClient(app) as client:
        yield Api(client, data_dir, database_url, chips)
