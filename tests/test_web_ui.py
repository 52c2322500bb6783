"""The web UI in a real headless Chromium (Playwright for Python) against the real app.

A data directory holds three sites; a site report about one of them is released to SEMAR, one
about another is only a draft, and the third has no product. A SEMAR officer signs in (the UI is
in Spanish for partner users), sees only the released site, acknowledges it, records a lab
dismantled with a methamphetamine seizure, and the metrics follow; an analyst sees every site
with its evidence and the explanation of its score; a supervisor releases the draft from the
products list. Every request the pages make is recorded: none may leave the loopback host, and
no response to the partner's page may name an unreleased site or a sortie.

Chromium is Debian's (/usr/bin/chromium, installed by ``make web``); Playwright's own browser
downloads are never used. Screenshots of both views are taken on every run; with
``VIGIA_UPDATE_SCREENSHOTS=1`` (``make screenshots``) they replace the ones in ``docs/``.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pyarrow as pa
import pytest

from tests.helpers.ports import free_port

ROOT = Path(__file__).resolve().parents[1]
WEB = ROOT / "src" / "vigia" / "api" / "web"
STATIC = WEB / "static"
DOCS = ROOT / "docs"
#: Set to 1 to write the screenshots over the README's ones in docs/.
UPDATE_SCREENSHOTS_ENV = "VIGIA_UPDATE_SCREENSHOTS"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
TIMEOUT_MS = 20_000

# Three sites near Culiacán; only RELEASED gets a released site report (to SEMAR).
RELEASED = "S1a2b3c4d"
DRAFTED = "S5e6f7a8b"
UNPUBLISHED = "S9c0d1e2f"
SORTIE = "MSN-SENTINEL-0417"  # source-sensitive: must never reach the partner
USERS = {
    "ana": ("correct-horse-battery-1", "analyst", "VIGIA"),
    "sam": ("correct-horse-battery-3", "supervisor", "VIGIA"),
    "semar.oficial": ("correct-horse-battery-6", "partner-officer", "SEMAR"),
}


# --- static checks (no browser) ----------------------------------------------------------------
def test_index_loads_only_local_assets() -> None:
    """index.html and the CSS reference nothing outside this server."""
    html = (WEB / "index.html").read_text(encoding="utf-8")
    refs = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
    assert refs, "index.html references no assets"
    for ref in refs:
        assert ref.startswith("/static/"), ref
        assert (STATIC / ref.removeprefix("/static/")).is_file(), ref
    own = [p for p in (*STATIC.rglob("*.css"), *STATIC.rglob("*.js")) if "vendor" not in p.parts]
    for path in [*own, WEB / "index.html"]:
        text = path.read_text(encoding="utf-8")
        for url in re.findall(r"""https?://[^\s"'()<>`]+""", text):
            assert url.startswith("http://www.w3.org/"), (path, url)  # XML namespaces only


def test_basemap_is_compact_and_complete() -> None:
    """The basemap holds Mexico's 32 states and its neighbours, and stays small."""
    path = STATIC / "basemap" / "basemap.geojson"
    fc = json.loads(path.read_text(encoding="utf-8"))
    states = [f for f in fc["features"] if f["properties"]["code"].startswith("MX.")]
    countries = {
        f["properties"]["name"] for f in fc["features"] if f["properties"]["kind"] == "country"
    }
    assert len(states) == 32
    assert {"United States of America", "Guatemala", "Belize"} <= countries
    assert path.stat().st_size < 600_000
    assert (STATIC / "basemap" / "README.md").is_file()


# --- the app over a data directory ---------------------------------------------------------------
def _sites_table(now: datetime) -> pa.Table:
    from vigia.exploit.scoring import SITE_SCHEMA

    def site(
        site_id: str, lat: float, lon: float, p: float, status: str, inds: list[str]
    ) -> dict[str, Any]:
        return {
            "site_id": site_id,
            "lat": lat,
            "lon": lon,
            "h_m": 310.0,
            "ce90_m": 35.0,
            "cov_ee_m2": 150.0,
            "cov_en_m2": 10.0,
            "cov_nn_m2": 140.0,
            "log_odds": math.log(p / (1 - p)),
            "probability": p,
            "candidate": p >= 0.5,
            "status": status,
            "new_since_previous_pass": status == "new",
            "previous_pass_time": now - timedelta(days=3),
            "first_seen": now - timedelta(days=9),
            "last_seen": now - timedelta(days=1),
            "n_observations": 4,
            "n_passes": 3,
            "n_sorties": 2,
            "night_passes": 1,
            "empty_passes": 0,
            "indicators": inds,
            "sorties": [SORTIE, "MSN-0419"],
            "aoi": "Culiacán – Tepuche",
            "vocabulary": "vigia-lab-indicators@test",
            "explanation": json.dumps(
                [
                    {"term": "prior", "detail": "prior probability 0.01", "log_lr": -4.6},
                    *(
                        {"term": f"indicator:{c}", "detail": "seen on 2 looks", "log_lr": 1.7}
                        for c in inds
                    ),
                ]
            ),
            "assessment": None,
        }

    rows = [
        site(RELEASED, 24.91, -107.30, 0.93, "active", ["tarp_structure", "chemical_containers"]),
        site(DRAFTED, 24.98, -107.21, 0.71, "new", ["thermal_hotspot_night"]),
        site(UNPUBLISHED, 24.83, -107.37, 0.22, "dormant", ["vegetation_clearing"]),
    ]
    return pa.Table.from_pylist(rows, schema=SITE_SCHEMA)


def _observations(now: datetime) -> pa.Table:
    from vigia.store.catalog import OBSERVATIONS_WITH_SITE

    rows = []
    for i, (sid, lat, lon, ind) in enumerate(
        [
            (RELEASED, 24.9101, -107.3002, "tarp_structure"),
            (RELEASED, 24.9099, -107.2998, "chemical_containers"),
            (DRAFTED, 24.9801, -107.2101, "thermal_hotspot_night"),
            (UNPUBLISHED, 24.8301, -107.3699, "vegetation_clearing"),
        ]
    ):
        rows.append(
            {
                "obs_id": f"o{i:019d}",
                "time": now - timedelta(days=2, hours=i),
                "sortie": SORTIE,
                "source": "detector",
                "indicator": ind,
                "confidence": 0.8,
                "lat": lat,
                "lon": lon,
                "h_m": 305.0,
                "cov_ee_m2": 120.0,
                "cov_en_m2": 0.0,
                "cov_nn_m2": 120.0,
                "ce90_m": 28.0,
                "geolocated_by": "sensor_model",
                "status": "ok",
                "consent_status": "consented",
                "sensor": "EO",
                "night": False,
                "source_file": f"/srv/feeds/{SORTIE}.ts",
                "site_id": sid,
            }
        )
    return pa.Table.from_pylist(rows, schema=OBSERVATIONS_WITH_SITE)


def _coverage(now: datetime) -> pa.Table:
    """H3 cells (resolution 8) around the sites, seen on 1 to 4 passes."""
    import h3

    cells: dict[str, int] = {}
    for k, (lat, lon) in enumerate([(24.91, -107.30), (24.98, -107.21), (24.85, -107.35)]):
        for ring, ids in enumerate(
            h3.grid_ring(h3.latlng_to_cell(lat, lon, 8), r) for r in range(9)
        ):
            for c in ids:
                cells[c] = max(cells.get(c, 0), 1 + (k + 8 - ring) // 3)
    ids = sorted(cells)
    return pa.table(
        {
            "cell": pa.array([h3.str_to_int(c) for c in ids], pa.uint64()),
            "passes": pa.array([cells[c] for c in ids], pa.int64()),
            "first_seen": pa.array([now - timedelta(days=9)] * len(ids), pa.timestamp("us", "UTC")),
            "last_seen": pa.array([now - timedelta(days=1)] * len(ids), pa.timestamp("us", "UTC")),
        }
    )


def _chip(color: tuple[int, int, int]) -> bytes:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (96, 96), (96, 110, 80))
    ImageDraw.Draw(img).rectangle((28, 30, 70, 62), fill=color)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def _make_data_dir(root: Path) -> None:
    from vigia.app.admin import sync_data_dir
    from vigia.store import create_user, open_store
    from vigia.store.catalog import Catalog

    now = datetime.now(UTC).replace(microsecond=0)
    cat = Catalog(root)
    cat.write_table("sites", _sites_table(now))
    obs = _observations(now)
    cat.write_table("observations", obs)
    cat.write_table("coverage", _coverage(now))
    cat.chips_dir.mkdir(parents=True, exist_ok=True)
    for i, obs_id in enumerate(obs.column("obs_id").to_pylist()):
        (cat.chips_dir / f"{obs_id}.jpg").write_bytes(_chip((200, 60 + 40 * i, 40)))
    aois = json.loads(
        (ROOT / "src" / "vigia" / "coverage" / "data" / "demo_aois.geojson").read_text("utf-8")
    )
    cat.write_aois(aois)
    with open_store(root) as store, store.transaction() as s:
        for name, (password, role, agency) in USERS.items():
            create_user(s, name, password, role, agency)
    sync_data_dir(root)


@dataclass
class Server:
    base: str
    thread: threading.Thread
    server: Any
    tokens: dict[str, str] = field(default_factory=dict)

    def login(self, username: str) -> str:
        if username not in self.tokens:
            r = httpx.post(
                f"{self.base}/api/auth/login",
                json={"username": username, "password": USERS[username][0]},
                timeout=30,
            )
            assert r.status_code == 200, r.text
            self.tokens[username] = r.json()["token"]
        return self.tokens[username]

    def call(self, username: str, method: str, path: str, **kw: Any) -> Any:
        r = httpx.request(
            method,
            f"{self.base}{path}",
            headers={"Authorization": f"Bearer {self.login(username)}"},
            timeout=30,
            **kw,
        )
        assert r.status_code < 300, (path, r.status_code, r.text)
        return r.json() if r.content else None


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    import uvicorn

    from vigia.api.app import create_app

    root = tmp_path_factory.mktemp("web-ui-data")
    _make_data_dir(root)
    with free_port() as reserved:
        port = reserved.number
        sock = reserved.take()  # the server listens on the very socket that holds the port
    config = uvicorn.Config(create_app(root), log_level="warning", lifespan="on")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not srv.started:
        assert thread.is_alive(), "the server did not start"
        assert time.monotonic() < deadline, "the server did not start within 60 s"
        time.sleep(0.05)
    s = Server(f"http://127.0.0.1:{port}", thread, srv)
    # A site report released to SEMAR about RELEASED; a draft (not released) about DRAFTED.
    released = s.call(
        "ana",
        "POST",
        "/api/products",
        json={
            "kind": "site_report",
            "site_id": RELEASED,
            "assessment": "Probable laboratorio de metanfetamina bajo lonas.",
            "classification": "UNCLASSIFIED",
            "releasable_to": ["USA", "MEX"],
        },
    )
    s.call(
        "sam",
        "POST",
        f"/api/products/{released['product_id']}/approve",
        json={"agencies": ["SEMAR"]},
    )
    s.call(
        "ana",
        "POST",
        "/api/products",
        json={
            "kind": "site_report",
            "site_id": DRAFTED,
            "classification": "UNCLASSIFIED",
            "releasable_to": ["USA", "MEX"],
        },
    )
    yield s
    srv.should_exit = True
    thread.join(timeout=10)


# --- the browser ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        if os.environ.get("VIGIA_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is missing (make web installs it)")
        pytest.skip(f"{CHROMIUM} is missing (make web installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@dataclass
class Traffic:
    """Every request of a browser context, and the bodies of the responses it got."""

    urls: list[str] = field(default_factory=list)
    bodies: dict[str, list[bytes]] = field(default_factory=dict)

    def foreign(self) -> list[str]:
        out = []
        for u in self.urls:
            parts = urlsplit(u)
            if parts.scheme in ("data", "blob", "about"):
                continue
            if parts.hostname not in LOOPBACK:
                out.append(u)
        return out


def _context(browser: Any, traffic: Traffic) -> Any:
    ctx = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-US")
    ctx.set_default_timeout(TIMEOUT_MS)

    def route(r: Any) -> None:
        url = r.request.url
        if urlsplit(url).hostname not in LOOPBACK:
            r.abort()  # recorded by the request listener; never let it out
            return
        resp = r.fetch()
        body = resp.body()
        traffic.bodies.setdefault(url, []).append(body)
        r.fulfill(response=resp, body=body)

    ctx.route("**/*", route)
    ctx.on("request", lambda req: traffic.urls.append(req.url))
    return ctx


def _login(page: Any, base: str, username: str) -> None:
    page.goto(base + "/")
    page.locator("#login-form").wait_for()
    page.fill("#username", username)
    page.fill("#password", USERS[username][0])
    page.click("#login-submit")
    page.wait_for_selector("body[data-ready='true']")


def _signed_in(browser: Any, server: Server, username: str) -> tuple[Any, Any, Traffic, list[str]]:
    """A fresh browser context signed in as ``username``: (context, page, its recorded traffic,
    the page's script errors and Content-Security-Policy violations as they happen)."""
    traffic = Traffic()
    ctx = _context(browser, traffic)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on(
        "console",
        lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None,
    )
    _login(page, server.base, username)
    return ctx, page, traffic, errors


def _site_rows(page: Any) -> list[str]:
    return page.eval_on_selector_all("#sites-table tbody tr", "rs => rs.map(r => r.dataset.siteId)")


def _screenshot(page: Any, name: str, tmp_path: Path) -> None:
    """Screenshot the page to ``tmp_path`` (or ``docs/`` when updating); it must be a PNG of
    the whole viewport."""
    target = DOCS if os.environ.get(UPDATE_SCREENSHOTS_ENV) == "1" else tmp_path
    target.mkdir(exist_ok=True)
    path = target / name
    page.screenshot(path=str(path))
    png = path.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (page.viewport_size["width"], page.viewport_size["height"])


def _chip_loaded(page: Any, selector: str) -> None:
    page.wait_for_function(
        "sel => [...document.querySelectorAll(sel)].some(i => i.complete && i.naturalWidth > 0)",
        arg=selector,
    )


@pytest.mark.slow
def test_partner_sees_only_released_sites_and_records_an_action(
    server: Server, browser: Any, tmp_path: Path
) -> None:
    ctx, page, traffic, errors = _signed_in(browser, server, "semar.oficial")

    # Spanish by default for partner users.
    assert page.get_attribute("html", "lang") == "es"
    assert page.inner_text("#tabs button[data-view='sites']") == "Sitios"
    assert _site_rows(page) == [RELEASED]
    page.click(f"#sites-table tr[data-site-id='{RELEASED}']")
    page.wait_for_selector("[data-testid='site-view'][data-loaded='true']")
    fields = page.inner_text("[data-testid='site-fields']")
    assert "24.91000, -107.30000" in fields
    assert "Estructura cubierta con lonas" in fields
    assert "Probable laboratorio de metanfetamina" in fields
    _chip_loaded(page, "[data-testid='chips'] img")

    page.click("#ack-button")
    page.wait_for_selector("[data-testid='actions'] tr[data-action-kind='acknowledged']")
    assert page.locator("text=Recibo acusado.").count() == 1
    page.select_option("#action-form select[name='kind']", "lab_dismantled")
    page.click("#add-seizure")
    page.select_option("#action-form .seizure select[name='substance']", "methamphetamine")
    page.fill("#action-form .seizure input[name='amount']", "220")
    page.select_option("#action-form .seizure select[name='unit']", "lb")
    page.fill(
        "#action-form textarea[name='notes']", "Laboratorio desmantelado; 220 lb de metanfetamina"
    )
    page.click("#action-form button[type='submit']")
    page.wait_for_selector("[data-testid='actions'] tr[data-action-kind='lab_dismantled']")
    assert page.locator("text=Acción registrada.").count() == 1
    kinds = page.eval_on_selector_all(
        "[data-testid='actions'] tbody tr", "rs => rs.map(r => r.dataset.actionKind)"
    )
    assert sorted(kinds) == ["acknowledged", "lab_dismantled"]  # by the time each happened
    assert "laboratorio desmantelado" in page.inner_text("[data-testid='site-fields']")
    page.evaluate("() => document.querySelector('#panel').scrollTo(0, 0)")
    _screenshot(page, "screenshot_partner.png", tmp_path)

    # The metrics follow the action: one site acted on, 220 lb = 99.79 kg of methamphetamine.
    page.click("#tabs button[data-view='metrics']")
    page.wait_for_selector("[data-testid='metrics-view']")
    acted = page.get_attribute("[data-testid='chart-funnel'] g[data-key='acted_on']", "data-value")
    assert acted == "1"
    meth = page.inner_text("[data-testid='seizure-totals'] tr[data-substance='methamphetamine']")
    assert "99,79" in meth or "99.79" in meth
    assert page.locator("[data-testid='chart-methamphetamine'] svg rect").count() == 1

    # The language switch works for every user.
    page.select_option("#lang", "en")
    assert page.get_attribute("html", "lang") == "en"
    assert page.inner_text("#tabs button[data-view='metrics']") == "Metrics"
    page.wait_for_selector("text=Seizures by month: methamphetamine (kg)")

    # Every string exists in both languages.
    missing = page.evaluate(
        """async () => {
          const m = await import('/static/js/i18n.js');
          const en = Object.keys(m._STRINGS.en), es = Object.keys(m._STRINGS.es);
          return en.filter(k => !es.includes(k)).concat(es.filter(k => !en.includes(k)));
        }"""
    )
    assert missing == []

    html = page.content()
    for hidden in (DRAFTED, UNPUBLISHED):
        assert hidden not in html
    ctx.close()

    assert traffic.urls, "no requests recorded"
    assert traffic.foreign() == []
    api_urls = [u for u in traffic.bodies if "/api/" in u]
    assert any("/api/sites?" in u for u in api_urls)
    for url, bodies in traffic.bodies.items():
        for body in bodies:
            for secret in (DRAFTED, UNPUBLISHED, SORTIE):
                assert secret.encode() not in body, (url, secret)
    assert errors == []


@pytest.mark.slow
def test_analyst_sees_every_site_with_evidence(
    server: Server, browser: Any, tmp_path: Path
) -> None:
    ctx, page, traffic, errors = _signed_in(browser, server, "ana")

    assert page.get_attribute("html", "lang") == "en"
    assert _site_rows(page) == [RELEASED, DRAFTED, UNPUBLISHED]  # ranked by probability

    # Draft a site report; it waits for a supervisor.
    page.click(f"#sites-table tr[data-site-id='{UNPUBLISHED}']")
    page.wait_for_selector("[data-testid='site-view'][data-loaded='true']")
    page.fill("#draft-form textarea[name='assessment']", "Clearing only; no structure yet.")
    page.click("#draft-form button[type='submit']")
    page.wait_for_selector("text=saved; a supervisor who is not its author can release it")
    page.click("#tabs button[data-view='products']")
    draft = page.locator(f"article.product[data-state='draft']:has-text('{UNPUBLISHED}')")
    assert "Author: ana" in draft.inner_text()

    page.click("#tabs button[data-view='sites']")
    page.click(f"#sites-table tr[data-site-id='{DRAFTED}']")
    page.wait_for_selector("[data-testid='explanation']")
    terms = page.eval_on_selector_all(
        "[data-testid='explanation'] tbody tr td:first-child", "cs => cs.map(c => c.textContent)"
    )
    assert terms == ["prior", "Night-time thermal hotspot (IR)"]
    assert page.locator("[data-testid='evidence'] tbody tr").count() == 1
    assert SORTIE in page.inner_text("[data-testid='site-fields']")
    _chip_loaded(page, "[data-testid='evidence'] img")
    _screenshot(page, "screenshot_analyst.png", tmp_path)
    page.click("button:has-text('Back to the list')")
    page.wait_for_selector("#sites-table")
    ctx.close()
    assert traffic.foreign() == []
    assert errors == []


@pytest.mark.slow
def test_supervisor_releases_a_draft_of_another_author(server: Server, browser: Any) -> None:
    ctx, page, traffic, _ = _signed_in(browser, server, "sam")
    page.click("#tabs button[data-view='products']")
    draft = page.locator(f"article.product[data-state='draft']:has-text('{DRAFTED}')")
    draft.wait_for()
    field = draft.locator("input[name='agencies']")
    assert field.input_value() == ""  # no agency is chosen for the supervisor
    draft.locator("button.approve").click()  # naming none releases nothing
    draft.locator(".msg-error").wait_for()
    asked: list[str] = []

    def accept(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    field.fill("SEMAR")
    draft.locator("button.approve").click()
    page.wait_for_selector(f"article.product[data-state='released']:has-text('{DRAFTED}')")
    assert len(asked) == 1 and "SEMAR" in asked[0] and "FGR" not in asked[0]
    ctx.close()
    assert traffic.foreign() == []
    partner_sites = server.call("semar.oficial", "GET", "/api/sites")
    assert {s["site_id"] for s in partner_sites} == {RELEASED, DRAFTED}


@pytest.mark.slow
def test_supervisor_withdraws_a_release_and_the_partner_sees_it_withdrawn(
    server: Server, browser: Any
) -> None:
    digest = server.call(
        "ana",
        "POST",
        "/api/products",
        json={"kind": "digest", "classification": "UNCLASSIFIED", "releasable_to": ["MEX"]},
    )
    pid = digest["product_id"]
    server.call("sam", "POST", f"/api/products/{pid}/approve", json={"agencies": ["SEMAR"]})
    assert server.call("semar.oficial", "GET", f"/api/products/{pid}")["state"] == "released"

    ctx, page, traffic, errors = _signed_in(browser, server, "sam")
    page.click("#tabs button[data-view='products']")
    card = page.locator(f"article.product[data-product-id='{pid}']")
    card.wait_for()
    card.locator("button.withdraw").click()  # no reason: nothing is withdrawn
    card.locator(".msg-error").wait_for()
    asked: list[str] = []

    def accept(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    card.locator("input[name='withdraw-reason']").fill("overtaken by the weekly digest")
    card.locator("button.withdraw").click()
    page.wait_for_selector(f"article.product[data-product-id='{pid}'] .withdrawn")
    assert len(asked) == 1 and "SEMAR" in asked[0]
    assert "Withdrawn from SEMAR" in card.inner_text()
    ctx.close()

    ctx, page, traffic2, errors2 = _signed_in(browser, server, "semar.oficial")
    page.click("#tabs button[data-view='products']")
    mine = page.locator(f"article.product[data-product-id='{pid}'][data-state='withdrawn']")
    mine.wait_for()
    text = mine.inner_text()
    assert "overtaken by the weekly digest" in text and "retirado" in text.lower()
    assert mine.locator(".formats").count() == 0  # nothing left to open
    ctx.close()
    assert traffic.foreign() == [] and traffic2.foreign() == []
    assert errors == [] and errors2 == []
