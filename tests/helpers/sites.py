"""Rows and schema of ``sites.parquet`` for the store and API tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

#: The schema of ``sites.parquet``.
SITE_SCHEMA = pa.schema(
    [
        ("site_id", pa.string()),
        ("lat", pa.float64()),
        ("lon", pa.float64()),
        ("h_m", pa.float64()),
        ("ce90_m", pa.float64()),
        ("cov_ee_m2", pa.float64()),
        ("cov_en_m2", pa.float64()),
        ("cov_nn_m2", pa.float64()),
        ("log_odds", pa.float64()),
        ("probability", pa.float64()),
        ("candidate", pa.bool_()),
        ("status", pa.string()),
        ("new_since_previous_pass", pa.bool_()),
        ("previous_pass_time", pa.timestamp("us", tz="UTC")),
        ("first_seen", pa.timestamp("us", tz="UTC")),
        ("last_seen", pa.timestamp("us", tz="UTC")),
        ("n_observations", pa.int64()),
        ("n_passes", pa.int64()),
        ("n_sorties", pa.int64()),
        ("night_passes", pa.int64()),
        ("empty_passes", pa.int64()),
        ("indicators", pa.list_(pa.string())),
        ("sorties", pa.list_(pa.string())),
        ("aoi", pa.string()),
        ("vocabulary", pa.string()),
        ("explanation", pa.string()),
        ("assessment", pa.string()),
    ]
)

#: 2026-05-01 00:00 UTC: first_seen of the sites the factory makes.
T0 = datetime(2026, 5, 1, tzinfo=UTC)


def site_row(i: int, **overrides: Any) -> dict[str, Any]:
    """Row ``i`` of a ``sites.parquet`` table (site id ``S{i:08x}``), ``overrides`` applied."""
    row: dict[str, Any] = {
        "site_id": f"S{i:08x}",
        "lat": 24.80 + 0.01 * i,
        "lon": -107.40 - 0.01 * i,
        "h_m": 120.0,
        "ce90_m": 18.5,
        "cov_ee_m2": 90.0,
        "cov_en_m2": 4.0,
        "cov_nn_m2": 110.0,
        "log_odds": 2.2,
        "probability": 0.9,
        "candidate": True,
        "status": "active",
        "new_since_previous_pass": False,
        "previous_pass_time": T0 + timedelta(days=1),
        "first_seen": T0,
        "last_seen": T0 + timedelta(days=2),
        "n_observations": 7,
        "n_passes": 3,
        "n_sorties": 2,
        "night_passes": 1,
        "empty_passes": 0,
        "indicators": ["tarp_cluster", "chemical_drums"],
        "sorties": ["MSN-SECRET-0001", "MSN-SECRET-0002"],
        "aoi": "Culiacán norte",
        "vocabulary": "indicators@1",
        "explanation": '[{"term": "prior", "detail": "", "log_lr": -4.0}]',
        "assessment": None,
    }
    row.update(overrides)
    return row
