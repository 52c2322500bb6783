"""Marks drawn on a sortie's video become evidence (``vigia.app.marks``, ``/api/.../marks``).

The data: a 30-second scenario sortie with video, ingested under AOIs cut to the eastern part
of the scenario's consented areas, so that the frames of the sortie's end (the sensor pans
west) look outside consent. A mark is drawn around a site the VMTI found, a few frames after
it was seen; another one on the last frames, outside consent.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc
import pytest
import shapely
from fastapi.testclient import TestClient
from pyproj import Geod
from sqlalchemy import select

from tests.helpers.api import Api
from vigia.api import create_app
from vigia.app.ingest import ingest
from vigia.app.marks import create_mark, delete_mark, edit_mark, list_marks, mark_path
from vigia.errors import NotFound, ValidationError
from vigia.exploit.vocabulary import default_vocabulary
from vigia.footprints import TerrainOptions
from vigia.geo.dem import Dem
from vigia.geo.pixel import pixel_to_ground
from vigia.scenario import build_world, fly_sorties
from vigia.store import AuditEntry
from vigia.store.catalog import Catalog
from vigia.video.sortie import open_sortie

#: AOIs are cut to east of this longitude (deg): the sortie's last frames look west of it.
CUT_LON_DEG = -107.28
INDICATOR = "tarp_structure"


@pytest.fixture(scope="module")
def held(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A data directory holding one short video sortie (made once; tests work on copies)."""
    root = tmp_path_factory.mktemp("marks-video")
    world = build_world(7)
    (f,) = fly_sorties(world, root / "video", 1, seed=507, video=True, minutes=0.5)
    aois = world.aois_geojson()
    east = shapely.box(CUT_LON_DEG, -90, 180, 90)
    for feat in aois["features"]:
        cut = shapely.intersection(shapely.geometry.shape(feat["geometry"]), east)
        feat["geometry"] = shapely.geometry.mapping(cut)
    aois["features"] = [ft for ft in aois["features"] if ft["geometry"]["coordinates"]]
    (root / "aois.geojson").write_text(json.dumps(aois))
    data = root / "data"
    terrain = TerrainOptions(dem_path=str(f.dem_path))
    ingest([f.path], Catalog(data), aois=root / "aois.geojson", terrain=terrain)
    (info,) = [s for s in _sorties(data)]
    open_sortie(Catalog(data), info).ensure_rendition()
    return {"data": data, "sortie": info, "dem": str(f.dem_path)}


def _sorties(data: Path) -> list[str]:
    entries = Catalog(data).manifest()["inputs"].values()
    return [str(e["sortie"]) for e in entries if e.get("kind") == "stream"]


@pytest.fixture
def catalog(held: dict[str, Any], tmp_path: Path) -> Catalog:
    """A fresh copy of the held data directory."""
    dst = tmp_path / "data"
    shutil.copytree(held["data"], dst)
    return Catalog(dst)


def _site_in_view(
    catalog: Catalog, held: dict[str, Any]
) -> tuple[int, dict[str, Any], list[float]]:
    """A frame a few frames after the first consented site was seen, that site, and a box
    around where the site is on that frame."""
    video = open_sortie(catalog, held["sortie"])
    obs = catalog.observations()
    seen = obs.filter(pc.is_valid(obs.column("site_id"))).sort_by("time").to_pylist()[0]
    site = catalog.site(seen["site_id"])
    assert site is not None
    pts = video.frames.column("pts_90k").to_numpy()
    seen_at = int(np.argmin(np.abs(pts - seen["pts_90k"])))
    with Dem(held["dem"]) as dem:
        h = float(np.ravel(dem.ellipsoid_height_at(seen["lat"], seen["lon"]))[0])
    for index in range(seen_at + 1, seen_at + 20):  # later: the site keeps its id
        x_px, y_px, in_view = video.project(index, seen["lat"], seen["lon"], h)
        x, y = float(np.ravel(x_px)[0]), float(np.ravel(y_px)[0])
        inner = 30 < x < video.width_px - 30 and 30 < y < video.height_px - 30
        if bool(np.ravel(in_view)[0]) and inner:
            break
    else:
        raise AssertionError("the site is not in view after it was seen")
    return index, site, [x - 15.0, y - 12.0, x + 15.0, y + 12.0]


def _time_of(catalog: Catalog, sortie: str, index: int) -> str:
    video = open_sortie(catalog, sortie)
    t = video.frames.column("time")[index].as_py()
    return str(t.isoformat().replace("+00:00", "Z"))


def _obs(catalog: Catalog, obs_id: str) -> list[dict[str, Any]]:
    obs = catalog.observations()
    return obs.filter(pc.equal(obs.column("obs_id"), obs_id)).to_pylist()


def _nearest_site(catalog: Catalog, lat: float, lon: float) -> dict[str, Any]:
    sites = catalog.sites().to_pylist()
    geod = Geod(ellps="WGS84")
    return min(sites, key=lambda s: geod.inv(lon, lat, s["lon"], s["lat"])[2])


# --- the use cases -------------------------------------------------------------------------
def test_a_mark_is_an_observation_placed_by_the_sensor_model(
    catalog: Catalog, held: dict[str, Any]
) -> None:
    sortie = held["sortie"]
    index, site, box = _site_in_view(catalog, held)
    before = {s["site_id"]: s for s in catalog.sites().to_pylist()}
    mark = create_mark(
        catalog,
        sortie,
        time=_time_of(catalog, sortie, index),
        box=box,
        indicator=INDICATOR,
        note="lona azul bajo los árboles",
        author="ana",
    )
    (row,) = _obs(catalog, mark.obs_id)
    video = open_sortie(catalog, sortie)
    assert row["source"] == "analyst" and row["indicator"] == INDICATOR
    assert row["author"] == "ana" and row["note"] == "lona azul bajo los árboles"
    assert row["sortie"] == sortie and row["geolocated_by"] == "sensor_model"
    got_box = [row[k] for k in ("box_x0_px", "box_y0_px", "box_x1_px", "box_y1_px")]
    assert got_box == pytest.approx(box, abs=1e-3)
    assert (row["frame_width"], row["frame_height"]) == (video.width_px, video.height_px)
    assert row["pts_90k"] == video.frames.column("pts_90k")[index].as_py()
    # the position and covariance are the sensor model's at the box centre (pixel_to_ground),
    # plus the box's ground extent (a uniform disk of its area: r²/4 per axis)
    with Dem(held["dem"]) as dem:
        cx, cy = 0.5 * (box[0] + box[2]), 0.5 * (box[1] + box[3])
        xs = np.array([cx, box[0], box[2], box[2], box[0]])
        ys = np.array([cy, box[1], box[1], box[3], box[3]])
        g = pixel_to_ground(video.pose(index), 0, xs, ys, video.width_px, video.height_px, dem=dem)
    assert row["lat"] == pytest.approx(g["lat"][0], abs=1e-9)
    assert row["lon"] == pytest.approx(g["lon"][0], abs=1e-9)
    area_m2 = abs(Geod(ellps="WGS84").polygon_area_perimeter(g["lon"][1:], g["lat"][1:])[0])
    extent = area_m2 / math.pi / 4.0
    assert area_m2 > 10.0
    assert row["cov_ee_m2"] == pytest.approx(g["cov_ee_m2"][0] + extent, rel=1e-6)
    assert row["cov_nn_m2"] == pytest.approx(g["cov_nn_m2"][0] + extent, rel=1e-6)
    assert row["cov_en_m2"] == pytest.approx(g["cov_en_m2"][0], rel=1e-6, abs=1e-9)
    assert row["ce90_m"] > g["ce90_m"][0]
    assert mark.lat == row["lat"] and mark.ce90_m == row["ce90_m"]
    # consented, fused into the site it was drawn on, which is scored again
    assert mark.consent_status == "consented" and row["consent_status"] == "consented"
    assert mark.site_id == row["site_id"] is not None
    after = catalog.site(mark.site_id)
    assert after is not None and after["n_observations"] == site["n_observations"] + 1
    old = before.get(mark.site_id) or _nearest_before(before, after)
    assert old["site_id"] == site["site_id"]
    assert mark.p == after["probability"] and mark.p != pytest.approx(site["probability"])
    assert INDICATOR in after["indicators"]
    # the chip, cut from the decoded frame
    chip = catalog.chip_path(mark.obs_id)
    assert chip is not None and chip.stat().st_size > 500
    assert mark.chip_url == f"/api/chips/{mark.obs_id}"
    # the mark is kept as a private file and listed
    path = mark_path(catalog, mark.mark_id)
    assert path.is_file() and path.stat().st_mode & 0o077 == 0
    assert [m.mark_id for m in list_marks(catalog, sortie)] == [mark.mark_id]
    assert list_marks(catalog, "another-sortie") == []


def _nearest_before(before: dict[str, dict[str, Any]], after: dict[str, Any]) -> dict[str, Any]:
    geod = Geod(ellps="WGS84")
    return min(
        before.values(), key=lambda s: geod.inv(after["lon"], after["lat"], s["lon"], s["lat"])[2]
    )


def test_edit_replaces_the_observation_and_delete_takes_it_out(
    catalog: Catalog, held: dict[str, Any]
) -> None:
    sortie = held["sortie"]
    index, _site, box = _site_in_view(catalog, held)
    sites_before = catalog.sites().sort_by("site_id")
    mark = create_mark(
        catalog, sortie, time=_time_of(catalog, sortie, index), box=box, indicator=INDICATOR
    )
    weaker = next(
        i.code
        for i in default_vocabulary().indicators
        if i.likelihood_ratio < default_vocabulary()[INDICATOR].likelihood_ratio
    )
    before, after = edit_mark(catalog, mark.mark_id, indicator=weaker, note="revisado")
    assert before.obs_id == mark.obs_id and after.mark_id == mark.mark_id
    assert after.obs_id != mark.obs_id and after.indicator == weaker
    assert _obs(catalog, mark.obs_id) == []  # no trace of the old observation
    assert catalog.chip_path(mark.obs_id) is None
    (row,) = _obs(catalog, after.obs_id)
    assert row["indicator"] == weaker and row["note"] == "revisado"
    assert after.site_id is not None and after.p is not None and mark.p is not None
    assert after.p < mark.p
    assert catalog.chip_path(after.obs_id) is not None
    # a new box: placed again
    moved = [box[0] + 4.0, box[1] + 2.0, box[2] + 4.0, box[3] + 2.0]
    _, again = edit_mark(catalog, mark.mark_id, box=moved)
    assert again.box == moved and again.indicator == weaker and again.note == "revisado"
    assert again.lat != after.lat and _obs(catalog, after.obs_id) == []
    # delete: the catalog is as it was before the mark
    gone = delete_mark(catalog, mark.mark_id)
    assert gone.obs_id == again.obs_id
    assert _obs(catalog, again.obs_id) == [] and catalog.chip_path(again.obs_id) is None
    assert not mark_path(catalog, mark.mark_id).exists()
    assert list_marks(catalog) == []
    restored = catalog.sites().sort_by("site_id")
    assert restored.column("site_id").to_pylist() == sites_before.column("site_id").to_pylist()
    assert restored.column("probability").to_pylist() == pytest.approx(
        sites_before.column("probability").to_pylist()
    )
    with pytest.raises(NotFound):
        delete_mark(catalog, mark.mark_id)
    with pytest.raises(NotFound):
        edit_mark(catalog, mark.mark_id, note="x")


def test_a_mark_outside_consent_is_kept_withheld(catalog: Catalog, held: dict[str, Any]) -> None:
    sortie = held["sortie"]
    video = open_sortie(catalog, sortie)
    index = video.frames.num_rows - 3
    w, h = video.width_px, video.height_px
    centre = video.geolocate(index, w / 2, h / 2)
    assert centre["lon"] < CUT_LON_DEG  # the frame looks outside every AOI
    n_sites = catalog.sites().num_rows
    mark = create_mark(
        catalog,
        sortie,
        time=_time_of(catalog, sortie, index),
        box=[w / 2 - 20, h / 2 - 20, w / 2 + 20, h / 2 + 20],
        indicator=INDICATOR,
    )
    assert mark.consent_status == "withheld" and mark.site_id is None and mark.p is None
    (row,) = _obs(catalog, mark.obs_id)
    assert row["consent_status"] == "withheld" and row["site_id"] is None
    assert catalog.sites().num_rows == n_sites
    assert catalog.chip_path(mark.obs_id) is None and mark.chip_url is None  # never cut
    assert [m.consent_status for m in list_marks(catalog, sortie)] == ["withheld"]


def test_bad_marks_are_refused_and_nothing_is_written(
    catalog: Catalog, held: dict[str, Any]
) -> None:
    sortie = held["sortie"]
    video = open_sortie(catalog, sortie)
    t = _time_of(catalog, sortie, 10)
    w, h = video.width_px, video.height_px
    manifest = catalog.manifest()
    bad: list[dict[str, Any]] = [
        {"box": [10, 10, 50, 50], "indicator": "no_such_indicator"},
        {"box": [10, 10, w + 5, 50], "indicator": INDICATOR},
        {"box": [-1, 10, 50, 50], "indicator": INDICATOR},
        {"box": [50, 10, 10, 50], "indicator": INDICATOR},
        {"box": [10, 10, 10, 50], "indicator": INDICATOR},
        {"box": [10, 10, 50], "indicator": INDICATOR},
        {"box": [10, 10, 50, h + 1], "indicator": INDICATOR},
        {"box": [10, 10, 50, 50], "indicator": INDICATOR, "time": "2026-03-05T09:00:00Z"},
        {"box": [10, 10, 50, 50], "indicator": INDICATOR, "time": "not a time"},
        {"box": [10, 10, 50, 50], "indicator": INDICATOR, "time": 1e6},
    ]
    for body in bad:
        with pytest.raises(ValidationError):
            create_mark(catalog, sortie, **{"time": t, **body})
    with pytest.raises(NotFound):
        create_mark(catalog, "no-such-sortie", time=t, box=[10, 10, 50, 50], indicator=INDICATOR)
    assert catalog.manifest() == manifest
    assert list_marks(catalog) == []


# --- the API -------------------------------------------------------------------------------
@pytest.fixture
def api(catalog: Catalog, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    """The API over a copy of the held data directory (SQLite store with the seed users)."""
    monkeypatch.delenv("VIGIA_DATABASE_URL", raising=False)
    shutil.copyfile(sqlite_template, catalog.root / "vigia.db")
    url = f"sqlite+pysqlite:///{catalog.root / 'vigia.db'}"
    app = create_app(catalog.root, database_url=url)
    with TestClient(app) as client:
        yield Api(client, catalog.root, url, {})


def _audit(api: Api, object_type: str = "mark") -> list[tuple[str, str, str | None]]:
    from vigia.store import open_store

    with open_store(api.data_dir, api.database_url) as store, store.read_only() as s:
        rows = s.execute(
            select(AuditEntry).where(AuditEntry.object_type == object_type).order_by(AuditEntry.seq)
        ).scalars()
        return [(r.actor, r.action, r.object_id) for r in rows]


def test_api_marks_are_audited_and_their_effects_visible(
    api: Api, catalog: Catalog, held: dict[str, Any]
) -> None:
    sortie = held["sortie"]
    index, site, box = _site_in_view(catalog, held)
    body = {"time": _time_of(catalog, sortie, index), "box": box, "indicator": INDICATOR}
    r = api.post(f"/api/sorties/{sortie}/marks", "ana", json={**body, "note": "lona"})
    assert r.status_code == 201, r.text
    mark = r.json()
    assert {"mark_id", "obs_id", "lat", "lon", "h_m", "ce90_m", "consent_status"} <= set(mark)
    assert mark["consent_status"] == "consented" and mark["site_id"] and mark["p"] > 0
    # the store mirrors the re-scored site at once
    s = api.get(f"/api/sites/{mark['site_id']}", "ana")
    assert s.status_code == 200, s.text
    assert s.json()["probability"] == pytest.approx(mark["p"])
    chip = api.get(mark["chip_url"], "sam")
    assert chip.status_code == 200 and chip.headers["content-type"] == "image/jpeg"
    listed = api.get(f"/api/sorties/{sortie}/marks", "sam")
    assert listed.status_code == 200
    assert [m["mark_id"] for m in listed.json()] == [mark["mark_id"]]
    assert listed.json()[0]["author"] == "ana"
    # edit (a supervisor), then delete
    h = api.headers("sam")
    r = api.client.patch(f"/api/marks/{mark['mark_id']}", headers=h, json={"note": "revisado"})
    assert r.status_code == 200, r.text
    edited = r.json()
    assert edited["note"] == "revisado" and edited["obs_id"] != mark["obs_id"]
    assert edited["author"] == "ana"
    r = api.client.delete(f"/api/marks/{mark['mark_id']}", headers=h)
    assert r.status_code == 204, r.text
    assert api.get(f"/api/sorties/{sortie}/marks", "ana").json() == []
    s = api.get(f"/api/sites/{site['site_id']}", "ana")
    assert s.status_code == 200 and s.json()["probability"] == pytest.approx(site["probability"])
    assert [a for a in _audit(api) if a[1] != "denied"] == [
        ("ana", "create", mark["mark_id"]),
        ("sam", "edit", mark["mark_id"]),
        ("sam", "delete", mark["mark_id"]),
    ]
    assert ("sam", "read", sortie) in _audit(api, "marks")
    # a mark no longer held
    assert api.client.delete(f"/api/marks/{mark['mark_id']}", headers=h).status_code == 404
    r = api.client.patch(f"/api/marks/{mark['mark_id']}", headers=h, json={"note": "x"})
    assert r.status_code == 404


def test_api_refuses_bad_marks_and_partners(
    api: Api, catalog: Catalog, held: dict[str, Any]
) -> None:
    sortie = held["sortie"]
    t = _time_of(catalog, sortie, 10)
    ok = {"time": t, "box": [10, 10, 60, 60], "indicator": INDICATOR}
    url = f"/api/sorties/{sortie}/marks"
    for body, status in [
        ({**ok, "indicator": "no_such_indicator"}, 422),
        ({**ok, "box": [10, 10, 10, 60]}, 422),
        ({**ok, "box": [60, 10, 10, 60]}, 422),
        ({**ok, "box": [10, 10, 6000, 60]}, 422),
        ({**ok, "box": [10, 10, 60]}, 422),
        ({**ok, "time": "2020-01-01T00:00:00Z"}, 422),
        ({**ok, "colour": "red"}, 422),
    ]:
        r = api.post(url, "ana", json=body)
        assert r.status_code == status, (body, r.text)
        assert isinstance(r.json()["detail"], str)
    assert api.post("/api/sorties/nope/marks", "ana", json=ok).status_code == 404
    assert api.get("/api/sorties/nope/marks", "ana").status_code == 404
    r = api.post(url, "ana", json=ok)
    assert r.status_code == 201, r.text
    mark_id = r.json()["mark_id"]
    for user in ("semar.enlace", "semar.oficial", "fgr.enlace"):
        h = api.headers(user)
        assert api.post(url, user, json=ok).status_code == 403
        assert api.get(url, user).status_code == 403
        assert api.client.patch(f"/api/marks/{mark_id}", headers=h, json={}).status_code == 403
        assert api.client.delete(f"/api/marks/{mark_id}", headers=h).status_code == 403
    assert api.client.delete(f"/api/marks/{mark_id}").status_code == 401
    assert [m["mark_id"] for m in api.get(url, "ana").json()] == [mark_id]
    bad_id = "/api/marks/M0000000000000000"
    assert api.client.delete(bad_id, headers=api.headers("ana")).status_code == 404
