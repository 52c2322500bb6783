"""Security and bad input of the HTTP API, on SQLite and on PostgreSQL + PostGIS.

* Sentinel values planted in every source-sensitive field never appear in any response a
  partner user can get (every route, every render format and language), while the same scan
  finds each of them in what analysts get (so the scan itself works).
* Malformed input gets a 4xx with a clear message and changes nothing.
* schemathesis, driven by ``/openapi.json``, finds no server error.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from schemathesis.checks import not_a_server_error

from tests.helpers.api import SENTINELS, SITES, Api, build_data_dir
from tests.helpers.fuzz import fuzz_api
from tests.helpers.share import pdf_streams
from tests.helpers.users import SEED_USERS
from vigia.api import create_app

FORMATS = ("html", "pdf", "json", "geojson", "kml", "cot")
#: Generated requests per operation (each sent as three users).
FUZZ_EXAMPLES = 8


# --- the leak scanner ---------------------------------------------------------------------------
def expand(content: bytes) -> bytes:
    """``content`` plus what it hides: base64 data URIs decoded, PDF streams inflated."""
    parts = [content]
    for m in re.finditer(rb"data:[\w/+.-]+;base64,([A-Za-z0-9+/=]+)", content):
        parts.append(base64.b64decode(m.group(1)))
    if content.startswith(b"%PDF"):
        parts.extend(pdf_streams(content))
    return b"\n".join(parts).lower()


def leaks(content: bytes, asked: str = "") -> set[str]:
    """Names of the sentinels found in ``content``, except those the request itself carried
    (``asked``: an error message may repeat the id it was asked for)."""
    text = expand(content)
    return {
        k
        for k, v in SENTINELS.items()
        if v.lower().encode() in text and v.lower() not in asked.lower()
    }


def _released_world(api: Api) -> dict[str, list[str]]:
    """Site report, digest and sortie summary released to SEMAR; a draft; partner actions."""
    report = api.release(SITES[0], ["SEMAR"], assessment="Probable laboratorio activo.")
    digest = api.draft(kind="digest")
    summary = api.draft(kind="sortie_summary", mission_id=SENTINELS["mission_id"])
    for pid in (digest, summary):
        r = api.post(f"/api/products/{pid}/approve", "sam", json={"agencies": ["SEMAR"]})
        assert r.status_code == 200, r.text
    draft = api.draft(site_id=SITES[1])
    assert api.post(f"/api/sites/{SITES[0]}/ack", "semar.enlace").status_code == 201
    return {"released": [report, digest, summary], "draft": [draft]}


@pytest.mark.slow
def test_sentinels_never_reach_a_partner(api: Api) -> None:
    world = _released_world(api)
    pids = world["released"] + world["draft"]
    obs_ids = [o for s in SITES for o in api.chips[s]] + [SENTINELS["withheld_obs"]]
    seen: dict[str, set[str]] = {}
    checked = 0
    for user in ("semar.oficial", "semar.enlace", "fgr.enlace"):
        gets = ["/api/me", "/api/coverage", "/api/aois", "/api/products", "/api/metrics"]
        gets += ["/api/deliveries", "/api/audit/verify", "/openapi.json"]
        gets += [f"/api/sites?lang={lang}" for lang in ("en", "es")]
        for s in SITES:
            gets += [f"/api/sites/{s}", f"/api/sites/{s}/evidence", f"/api/sites/{s}/actions"]
        gets += [f"/api/chips/{o}" for o in obs_ids]
        for pid in pids:
            gets.append(f"/api/products/{pid}")
            gets += [
                f"/api/products/{pid}/render?format={f}&lang={lang}"
                for f in FORMATS
                for lang in ("en", "es")
            ]
        listing = api.get("/api/sites", user, headers={"Accept-Encoding": "gzip"})
        gets += [u for site in listing.json() for u in site["chips"]]
        for path in gets:
            r = api.get(path, user)
            found = leaks(r.content, asked=path)
            assert not found, f"{user} GET {path} ({r.status_code}) shows {sorted(found)}"
            checked += 1
        posts: list[tuple[str, Any]] = [
            (f"/api/sites/{SITES[0]}/ack", None),
            (
                f"/api/sites/{SITES[0]}/actions",
                {"kind": "operation", "date": "2026-05-05", "notes": "operativo"},
            ),
            ("/api/products", {"kind": "site_report", "site_id": SITES[0]}),
            (f"/api/products/{world['draft'][0]}/approve", {"agencies": ["SEMAR"]}),
            (f"/api/products/{world['draft'][0]}/reject", {"reason": "no"}),
        ]
        for path, body in posts:
            r = api.post(path, user, json=body)
            found = leaks(r.content, asked=f"{path} {body}")
            assert not found, f"{user} POST {path} ({r.status_code}) shows {sorted(found)}"
            checked += 1
    assert checked > 250
    # The same scan on what analysts get finds every sentinel: it can see them.
    for path in [
        f"/api/sites/{SITES[0]}",
        f"/api/sites/{SITES[0]}/evidence",
        f"/api/chips/{api.chips[SITES[0]][0]}",
        *(f"/api/products/{p}/render?format={f}" for p in world["released"] for f in FORMATS),
    ]:
        r = api.get(path, "ana")
        assert r.status_code == 200, (path, r.text[:200])
        seen[path] = leaks(r.content)
    assert set().union(*seen.values()) == set(SENTINELS), set(SENTINELS) - set().union(
        *seen.values()
    )
    pdf = [k for k in seen if "format=pdf" in k]
    assert all(seen[k] for k in pdf), "the analyst PDF shows the body (scan sees inside PDFs)"


def test_assessment_naming_the_source_is_refused(api: Api) -> None:
    """An assessment that names the mission cannot be drafted into a tearline."""
    api.headers("ana")
    before = api.counts()
    r = api.post(
        "/api/products",
        "ana",
        json={
            "kind": "site_report",
            "site_id": SITES[0],
            "assessment": f"Seen on {SENTINELS['mission_id']} at dawn",
        },
    )
    assert r.status_code == 422 and "source-sensitive" in r.json()["detail"]
    assert api.counts() == before


# --- malformed input ------------------------------------------------------------------------------
def test_malformed_input_is_refused_and_changes_nothing(api: Api) -> None:
    api.release(SITES[0], ["SEMAR"])
    draft = api.draft(site_id=SITES[1])
    for user in ("ana", "sam", "semar.oficial"):
        api.headers(user)  # log-ins are audited: before counting
    before = api.counts()
    site = f"/api/sites/{SITES[0]}/actions"
    ok = {"kind": "operation", "date": "2026-05-03"}
    pills = {"substance": "fentanyl_pills", "amount": 1000, "unit": "count"}
    bad_actions: list[tuple[Any, str]] = [
        (ok | {"lat": 91.0, "lon": -107.4}, "lat"),
        (ok | {"lat": 24.8, "lon": -181.0}, "lon"),
        (ok | {"lat": 24.8}, "latitude and longitude"),
        (ok | {"lat": "north", "lon": -107.4}, "lat"),
        (ok | {"seizures": [pills | {"amount": -5}]}, "greater than 0"),
        (ok | {"seizures": [pills | {"amount": 0}]}, "greater than 0"),
        (ok | {"seizures": [pills | {"unit": "parsecs"}]}, "unit"),
        (ok | {"seizures": [pills | {"unit": "kg"}]}, "count"),
        (ok | {"seizures": [pills | {"amount": 2.5}]}, "whole"),
        (ok | {"seizures": [pills | {"substance": "cocaine"}]}, "substance"),
        (ok | {"seizures": [pills | {"amount": "many"}]}, "amount"),
        (ok | {"seizures": [pills] * 101}, "seizures"),
        (ok | {"date": "2099-01-01"}, "future"),
        (ok | {"date": "2099-01-01T00:00:00Z"}, "future"),
        (ok | {"date": "1999-12-31"}, "2000-01-01"),
        (ok | {"date": "2026-05-03T10:00:00"}, "timezone"),
        (ok | {"date": "yesterday"}, "date"),
        ({"date": "2026-05-03"}, "kind"),
        (ok | {"kind": "airstrike"}, "kind"),
        (ok | {"kind": "acknowledged"}, "kind"),
        (ok | {"kind": "nothing_found", "seizures": [pills]}, "cannot report seizures"),
        (ok | {"notes": "a\x00b"}, "control characters"),
        (ok | {"notes": "x" * 10_001}, "notes"),
        (ok | {"colour": "red"}, "colour"),
        ([ok], "body"),
    ]
    problems: list[str] = []
    for body, hint in bad_actions:
        r = api.post(site, "semar.oficial", json=body)
        detail = (
            r.json().get("detail")
            if r.headers.get("content-type", "").startswith("application/json")
            else None
        )
        if not (400 <= r.status_code < 500 and isinstance(detail, str) and detail):
            problems.append(f"{body!r:.80}: {r.status_code} {r.text[:120]}")
        elif hint.lower() not in detail.lower():
            problems.append(f"{body!r:.80}: message {detail!r} does not mention {hint!r}")
    raw_cases = [
        (b"{not json", "application/json", 422),
        (b'{"kind": "operation", "date": "2026-05-03", "lat": NaN, "lon": 1}', None, 422),
        (b"kind=operation", "application/x-www-form-urlencoded", 422),
    ]
    for content, ctype, want in raw_cases:
        headers = {"Content-Type": ctype} if ctype else {"Content-Type": "application/json"}
        r = api.post(site, "semar.oficial", content=content, headers=headers)
        if r.status_code != want or not isinstance(r.json().get("detail"), str):
            problems.append(f"{content!r}: {r.status_code} {r.text[:120]}")
    # oversized bodies: announced, and streamed without a length
    big = b'{"kind": "operation", "date": "2026-05-03", "notes": "' + b"x" * (2 << 20) + b'"}'
    r = api.post(site, "semar.oficial", content=big, headers={"Content-Type": "application/json"})
    if r.status_code != 413 or "larger than" not in r.json()["detail"]:
        problems.append(f"oversized: {r.status_code} {r.text[:120]}")

    def chunks() -> Iterator[bytes]:
        yield big[: 1 << 19]
        yield big[1 << 19 :]

    r = api.post(
        site, "semar.oficial", content=chunks(), headers={"Content-Type": "application/json"}
    )
    if r.status_code != 413 or "larger than" not in r.json()["detail"]:
        problems.append(f"oversized, chunked: {r.status_code} {r.text[:120]}")
    # products, releases, log-in, queries
    others: list[tuple[str, str, str | None, Any]] = [
        ("POST", "/api/products", "ana", {"kind": "poster"}),
        ("POST", "/api/products", "ana", {"kind": "site_report"}),
        ("POST", "/api/products", "ana", {"kind": "site_report", "site_id": "../etc"}),
        ("POST", "/api/products", "ana", {"kind": "site_report", "site_id": "Snope"}),
        (
            "POST",
            "/api/products",
            "ana",
            {"kind": "site_report", "site_id": SITES[0], "classification": "SECRETISH"},
        ),
        (
            "POST",
            "/api/products",
            "ana",
            {"kind": "site_report", "site_id": SITES[0], "caveats": ["SHHH"]},
        ),
        (
            "POST",
            "/api/products",
            "ana",
            {"kind": "site_report", "site_id": SITES[0], "releasable_to": ["MEXICO"]},
        ),
        (
            "POST",
            "/api/products",
            "ana",
            {"kind": "site_report", "site_id": SITES[0], "assessment": "y" * 8001},
        ),
        ("POST", "/api/products", "ana", {"kind": "sortie_summary"}),
        (
            "POST",
            "/api/products",
            "ana",
            {
                "kind": "digest",
                "period_start": "2026-05-10T00:00:00Z",
                "period_end": "2026-05-01T00:00:00Z",
            },
        ),
        ("POST", f"/api/products/{draft}/approve", "sam", {"agencies": []}),
        ("POST", f"/api/products/{draft}/approve", "sam", {"agencies": ["XYZ"]}),
        ("POST", f"/api/products/{draft}/approve", "sam", {"agencies": "SEMAR"}),
        ("POST", f"/api/products/{draft}/reject", "sam", {"reason": ""}),
        ("POST", "/api/auth/login", None, {"username": "ana"}),
        ("POST", "/api/auth/login", None, {"username": "a" * 65, "password": "x"}),
        ("POST", "/api/auth/login", None, {"username": "an\x00a", "password": "x"}),
        ("GET", "/api/sites?lang=fr", "semar.oficial", None),
        ("GET", f"/api/products/{draft}/render?format=docx", "ana", None),
        ("GET", f"/api/products/{draft}/render?lang=de", "ana", None),
        ("GET", "/api/sites/%20", "ana", None),
    ]
    for method, path, who, body in others:
        r = api.get(path, who) if method == "GET" else api.post(path, who, json=body)
        if not (400 <= r.status_code < 500 and isinstance(r.json().get("detail"), str)):
            problems.append(f"{method} {path} {body!r:.60}: {r.status_code} {r.text[:120]}")
    assert not problems, "\n".join(problems)
    assert api.counts() == before, "a refused request changed the store"


# --- schemathesis --------------------------------------------------------------------------------
@dataclass
class FuzzTarget:
    app: FastAPI
    tokens: dict[str, str]


@pytest.fixture
def fuzz_target(data_dir: Path, database_url: str) -> Iterator[FuzzTarget]:
    """An app with a released product, and tokens of an analyst, a supervisor and a partner."""
    build_data_dir(data_dir)
    app = create_app(data_dir, database_url=database_url)
    with TestClient(app) as client:
        tokens = {}
        for user in ("ana", "sam", "semar.oficial"):
            r = client.post(
                "/api/auth/login",
                json={"username": user, "password": SEED_USERS[user].password},
            )
            tokens[user] = r.json()["token"]
        h = {"Authorization": f"Bearer {tokens['ana']}"}
        pid = client.post(
            "/api/products", headers=h, json={"kind": "site_report", "site_id": SITES[0]}
        ).json()["product_id"]
        client.post(
            f"/api/products/{pid}/approve",
            headers={"Authorization": f"Bearer {tokens['sam']}"},
            json={"agencies": ["SEMAR"]},
        )
        yield FuzzTarget(app, tokens)


@pytest.mark.slow
def test_openapi_fuzz_finds_no_server_error(fuzz_target: FuzzTarget) -> None:
    """Requests generated from /openapi.json (as an analyst, a supervisor and a partner) never
    get a 5xx. (Driven operation by operation: the pytest plugin's lazy loader does not run
    under this pytest.)"""
    headers = [{"Authorization": f"Bearer {t}"} for t in fuzz_target.tokens.values()]
    failures = fuzz_api(fuzz_target.app, headers, [not_a_server_error], examples=FUZZ_EXAMPLES)
    assert not failures, "\n\n".join(failures)
