"""The imagery routes: a frame's snapshot and ortho, a span's mosaic (COG, PNG, bounds)."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import shapely
from PIL import Image
from pyproj import Transformer
from sqlalchemy import select

from tests.helpers.api import Api, open_api
from vigia.api import routes_imagery
from vigia.app.ingest import ingest
from vigia.footprints import TerrainOptions
from vigia.scenario import build_world, fly_sorties
from vigia.store import AuditEntry, open_store
from vigia.store.catalog import Catalog
from vigia.video.ortho import utm_epsg

PARTNERS = ("semar.enlace", "semar.oficial", "fgr.enlace")


@pytest.fixture(scope="module")
def video_sortie(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return fly_sorties(build_world(5), tmp_path_factory.mktemp("sv"), 1, video=True, minutes=0.3)[0]


@pytest.fixture
def sapi(data_dir: Path, database_url: str, video_sortie: Any, tmp_path: Path) -> Iterator[Api]:
    """The API over the helpers' data directory, with the video sortie ingested beside it."""
    src = tmp_path / "src" / Path(video_sortie.path).name
    src.parent.mkdir()
    shutil.copyfile(video_sortie.path, src)
    side = Catalog(tmp_path / "side")
    ingest([src], side, terrain=TerrainOptions(dem_path=str(video_sortie.dem_path)), chips=False)
    for api in open_api(data_dir, database_url):
        cat = Catalog(data_dir)
        manifest = cat.manifest()
        manifest["inputs"].update(side.manifest()["inputs"])
        cat.write_manifest(manifest)
        yield api


def _sortie(api: Api) -> dict[str, Any]:
    (s,) = [s for s in api.get("/api/sorties", "ana").json() if s["has_video"]]
    return dict(s)


def _audited(api: Api, database_url: str, what: str) -> list[AuditEntry]:
    with open_store(api.data_dir, database_url) as store, store.read_only() as s:
        q = select(AuditEntry).where(AuditEntry.object_type == what)
        return list(s.execute(q).scalars().all())


def test_snapshot_ortho_and_mosaic(sapi: Api, video_sortie: Any, database_url: str) -> None:
    s = _sortie(sapi)
    sid = s["sortie_id"]
    fi = sapi.get(f"/api/sorties/{sid}/frame?index=40", "ana").json()
    snap = sapi.get(f"/api/sorties/{sid}/snapshot?time={fi['time']}", "ana")
    assert snap.status_code == 200, snap.text
    assert snap.headers["content-type"] == "image/jpeg"
    img = Image.open(io.BytesIO(snap.content))
    assert img.format == "JPEG" and img.size == (s["width_px"], s["height_px"])
    assert not img.getexif()

    o = sapi.get(f"/api/sorties/{sid}/ortho?time={fi['time']}&gsd_m=1.5", "sam")
    assert o.status_code == 200, o.text
    assert o.headers["content-type"] == "image/tiff"
    poly = shapely.geometry.shape(fi["footprint"])
    with rasterio.open(io.BytesIO(o.content)) as src:
        assert src.crs.to_epsg() == utm_epsg(fi["center_lat"], fi["center_lon"])
        assert src.res == pytest.approx((1.5, 1.5))
        lon, lat = np.asarray(poly.exterior.coords).T
        x, y = Transformer.from_crs("EPSG:4326", src.crs, always_xy=True).transform(lon, lat)
        b = src.bounds
        assert (b.left < x).all() and (x < b.right).all()
        assert (b.bottom < y).all() and (y < b.top).all()
        assert src.read(4).max() == 255  # the frame is in it

    assert sapi.get(f"/api/sorties/{sid}/mosaic.json", "ana").status_code == 404
    r = sapi.post(
        f"/api/sorties/{sid}/mosaic",
        "ana",
        json={"from": s["start"], "to": s["end"], "step": 20, "gsd_m": 2.0},
    )
    assert r.status_code == 201, r.text
    meta = r.json()
    assert meta["step"] == 20 and 5 <= meta["frames"] <= 10 and meta["gsd_m"] == 2.0
    cog = sapi.get(f"/api/sorties/{sid}/mosaic", "ana")
    assert cog.status_code == 200 and cog.headers["content-type"] == "image/tiff"
    with rasterio.open(io.BytesIO(cog.content)) as src:
        assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert src.overviews(1)
        assert src.crs.to_string() == meta["crs"]
    png = sapi.get(f"/api/sorties/{sid}/mosaic.png", "sam")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(png.content)).mode == "RGBA"
    j = sapi.get(f"/api/sorties/{sid}/mosaic.json", "ana").json()
    bb = j["bounds"]
    assert (
        bb["west"] < fi["center_lon"] < bb["east"] and bb["south"] < fi["center_lat"] < bb["north"]
    )
    assert j["leaflet_bounds"] == [[bb["south"], bb["west"]], [bb["north"], bb["east"]]]
    for what in ("sortie_snapshot", "sortie_ortho", "sortie_mosaic"):
        assert _audited(sapi, database_url, what), what
    made = _audited(sapi, database_url, "sortie_mosaic")
    assert any(e.action == "create" and e.object_id == sid and e.actor == "ana" for e in made)


def test_refusals(sapi: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    s = _sortie(sapi)
    sid = s["sortie_id"]
    span = {"from": s["start"], "to": s["end"]}
    routes: list[tuple[str, str, Any]] = [
        ("GET", f"/api/sorties/{sid}/snapshot?index=0", None),
        ("GET", f"/api/sorties/{sid}/ortho?index=0", None),
        ("POST", f"/api/sorties/{sid}/mosaic", span),
        ("GET", f"/api/sorties/{sid}/mosaic", None),
        ("GET", f"/api/sorties/{sid}/mosaic.png", None),
        ("GET", f"/api/sorties/{sid}/mosaic.json", None),
    ]
    for user in PARTNERS:
        for method, path, body in routes:
            r = sapi.get(path, user) if method == "GET" else sapi.post(path, user, json=body)
            assert r.status_code == 403, (user, path, r.status_code)
    for method, path, body in routes:
        assert sapi.client.request(method, path, json=body).status_code == 401
    # bad input: clear 4xx
    assert sapi.get(f"/api/sorties/{sid}/snapshot?index=99999", "ana").status_code == 422
    assert sapi.get(f"/api/sorties/{sid}/snapshot", "ana").status_code == 422
    assert sapi.get(f"/api/sorties/{sid}/ortho?time=yesterday", "ana").status_code == 400
    assert sapi.get("/api/sorties/NOPE-1/snapshot?index=0", "ana").status_code == 404
    back = {"from": s["end"], "to": s["start"]}
    assert sapi.post(f"/api/sorties/{sid}/mosaic", "ana", json=back).status_code == 422
    monkeypatch.setattr(routes_imagery, "MAX_MOSAIC_FRAMES", 50)
    r = sapi.post(f"/api/sorties/{sid}/mosaic", "ana", json={**span, "step": 1})
    assert r.status_code == 422 and "step of at least" in r.json()["detail"]
    r = sapi.post(f"/api/sorties/{sid}/mosaic", "ana", json={**span, "gsd_m": 0.06, "step": 60})
    assert r.status_code == 422 and "Mpx" in r.json()["detail"]  # too many pixels
    assert sapi.get(f"/api/sorties/{sid}/mosaic", "ana").status_code == 404
