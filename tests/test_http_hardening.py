"""HTTP hardening: bounded validation errors, bounded requests, security headers, no docs from a
CDN, TLS for ``vigia serve`` (through the real app and a ``vigia serve`` subprocess)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.api import SITES, Api, build_data_dir
from tests.helpers.ports import free_port
from vigia.api.app import WEB_DIR

SRC = Path(__file__).resolve().parents[1] / "src"

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


# --- 2. bounded requests, through `vigia serve` ---------------------------------------------------
@dataclass
class Served:
    """A ``vigia serve`` subprocess on a loopback port."""

    proc: subprocess.Popen[bytes]
    port: int
    scheme: str

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"


def _start_serve(data_dir: Path, *extra: str) -> Served:
    with free_port() as reserved:
        port = reserved.number
    env = os.environ | {"PYTHONPATH": str(SRC), "VIGIA_DATABASE_URL": ""}
    args = ["serve", "--data-dir", str(data_dir), "--port", str(port), "--workers", "1"]
    log = (data_dir.parent / f"{data_dir.name}-serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "vigia.cli", *args, *extra],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    scheme = "https" if "--tls-cert" in extra else "http"
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return Served(proc, port, scheme)
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                out = (data_dir.parent / f"{data_dir.name}-serve.log").read_text(errors="replace")
                raise AssertionError(f"vigia serve did not start: {out[-2000:]}") from None
            time.sleep(0.1)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("served")
    build_data_dir(root)
    s = _start_serve(root)
    yield s
    s.proc.terminate()
    s.proc.wait(30)


def _raw(port: int, request: bytes, timeout_s: float = 30) -> bytes:
    """Send ``request`` and read until the server closes or a whole response is in."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        sock.sendall(request)
        got = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            got += chunk
            head, sep, body = got.partition(b"\r\n\r\n")
            m = re.search(rb"content-length: *(\d+)", head, flags=re.I)
            if sep and m and len(body) >= int(m.group(1)):
                break
        return got


def _status(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def test_a_header_that_never_ends_is_cut_off_and_others_are_served(served: Served) -> None:
    from vigia.api.serve import HEADER_TIMEOUT_S

    slow = socket.create_connection(("127.0.0.1", served.port), timeout=60)
    try:
        slow.sendall(b"GET /api/sites HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        # meanwhile, another client is answered
        assert _status(_raw(served.port, b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n")) == 200
        got = b""
        started = time.monotonic()
        while time.monotonic() - started < HEADER_TIMEOUT_S + 30:
            try:
                slow.sendall(b"a")  # one byte at a time, never the end of the header
            except (BrokenPipeError, ConnectionResetError):
                break
            slow.settimeout(1.0)
            try:
                chunk = slow.recv(4096)
            except TimeoutError:
                continue
            except ConnectionResetError:
                break
            if not chunk:
                break
            got += chunk
        else:
            raise AssertionError("the slow header was never cut off")
    finally:
        slow.close()
    assert got == b"" or _status(got) == 408
    assert _status(_raw(served.port, b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n")) == 200


def test_oversized_heads_are_refused_by_the_server(served: Served) -> None:
    huge_header = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n"
    assert _status(_raw(served.port, huge_header)) == 431
    many = b"".join(b"X-H%d: 1\r\n" % i for i in range(200))
    assert _status(_raw(served.port, b"GET / HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")) == 431
    long_target = b"GET /api/sites?" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    assert _status(_raw(served.port, long_target)) == 414
    # the server still answers
    assert _status(_raw(served.port, b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n")) == 200


def test_oversized_bodies_are_refused_by_the_server(served: Served) -> None:
    big = b"x" * (2 << 20)
    announced = (
        b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(big)
    )
    assert _status(_raw(served.port, announced)) == 413
    chunks = b"".join(b"%x\r\n%s\r\n" % (1 << 16, big[: 1 << 16]) for _ in range(32)) + b"0\r\n\r\n"
    chunked = (
        b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + chunks
    )
    assert _status(_raw(served.port, chunked)) == 413


# --- 2. bounded requests, through the app -------------------------------------------------------
@sqlite_only
def test_long_or_crowded_query_strings_are_refused(api: Api) -> None:
    r = api.get("/api/sites?lang=en&x=" + "a" * 5000, "ana")
    assert r.status_code == 414 and "query string longer than" in r.json()["detail"]
    r = api.get("/api/sites?" + "&".join(f"p{i}=1" for i in range(40)), "ana")
    assert r.status_code == 400 and "query parameters" in r.json()["detail"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert api.get("/api/sites?lang=es", "ana").status_code == 200


# --- 5. TLS -------------------------------------------------------------------------------------
def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key (PEM files)."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_serve_over_tls(tmp_path: Path) -> None:
    import httpx

    cert, key = _self_signed(tmp_path)
    root = tmp_path / "data"
    root.mkdir()
    build_data_dir(root)
    s = _start_serve(root, "--tls-cert", str(cert), "--tls-key", str(key))
    try:
        with httpx.Client(verify=str(cert), timeout=30) as client:
            r = client.get(f"{s.url}/openapi.json")
            assert r.status_code == 200 and r.json()["paths"]
            assert r.headers["strict-transport-security"].startswith("max-age=")
            assert r.headers["cache-control"] == "no-store"
        plain = _raw(s.port, b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n")
        assert not plain.startswith(b"HTTP/1.1 200")  # no plain HTTP beside HTTPS
    finally:
        s.proc.terminate()
        s.proc.wait(30)


@pytest.mark.parametrize("given", ["--tls-cert", "--tls-key"])
def test_serve_refuses_one_tls_file_without_the_other(tmp_path: Path, given: str) -> None:
    cert, key = _self_signed(tmp_path)
    path = cert if given == "--tls-cert" else key
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "vigia.cli",
            "serve",
            "--data-dir",
            str(tmp_path / "d"),
            given,
            str(path),
        ],
        env=os.environ | {"PYTHONPATH": str(SRC)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "needs" in lines[0], r.stderr
    assert not (tmp_path / "d").exists()  # refused before anything is created
