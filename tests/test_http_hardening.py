"""HTTP hardening: bounded validation errors, bounded requests, security headers, no docs from a
CDN, TLS for ``vigia serve`` (through the real app and a ``vigia serve`` subprocess)."""

from __future__ import annotations

import json

import pytest

from tests.helpers.api import SITES, Api

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


# --- 1. validation errors are bounded -----------------------------------------------------------
def test_login_with_80000_unknown_keys_gets_a_small_422(api: Api) -> None:
    body = {f"k{i:05x}": 0 for i in range(80_000)} | {"username": "ana"}
    raw = json.dumps(body, separators=(",", ":")).encode()
    assert 800_000 < len(raw) < 1 << 20
    r = api.client.post(
        "/api/auth/login", content=raw, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422
    assert len(r.content) <= 8192
    detail = r.json()["detail"]
    assert "unknown fields" in detail and "'k00000'" in detail and "79995 more" in detail


def test_many_errors_are_capped_and_counted(api: Api) -> None:
    pills = {"substance": "fentanyl_pills", "amount": -1, "unit": "parsecs"}
    body = {"kind": "operation", "date": "2026-05-03", "seizures": [pills] * 100}
    r = api.post(f"/api/sites/{SITES[0]}/actions", "semar.oficial", json=body)
    assert r.status_code == 422
    out = r.json()
    assert len(r.content) <= 8192
    assert 1 <= len(out["errors"]) <= 20
    assert out["more_errors"] == 200 - len(out["errors"])
    assert f"and {out['more_errors']} more errors" in out["detail"]


def test_large_input_values_are_not_echoed(api: Api) -> None:
    huge = "Z" * 300_000
    r = api.client.post("/api/auth/login", json={"username": huge, "password": huge})
    assert r.status_code == 422
    assert len(r.content) <= 8192 and "Z" * 200 not in r.text
    r = api.client.post("/api/auth/login", json={"username": "ana", huge: 1})
    assert r.status_code == 422
    assert len(r.content) <= 8192 and "Z" * 200 not in r.text
