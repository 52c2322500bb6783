"""Benchmark: partner reads while staff render sortie-summary PDFs.

Goal: the partner's p99 stays under 500 ms while three staff PDF renders run at once (before
renders left the write transaction, partner reads waited up to 20 s and got 503 "database is
locked" with three renders).

A copy of a demo data directory (``vigia demo --out DIR`` writes ``DIR/data``; without
``--demo`` the demo is run first, which takes minutes) gets three bench users, one sortie summary
per sortie (the three largest), and a site report released to SEMAR. ``vigia serve`` equivalent
(:func:`vigia.api.serve.serve`, SQLite, ``--workers`` uvicorn workers) runs in a subprocess. A
partner reader alternates ``GET /api/sites`` and ``GET /api/products/{id}`` (both audited) for
``--duration`` seconds without renders, then for as long again while three threads render the
three PDFs in a loop as staff, each time after emptying the render cache (so that each is a
real rendering). It prints the partner's p50/p99 of both phases, their ratio, and the renders'.

Before the load phases it times each of the three sortie-summary PDFs rendered alone, in this
process, with no server (``render_input`` + ``render_bytes``), and prints its pages and size.

Run: ``.venv/bin/python bench/bench_render_load.py [--demo DIR] [--duration 30] [--workers 1]``.
Not run by pytest.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "src"))

from bench_api import free_port, process, serve_args, wait_http  # noqa: E402
from vigia.app.products import DraftRequest, draft_product  # noqa: E402
from vigia.app.renders import RENDERS_DIR  # noqa: E402
from vigia.store import approve_release, create_user, get_user, open_store  # noqa: E402
from vigia.store.catalog import Catalog  # noqa: E402

GOAL_P99_MS = 500.0
PASSWORD = "bench-password-123"
USERS = (
    ("bench.ana", "analyst", "VIGIA"),
    ("bench.sam", "supervisor", "VIGIA"),
    ("bench.semar", "partner-officer", "SEMAR"),
)


def prepare(data_dir: Path) -> tuple[list[str], str]:
    """Users, three sortie summaries and a released site report; (summary ids, report id)."""
    catalog = Catalog(data_dir)
    obs = catalog.observations()
    counts: dict[str, int] = {}
    for m in obs.column("sortie").to_pylist():
        counts[m] = counts.get(m, 0) + 1
    missions = sorted(counts, key=lambda m: -counts[m])[:3]
    print("sorties:", ", ".join(f"{m} ({counts[m]} observations)" for m in missions))

    def req(kind: str, **kw: Any) -> DraftRequest:
        base: dict[str, Any] = {
            "site_id": None,
            "assessment": None,
            "classification": "UNCLASSIFIED",
            "caveats": ["FOUO"],
            "releasable_to": ["USA", "MEX"],
            "mission_id": None,
            "period_start": None,
            "period_end": None,
            "lang": "es",
        }
        return DraftRequest(kind=kind, **(base | kw))

    with open_store(data_dir) as store:
        with store.transaction() as s:
            for name, role, agency in USERS:
                create_user(s, name, PASSWORD, role, agency)
        with store.transaction() as s:
            ana, sam = get_user(s, "bench.ana"), get_user(s, "bench.sam")
            summaries = [
                draft_product(s, ana, req("sortie_summary", mission_id=m), catalog).product_id
                for m in missions
            ]
            site = str(catalog.sites().column("site_id")[0])
            p = draft_product(s, ana, req("site_report", site_id=site), catalog)
            approve_release(s, sam, p.product_id, ["SEMAR"])
    return summaries, p.product_id


def login(base: str, name: str) -> dict[str, str]:
    r = httpx.post(f"{base}/api/auth/login", json={"username": name, "password": PASSWORD})
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['token']}"}


def partner_reads(base: str, headers: dict[str, str], pid: str, duration_s: float) -> list[float]:
    """Latencies (ms) of alternating audited partner reads for ``duration_s``."""
    out: list[float] = []
    paths = ["/api/sites", f"/api/products/{pid}"]
    with httpx.Client(base_url=base, headers=headers, timeout=60.0) as c:
        end = time.monotonic() + duration_s
        k = 0
        while time.monotonic() < end:
            t = time.perf_counter()
            r = c.get(paths[k % 2])
            out.append((time.perf_counter() - t) * 1000.0)
            if r.status_code != 200:
                raise SystemExit(f"partner read {paths[k % 2]}: {r.status_code} {r.text[:200]}")
            k += 1
    return out


def render_loop(
    base: str, headers: dict[str, str], pid: str, renders: Path, stop: threading.Event,
    out: list[tuple[int, float]],
) -> None:  # fmt: skip
    with httpx.Client(base_url=base, headers=headers, timeout=120.0) as c:
        while not stop.is_set():
            shutil.rmtree(renders, ignore_errors=True)  # each rendering a real one
            t = time.perf_counter()
            r = c.get(f"/api/products/{pid}/render", params={"format": "pdf"})
            out.append((r.status_code, time.perf_counter() - t))


def time_pdfs(data_dir: Path, summaries: list[str]) -> None:
    """Render each sortie summary as a staff PDF alone, with no server, and print the time."""
    from vigia.app.products import render_bytes, render_input
    from vigia.store import get_product

    with open_store(data_dir) as store, store.transaction() as s:
        ana = get_user(s, "bench.ana")
        for pid in summaries:
            inp = render_input(s, get_product(s, ana, pid), "pdf", "es", viewer=ana)
            n_obs = len(inp.analyst.get("observations", [])) if isinstance(inp.analyst, dict) else 0
            t0 = time.perf_counter()
            pdf = render_bytes(inp)
            dt = time.perf_counter() - t0
            pages = pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages")
            print(
                f"sortie summary {pid[:12]} PDF alone: {dt:.2f} s, {pages} pages, "
                f"{len(pdf):,} bytes{f', {n_obs:,} observations' if n_obs else ''}"
            )


def pct(values: list[float], q: int) -> float:
    """The ``q``-th percentile of ``values``."""
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--demo", type=Path, help="output directory of `vigia demo --out`")
    ap.add_argument("--duration", type=float, default=30.0, help="seconds per phase")
    ap.add_argument("--workers", type=int, default=1, help="uvicorn workers")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="vigia-render-bench-") as tmp:
        root = Path(tmp)
        demo = args.demo
        if demo is None:
            demo = root / "demo"
            print("running vigia demo (minutes) ...", flush=True)
            vigia = Path(sys.executable).parent / "vigia"
            subprocess.run([str(vigia), "demo", "--out", str(demo)], check=True)
        data_dir = root / "data"
        shutil.copytree(demo / "data", data_dir, ignore=shutil.ignore_patterns(RENDERS_DIR))
        summaries, report = prepare(data_dir)
        time_pdfs(data_dir, summaries)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = dict(os.environ)
        env.pop("VIGIA_DATABASE_URL", None)  # SQLite in the data directory
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
        with process(serve_args(data_dir, port, args.workers), env, root / "serve.log"):
            wait_http(base + "/")
            staff, partner = login(base, "bench.ana"), login(base, "bench.semar")
            partner_reads(base, partner, report, 2.0)  # warm up
            idle = partner_reads(base, partner, report, args.duration)
            stop = threading.Event()
            results: list[tuple[int, float]] = []
            threads = [
                threading.Thread(
                    target=render_loop,
                    args=(base, staff, pid, data_dir / RENDERS_DIR, stop, results),
                )
                for pid in summaries
            ]
            for t in threads:
                t.start()
            time.sleep(1.0)  # the renders are under way
            busy = partner_reads(base, partner, report, args.duration)
            stop.set()
            for t in threads:
                t.join()
    ok = [s for code, s in results if code == 200]
    refused = [code for code, _ in results if code != 200]
    i50, i99, b50, b99 = pct(idle, 50), pct(idle, 99), pct(busy, 50), pct(busy, 99)
    print(f"partner reads without renders: n={len(idle)}  p50 {i50:.1f} ms  p99 {i99:.1f} ms")
    print(f"partner reads with 3 renders:  n={len(busy)}  p50 {b50:.1f} ms  p99 {b99:.1f} ms")
    print(f"ratio (with / without):        p50 {b50 / i50:.2f}x  p99 {b99 / i99:.2f}x")
    if ok:
        print(
            f"staff PDF renders: {len(ok)} made, median {statistics.median(ok):.2f} s, "
            f"max {max(ok):.2f} s; refused: {len(refused)} {sorted(set(refused))}"
        )
    verdict = "met" if b99 < GOAL_P99_MS else "NOT met"
    print(f"goal partner p99 < {GOAL_P99_MS:.0f} ms while 3 renders run: {verdict}")


if __name__ == "__main__":
    main()
