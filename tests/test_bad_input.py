"""Bad input of every kind gets a clear typed error: a 4xx from the API, one line and exit 2
from the CLI; never a 5xx, a traceback or a hang."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from schemathesis.checks import (
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from tests.helpers.api import SITES, Api
from tests.helpers.fuzz import fuzz_api
from tests.helpers.users import SEED_USERS
from vigia.coverage import demo_aois_path, load_aois
from vigia.errors import ConsentError, ObservationError, ValidationError
from vigia.store import Store, db_error_summary, normalise_amount

ROOT = Path(__file__).resolve().parents[1]
CHEYENNE = ROOT / "tests" / "data" / "realdata" / "Cheyenne.bin"


def _vigia(*args: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.setdefault("PYTHONPATH", str(ROOT / "src"))
    env.pop("VIGIA_DEM", None)
    return subprocess.run(
        [sys.executable, "-m", "vigia.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env=env,
        cwd=ROOT,
    )


def _one_line_error(r: subprocess.CompletedProcess[str], *names: str) -> None:
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    for name in names:
        assert name in lines[0], lines[0]


# --- output files the CLI cannot write -----------------------------------------------------------
MISSING = "/nonexistent/dir"
COMMANDS = {
    "telemetry": ["telemetry", str(CHEYENNE), "-o", f"{MISSING}/t.parquet"],
    "footprints": ["footprints", str(CHEYENNE), "--terrain-height", "1800", "-o"],
    "footprints-geojson": ["footprints", str(CHEYENNE), "--terrain-height", "1800", "-o"],
    "coverage": ["coverage", str(CHEYENNE), "--terrain-height", "1800", "-o"],
}
COMMANDS["footprints"].append(f"{MISSING}/f.parquet")
COMMANDS["footprints-geojson"].append(f"{MISSING}/f.geojson")
COMMANDS["coverage"].append(f"{MISSING}/c.parquet")


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_an_output_in_a_missing_folder_is_one_line_exit_2(name: str) -> None:
    args = COMMANDS[name]
    r = _vigia(*args, timeout_s=60)
    _one_line_error(r, args[-1])


def test_a_coverage_map_in_a_missing_folder_is_refused_before_reading(tmp_path: Path) -> None:
    out = tmp_path / "c.parquet"
    png = f"{MISSING}/map.png"
    r = _vigia("coverage", str(CHEYENNE), "-o", str(out), "--png", png, "--terrain-height", "1800")
    _one_line_error(r, png)
    assert not out.exists()


def test_telemetry_writer_failing_on_its_thread_ends_the_command(tmp_path: Path) -> None:
    """The folder exists but the output is a directory: the Parquet writer thread fails on its
    first and only chunk. The command used to wait forever for an end marker already taken."""
    target = tmp_path / "t.parquet"
    target.mkdir()
    r = _vigia("telemetry", str(CHEYENNE), "-o", str(target), timeout_s=30)
    _one_line_error(r, str(target))


# --- dates a user may enter ----------------------------------------------------------------------
OK_ACTION = {"kind": "operation", "date": "2026-05-03"}
PILLS = {"substance": "fentanyl_pills", "amount": 1000, "unit": "count"}


def _refused(r: Any, *words: str) -> str:
    assert r.status_code == 422, (r.status_code, r.text[:400])
    detail = r.json()["detail"]
    assert isinstance(detail, str) and detail
    for w in words:
        assert w.lower() in detail.lower(), detail
    return detail


@pytest.mark.parametrize(
    "when",
    [
        "9999-12-31T23:59:59-14:00",
        "0001-01-01T00:00:00+14:00",
        "2100-01-01T00:00:00Z",
        "9999-12-31",
    ],
)
def test_an_action_dated_outside_2000_2100_is_a_422(api: Api, when: str) -> None:
    api.release(SITES[0], ["SEMAR"])
    api.headers("semar.oficial")
    before = api.counts()
    r = api.post(f"/api/sites/{SITES[0]}/actions", "semar.oficial", json=OK_ACTION | {"date": when})
    _refused(r, "date", "2000-01-01")
    assert api.counts() == before


@pytest.mark.parametrize(
    "period",
    [
        ("0001-01-01T00:00:00Z", "2026-05-01T00:00:00Z"),
        ("2026-05-01T00:00:00Z", "9999-12-31T23:59:59-14:00"),
        ("0001-01-01T00:00:00+14:00", "0001-01-02T00:00:00+14:00"),
    ],
)
def test_a_digest_period_outside_2000_2100_is_a_422(api: Api, period: tuple[str, str]) -> None:
    api.headers("ana")
    before = api.counts()
    body = {"kind": "digest", "period_start": period[0], "period_end": period[1]}
    r = api.post("/api/products", "ana", json=body)
    _refused(r, "period_", "2000-01-01")
    assert api.counts() == before


def test_the_store_refuses_an_implausible_action_date_too(store: Store) -> None:
    """The last line: a caller that bypasses the API's models gets a ValidationError."""
    from vigia.store.actions import _occurred

    for when in (
        datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-14))),
        date(1, 1, 1),
    ):
        with pytest.raises(ValidationError, match="2000-01-01"):
            _occurred(when)


def test_plan_run_refuses_a_start_outside_2000_2100() -> None:
    r = _vigia(
        "plan",
        "run",
        "--aois",
        str(demo_aois_path()),
        "--base",
        "24.8,-107.4",
        "--start",
        "9999-12-31T23:59:59-14:00",
    )
    _one_line_error(r, "--start", "2000-01-01")


# --- amounts -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "seizure",
    [
        {"substance": "methamphetamine", "amount": 5e-324, "unit": "g"},
        {"substance": "methamphetamine", "amount": 1e-300, "unit": "kg"},
        {"substance": "precursor_chemical", "amount": 1e-12, "unit": "L"},
        {"substance": "fentanyl_powder", "amount": 1e300, "unit": "lb"},
        {"substance": "fentanyl_pills", "amount": 1e15, "unit": "count"},
    ],
)
def test_an_amount_that_vanishes_or_explodes_in_the_store_units_is_a_422(
    api: Api, seizure: dict[str, Any]
) -> None:
    api.release(SITES[0], ["SEMAR"])
    api.headers("semar.oficial")
    before = api.counts()
    r = api.post(
        f"/api/sites/{SITES[0]}/actions", "semar.oficial", json=OK_ACTION | {"seizures": [seizure]}
    )
    detail = _refused(r, "amount")
    assert "seizures[0]" in detail, detail
    assert api.counts() == before


def test_the_store_bounds_amounts_in_its_units() -> None:
    assert normalise_amount("methamphetamine", 1, "g") == (0.001, "kg")
    for amount, unit in ((5e-324, "g"), (1e-7, "kg"), (2e9, "kg"), (1e12, "lb")):
        with pytest.raises(ValidationError, match="outside"):
            normalise_amount("methamphetamine", amount, unit)


# --- no SQL parameters in logs -------------------------------------------------------------------
PARAM_SENTINEL = "SNTL-PARAM-7731-notes"


def test_a_database_error_logs_no_parameter_values(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    """The actions table is gone: the insert fails in the database. The request gets a 503,
    and nothing logged holds the values the request sent."""
    api.release(SITES[0], ["SEMAR"])
    api.headers("semar.oficial")
    engine = create_engine(api.database_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE seizures")
        conn.exec_driver_sql("DROP TABLE actions")
    engine.dispose()
    body = OK_ACTION | {"notes": PARAM_SENTINEL}
    with caplog.at_level(logging.DEBUG):
        r = api.post(f"/api/sites/{SITES[0]}/actions", "semar.oficial", json=body)
    assert r.status_code == 503, r.text
    assert PARAM_SENTINEL not in r.text
    db_records = [rec for rec in caplog.records if "database error" in rec.getMessage()]
    assert db_records, [rec.getMessage() for rec in caplog.records]
    for rec in caplog.records:
        logged = rec.getMessage()
        if rec.exc_info:
            logged += logging.Formatter().formatException(rec.exc_info)
        assert PARAM_SENTINEL not in logged, logged
    # the kinds are named: OperationalError (SQLite), ProgrammingError (PostgreSQL)
    assert any(k in db_records[0].getMessage() for k in ("OperationalError", "ProgrammingError"))
    assert "INSERT" in db_records[0].getMessage()


def test_the_engine_hides_parameters_in_its_errors(store: Store) -> None:
    with pytest.raises(DBAPIError) as info, store.transaction() as s:
        s.execute(text("SELECT * FROM no_such_table WHERE x = :x"), {"x": PARAM_SENTINEL})
    assert PARAM_SENTINEL not in str(info.value)
    assert db_error_summary(info.value).endswith("in SELECT")


# --- AOI files with impossible dates -------------------------------------------------------------
def _aoi_doc(**props: Any) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(demo_aois_path().read_text(encoding="utf-8"))
    doc["features"][0]["properties"].update(props)
    return doc


AOI_NAME = "Culiacán – Tepuche"
BAD_AOI_DATES = [
    ("consent_from", "0001-01-01T00:00:00+14:00"),
    ("consent_until", "9999-12-31T23:59:59-14:00"),
    ("consent_from", "1969-12-31T23:59:59Z"),
    ("revoked_at", "2100-01-01T00:00:00Z"),
]


@pytest.mark.parametrize(("field", "value"), BAD_AOI_DATES)
def test_an_aoi_dated_outside_2000_2100_is_refused_naming_feature_and_field(
    field: str, value: str
) -> None:
    doc = _aoi_doc(**{field: value})
    assert doc["features"][0]["properties"]["name"] == AOI_NAME
    with pytest.raises(ConsentError) as info:
        load_aois(doc)
    msg = info.value.message
    assert "feature 0" in msg and AOI_NAME in msg and field in msg and "2000-01-01" in msg, msg


@pytest.mark.parametrize(
    ("props", "words"),
    [
        ({"consent_from": "0000-01-01T00:00:00Z"}, ["consent_from"]),
        ({"consent_until": "10000-01-01T00:00:00Z"}, ["consent_until"]),
        ({"consent_from": "2026-13-01T00:00:00Z"}, ["consent_from"]),
        (
            {"consent_from": "2026-06-01T00:00:00Z", "consent_until": "2026-05-01T00:00:00Z"},
            ["consent_until", "consent_from"],
        ),
        ({"consent_until": "9999-12-31T23:59:59-14:00"}, ["consent_until", "2000-01-01"]),
    ],
)
def test_compliance_with_an_impossible_aoi_date_is_one_line_exit_2(
    tmp_path: Path, props: dict[str, Any], words: list[str]
) -> None:
    path = tmp_path / "aois.geojson"
    path.write_text(json.dumps(_aoi_doc(**props)), encoding="utf-8")
    r = _vigia(
        "compliance", str(CHEYENNE), "--aois", str(path), "--terrain-height", "1800", "--json"
    )
    _one_line_error(r, "feature 0", AOI_NAME, *words)


def test_an_aoi_revoked_before_its_consent_began_is_refused() -> None:
    doc = _aoi_doc(state="revoked", revoked_at="2026-01-01T00:00:00Z")  # opens 2026-01-15
    with pytest.raises(ConsentError, match="revoked_at is before consent_from") as info:
        load_aois(doc)
    assert AOI_NAME in info.value.message


# --- schemathesis over the whole API ------------------------------------------------------------
#: Generated requests per operation (each sent as the four roles).
FUZZ_EXAMPLES = 6
ROLE_USERS = ("ana", "sam", "semar.enlace", "semar.oficial")


def test_schemathesis_as_every_role_finds_no_5xx_and_no_undeclared_response(api: Api) -> None:
    """Requests generated from /openapi.json, sent as an analyst, a supervisor, a partner
    liaison and a partner officer: no 5xx, every status declared by its route, every body
    valid against the declared schema (422 bodies included)."""
    assert {SEED_USERS[u].role for u in ROLE_USERS} == {
        "analyst",
        "supervisor",
        "partner-liaison",
        "partner-officer",
    }
    api.release(SITES[0], ["SEMAR"])
    api.draft(site_id=SITES[1])
    headers = [api.headers(u) for u in ROLE_USERS]
    checks = [not_a_server_error, status_code_conformance, response_schema_conformance]
    failures = fuzz_api(api.client.app, headers, checks, examples=FUZZ_EXAMPLES)
    assert not failures, "\n\n".join(failures)


# --- analyst marks ------------------------------------------------------------------------------
@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "x"])
def test_a_mark_with_an_impossible_time_is_an_observation_error(when: str) -> None:
    from vigia.exploit.marks import marks_observations
    from vigia.exploit.vocabulary import default_vocabulary

    mark = {
        "type": "Feature",
        "properties": {"indicator": "tarp_structure", "time": when},
        "geometry": {"type": "Point", "coordinates": [-107.4, 24.8]},
    }
    with pytest.raises(ObservationError, match="mark #0 time"):
        marks_observations([mark], default_vocabulary())


@pytest.mark.parametrize("command", [["demo", "--out"], ["scenario", "evaluate", "--keep"]])
def test_an_output_folder_that_cannot_be_made_is_one_line_exit_2(
    tmp_path: Path, command: list[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    target = str(blocker / "out")
    r = _vigia(*command, target, timeout_s=120)
    _one_line_error(r, target)
