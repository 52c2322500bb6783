"""Benchmark of partner site-list reads: ``GET /api/sites`` as a partner, on SQLite and PostgreSQL.

Goal (issue 5): >= 1,500 requests/s at p99 < 100 ms on this 2-core machine, load generated on
loopback by a second process (``wrk``). Each read is audited (hash-chained, committed before the
response); the run ends by verifying the chain and counting the entries it gained.

For each database: a data directory with ``--sites`` candidate sites, each in a site report
released to SEMAR (two-person rule), ``vigia serve`` equivalent (:func:`vigia.api.serve`) in a
subprocess, a partner logs in, then ``wrk -t2 -cC -dDs --latency``. The peer, measured in the
same run, is a trivial FastAPI endpoint (``{"hello": "world"}``) under the same uvicorn
settings: the ceiling of the stack on this machine.

Run: ``.venv/bin/python bench/bench_api.py [--sites 300] [--duration 15] [--connections 32]
[--workers 2] [--db sqlite,postgresql] [--gzip]``. Needs ``wrk`` (Debian: ``apt-get install -y
wrk``; installed here when missing and running as root) and, for PostgreSQL, the packages
``postgresql`` and ``postgresql-15-postgis-3``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vigia.app.products import DraftRequest, draft_product  # noqa: E402
from vigia.exploit.scoring import SITE_SCHEMA  # noqa: E402
from vigia.store import (  # noqa: E402
    AuditEntry,
    approve_release,
    create_user,
    get_user,
    open_store,
)
from vigia.store.catalog import Catalog  # noqa: E402

GOAL_RPS = 1500.0
GOAL_P99_MS = 100.0
PASSWORD = "bench-password-123"
USERS = (
    ("ana", "analyst", "VIGIA"),
    ("sam", "supervisor", "VIGIA"),
    ("semar.oficial", "partner-officer", "SEMAR"),
)
HELLO_APP = textwrap.dedent(
    """
    from fastapi import FastAPI
    from fastapi.responses import Response

    app = FastAPI()

    @app.get("/api/hello")
    async def hello() -> Response:
        return Response(b'{"hello":"world"}', media_type="application/json")
    """
)
INDICATORS = ("tarp_structure", "chemical_containers", "vegetation_clearing", "burn_waste_pit")


# --- data -----------------------------------------------------------------------------------------
def write_sites(data_dir: Path, n: int) -> None:
    """``n`` candidate sites around Culiacán in ``sites.parquet``."""
    t0 = datetime(2026, 5, 1, tzinfo=UTC)
    rows: list[dict[str, Any]] = []
    for i in range(n):
        rows.append(
            {
                "site_id": f"S{i:09x}",
                "lat": 24.5 + (i % 40) * 0.01,
                "lon": -107.6 + (i // 40) * 0.01,
                "h_m": 110.0,
                "ce90_m": 15.0 + i % 10,
                "cov_ee_m2": 80.0,
                "cov_en_m2": 3.0,
                "cov_nn_m2": 95.0,
                "log_odds": 2.0,
                "probability": 0.88,
                "candidate": True,
                "status": "active",
                "new_since_previous_pass": False,
                "previous_pass_time": t0 + timedelta(days=1),
                "first_seen": t0 + timedelta(hours=i % 48),
                "last_seen": t0 + timedelta(days=3),
                "n_observations": 6,
                "n_passes": 3,
                "n_sorties": 2,
                "night_passes": 1,
                "empty_passes": 0,
                "indicators": list(INDICATORS[: 1 + i % len(INDICATORS)]),
                "sorties": ["MSN-BENCH-0001", "MSN-BENCH-0002"],
                "aoi": "Culiacán",
                "vocabulary": "indicators@1",
                "explanation": "[]",
                "assessment": f"Probable clandestine laboratory {i}",
            }
        )
    table = pa.Table.from_pylist(rows, schema=SITE_SCHEMA)
    pq.write_table(table, data_dir / "sites.parquet")


def populate(data_dir: Path, url: str | None) -> int:
    """Users, and one released site report per site; returns the number released."""
    from vigia.api.state import sync_if_newer

    with open_store(data_dir, url) as store:
        sync_if_newer(store, data_dir)
        with store.transaction() as s:
            for name, role, agency in USERS:
                create_user(s, name, PASSWORD, role, agency)
        with store.transaction() as s:
            ids = [str(r) for r in Catalog(data_dir).sites().column("site_id").to_pylist()]
        released = 0
        for start in range(0, len(ids), 50):
            with store.transaction() as s:
                ana, sam = get_user(s, "ana"), get_user(s, "sam")
                for sid in ids[start : start + 50]:
                    req = DraftRequest(
                        kind="site_report",
                        site_id=sid,
                        assessment=None,
                        classification="UNCLASSIFIED",
                        caveats=["FOUO"],
                        releasable_to=["USA", "MEX"],
                        mission_id=None,
                        period_start=None,
                        period_end=None,
                        lang="es",
                    )
                    p = draft_product(s, ana, req, Catalog(data_dir))
                    approve_release(s, sam, p.product_id, ["SEMAR"])
                    released += 1
    return released


def audit_state(data_dir: Path, url: str | None) -> tuple[int, bool, str]:
    """(entries, chain intact, message) of the store's audit log."""
    from sqlalchemy import func, select

    with open_store(data_dir, url) as store:
        with store.read_only() as s:
            n = int(s.execute(select(func.count()).select_from(AuditEntry)).scalar_one())
        report = store.verify_audit()
    return n, report.ok, report.message


# --- processes ------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            httpx.get(url, timeout=2.0)
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"server at {url} did not start") from None
            time.sleep(0.2)


@contextlib.contextmanager
def process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as fp:
        proc = subprocess.Popen(args, env=env, stdout=fp, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def serve_args(data_dir: Path, port: int, workers: int) -> list[str]:
    code = (
        "from pathlib import Path; from vigia.api.serve import serve; "
        f"serve(Path({str(data_dir)!r}), '127.0.0.1', {port}, workers={workers}, "
        "log_level='warning')"
    )
    return [sys.executable, "-c", code]


def hello_args(app_dir: Path, port: int, workers: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        str(app_dir),
        "hello:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
        "--no-server-header",
    ]


# --- wrk ------------------------------------------------------------------------------------------
def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk missing: apt-get install -y wrk", flush=True)
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=False, capture_output=True)
        found = shutil.which("wrk")
        if found:
            return found
    raise SystemExit("wrk is needed: install it with 'apt-get install -y wrk' (Debian package wrk)")


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not m:
        raise ValueError(f"cannot read latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def run_wrk(
    wrk: str,
    url: str,
    token: str | None,
    duration_s: int,
    connections: int,
    threads: int,
    headers: tuple[str, ...] = (),
) -> dict[str, Any]:
    args = [wrk, f"-t{threads}", f"-c{connections}", f"-d{duration_s}s", "--latency"]
    if token:
        args += ["-H", f"Authorization: Bearer {token}"]
    for h in headers:
        args += ["-H", h]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": rps,
        "p50_ms": p50,
        "p99_ms": p99,
        "requests": total,
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(1) if errors else "",
    }


# --- one database -------------------------------------------------------------------------------
def bench_db(
    name: str, url: str | None, args: argparse.Namespace, wrk: str, root: Path
) -> dict[str, Any]:
    data_dir = root / name
    data_dir.mkdir()
    write_sites(data_dir, args.sites)
    t = time.perf_counter()
    released = populate(data_dir, url)
    print(f"[{name}] {released} site reports released to SEMAR in {time.perf_counter() - t:.1f} s")
    env = dict(os.environ)
    env.pop("VIGIA_DATABASE_URL", None)
    if url:
        env["VIGIA_DATABASE_URL"] = url
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with process(serve_args(data_dir, port, args.workers), env, root / f"{name}-serve.log"):
        wait_http(f"{base}/api/me")
        r = httpx.post(
            f"{base}/api/auth/login",
            json={"username": "semar.oficial", "password": PASSWORD},
            timeout=30,
        )
        r.raise_for_status()
        token = r.json()["token"]
        listing = httpx.get(
            f"{base}/api/sites", headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        listing.raise_for_status()
        n_sites = len(listing.json())
        size = len(listing.content)
        before, _, _ = audit_state(data_dir, url)
        extra = ("Accept-Encoding: gzip",) if args.gzip else ()
        # warm-up: every worker builds its index
        run_wrk(wrk, f"{base}/api/sites", token, 2, args.connections, args.threads, extra)
        mid, _, _ = audit_state(data_dir, url)
        res = run_wrk(
            wrk, f"{base}/api/sites", token, args.duration, args.connections, args.threads, extra
        )
    after, ok, message = audit_state(data_dir, url)
    res |= {
        "db": name,
        "sites_served": n_sites,
        "response_bytes": size,
        "audit_entries_added": after - mid,
        "audit_ok": ok,
        "audit_message": message,
        "warmup_audit_entries": mid - before,
    }
    return res


def bench_hello(args: argparse.Namespace, wrk: str, root: Path) -> dict[str, Any]:
    app_dir = root / "hello"
    app_dir.mkdir()
    (app_dir / "hello.py").write_text(HELLO_APP)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with process(hello_args(app_dir, port, args.workers), dict(os.environ), root / "hello.log"):
        wait_http(f"{base}/api/hello")
        run_wrk(wrk, f"{base}/api/hello", None, 2, args.connections, args.threads)
        return run_wrk(
            wrk, f"{base}/api/hello", None, args.duration, args.connections, args.threads
        )


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    from sqlalchemy import create_engine
    from tests.helpers.pgcluster import PgCluster

    cluster = PgCluster()
    try:
        cluster.start()
        admin = create_engine(cluster.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql('CREATE DATABASE "vigia_bench"')
        admin.dispose()
        yield cluster.url_for("vigia_bench")
    finally:
        cluster.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sites", type=int, default=300, help="sites released to the partner")
    ap.add_argument("--duration", type=int, default=15, help="seconds of load per run")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2, help="wrk threads")
    ap.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    ap.add_argument("--db", default="sqlite,postgresql", help="comma-separated: sqlite,postgresql")
    ap.add_argument(
        "--gzip", action="store_true", help="send 'Accept-Encoding: gzip' as browsers do"
    )
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    wrk = ensure_wrk()
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="vigia-bench-api-") as tmp:
        root = Path(tmp)
        hello = bench_hello(args, wrk, root)
        print(
            f"[peer] FastAPI hello: {hello['rps']:.0f} req/s, p99 {hello['p99_ms']:.1f} ms",
            flush=True,
        )
        for name in [d.strip() for d in args.db.split(",") if d.strip()]:
            if name == "sqlite":
                results.append(bench_db("sqlite", None, args, wrk, root))
            elif name == "postgresql":
                with postgres() as url:
                    results.append(bench_db("postgresql", url, args, wrk, root))
            else:
                raise SystemExit(f"unknown database {name!r}")
            r = results[-1]
            print(
                f"[{name}] {r['rps']:.0f} req/s, p50 {r['p50_ms']:.1f} ms, "
                f"p99 {r['p99_ms']:.1f} ms, non-2xx {r['non_2xx']}",
                flush=True,
            )
    print()
    print(
        f"Partner GET /api/sites ({args.sites} released sites), wrk -t{args.threads} "
        f"-c{args.connections} -d{args.duration}s, {args.workers} uvicorn workers, "
        f"{os.cpu_count()} cores, responses {'gzip' if args.gzip else 'uncompressed'}"
    )
    print(f"goal: >= {GOAL_RPS:,.0f} req/s and p99 < {GOAL_P99_MS:.0f} ms")
    header = (
        f"{'database':<11} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'vs peer':>8} "
        f"{'audited':>9} {'chain':>6} {'goal':>5}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        met = r["rps"] >= GOAL_RPS and r["p99_ms"] < GOAL_P99_MS and r["non_2xx"] == 0
        print(
            f"{r['db']:<11} {r['rps']:>8.0f} {r['p50_ms']:>7.1f} {r['p99_ms']:>7.1f} "
            f"{r['rps'] / hello['rps']:>8.0%} {r['audit_entries_added']:>9} "
            f"{'ok' if r['audit_ok'] else 'BAD':>6} {'met' if met else 'NOT':>5}"
        )
    print(
        f"{'peer hello':<11} {hello['rps']:>8.0f} {hello['p50_ms']:>7.1f} "
        f"{hello['p99_ms']:>7.1f} {'100%':>8}"
    )
    for r in results:
        print(
            f"[{r['db']}] {r['sites_served']} sites per response ({r['response_bytes']:,} bytes); "
            f"{r['requests']} requests in the timed run, {r['audit_entries_added']} audit entries "
            f"added; {r['audit_message']}"
        )
    if args.json:
        args.json.write_text(json.dumps({"peer": hello, "results": results}, indent=2))


if __name__ == "__main__":
    main()
