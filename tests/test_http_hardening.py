"""HTTP hardening: bounded validation errors, bounded requests, security headers, no docs from a
CDN, TLS for ``vigia serve`` (through the real app and a ``vigia serve`` subprocess)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

import pytest

from tests.helpers.api import SITES, Api
from vigia.api.app import WEB_DIR

#: The HTTP behaviour tested here does not depend on the database: SQLite only.
sqlite_only = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


# --- 1. validation errors are bounded -----------------------------------------------------------
@sqlite_only
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


@sqlite_only
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


@sqlite_only
def test_large_input_values_are_not_echoed(api: Api) -> None:
    huge = "Z" * 300_000
    r = api.client.post("/api/auth/login", json={"username": huge, "password": huge})
    assert r.status_code == 422
    assert len(r.content) <= 8192 and "Z" * 200 not in r.text
    r = api.client.post("/api/auth/login", json={"username": "ana", huge: 1})
    assert r.status_code == 422
    assert len(r.content) <= 8192 and "Z" * 200 not in r.text


# --- 3. security headers on every response ------------------------------------------------------
def _csp(r: Any) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for part in r.headers["content-security-policy"].split(";"):
        name, *values = part.split()
        out[name] = values
    return out


@sqlite_only
def test_every_response_carries_the_security_headers(api: Api) -> None:
    pid = api.release(SITES[0], ["SEMAR"])
    responses = {
        "web UI": api.client.get("/"),
        "static": api.client.get("/static/js/main.js"),
        "vendor": api.client.get("/static/vendor/leaflet/leaflet.js"),
        "static 404": api.client.get("/static/nope.js"),
        "openapi": api.client.get("/openapi.json"),
        "api 401": api.client.get("/api/sites"),
        "api 422": api.client.post("/api/auth/login", json={}),
        "api 404": api.get("/api/sites/Snope", "ana"),
        "api staff": api.get("/api/sites", "ana"),
        "partner fast path": api.get("/api/sites", "semar.oficial"),
        "rendering": api.get(f"/api/products/{pid}/render?format=html", "ana"),
        "413": api.client.post(
            "/api/auth/login", content=b"x" * (2 << 20), headers={"Content-Type": "text/plain"}
        ),
    }
    problems = []
    for what, r in responses.items():
        h = r.headers
        want = {
            "x-content-type-options": "nosniff",
            "x-frame-options": "DENY",
            "referrer-policy": "no-referrer",
        }
        problems += [f"{what}: {k}={h.get(k)!r}" for k, v in want.items() if h.get(k) != v]
        csp = _csp(r)
        if csp.get("default-src") != ["'self'"] or csp.get("frame-ancestors") != ["'none'"]:
            problems.append(f"{what}: CSP {h.get('content-security-policy')!r}")
        if csp.get("script-src") != ["'self'"]:
            problems.append(f"{what}: script-src {csp.get('script-src')}")
        api_path = what.startswith(("api", "partner", "rendering", "413", "openapi"))
        if api_path and h.get("cache-control") != "no-store":
            problems.append(f"{what}: cache-control {h.get('cache-control')!r}")
        if "strict-transport-security" in h:
            problems.append(f"{what}: HSTS over plain HTTP")
    assert responses["partner fast path"].status_code == 200
    assert not problems, "\n".join(problems)


def test_the_web_ui_needs_no_inline_script_or_style() -> None:
    """The UI runs under ``script-src 'self'`` / ``style-src 'self'``: no inline script, no
    inline style block or attribute, no event-handler attribute, nothing from another origin."""
    pages = [WEB_DIR / "index.html"]
    problems = []
    for page in pages:
        html = page.read_text(encoding="utf-8")
        for bad in (
            r"<script(?![^>]*\bsrc=)",
            r"<style",
            r"\sstyle=",
            r"\son[a-z]+=",
            r"https?://",
        ):
            if re.search(bad, html, flags=re.I):
                problems.append(f"{page.name}: {bad}")
    for js in (WEB_DIR / "static" / "js").glob("*.js"):
        text = js.read_text(encoding="utf-8")
        for bad in (r"\beval\(", r"new Function", r"setAttribute\(\s*['\"]style", r"innerHTML"):
            if re.search(bad, text):
                problems.append(f"{js.name}: {bad}")
    assert not problems, problems


@sqlite_only
def test_the_html_rendering_is_styled_under_the_csp(api: Api) -> None:
    pid = api.release(SITES[0], ["SEMAR"])
    r = api.get(f"/api/products/{pid}/render?format=html", "ana")
    assert r.status_code == 200
    blocks = re.findall(r"<style>(.*?)</style>", r.text, flags=re.S)
    assert blocks
    allowed = _csp(r)["style-src"]
    assert "'unsafe-inline'" not in allowed
    for b in blocks:
        digest = base64.b64encode(hashlib.sha256(b.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in allowed
    assert " style=" not in r.text and "<script" not in r.text


# --- 4. no API docs from a CDN ------------------------------------------------------------------
@sqlite_only
def test_no_docs_page_loads_from_a_cdn(api: Api) -> None:
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        r = api.client.get(path)
        assert r.status_code == 404, (path, r.status_code)
        assert "cdn" not in r.text.lower()
    r = api.client.get("/openapi.json")
    assert r.status_code == 200 and r.json()["paths"]
    assert "/docs" not in api.client.get("/").text
