"""The HTTP API (``vigia.api``) against a real store, on SQLite and on PostgreSQL + PostGIS.

Every test builds a data directory (``sites.parquet``, ``observations.parquet``, chips, AOIs,
coverage) whose source-sensitive fields hold sentinel values, opens the app on it with
FastAPI's TestClient, and logs in as the seed users (``tests/helpers/api.py``,
``tests/helpers/users.py``).
"""

from __future__ import annotations

import io
import json
import socket
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select

from tests.helpers.api import SENTINELS, SITES, Api, build_data_dir
from tests.helpers.takserver import Subscriber, start_taky
from tests.helpers.users import SEED_USERS
from vigia.api import create_app
from vigia.store import AuditEntry, Product, open_store

# --- authorisation matrix -----------------------------------------------------------------------
ROLES = ("anon", "ana", "sam", "semar.enlace", "semar.oficial", "fgr.enlace")
STAFF = {"ana": 200, "sam": 200}
PARTNERS_OWN = {"semar.enlace": 200, "semar.oficial": 200}


def expect(
    anon: int = 401,
    ana: int = 200,
    sam: int = 200,
    semar: int = 200,
    fgr: int = 200,
    *,
    officer: int | None = None,
) -> dict[str, int]:
    """Expected status per role (the SEMAR officer as the liaison unless told)."""
    return {
        "anon": anon,
        "ana": ana,
        "sam": sam,
        "semar.enlace": semar,
        "semar.oficial": semar if officer is None else officer,
        "fgr.enlace": fgr,
    }


@dataclass(frozen=True)
class Route:
    """One route: how to call it for a role, and what each role must get."""

    name: str
    method: str
    path: Callable[[Api, dict[str, str]], str]
    expected: dict[str, int]
    body: Callable[[Api, dict[str, str]], Any] | None = None


def _fixed(path: str) -> Callable[[Api, dict[str, str]], str]:
    return lambda _api, _ctx: path


ACTION = {
    "kind": "inspection",
    "date": "2026-05-03",
    "lat": 24.8,
    "lon": -107.4,
    "seizures": [{"substance": "precursor_chemical", "amount": 5, "unit": "gal"}],
}

MATRIX = [
    Route("me", "GET", _fixed("/api/me"), expect()),
    Route("sites", "GET", _fixed("/api/sites"), expect()),
    Route("released site", "GET", _fixed(f"/api/sites/{SITES[0]}"), expect(fgr=404)),
    Route(
        "unreleased site",
        "GET",
        _fixed(f"/api/sites/{SITES[1]}"),
        expect(semar=404, fgr=404),
    ),
    Route(
        "evidence",
        "GET",
        _fixed(f"/api/sites/{SITES[0]}/evidence"),
        expect(semar=403, fgr=403),
    ),
    Route(
        "released chip",
        "GET",
        lambda api, ctx: f"/api/chips/{ctx['released_chip']}",
        expect(fgr=404),
    ),
    Route(
        "withheld chip",
        "GET",
        _fixed(f"/api/chips/{SENTINELS['withheld_obs']}"),
        expect(semar=404, fgr=404),
    ),
    Route("coverage", "GET", _fixed("/api/coverage"), expect(semar=403, fgr=403)),
    Route("aois", "GET", _fixed("/api/aois"), expect()),
    Route("products", "GET", _fixed("/api/products"), expect()),
    Route(
        "released product",
        "GET",
        lambda api, ctx: f"/api/products/{ctx['released']}",
        expect(fgr=404),
    ),
    Route(
        "draft product",
        "GET",
        lambda api, ctx: f"/api/products/{ctx['draft']}",
        expect(semar=404, fgr=404),
    ),
    Route(
        "render",
        "GET",
        lambda api, ctx: f"/api/products/{ctx['released']}/render?format=json",
        expect(fgr=404),
    ),
    Route(
        "product chip",
        "GET",
        lambda api, ctx: f"/api/products/{ctx['released']}/chips/{SITES[0]}-01.jpg",
        expect(fgr=404),
    ),
    Route(
        "create product",
        "POST",
        _fixed("/api/products"),
        expect(ana=201, sam=201, semar=403, fgr=403),
        body=lambda api, ctx: {"kind": "site_report", "site_id": SITES[2]},
    ),
    Route(
        "approve",
        "POST",
        lambda api, ctx: f"/api/products/{api.draft(site_id=SITES[2])}/approve",
        expect(ana=403, semar=403, fgr=403),
        body=lambda api, ctx: {"agencies": ["SEMAR"]},
    ),
    Route(
        "reject",
        "POST",
        lambda api, ctx: f"/api/products/{api.draft(site_id=SITES[2])}/reject",
        expect(ana=403, semar=403, fgr=403),
        body=lambda api, ctx: {"reason": "needs a second look"},
    ),
    Route(
        "withdraw",
        "POST",
        lambda api, ctx: f"/api/products/{api.release(SITES[2], ['FGR'])}/withdraw",
        expect(ana=403, semar=403, fgr=403),
        body=lambda api, ctx: {"reason": "wrong grid reference"},
    ),
    Route(
        "ack",
        "POST",
        _fixed(f"/api/sites/{SITES[0]}/ack"),
        expect(ana=403, sam=403, semar=201, fgr=404),
    ),
    Route(
        "record action",
        "POST",
        _fixed(f"/api/sites/{SITES[0]}/actions"),
        expect(ana=403, sam=403, semar=201, fgr=404),
        body=lambda api, ctx: ACTION,
    ),
    Route(
        "record action, unreleased site",
        "POST",
        _fixed(f"/api/sites/{SITES[1]}/actions"),
        expect(ana=403, sam=403, semar=404, fgr=404),
        body=lambda api, ctx: ACTION,
    ),
    Route("actions", "GET", _fixed(f"/api/sites/{SITES[0]}/actions"), expect(fgr=404)),
    Route("metrics", "GET", _fixed("/api/metrics"), expect()),
    Route("agencies", "GET", _fixed("/api/agencies"), expect(semar=403, fgr=403)),
    Route("deliveries", "GET", _fixed("/api/deliveries"), expect(ana=403, semar=403, fgr=403)),
    Route("audit verify", "GET", _fixed("/api/audit/verify"), expect(ana=403, semar=403, fgr=403)),
    Route("sorties", "GET", _fixed("/api/sorties"), expect(semar=403, fgr=403)),
    Route(
        "sortie ticket",
        "POST",
        _fixed("/api/sorties/no-such-sortie/ticket"),
        expect(ana=404, sam=404, semar=403, fgr=403),
    ),
    Route(
        "sortie frame",
        "GET",
        _fixed("/api/sorties/no-such-sortie/frame?index=0"),
        expect(ana=404, sam=404, semar=403, fgr=403),
    ),
    Route(
        "sortie track",
        "GET",
        _fixed("/api/sorties/no-such-sortie/track"),
        expect(ana=404, sam=404, semar=403, fgr=403),
    ),
    Route(
        "geolocate",
        "POST",
        _fixed("/api/sorties/no-such-sortie/geolocate"),
        expect(ana=404, sam=404, semar=403, fgr=403),
        body=lambda api, ctx: {"time": 1.0, "x": 10, "y": 10},
    ),
    Route(
        "sortie marks",
        "GET",
        _fixed("/api/sorties/no-such-sortie/marks"),
        expect(ana=404, sam=404, semar=403, fgr=403),
    ),
    Route(
        "create mark",
        "POST",
        _fixed("/api/sorties/no-such-sortie/marks"),
        expect(ana=404, sam=404, semar=403, fgr=403),
        body=lambda api, ctx: {
            "time": "2026-05-03T10:00:00Z",
            "box": [10, 10, 40, 40],
            "indicator": "tarp_structure",
        },
    ),
    Route(
        "sortie snapshot",
        "GET",
        _fixed("/api/sorties/NO-SORTIE/snapshot?index=0"),
        expect(ana=404, sam=404, semar=403, fgr=403),
    ),
    Route(
        "sortie ortho",
        "GET",
        _fixed("/api/sorties/NO-SORTIE/ortho?index=0"),
        expect(ana=404, sam=404, semar=403, fgr=403),
    ),
    Route(
        "build mosaic",
        "POST",
        _fixed("/api/sorties/NO-SORTIE/mosaic"),
        expect(ana=404, sam=404, semar=403, fgr=403),
        body=lambda api, ctx: {"from": "2026-05-01T00:00:00Z", "to": "2026-05-01T00:01:00Z"},
    ),
    Route(
        "mosaic",
        "GET",
        _fixed("/api/sorties/NO-SORTIE/mosaic"),
        expect(ana=404, sam=404, semar=403, fgr=403),
    ),
    Route(
        "mosaic png",
        "GET",
        _fixed("/api/sorties/NO-SORTIE/mosaic.png"),
        expect(ana=404, sam=404, semar=403, fgr=403),
    ),
    Route(
        "mosaic bounds",
        "GET",
        _fixed("/api/sorties/NO-SORTIE/mosaic.json"),
        expect(ana=404, sam=404, semar=403, fgr=403),
    ),
]


@pytest.mark.slow
def test_authorisation_matrix(api: Api) -> None:
    """Every route x every role (+ anonymous) x own/other agency: the expected status."""
    released = api.release(SITES[0], ["SEMAR"])
    ctx = {
        "released": released,
        "draft": api.draft(site_id=SITES[1]),
        "released_chip": api.chips[SITES[0]][0],
    }
    wrong: list[str] = []
    for route in MATRIX:
        for role in ROLES:
            user = None if role == "anon" else role
            path = route.path(api, ctx)
            if route.method == "GET":
                r = api.get(path, user)
            else:
                body = route.body(api, ctx) if route.body else None
                r = api.post(path, user, json=body)
            if r.status_code != route.expected[role]:
                wrong.append(
                    f"{route.name} as {role}: {r.status_code} != {route.expected[role]} "
                    f"({r.text[:120]})"
                )
            if r.status_code >= 400:
                assert isinstance(r.json().get("detail"), str), (route.name, role, r.text)
            if r.status_code == 401:
                assert r.headers.get("www-authenticate") == "Bearer"
    # logging out and logging in (password checks are slow on purpose: two roles)
    for role in ("ana", "semar.oficial"):
        assert api.client.post("/api/auth/logout").status_code == 401
        r = api.client.post(
            "/api/auth/login",
            json={"username": role, "password": SEED_USERS[role].password},
        )
        assert r.status_code == 200
        tok = {"Authorization": f"Bearer {r.json()['token']}"}
        assert api.client.post("/api/auth/logout", headers=tok).status_code == 204
        assert api.client.get("/api/me", headers=tok).status_code == 401
    bad = api.client.post("/api/auth/login", json={"username": "ana", "password": "wrong-pw-1234"})
    assert bad.status_code == 401
    assert not wrong, "\n".join(wrong)


# --- flows ---------------------------------------------------------------------------------------
def test_two_person_rule(api: Api) -> None:
    """A draft is released only by a supervisor who is not its author; partners see it then."""
    pid = api.draft(site_id=SITES[0], user="sam")  # a supervisor drafts
    assert api.get("/api/sites", "semar.oficial").json() == []
    r = api.post(f"/api/products/{pid}/approve", "ana", json={"agencies": ["SEMAR"]})
    assert r.status_code == 403
    r = api.post(f"/api/products/{pid}/approve", "sam", json={"agencies": ["SEMAR"]})
    assert r.status_code == 403 and "two-person" in r.json()["detail"]
    assert api.get(f"/api/products/{pid}", "semar.oficial").status_code == 404
    r = api.post(f"/api/products/{pid}/approve", "sofia", json={"agencies": ["SEMAR"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["state"] == "released" and body["released_to"] == ["SEMAR"]
    assert body["author"] == "sam" and body["approver"] == "sofia"
    again = api.post(f"/api/products/{pid}/approve", "sofia", json={"agencies": ["FGR"]})
    assert again.status_code == 409
    sites = api.get("/api/sites", "semar.oficial").json()
    assert [s["site_id"] for s in sites] == [SITES[0]] and sites[0]["product_ids"] == [pid]
    assert api.get("/api/sites", "fgr.enlace").json() == []
    # releasability: a product for USA only cannot go to a Mexican agency
    usa = api.draft(site_id=SITES[1], releasable_to=["USA"])
    r = api.post(f"/api/products/{usa}/approve", "sam", json={"agencies": ["SEMAR"]})
    assert r.status_code == 422 and "releasability" in r.json()["detail"]
    rej = api.draft(site_id=SITES[1])
    r = api.post(f"/api/products/{rej}/reject", "sam", json={"reason": "location uncertain"})
    assert r.status_code == 200 and r.json()["state"] == "rejected"
    assert (
        api.post(f"/api/products/{rej}/approve", "sofia", json={"agencies": ["SEMAR"]}).status_code
        == 409
    )


def test_partner_action_updates_status_and_metrics(api: Api) -> None:
    """A partner acknowledges and records an action: the site's status and the metrics follow."""
    api.release(SITES[0], ["SEMAR"])
    m0 = api.get("/api/metrics", "semar.enlace").json()
    assert m0["sites_released"] == 1 and m0["sites_acted_on"] == 0
    assert m0["sites_detected"] is None  # the programme's totals are not the partner's
    r = api.post(f"/api/sites/{SITES[0]}/ack", "semar.oficial")
    assert r.status_code == 201 and r.json()["kind"] == "acknowledged"
    assert api.get(f"/api/sites/{SITES[0]}", "semar.enlace").json()["partner_status"] == (
        "acknowledged"
    )
    r = api.post(
        f"/api/sites/{SITES[0]}/actions",
        "semar.enlace",
        json={
            "kind": "lab_dismantled",
            "date": "2026-05-04T10:30:00-07:00",
            "lat": 24.8001,
            "lon": -107.4002,
            "notes": "Laboratorio desmantelado",
            "seizures": [
                {"substance": "fentanyl_pills", "amount": 630000, "unit": "count"},
                {"substance": "fentanyl_powder", "amount": 282, "unit": "lb"},
                {"substance": "methamphetamine", "amount": 220, "unit": "lb"},
                {"substance": "precursor_chemical", "amount": 10, "unit": "gal"},
            ],
        },
    )
    assert r.status_code == 201, r.text
    action = r.json()
    assert action["occurred_at"] == "2026-05-04T17:30:00.000Z"
    kg = {s["substance"]: s for s in action["seizures"]}
    assert kg["fentanyl_powder"]["unit"] == "kg"
    assert kg["fentanyl_powder"]["amount"] == pytest.approx(282 * 0.45359237)
    assert kg["precursor_chemical"]["unit"] == "L"
    assert kg["precursor_chemical"]["amount"] == pytest.approx(10 * 3.785411784)
    partner_site = api.get("/api/sites", "semar.oficial").json()[0]
    assert partner_site["partner_status"] == "dismantled"
    staff_site = api.get(f"/api/sites/{SITES[0]}", "ana").json()
    assert staff_site["partner_status"] == "dismantled"
    assert staff_site["partner_status_agency"] == "SEMAR"
    m1 = api.get("/api/metrics", "semar.enlace").json()
    assert m1["sites_acted_on"] == 1 and m1["actions"]["lab_dismantled"] == 1
    totals = {t["substance"]: t["amount"] for t in m1["seizures_by_substance"]}
    assert totals["fentanyl_pills"] == 630000
    assert totals["methamphetamine"] == pytest.approx(220 * 0.45359237, rel=1e-6)
    assert [m["month"] for m in m1["seizures_by_month"]] == ["2026-05"] * 4
    staff = api.get("/api/metrics", "sam").json()
    assert staff["sites_acted_on"] == 1 and staff["sites_detected"] == len(SITES)
    fgr = api.get("/api/metrics", "fgr.enlace").json()
    assert fgr["sites_released"] == 0 and fgr["seizures_by_substance"] == []
    acts = api.get(f"/api/sites/{SITES[0]}/actions", "semar.oficial").json()
    assert [a["kind"] for a in acts] == ["lab_dismantled", "acknowledged"]  # by time


def test_reads_are_audited_and_the_chain_holds(api: Api) -> None:
    """Partner list reads (the fast path included) each add an audit entry; the chain holds."""
    api.release(SITES[0], ["SEMAR"])
    api.headers("semar.oficial")
    before = api.counts()["audit_log"]
    for _ in range(5):
        r = api.get("/api/sites", "semar.oficial", headers={"Accept-Encoding": "gzip"})
        assert r.status_code == 200 and len(r.json()) == 1
    assert r.headers.get("content-encoding") == "gzip"
    assert api.counts()["audit_log"] == before + 5
    api.get(f"/api/sites/{SITES[0]}", "semar.oficial")
    api.get("/api/products", "semar.oficial")
    assert api.counts()["audit_log"] == before + 7
    report = api.get("/api/audit/verify", "sam").json()
    assert report["ok"] and report["entries"] == report["last_seq"] >= before + 7
    with open_store(api.data_dir, api.database_url) as store, store.read_only() as s:
        last = s.execute(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(8)).scalars()
        reads = [e for e in last if e.actor == "semar.oficial" and e.object_type == "site"]
    assert reads and all(e.details.get("agency") == "SEMAR" for e in reads)
    assert any(e.details.get("site_ids") == [SITES[0]] for e in reads) or any(
        e.object_id == SITES[0] for e in reads
    )


def test_workers_see_each_others_writes(api: Api) -> None:
    """Two apps on one data directory (two workers): caches follow writes made by the other."""
    other_app = create_app(api.data_dir, database_url=api.database_url)
    with TestClient(other_app) as other:
        h = api.headers("semar.oficial")
        assert other.get("/api/sites", headers=h).json() == []  # cached in the other worker
        api.release(SITES[0], ["SEMAR"])
        assert [s["site_id"] for s in other.get("/api/sites", headers=h).json()] == [SITES[0]]
        api.post(f"/api/sites/{SITES[0]}/ack", "semar.oficial")
        assert other.get("/api/sites", headers=h).json()[0]["partner_status"] == "acknowledged"
        assert api.post("/api/auth/logout", "semar.oficial").status_code == 204
        assert other.get("/api/sites", headers=h).status_code == 401


def test_products_render_in_every_format(api: Api) -> None:
    """A released product renders for the partner (tearline) and the analyst (whole)."""
    pid = api.release(SITES[0], ["SEMAR"], assessment="Probable laboratorio de metanfetamina.")
    kinds = {
        "html": "text/html",
        "pdf": "application/pdf",
        "json": "application/json",
        "geojson": "application/geo+json",
        "kml": "application/vnd.google-earth.kml+xml",
        "cot": "application/xml",
    }
    for fmt, media in kinds.items():
        for lang in ("en", "es"):
            for user in ("semar.oficial", "ana"):
                r = api.get(f"/api/products/{pid}/render?format={fmt}&lang={lang}", user)
                assert r.status_code == 200, (fmt, lang, user, r.text[:200])
                assert r.headers["content-type"].startswith(media)
    tl = api.get(f"/api/products/{pid}/render?format=json", "semar.oficial").json()
    assert tl["product_id"] == pid and tl["released"] is not None
    assert tl["sites"][0]["assessment"] == "Probable laboratorio de metanfetamina."
    es = api.get(f"/api/products/{pid}/render?format=html&lang=es", "semar.oficial").text
    assert "SIN CLASIFICAR" in es
    assert api.get(f"/api/products/{pid}/render?format=docx", "ana").status_code == 422
    # sortie summary and digest
    for kind, extra in (
        ("sortie_summary", {"mission_id": SENTINELS["mission_id"]}),
        ("digest", {}),
        ("digest", {"period_start": "2026-04-30T00:00:00Z", "period_end": "2026-05-10T00:00:00Z"}),
    ):
        p = api.draft(kind=kind, **extra)
        r = api.post(f"/api/products/{p}/approve", "sam", json={"agencies": ["SEMAR"]})
        assert r.status_code == 200, r.text
        got = api.get(f"/api/products/{p}", "semar.oficial").json()
        # the partner sees only the site released to SEMAR (SITES[0]), not every site
        assert got["kind"] == kind and [s["site_id"] for s in got["sites"]] == [SITES[0]]


def test_chips(api: Api) -> None:
    """Chips: staff get the file; partners only released ones, without metadata; no escape
    from the chips directory."""
    pid = api.release(SITES[0], ["SEMAR"])
    site = api.get(f"/api/sites/{SITES[0]}", "semar.oficial").json()
    assert site["chips"] and all(u.startswith(f"/api/products/{pid}/chips/") for u in site["chips"])
    for url in site["chips"]:
        r = api.get(url, "semar.oficial")
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
        assert SENTINELS["chip_exif"].encode() not in r.content
        Image.open(io.BytesIO(r.content)).verify()
    raw = api.get(f"/api/chips/{api.chips[SITES[0]][0]}", "ana")
    assert raw.status_code == 200 and SENTINELS["chip_exif"].encode() in raw.content
    released = api.get(f"/api/chips/{api.chips[SITES[0]][0]}.jpg", "semar.oficial")
    assert released.status_code == 200 and SENTINELS["chip_exif"].encode() not in released.content
    assert api.get(f"/api/chips/{api.chips[SITES[1]][0]}", "semar.oficial").status_code == 404
    for evil in ("..%2Fvigia.db", "..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", ".hidden", "a%00b"):
        r = api.get(f"/api/chips/{evil}", "ana")
        assert r.status_code in (404, 422), (evil, r.status_code)
    assert api.get("/api/chips/../sites.parquet", "ana").status_code in (404, 422)


def test_openapi_and_web(api: Api) -> None:
    """OpenAPI at /openapi.json describes every route of the contract; / answers."""
    spec = api.client.get("/openapi.json").json()
    paths = set(spec["paths"])
    for p in (
        "/api/auth/login",
        "/api/auth/logout",
        "/api/me",
        "/api/sites",
        "/api/sites/{site_id}",
        "/api/sites/{site_id}/evidence",
        "/api/chips/{chip_id}",
        "/api/coverage",
        "/api/aois",
        "/api/products",
        "/api/products/{product_id}",
        "/api/products/{product_id}/render",
        "/api/products/{product_id}/approve",
        "/api/products/{product_id}/reject",
        "/api/sites/{site_id}/ack",
        "/api/sites/{site_id}/actions",
        "/api/metrics",
        "/api/deliveries",
        "/api/audit/verify",
        "/api/agencies",
    ):
        assert p in paths, p
    assert api.client.get("/").status_code == 200
    agencies = api.get("/api/agencies", "ana").json()
    assert [a["code"] for a in agencies] == ["FGR", "SEMAR"]  # those with partner users
    cov = api.get("/api/coverage", "ana").json()
    assert len(cov["features"]) == 2 and cov["features"][0]["geometry"]["type"] == "Polygon"
    aois = api.get("/api/aois", "semar.oficial").json()
    assert aois["type"] == "FeatureCollection" and aois["features"]


# --- TAK delivery ------------------------------------------------------------------------------
@pytest.fixture
def taky_port(tmp_path: Path) -> Iterator[int]:
    """A real TAK server (taky, from PyPI) on loopback, plain TCP."""
    pytest.importorskip("taky")
    root = tmp_path / "taky"
    root.mkdir()
    for taky in start_taky(root):
        yield taky.port


def test_release_pushes_markers_to_tak(data_dir: Path, database_url: str, taky_port: int) -> None:
    """Approving a release pushes its sites as CoT markers to the partner TAK server, and each
    marker gets a delivery record."""
    build_data_dir(data_dir)
    app = create_app(data_dir, database_url=database_url, tak=f"tcp://127.0.0.1:{taky_port}")
    with TestClient(app) as client, socket.create_connection(("127.0.0.1", taky_port)) as sub:
        api = Api(client, data_dir, database_url, {})
        pid = api.release(SITES[0], ["SEMAR"], assessment="Posible laboratorio.")
        got = Subscriber(sub).read_until({SITES[0]})
        assert SITES[0] in got
        event = got[SITES[0]]
        assert event.get("type") == "a-u-G"
        remarks = event.findtext("detail/remarks") or ""
        assert remarks.startswith("SIN CLASIFICAR//FOUO//REL A USA, MEX")
        assert not any(
            v.lower() in ET.tostring(event, encoding="unicode").lower() for v in SENTINELS.values()
        )
        deliveries = api.get("/api/deliveries", "sam").json()
        assert [(d["product_id"], d["site_id"], d["status"]) for d in deliveries] == [
            (pid, SITES[0], "delivered")
        ]
        assert deliveries[0]["target"] == f"tcp://127.0.0.1:{taky_port}"


def test_partner_products_name_only_their_agency_sites(api: Api) -> None:
    """A digest released to two agencies shows each only the sites released to it: not another
    agency's sites, nor a site whose report is still a draft (every route and rendering)."""
    api.release(SITES[0], ["SEMAR"])
    api.release(SITES[1], ["FGR"])
    api.draft(site_id=SITES[2])  # a report still awaiting approval
    dg = api.draft("digest")
    r = api.post(f"/api/products/{dg}/approve", "sam", json={"agencies": ["SEMAR", "FGR"]})
    assert r.status_code == 200, r.text
    staff = api.get(f"/api/products/{dg}", "ana").json()
    assert {s["site_id"] for s in staff["tearline"]["sites"]} == set(SITES)
    for user, own in (("semar.oficial", SITES[0]), ("fgr.enlace", SITES[1])):
        one = api.get(f"/api/products/{dg}", user).json()
        assert [s["site_id"] for s in one["sites"]] == [own]
        listed = [p for p in api.get("/api/products", user).json() if p["product_id"] == dg]
        assert [s["site_id"] for s in listed[0]["sites"]] == [own]
        geo = api.get(f"/api/products/{dg}/render", user, params={"format": "geojson"}).json()
        assert {f["properties"]["site_id"] for f in geo["features"]} == {own}
        for fmt in ("html", "kml", "cot", "json"):
            text = api.get(f"/api/products/{dg}/render", user, params={"format": fmt}).text
            hidden = [s for s in SITES if s != own]
            assert own in text and not any(s in text for s in hidden), (user, fmt)
        sites = [s["site_id"] for s in api.get("/api/sites", user).json()]
        assert sites == [own]


def test_portal_refuses_markings_above_its_ceiling(api: Api) -> None:
    """The portal is accredited UNCLASSIFIED//FOUO: nothing classified higher is drafted, and
    contradictory markings are refused (NOFORN with REL TO, FOUO on SECRET)."""
    before = api.counts()["products"]
    for marking in (
        {"classification": "SECRET", "caveats": [], "releasable_to": ["USA", "MEX"]},
        {"classification": "TOP SECRET", "caveats": ["FOUO"], "releasable_to": ["USA", "MEX"]},
        {"classification": "UNCLASSIFIED", "caveats": ["NOFORN"], "releasable_to": ["USA"]},
    ):
        r = api.post(
            "/api/products", "ana", json={"kind": "site_report", "site_id": SITES[0]} | marking
        )
        assert r.status_code == 422, (marking, r.text)
    assert api.counts()["products"] == before


def test_withdrawn_release_is_gone_for_the_partner_at_once(api: Api) -> None:
    """A supervisor withdraws a release from one agency: from the next request its users get
    410 (with when and why) on the product, its renderings and chips, lose the site, and see
    the product listed as withdrawn; the other agency keeps it."""
    pid = api.release(SITES[0], ["SEMAR", "FGR"])
    chip = f"/api/products/{pid}/chips/{SITES[0]}-01.jpg"
    assert api.get(chip, "semar.oficial").status_code == 200
    assert [s["site_id"] for s in api.get("/api/sites", "semar.oficial").json()] == [SITES[0]]
    no_reason = api.post(f"/api/products/{pid}/withdraw", "sofia", json={"reason": ""})
    assert no_reason.status_code == 422
    r = api.post(
        f"/api/products/{pid}/withdraw",
        "sofia",
        json={"reason": "grid reference was wrong", "agencies": ["SEMAR"]},
    )
    assert r.status_code == 200, r.text
    staff = r.json()
    assert staff["released_to"] == ["FGR"]
    assert [(w["agency"], w["by"], w["reason"]) for w in staff["withdrawn_from"]] == [
        ("SEMAR", "sofia", "grid reference was wrong")
    ]
    for path in (
        f"/api/products/{pid}",
        f"/api/products/{pid}/render?format=html",
        f"/api/products/{pid}/render?format=geojson",
        chip,
    ):
        got = api.get(path, "semar.oficial")
        assert got.status_code == 410, (path, got.status_code)
        assert "grid reference was wrong" in got.json()["detail"]
    listed = [p for p in api.get("/api/products", "semar.enlace").json() if p["product_id"] == pid]
    assert len(listed) == 1 and listed[0]["state"] == "withdrawn"
    assert listed[0]["withdrawal_reason"] == "grid reference was wrong"
    assert listed[0]["withdrawn"] and not listed[0].get("sites") and not listed[0].get("title")
    assert api.get("/api/sites", "semar.oficial").json() == []
    assert api.get(f"/api/sites/{SITES[0]}", "semar.oficial").status_code == 404
    # FGR keeps the product and the site.
    assert api.get(f"/api/products/{pid}", "fgr.enlace").status_code == 200
    assert [s["site_id"] for s in api.get("/api/sites", "fgr.enlace").json()] == [SITES[0]]
    again = api.post(
        f"/api/products/{pid}/withdraw", "sam", json={"reason": "again", "agencies": ["SEMAR"]}
    )
    assert again.status_code == 422 and "already withdrawn" in again.json()["detail"]


def test_stored_tearline_is_read_through_one_codec(api: Api) -> None:
    """A released tearline altered in the database (an undeclared field with a sensitive value,
    relabelled indicators, a bad chip name) reads the same way on every path given to a
    partner: the product, the list, each rendering, the site index; the undeclared field and
    the bad chip never come out."""
    pid = api.release(SITES[0], ["SEMAR"])
    with open_store(api.data_dir, api.database_url) as store, store.transaction() as s:
        p = s.get(Product, pid)
        assert p is not None
        tl = json.loads(json.dumps(p.tearline))
        site = tl["sites"][0]
        site["tail_number"] = "N-INJECTED-42"
        for ind in site["indicators"]:
            ind["en"], ind["es"] = f"Relabelled {ind['code']}", f"Reetiquetado {ind['code']}"
        p.tearline = tl
    code = site["indicators"][0]["code"]
    texts = {
        "one": api.get(f"/api/products/{pid}", "semar.oficial").text,
        "list": api.get("/api/products", "semar.oficial").text,
        "sites": api.get("/api/sites", "semar.oficial", params={"lang": "en"}).text,
    }
    for fmt in ("json", "geojson", "kml", "cot", "html"):
        r = api.get(f"/api/products/{pid}/render", "semar.oficial", params={"format": fmt})
        assert r.status_code == 200, (fmt, r.text)
        texts[fmt] = r.text
    for name, text in texts.items():
        assert "N-INJECTED-42" not in text and "tail_number" not in text, name
    for name in ("one", "list", "sites", "json", "geojson", "html"):
        assert f"Relabelled {code}" in texts[name] or f"Reetiquetado {code}" in texts[name], name
    # A chip whose name is not one of the site's is refused, not served.
    with open_store(api.data_dir, api.database_url) as store, store.transaction() as s:
        p = s.get(Product, pid)
        assert p is not None
        tl = json.loads(json.dumps(p.tearline))
        tl["sites"][0]["chips"][0]["name"] = "../../etc/passwd.jpg"
        p.tearline = tl
    r = api.get(f"/api/products/{pid}", "semar.oficial")
    assert r.status_code == 422 and "chip name" in r.json()["detail"]


def test_withdrawal_takes_the_markers_back_from_tak(
    data_dir: Path, database_url: str, taky_port: int
) -> None:
    """Withdrawing the release deletes its markers on the partner TAK server (CoT t-x-d-d
    naming each marker), audited; a marker another active release still holds stays."""
    build_data_dir(data_dir)
    app = create_app(data_dir, database_url=database_url, tak=f"tcp://127.0.0.1:{taky_port}")
    with TestClient(app) as client, socket.create_connection(("127.0.0.1", taky_port)) as sub:
        api = Api(client, data_dir, database_url, {})
        pid = api.release(SITES[0], ["SEMAR", "FGR"])
        listener = Subscriber(sub)
        assert SITES[0] in listener.read_until({SITES[0]})
        r = api.post(
            f"/api/products/{pid}/withdraw",
            "sofia",
            json={"reason": "wrong grid", "agencies": ["FGR"]},
        )
        assert r.status_code == 200, r.text
        r = api.post(f"/api/products/{pid}/withdraw", "sofia", json={"reason": "wrong grid"})
        assert r.status_code == 200, r.text
        got = listener.read_until({f"{SITES[0]}-retracted"})
        event = got[f"{SITES[0]}-retracted"]
        assert event.get("type") == "t-x-d-d"
        assert event.find("detail/link").get("uid") == SITES[0]
        assert event.find("detail/__forcedelete") is not None
        with open_store(data_dir, database_url) as store, store.read_only() as s:
            entries = s.execute(select(AuditEntry).where(AuditEntry.action == "retract")).scalars()
            details = [e.details for e in entries]
        assert [d["retracted"] for d in details] == [[SITES[0]]]
