"""The sorties of a data directory, as the analyst's workstation sees them.

A sortie is a transport-stream input of the catalog (its manifest entry). :func:`open_sortie`
gives its :class:`SortieVideo`: the browser-playable rendition and frame index
(:mod:`vigia.video.rendition`), its telemetry and footprints (made once, on first use, into
``<data_dir>/video/<sha256>/``, by the same stages as ``vigia telemetry`` and ``vigia
footprints`` with the terrain the input was ingested with), and the geolocation of a frame's
pixels (:func:`vigia.geo.pixel_to_ground`, with CE90) and of ground points into a frame
(:func:`vigia.geo.ground_to_pixel`).
"""

from __future__ import annotations

import fcntl
import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vigia.errors import Gone, NotFound, SourceError, ValidationError
from vigia.footprints.table import (
    Footprinter,
    TerrainOptions,
)
from vigia.geo.dem import Dem
from vigia.geo.pixel import ground_to_pixel, pixel_to_ground
from vigia.outputs import replace_atomically
from vigia.store.catalog import Catalog
from vigia.store.files import private_dir
from vigia.telemetry.source import read_telemetry
from vigia.video.rendition import make_rendition

__all__ = ["SortieInfo", "SortieVideo", "list_sorties", "make_renditions", "open_sortie"]

_CORNERS = tuple((f"corner{k}_lat", f"corner{k}_lon") for k in range(1, 5))
_LOCK = threading.Lock()


@dataclass(frozen=True)
class SortieInfo:
    """One sortie input: its id, the SHA-256 and path of its stream, whether the stream carries
    video, first and last packet times (UTC), sensor, ST 0601 packets, frame size (px)."""

    sortie_id: str
    sha256: str
    path: str
    has_video: bool
    start: datetime | None
    end: datetime | None
    sensor: str | None
    packets: int
    width_px: int | None
    height_px: int | None

    def as_dict(self) -> dict[str, Any]:
        """The API's view (times ISO-8601 UTC)."""

        def iso(t: datetime | None) -> str | None:
            return None if t is None else t.astimezone(UTC).isoformat().replace("+00:00", "Z")

        return {
            "sortie_id": self.sortie_id,
            "has_video": self.has_video,
            "start": iso(self.start),
            "end": iso(self.end),
            "sensor": self.sensor,
            "packets": self.packets,
            "width_px": self.width_px,
            "height_px": self.height_px,
        }


def _video_dir(catalog: Catalog, sha256: str) -> Path:
    return catalog.root / "video" / sha256


def _probe(path: Path) -> dict[str, Any]:
    """Whether ``path`` carries video, its frame size, and its telemetry's time span/sensor."""
    from vigia.exploit.detect import carries_video

    out: dict[str, Any] = {"has_video": False, "width_px": None, "height_px": None}
    try:
        out["has_video"] = carries_video(path)
    except SourceError:
        return out
    if out["has_video"]:
        import av

        with av.open(str(path)) as c:
            ctx = c.streams.video[0].codec_context
            out["width_px"], out["height_px"] = int(ctx.width), int(ctx.height)
    return out


def _summary(catalog: Catalog, sha: str, entry: dict[str, Any]) -> dict[str, Any]:
    """The cached description of one input (``video/<sha>/summary.json``), made once."""
    vdir = _video_dir(catalog, sha)
    f = vdir / "summary.json"
    if f.is_file():
        try:
            data: dict[str, Any] = json.loads(f.read_text(encoding="utf-8"))
            return data
        except (OSError, json.JSONDecodeError):
            pass
    path = Path(str(entry.get("path")))
    if not path.is_file():
        return {"has_video": False, "missing": True}
    data = _probe(path)
    tel = _telemetry(catalog, sha, path)
    if tel.num_rows:
        t = pc.drop_null(tel["precision_time_stamp"])
        if len(t):
            data["start_us"] = int(pc.min(t).cast(pa.int64()).as_py())
            data["end_us"] = int(pc.max(t).cast(pa.int64()).as_py())
        if "image_source_sensor" in tel.column_names:
            names = pc.drop_null(tel["image_source_sensor"])
            if len(names):
                counts = pc.value_counts(names).to_pylist()
                data["sensor"] = str(max(counts, key=lambda d: d["counts"])["values"])
    private_dir(vdir)
    text = json.dumps(data)
    replace_atomically(f, lambda p: p.write_text(text, encoding="utf-8"))
    return data


def _telemetry(catalog: Catalog, sha: str, path: Path) -> pa.Table:
    """The input's telemetry table (``video/<sha>/telemetry.parquet``, made once)."""
    vdir = private_dir(_video_dir(catalog, sha))
    f = vdir / "telemetry.parquet"
    if f.is_file():
        return pq.read_table(f)
    table, _ = read_telemetry(str(path))
    replace_atomically(f, lambda p: pq.write_table(table, p))
    return table


def _us(v: Any) -> datetime | None:
    return None if v is None else datetime.fromtimestamp(int(v) / 1e6, UTC)


def list_sorties(catalog: Catalog) -> list[SortieInfo]:
    """Every transport-stream input of ``catalog``, by start time. A sortie recorded in
    several inputs is listed once per input, the later ones as ``<sortie>~<sha256[:8]>``."""
    out: list[SortieInfo] = []
    seen: set[str] = set()
    inputs = catalog.manifest().get("inputs", {})
    for sha, entry in sorted(inputs.items(), key=lambda kv: str(kv[1].get("path"))):
        if entry.get("kind") != "stream":
            continue
        s = _summary(catalog, sha, entry)
        sid = str(entry.get("sortie") or Path(str(entry.get("path"))).stem)
        if sid in seen:
            sid = f"{sid}~{sha[:8]}"
        seen.add(sid)
        out.append(
            SortieInfo(
                sortie_id=sid,
                sha256=sha,
                path=str(entry.get("path")),
                has_video=bool(s.get("has_video")),
                start=_us(s.get("start_us")),
                end=_us(s.get("end_us")),
                sensor=s.get("sensor"),
                packets=int(entry.get("packets") or 0),
                width_px=s.get("width_px"),
                height_px=s.get("height_px"),
            )
        )
    out.sort(key=lambda i: (i.start or datetime.max.replace(tzinfo=UTC), i.sortie_id))
    return out


def open_sortie(catalog: Catalog, sortie_id: str) -> SortieVideo:
    """The :class:`SortieVideo` of ``sortie_id`` (:class:`NotFound` when there is none;
    :class:`Gone` when its stream is no longer where it was ingested from)."""
    for info in list_sorties(catalog):
        if info.sortie_id == sortie_id:
            if not Path(info.path).is_file():
                raise Gone(
                    f"the stream of sortie {sortie_id} is no longer at {Path(info.path).name}"
                )
            return SortieVideo(catalog, info)
    raise NotFound(f"no sortie {sortie_id!r}")


def make_renditions(catalog: Catalog) -> list[str]:
    """Make the rendition of every sortie with video that has none yet; their ids."""
    done = []
    for info in list_sorties(catalog):
        if info.has_video and Path(info.path).is_file():
            SortieVideo(catalog, info).ensure_rendition()
            done.append(info.sortie_id)
    return done


class SortieVideo:
    """One sortie's video, telemetry, footprints and geolocation (see the module)."""

    def __init__(self, catalog: Catalog, info: SortieInfo) -> None:
        self.catalog = catalog
        self.info = info
        self.dir = private_dir(_video_dir(catalog, info.sha256))
        self._frames: pa.Table | None = None
        self._telemetry: pa.Table | None = None
        self._footprints: dict[str, np.ndarray] | None = None
        self._terrain: TerrainOptions | None = None
        self._dem: Dem | None = None

    # --- made once, cached in the data directory ---------------------------------------------
    def ensure_rendition(self) -> Path:
        """The path of ``video.mp4``, made on first request (one maker at a time)."""
        mp4 = self.dir / "video.mp4"
        if (self.dir / "rendition.json").is_file() and mp4.is_file():
            return mp4
        if not self.info.has_video:
            raise NotFound(f"sortie {self.info.sortie_id} has no video")
        with _LOCK, open(self.dir / ".rendition.lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (self.dir / "rendition.json").is_file():
                tel = self.telemetry
                make_rendition(
                    self.info.path,
                    self.dir,
                    telemetry_pts_90k=np.asarray(pc.fill_null(tel["pts_90k"], -1)),
                    telemetry_time_us=np.asarray(
                        pc.fill_null(tel["precision_time_stamp"].cast(pa.int64()), -1)
                    ),
                )
        return mp4

    @property
    def telemetry(self) -> pa.Table:
        """The stream's telemetry table (one row per ST 0601 packet)."""
        if self._telemetry is None:
            self._telemetry = _telemetry(self.catalog, self.info.sha256, Path(self.info.path))
        return self._telemetry

    @property
    def frames(self) -> pa.Table:
        """The frame index (:data:`vigia.video.rendition.FRAMES_SCHEMA`)."""
        if self._frames is None:
            self.ensure_rendition()
            self._frames = pq.read_table(self.dir / "frames.parquet")
        return self._frames

    @property
    def rendition(self) -> dict[str, Any]:
        """What the rendition is (codec, remuxed, frames, size, fps, duration)."""
        self.ensure_rendition()
        data: dict[str, Any] = json.loads((self.dir / "rendition.json").read_text("utf-8"))
        return data

    @property
    def width_px(self) -> int:
        """Frame width (px) of the video."""
        return int(self.info.width_px or self.rendition["width_px"])

    @property
    def height_px(self) -> int:
        """Frame height (px) of the video."""
        return int(self.info.height_px or self.rendition["height_px"])

    @property
    def terrain(self) -> TerrainOptions:
        """The terrain the input was ingested with, resolved on its telemetry, at the video's
        frame size."""
        if self._terrain is None:
            self.footprints  # noqa: B018 (resolves the terrain on the way)
        assert self._terrain is not None
        return self._terrain

    @property
    def footprints(self) -> dict[str, np.ndarray]:
        """The footprints stage's per-row results over the whole telemetry (cached)."""
        if self._footprints is None:
            held = dict(self.catalog.manifest().get("terrain") or {})
            keys = ("terrain_height_m", "dem_path", "use_stream_elevation")
            opts = TerrainOptions(
                **{k: held[k] for k in keys if k in held},
                frame_width_px=self.width_px,
                frame_height_px=self.height_px,
            )
            with Footprinter(opts) as fp:
                res, _ = fp(self.telemetry)
                self._terrain = fp.terrain
            if self._terrain is not None and self._terrain.dem_path is not None:
                self._dem = Dem(self._terrain.dem_path)
            self._footprints = res
        return self._footprints

    @property
    def dem(self) -> Dem | None:
        """The DEM the sortie is geolocated on, open; None over another terrain."""
        self.footprints  # noqa: B018 (opens it on the way)
        return self._dem

    def frame_time(self, index: int) -> str | None:
        """The time of frame ``index`` (ISO 8601 UTC), None when it has no telemetry."""
        t = self.frames["time"][self.frame_at(index=index)].as_py()
        return _iso(t)

    # --- per frame ----------------------------------------------------------------------------
    def frame_at(self, *, index: int | None = None, time_us: int | None = None) -> int:
        """The frame ``index`` (checked), or the frame whose telemetry time is nearest
        ``time_us`` (µs since 1970) within the video's span (:class:`ValidationError` outside)."""
        n = self.frames.num_rows
        if n == 0:
            raise NotFound(f"sortie {self.info.sortie_id} has no video frames")
        if index is not None:
            if not 0 <= index < n:
                raise ValidationError(f"frame index {index} outside 0..{n - 1}")
            return int(index)
        if time_us is None:
            raise ValidationError("give a frame index or a time")
        t = self.frames["time"].cast(pa.int64()).to_numpy(zero_copy_only=False)
        t = np.asarray(pc.fill_null(pa.array(t), np.iinfo(np.int64).min))
        ok = np.flatnonzero(t > np.iinfo(np.int64).min)
        if ok.size == 0:
            raise ValidationError("the video's frames have no telemetry time")
        half = 0.5e6 / max(float(self.rendition["fps"]), 1e-3)
        if time_us < t[ok].min() - half or time_us > t[ok].max() + half:
            raise ValidationError("time outside the sortie's video")
        return int(ok[np.argmin(np.abs(t[ok] - time_us))])

    def frame_at_media_time(self, media_time_s: float) -> int:
        """The frame shown at ``media_time_s`` (s from the start of the MP4)."""
        m = self.frames["media_time_s"].to_numpy()
        if not (np.isfinite(media_time_s) and -1e-6 <= media_time_s <= m[-1] + 1.0):
            raise ValidationError(f"media time {media_time_s} s outside the video")
        return max(0, int(np.searchsorted(m, media_time_s + 1e-6, side="right")) - 1)

    def _row(self, index: int) -> int:
        row = int(self.frames["telemetry_row"][index].as_py())
        if row < 0:
            raise ValidationError(f"frame {index} has no telemetry")
        return row

    def pose(self, index: int) -> dict[str, np.ndarray]:
        """The one-row pose columns of frame ``index`` (for pixel_to_ground/ground_to_pixel)."""
        row = self._row(index)
        one = self.telemetry.slice(row, 1)
        return {c: one[c].to_numpy(zero_copy_only=False) for c in one.column_names}

    def _terrain_kwargs(self, index: int) -> dict[str, Any]:
        fp = self.footprints
        t = self.terrain
        if t.dem_path is not None:
            return {"dem": self._dem}
        if t.terrain_height_m is not None:
            return {"terrain_height_m": t.terrain_height_m}
        # the stream's elevation, as the footprint's own centre height (smoothed along track)
        return {"terrain_height_m": float(fp["center_h"][self._row(index)])}

    def geolocate(self, index: int, x_px: float, y_px: float) -> dict[str, Any]:
        """Ground point of pixel (``x_px``, ``y_px``) of frame ``index``: ``lat``, ``lon``
        (deg), ``h_m`` (HAE), ``ce90_m``, the covariance (m², None where unbounded),
        ``geolocated_by``, and ``valid`` / ``reason`` (a ray that misses the ground: the values
        are None). A pixel outside the frame is a :class:`ValidationError`."""
        w, h = self.width_px, self.height_px
        if not (0 <= x_px <= w and 0 <= y_px <= h):
            raise ValidationError(f"pixel ({x_px}, {y_px}) outside the {w}x{h} frame")
        g = pixel_to_ground(
            self.telemetry,
            np.array([self._row(index)]),
            np.array([x_px]),
            np.array([y_px]),
            w,
            h,
            **self._terrain_kwargs(index),
        )
        valid = bool(g["valid"][0])
        out: dict[str, Any] = {
            k: _f(g[src][0]) if valid else None
            for k, src in (
                ("lat", "lat"),
                ("lon", "lon"),
                ("h_m", "h"),
                ("ce90_m", "ce90_m"),
                ("cov_ee_m2", "cov_ee_m2"),
                ("cov_en_m2", "cov_en_m2"),
                ("cov_nn_m2", "cov_nn_m2"),
            )
        }
        out["valid"] = valid and out["lat"] is not None
        out["reason"] = None if out["valid"] else str(g["reason"][0] or "no ground")
        out["geolocated_by"] = "sensor_model"
        return out

    def project(
        self, index: int, lat: Any, lon: Any, h_m: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pixel positions in frame ``index`` of ground points (deg, deg, m HAE), and whether
        each is in view."""
        row = self._row(index)
        p = ground_to_pixel(self.telemetry, row, lat, lon, h_m, self.width_px, self.height_px)
        return p["x_px"], p["y_px"], np.asarray(p["in_view"], bool) & np.asarray(p["valid"])

    def frame_info(self, index: int) -> dict[str, Any]:
        """The frame's time, size, sensor and frame centre, footprint polygon (GeoJSON), and
        what is drawn over it: VMTI targets and observations of that frame with their pixel
        boxes, and the known sites in view."""
        row = self._row(index)
        fp = self.footprints
        tel = self.telemetry
        fr = self.frames.slice(index, 1).to_pylist()[0]
        ring = [[float(fp[lo][row]), float(fp[la][row])] for la, lo in _CORNERS]
        valid = bool(fp["valid"][row]) and all(np.isfinite(v) for p in ring for v in p)
        out: dict[str, Any] = {
            "index": index,
            "time": _iso(fr["time"]),
            "media_time_s": fr["media_time_s"],
            "width_px": self.width_px,
            "height_px": self.height_px,
            "sensor_lat": _f(tel["sensor_latitude"][row].as_py()),
            "sensor_lon": _f(tel["sensor_longitude"][row].as_py()),
            "center_lat": _f(fp["center_lat"][row]),
            "center_lon": _f(fp["center_lon"][row]),
            "center_ce90_m": _f(fp["center_ce90_m"][row]),
            "footprint": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]} if valid else None,
            "targets": [],
            "observations": [],
            "sites": [],
        }
        obs = self._frame_observations(fr["pts_90k"])
        for o in obs:
            box = [o["box_x0_px"], o["box_y0_px"], o["box_x1_px"], o["box_y1_px"]]
            item = {
                "obs_id": o["obs_id"],
                "source": o["source"],
                "indicator": o["indicator"],
                "box": None if any(v is None for v in box) else [float(v) for v in box],
                "lat": o["lat"],
                "lon": o["lon"],
                "site_id": o.get("site_id"),
                "status": o["status"],
            }
            if o["source"] == "vmti":
                out["targets"].append({**item, "target_id": o.get("track_id")})
            else:
                out["observations"].append(item)
        sites = self.catalog.sites()
        if sites.num_rows and valid:
            lat = sites["lat"].to_numpy(zero_copy_only=False)
            lon = sites["lon"].to_numpy(zero_copy_only=False)
            h = np.full(lat.shape, float(fp["center_h"][row]))
            if "h_m" in sites.column_names:
                hs = np.asarray(pc.fill_null(sites["h_m"], np.nan), float)
                h = np.where(np.isfinite(hs), hs, h)
            x, y, inview = self.project(index, lat, lon, h)
            for k in np.flatnonzero(inview):
                s = {c: sites[c][int(k)].as_py() for c in ("site_id", "status", "candidate")}
                p = float(sites["probability"][int(k)].as_py())
                out["sites"].append({**s, "p": p, "x_px": float(x[k]), "y_px": float(y[k])})
        return out

    def _frame_observations(self, pts_90k: int | None) -> list[dict[str, Any]]:
        if pts_90k is None:
            return []
        obs = self.catalog.observations()
        if obs.num_rows == 0:
            return []
        half = int(45_000 / max(float(self.rendition["fps"]), 1e-3))
        opts = np.asarray(pc.fill_null(obs["pts_90k"], -(1 << 40)), np.int64)
        mine = np.asarray(
            pc.equal(obs["sortie"], self.info.sortie_id.split("~")[0]).fill_null(False)
        )
        near = mine & (np.abs(opts - int(pts_90k)) <= half)
        return obs.filter(pa.array(near)).to_pylist()

    def track(self, max_rows: int = 20_000) -> dict[str, Any]:
        """Per-frame arrays the player interpolates at the video's current time (at most
        ``max_rows`` rows, evenly decimated), and the timeline's ticks."""
        fr = self.frames
        n = fr.num_rows
        step = max(1, -(-n // max_rows))
        idx = np.arange(0, n, step)
        rows = fr["telemetry_row"].to_numpy()[idx]
        fp = self.footprints
        tel = self.telemetry
        ok = rows >= 0
        idx, rows = idx[ok], rows[ok]
        slat = np.asarray(pc.fill_null(tel["sensor_latitude"], np.nan), float)[rows]
        slon = np.asarray(pc.fill_null(tel["sensor_longitude"], np.nan), float)[rows]
        corners = np.stack(
            [np.stack([fp[la][rows], fp[lo][rows]], axis=-1) for la, lo in _CORNERS], axis=1
        )
        valid = np.asarray(fp["valid"], bool)[rows]
        media = fr["media_time_s"].to_numpy()[idx]
        ticks: list[dict[str, Any]] = []
        obs = self.catalog.observations()
        if obs.num_rows:
            mine = obs.filter(
                pc.equal(obs["sortie"], self.info.sortie_id.split("~")[0]).fill_null(False)
            )
            fpts = fr["pts_90k"].to_numpy(zero_copy_only=False).astype(np.int64)
            if mine.num_rows and fpts.size:
                opts = np.asarray(pc.fill_null(mine["pts_90k"], -1), np.int64)
                j = np.clip(np.searchsorted(fpts, opts), 0, fpts.size - 1)
                mt = fr["media_time_s"].to_numpy()[j]
                sid = mine["site_id"].to_pylist() if "site_id" in mine.column_names else None
                for k, o in enumerate(mine["obs_id"].to_pylist()):
                    if opts[k] < 0:
                        continue
                    s = sid[k] if sid is not None else None
                    kind = "site" if s else "observation"
                    ticks.append({"media_time_s": float(mt[k]), "kind": kind, "id": s or o})
        return {
            "sortie_id": self.info.sortie_id,
            "fps": float(self.rendition["fps"]),
            "duration_s": float(self.rendition["duration_s"]),
            "width_px": self.width_px,
            "height_px": self.height_px,
            "media_time_s": _list(media),
            "frame_index": [int(i) for i in idx],
            "sensor_lat": _list(slat),
            "sensor_lon": _list(slon),
            "center_lat": _list(np.where(valid, fp["center_lat"][rows], np.nan)),
            "center_lon": _list(np.where(valid, fp["center_lon"][rows], np.nan)),
            "corners": [
                None if not v else [[round(float(a), 7), round(float(b), 7)] for a, b in c]
                for c, v in zip(corners, valid, strict=True)
            ],
            "ticks": ticks,
        }

    def decode_frame(self, index: int) -> np.ndarray:
        """Frame ``index`` as (H, W, 3) uint8 RGB, decoded from the rendition (seek to the key
        frame before it, decode forward)."""
        import av

        target = float(self.frames["media_time_s"][index].as_py())
        mp4 = self.ensure_rendition()
        half = 0.5 / max(float(self.rendition["fps"]), 1e-3)
        with av.open(str(mp4)) as c:
            vs = c.streams.video[0]
            tb = float(vs.time_base or Fraction(1, 90_000))
            first: float | None = None
            c.seek(max(0, int((target - 1.0) / tb)), stream=vs, backward=True, any_frame=False)
            last = None
            for frame in c.decode(vs):
                if frame.pts is None:
                    continue
                t = frame.pts * tb
                if first is None:
                    first = t
                last = frame
                if t >= target - half:
                    return np.asarray(frame.to_ndarray(format="rgb24"))
            if last is not None:
                return np.asarray(last.to_ndarray(format="rgb24"))
        raise SourceError(f"frame {index} of sortie {self.info.sortie_id} cannot be decoded")


def _f(v: Any) -> float | None:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if np.isfinite(x) else None


def _list(a: np.ndarray) -> list[float | None]:
    return [None if not np.isfinite(v) else round(float(v), 7) for v in np.asarray(a, float)]


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.astimezone(UTC).isoformat().replace("+00:00", "Z")
