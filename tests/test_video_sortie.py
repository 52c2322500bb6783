"""The workstation's sorties: a playable rendition, its frame index, frames, geolocation and
the staff-only API over them (``vigia.video``, ``/api/sorties``).

The data: a 30-second scenario sortie with H.264 video, ingested over the scenario's DEM; an
MPEG-2 stream for the transcoding path. Oracles: the source's own packets (PyAV), the
footprints stage run independently on the stream, and published MGRS references.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from fastapi.testclient import TestClient
from pyproj import Geod

from tests.helpers.api import Api
from vigia.api import create_app
from vigia.api.routes_sorties import _sign, _ticket_key
from vigia.app.ingest import ingest
from vigia.footprints import TerrainOptions
from vigia.footprints.table import Footprinter
from vigia.geo.mgrs import to_mgrs
from vigia.mpegts.mux import write_video_klv_ts
from vigia.scenario import build_world, fly_sorties
from vigia.store import AuditEntry, open_store
from vigia.store.catalog import Catalog
from vigia.telemetry.source import read_telemetry
from vigia.video import list_sorties, make_rendition, open_sortie

GEOD = Geod(ellps="WGS84")


@pytest.fixture(scope="module")
def held(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A data directory holding one 30 s video sortie (tests work on copies)."""
    root = tmp_path_factory.mktemp("video-sortie")
    world = build_world(7)
    (f,) = fly_sorties(world, root / "video", 1, seed=507, video=True, minutes=0.5)
    (root / "aois.geojson").write_text(json.dumps(world.aois_geojson()))
    data = root / "data"
    terrain = TerrainOptions(dem_path=str(f.dem_path))
    ingest([f.path], Catalog(data), aois=root / "aois.geojson", terrain=terrain)
    return {"data": data, "ts": f.path, "dem": str(f.dem_path), "sortie": f.sortie_id}


@pytest.fixture
def catalog(held: dict[str, Any], tmp_path: Path) -> Catalog:
    dst = tmp_path / "data"
    shutil.copytree(held["data"], dst)
    return Catalog(dst)


def _h264_packets(path: Path) -> list[tuple[int, bytes]]:
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        return [(int(p.pts), bytes(p)) for p in c.demux(vs) if p.size and p.pts is not None]


# --- the rendition ----------------------------------------------------------------------------
def test_h264_is_copied_packet_for_packet_and_indexed(held: dict[str, Any], tmp_path: Path) -> None:
    tel, _ = read_telemetry(str(held["ts"]))
    pts = np.asarray(tel["pts_90k"].fill_null(-1))
    info = make_rendition(held["ts"], tmp_path, telemetry_pts_90k=pts)
    assert info.remuxed and info.source_codec == "h264"
    src = _h264_packets(held["ts"])
    out = _h264_packets(tmp_path / "video.mp4")
    assert len(out) == len(src)
    # not re-encoded: the MP4 (length-prefixed NAL units) decodes to the source's very pixels
    with av.open(str(held["ts"])) as a, av.open(str(tmp_path / "video.mp4")) as b:
        for fa, fb in zip(a.decode(video=0), b.decode(video=0), strict=True):
            assert np.array_equal(fa.to_ndarray(format="rgb24"), fb.to_ndarray(format="rgb24"))
    import pyarrow.parquet as pq

    frames = pq.read_table(tmp_path / "frames.parquet")
    assert frames.num_rows == len(src) == info.frames
    fpts = frames["pts_90k"].to_numpy()
    assert np.all(np.diff(fpts) > 0)
    # each frame's telemetry row is the KLV packet with its PTS (the scenario muxes one per frame)
    rows = frames["telemetry_row"].to_numpy()
    assert np.array_equal(pts[rows], fpts)
    media = frames["media_time_s"].to_numpy()
    assert media[0] == 0.0 and media[-1] == pytest.approx((fpts[-1] - fpts[0]) / 90_000)
    with av.open(str(tmp_path / "video.mp4")) as c:
        assert c.format.name.startswith("mov")


def test_other_codecs_are_transcoded_to_h264(tmp_path: Path) -> None:
    frames = [np.full((64, 96, 3), (i * 12) % 255, np.uint8) for i in range(25)]
    src = tmp_path / "m2.ts"
    write_video_klv_ts(src, frames, 10, [b""] * 25, codec="mpeg2video")
    info = make_rendition(src, tmp_path / "r")
    assert not info.remuxed and info.source_codec == "mpeg2video"
    with av.open(str(tmp_path / "r" / "video.mp4")) as c:
        vs = c.streams.video[0]
        assert vs.codec_context.name == "h264"
        decoded = [f.to_ndarray(format="rgb24") for f in c.decode(vs)]
    assert len(decoded) == info.frames == 25
    # grey levels survive (lossy, but the frame is the same frame)
    assert abs(float(decoded[10].mean()) - 120.0) < 6.0


def test_a_file_without_video_is_a_clear_error(tmp_path: Path) -> None:
    from vigia.errors import SourceError

    bad = tmp_path / "x.ts"
    bad.write_bytes(b"\x47" + b"\0" * 187)
    with pytest.raises(SourceError):
        make_rendition(bad, tmp_path / "r")


# --- the sortie ---------------------------------------------------------------------------
def test_sortie_is_listed_with_its_span(catalog: Catalog, held: dict[str, Any]) -> None:
    (s,) = list_sorties(catalog)
    assert s.sortie_id == held["sortie"] and s.has_video
    tel, _ = read_telemetry(str(held["ts"]))
    t = tel["precision_time_stamp"]
    assert s.start == t[0].as_py() and s.end == t[-1].as_py()
    assert (s.width_px, s.height_px) == (640, 360)


def test_frame_footprint_is_the_footprints_stage(catalog: Catalog, held: dict[str, Any]) -> None:
    v = open_sortie(catalog, held["sortie"])
    tel, _ = read_telemetry(str(held["ts"]))
    opts = TerrainOptions(dem_path=held["dem"], frame_width_px=640, frame_height_px=360)
    with Footprinter(opts) as fp:
        res, _ = fp(tel)
    for index in (0, 123, v.frames.num_rows - 1):
        info = v.frame_info(index)
        row = int(v.frames["telemetry_row"][index].as_py())
        assert info["center_lat"] == pytest.approx(res["center_lat"][row], abs=1e-9)
        ring = info["footprint"]["coordinates"][0]
        assert ring[0] == pytest.approx([res["corner1_lon"][row], res["corner1_lat"][row]])
        # the image centre geolocates onto the frame centre
        g = v.geolocate(index, 320.0, 180.0)
        d = GEOD.inv(g["lon"], g["lat"], info["center_lon"], info["center_lat"])[2]
        assert d < 5.0 and g["ce90_m"] > 0


def test_known_sites_project_back_into_view(catalog: Catalog, held: dict[str, Any]) -> None:
    v = open_sortie(catalog, held["sortie"])
    seen = [v.frame_info(i)["sites"] for i in range(0, v.frames.num_rows, 10)]
    assert any(seen), "the sortie's own sites must show on its frames"
    for sites in seen:
        for s in sites:
            assert 0 <= s["x_px"] <= 640 and 0 <= s["y_px"] <= 360


def test_decoded_frame_is_the_source_frame(catalog: Catalog, held: dict[str, Any]) -> None:
    v = open_sortie(catalog, held["sortie"])
    with av.open(str(held["ts"])) as c:
        src = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    for index in (0, 37, len(src) - 1):
        got = v.decode_frame(index)
        assert np.array_equal(got, src[index])


def test_time_outside_the_video_is_refused(catalog: Catalog, held: dict[str, Any]) -> None:
    from vigia.errors import NotFound, ValidationError

    v = open_sortie(catalog, held["sortie"])
    with pytest.raises(ValidationError):
        v.frame_at(time_us=0)
    with pytest.raises(ValidationError):
        v.frame_at(index=10**6)
    with pytest.raises(NotFound):
        open_sortie(catalog, "VIGIA-NOPE")


def test_mgrs_matches_published_references() -> None:
    assert to_mgrs(0.0, 0.0) == "31N AA 66021 00000"
    assert to_mgrs(38.8895, -77.0352).startswith("18S UJ 2348")  # Washington Monument


# --- the API --------------------------------------------------------------------------------
@pytest.fixture
def api(catalog: Catalog, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    monkeypatch.delenv("VIGIA_DATABASE_URL", raising=False)
    shutil.copyfile(sqlite_template, catalog.root / "vigia.db")
    url = f"sqlite+pysqlite:///{catalog.root / 'vigia.db'}"
    app = create_app(catalog.root, database_url=url)
    with TestClient(app) as client:
        yield Api(client, catalog.root, url, {})


def test_video_plays_with_a_ticket_and_ranges(api: Api, held: dict[str, Any]) -> None:
    sid = held["sortie"]
    listed = api.get("/api/sorties", "ana").json()
    assert [s["sortie_id"] for s in listed] == [sid] and listed[0]["has_video"]
    t = api.post(f"/api/sorties/{sid}/ticket", "ana")
    assert t.status_code == 200, t.text
    url = t.json()["url"]
    whole = api.client.get(url)
    assert whole.status_code == 200 and whole.headers["content-type"] == "video/mp4"
    mp4 = (api.data_dir / "video").glob("*/video.mp4")
    body = next(mp4).read_bytes()
    assert whole.content == body
    part = api.client.get(url, headers={"Range": "bytes=100-1099"})
    assert part.status_code == 206 and part.content == body[100:1100]
    assert part.headers["content-range"] == f"bytes 100-1099/{len(body)}"
    tail = api.client.get(url, headers={"Range": "bytes=-50"})
    assert tail.status_code == 206 and tail.content == body[-50:]
    assert api.client.get(url, headers={"Range": f"bytes={len(body)}-"}).status_code == 416
    # no ticket, no bearer: 401; the bearer of an analyst works too
    assert api.client.get(f"/api/sorties/{sid}/video").status_code == 401
    assert api.get(f"/api/sorties/{sid}/video", "ana").status_code == 200
    # the ticket is bound to its sortie, its user and its time
    tk = t.json()["ticket"]
    exp, name, _sig = tk.split(".")
    assert (
        api.client.get(f"/api/sorties/{sid}/video?ticket={exp}.{name}.{'0' * 64}").status_code
        == 403
    )
    key = _ticket_key(api.client.app.state.vigia)  # type: ignore[attr-defined]
    old = int(time.time()) - 5
    stale = f"{old}.{name}.{_sign(key, 'ana', sid, old)}"
    assert api.client.get(f"/api/sorties/{sid}/video?ticket={stale}").status_code == 401
    # opening the video is audited
    store = open_store(api.data_dir, api.database_url)
    with store.transaction() as s:
        opened = [e for e in s.query(AuditEntry).all() if e.object_type == "sortie_video"]
    assert opened and opened[-1].object_id == sid


def test_frame_track_and_geolocate(api: Api, held: dict[str, Any]) -> None:
    sid = held["sortie"]
    tr = api.get(f"/api/sorties/{sid}/track", "sam").json()
    n = len(tr["media_time_s"])
    assert n == 300 and len(tr["corners"]) == n and tr["fps"] == 10.0
    assert any(k["kind"] == "site" for k in tr["ticks"])
    fr = api.get(f"/api/sorties/{sid}/frame", "ana", params={"index": 42}).json()
    assert fr["index"] == 42 and fr["footprint"]["type"] == "Polygon"
    by_time = api.get(f"/api/sorties/{sid}/frame", "ana", params={"time": fr["time"]}).json()
    assert by_time["index"] == 42
    g = api.post(
        f"/api/sorties/{sid}/geolocate",
        "ana",
        json={"time": fr["media_time_s"], "x": 320, "y": 180},
    )
    assert g.status_code == 200, g.text
    body = g.json()
    d = GEOD.inv(body["lon"], body["lat"], fr["center_lon"], fr["center_lat"])[2]
    assert d < 5.0 and body["mgrs"].startswith("13R") and body["ce90_m"] > 0
    bad = api.post(f"/api/sorties/{sid}/geolocate", "ana", json={"time": 1.0, "x": -5, "y": 10})
    assert bad.status_code == 422
    assert api.get("/api/sorties/NOPE/frame", "ana", params={"index": 0}).status_code == 404
    assert api.get(f"/api/sorties/{sid}/frame", "ana", params={"index": 99999}).status_code == 422


def test_partners_never_see_sorties(api: Api, held: dict[str, Any]) -> None:
    sid = held["sortie"]
    for user in ("semar.enlace", "semar.oficial", "fgr.enlace"):
        assert api.get("/api/sorties", user).status_code == 403
        assert api.post(f"/api/sorties/{sid}/ticket", user).status_code == 403
        assert api.get(f"/api/sorties/{sid}/video", user).status_code == 403
        assert api.get(f"/api/sorties/{sid}/frame", user, params={"index": 1}).status_code == 403
        assert api.get(f"/api/sorties/{sid}/track", user).status_code == 403
        r = api.post(f"/api/sorties/{sid}/geolocate", user, json={"time": 1.0, "x": 5, "y": 5})
        assert r.status_code == 403


def test_a_moved_stream_is_gone_not_an_error(
    api: Api, held: dict[str, Any], tmp_path: Path
) -> None:
    manifest = json.loads((api.data_dir / "ingested.json").read_text())
    for e in manifest["inputs"].values():
        e["path"] = str(tmp_path / "moved-away.ts")
    (api.data_dir / "ingested.json").write_text(json.dumps(manifest))
    shutil.rmtree(api.data_dir / "video", ignore_errors=True)
    r = api.get(f"/api/sorties/{held['sortie']}/frame", "ana", params={"index": 1})
    assert r.status_code in (404, 410) and "detail" in r.json()
