"""Marks drawn on a sortie's video become evidence: create, edit, delete and list them.

A mark is an input of the catalog like any other: each one is a one-feature marks file
(`vigia.exploit.marks`) kept as ``<data_dir>/marks/<mark_id>.geojson`` (owner-only, written
atomically) and ingested with `vigia.app.ingest.ingest`, so consent, fusion, scoring and the
one transaction are the catalog's own. Editing a mark is one ingest that takes the held
version out and puts the new one in; deleting it is one ingest that takes it out. A mark
outside consent is kept, 'withheld', like any observation.

The box is placed on the ground through the sortie's sensor model
(`vigia.video.SortieVideo.geolocate`, i.e. `vigia.geo.pixel.pixel_to_ground` with CE90): its
centre is the position, with the covariance of that point; its four corners give the box's
ground outline (the observation's geometry), whose extent adds to the covariance as any
polygon mark's does. The chip is cut from the decoded frame around the box
(`vigia.exploit.chips.write_frame_chips`), only for a consented observation (the chip rule),
and a replaced observation's chip is removed.

Writers of marks are serialised by a lock on ``marks/.lock`` (another writer: wait ``wait_s``
seconds, then `CatalogBusy`); the ingest also takes the catalog's writers' lock.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import math
import os
import secrets
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vigia.app.ingest import IngestReport, ingest
from vigia.coverage.consent import STATUS_COLUMN
from vigia.errors import CatalogBusy, NotFound, TimeError, ValidationError
from vigia.exploit.chips import write_frame_chips
from vigia.exploit.marks import marks_observations, read_marks
from vigia.exploit.observations import usable_mask
from vigia.exploit.vocabulary import Vocabulary, default_vocabulary
from vigia.footprints import TerrainOptions
from vigia.outputs import replace_atomically
from vigia.store.catalog import Catalog
from vigia.store.files import private_dir
from vigia.times import format_time_us, iso_time, user_time_us
from vigia.video.sortie import SortieVideo, open_sortie

__all__ = [
    "MARKS_DIR",
    "MarkView",
    "create_mark",
    "delete_mark",
    "edit_mark",
    "list_marks",
    "mark_feature",
    "mark_path",
]

#: Folder of the marks files in the data directory.
MARKS_DIR: Final = "marks"
_LOCK: Final = ".lock"
#: Mark ids: 'M' and 16 hex digits.
_MARK_ID_CHARS: Final = frozenset("0123456789abcdef")
#: How long a marks writer waits for another by default (s).
DEFAULT_WAIT_S: Final = 5.0


@dataclass(frozen=True)
class MarkView:
    """A mark as the API returns it: the mark, its observation, and the site it fused into."""

    mark_id: str
    obs_id: str
    sortie_id: str
    time: str
    frame_index: int | None
    box: list[float]
    indicator: str
    note: str | None
    author: str | None
    created: str | None
    edited: str | None
    lat: float | None
    lon: float | None
    h_m: float | None
    ce90_m: float | None
    consent_status: str | None
    status: str | None
    site_id: str | None
    p: float | None
    """That site's probability after the mark was fused (None: in no site)."""
    chip_url: str | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


# --- files ---------------------------------------------------------------------------------
def _marks_dir(catalog: Catalog) -> Path:
    return catalog.root / MARKS_DIR


def _check_mark_id(mark_id: str) -> str:
    if not (
        isinstance(mark_id, str)
        and len(mark_id) == 17
        and mark_id[0] == "M"
        and set(mark_id[1:]) <= _MARK_ID_CHARS
    ):
        raise NotFound(f"no mark {mark_id!r}")
    return mark_id


def mark_path(catalog: Catalog, mark_id: str) -> Path:
    """``<data_dir>/marks/<mark_id>.geojson`` (NotFound for an id that is not a mark id)."""
    return _marks_dir(catalog) / f"{_check_mark_id(mark_id)}.geojson"


def _read_feature(catalog: Catalog, mark_id: str) -> dict[str, Any]:
    path = mark_path(catalog, mark_id)
    if not path.is_file():
        raise NotFound(f"no mark {mark_id!r}")
    (feat,) = read_marks(path)
    return dict(feat)


def _write_feature(path: Path, feature: Mapping[str, Any]) -> None:
    text = json.dumps(
        {"type": "FeatureCollection", "features": [feature]}, ensure_ascii=False, indent=1
    )
    replace_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


@contextlib.contextmanager
def _marks_lock(catalog: Catalog, wait_s: float) -> Iterator[None]:
    folder = private_dir(_marks_dir(catalog))
    fd = os.open(folder / _LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + max(wait_s, 0.0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise
                if time.monotonic() >= deadline:
                    raise CatalogBusy(
                        f"another change of marks in {catalog.root} is under way; try again"
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)


# --- the mark on its frame -----------------------------------------------------------------
def _frame_of(video: SortieVideo, when: str | float | int) -> int:
    """The frame at ``when``: ISO 8601 text (a time of the sortie) or media time (s, a number);
    a time outside the sortie's video is refused (ValidationError)."""
    if isinstance(when, bool) or not isinstance(when, str | int | float):
        raise ValidationError("time must be an ISO 8601 time or a media time in seconds")
    if isinstance(when, str):
        try:
            t_us = user_time_us(when, "time")
        except TimeError as exc:
            raise ValidationError(exc.message) from None
        return int(video.frame_at(time_us=t_us))
    media = np.asarray(video.frames.column("media_time_s").to_numpy(zero_copy_only=False), float)
    step = float(np.median(np.diff(media))) if media.size > 1 else 0.0
    if not media.size or not math.isfinite(when) or float(when) > media[-1] + step:
        raise ValidationError(f"media time {when} s is outside the sortie's video")
    return int(video.frame_at_media_time(float(when)))


def _check_box(box: Sequence[Any], width_px: int, height_px: int) -> tuple[float, ...]:
    if not isinstance(box, list | tuple) or len(box) != 4:
        raise ValidationError("box must be [x0, y0, x1, y1] (pixels of the full frame)")
    if any(isinstance(v, bool) or not isinstance(v, int | float) for v in box):
        raise ValidationError("box must be four numbers")
    x0, y0, x1, y1 = (float(v) for v in box)
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
        raise ValidationError("box must be four finite numbers")
    if not (x1 > x0 and y1 > y0):
        raise ValidationError("box must have x1 > x0 and y1 > y0 (a box with an area)")
    if x0 < 0 or y0 < 0 or x1 > width_px or y1 > height_px:
        raise ValidationError(f"box {list(box)} lies outside the {width_px}x{height_px} frame")
    return x0, y0, x1, y1


def mark_feature(
    video: SortieVideo,
    index: int,
    box: Sequence[float],
    indicator: str,
    note: str | None,
    author: str | None,
    *,
    mark_id: str,
    vocab: Vocabulary,
    created: str | None = None,
    edited: str | None = None,
) -> dict[str, Any]:
    """The marks-file feature of a box drawn on frame ``index`` (module docstring).

    Raises ValidationError for an unknown indicator, a box outside the frame, or a box whose
    centre cannot be placed on the ground (its reason given)."""
    if indicator not in vocab:
        raise ValidationError(f"unknown indicator {indicator!r}; known: {', '.join(vocab.codes)}")
    w, h = int(video.width_px), int(video.height_px)
    x0, y0, x1, y1 = _check_box(box, w, h)
    frames = video.frames
    t = frames.column("time")[index]
    if not t.is_valid or frames.column("telemetry_row")[index].as_py() < 0:
        raise ValidationError(f"frame {index} has no telemetry: it cannot be placed")
    t_us = int(t.cast(pa.int64()).as_py())
    centre = video.geolocate(index, 0.5 * (x0 + x1), 0.5 * (y0 + y1))
    given = [centre.get(k) for k in ("cov_ee_m2", "cov_en_m2", "cov_nn_m2")]
    if not centre.get("valid") or any(c is None for c in given):
        why = centre.get("reason") or "its uncertainty is unbounded: a perturbed ray misses"
        raise ValidationError(f"the box's centre cannot be placed on the ground ({why})")
    cov = [float(c) for c in given if c is not None]
    corners = [video.geolocate(index, x, y) for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1))]
    if all(c.get("valid") for c in corners):
        ring = [[c["lon"], c["lat"]] for c in corners]
        geometry: dict[str, Any] = {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}
    else:  # a corner above the horizon: the point alone
        geometry = {"type": "Point", "coordinates": [centre["lon"], centre["lat"]]}
    pts = frames.column("pts_90k")[index].as_py()
    props: dict[str, Any] = {
        "mark_id": mark_id,
        "source": "analyst",
        "indicator": indicator,
        "time": format_time_us(t_us),
        "note": note,
        "author": author,
        # the sortie as its stream's observations name it; the input it was drawn on
        "sortie": video.info.sortie_id.split("~")[0],
        "sortie_id": video.info.sortie_id,
        "sortie_sha256": video.info.sha256,
        "box_px": [x0, y0, x1, y1],
        "frame_width": w,
        "frame_height": h,
        "pts_90k": None if pts is None else int(pts),
        "frame_index": int(index),
        "lat": float(centre["lat"]),
        "lon": float(centre["lon"]),
        "h_m": centre.get("h_m"),
        "cov_ee_m2": float(cov[0]),
        "cov_en_m2": float(cov[1]),
        "cov_nn_m2": float(cov[2]),
        "source_file": str(video.info.path),
        "created": created,
        "edited": edited,
    }
    feature = {"type": "Feature", "geometry": geometry, "properties": props}
    marks_observations([feature], vocab)  # the format's own checks, before anything is written
    return feature


# --- ingest --------------------------------------------------------------------------------
def _terrain(catalog: Catalog) -> TerrainOptions:
    """The terrain the catalog was ingested with (an ingest records it in the manifest)."""
    held = catalog.manifest().get("terrain") or {}
    fields = TerrainOptions.__dataclass_fields__
    return TerrainOptions(**{k: v for k, v in held.items() if k in fields})


def _held(catalog: Catalog, path: Path) -> bool:
    inputs = catalog.manifest()["inputs"]
    return any(str(e.get("path")) == str(path) for e in inputs.values())


def _ingest(
    catalog: Catalog,
    path: Path,
    *,
    add: bool,
    vocab: Vocabulary,
    wait_s: float,
) -> IngestReport:
    """One ingest: the held version of the mark at ``path`` out, the file's one in (``add``)."""
    return ingest(
        [path] if add else [],
        catalog,
        terrain=_terrain(catalog),
        vocab=vocab,
        chips=False,
        remove=[str(path)] if _held(catalog, path) else [],
        wait_s=wait_s,
    )


def _obs_id(feature: Mapping[str, Any], vocab: Vocabulary) -> str:
    return str(marks_observations([feature], vocab).column("obs_id")[0].as_py())


def _view(
    catalog: Catalog, feature: Mapping[str, Any], vocab: Vocabulary, obs: pa.Table | None = None
) -> MarkView:
    props = feature["properties"]
    obs_id = _obs_id(feature, vocab)
    table = catalog.observations() if obs is None else obs
    row = table.filter(pc.equal(table.column("obs_id"), obs_id)).slice(0, 1).to_pylist()
    r = row[0] if row else {}
    site_id = r.get("site_id")
    p = None
    if site_id is not None:
        site = catalog.site(site_id)
        p = None if site is None else site.get("probability")
    chip = catalog.chip_path(obs_id)

    def num(v: Any) -> float | None:
        return None if v is None or not math.isfinite(v) else float(v)

    return MarkView(
        mark_id=str(props["mark_id"]),
        obs_id=obs_id,
        sortie_id=str(props.get("sortie_id") or props.get("sortie")),
        time=str(props.get("time")),
        frame_index=props.get("frame_index"),
        box=list(props.get("box_px") or []),
        indicator=str(props.get("indicator")),
        note=props.get("note"),
        author=props.get("author"),
        created=props.get("created"),
        edited=props.get("edited"),
        lat=num(r.get("lat")),
        lon=num(r.get("lon")),
        h_m=num(r.get("h_m")),
        ce90_m=num(r.get("ce90_m")),
        consent_status=r.get(STATUS_COLUMN),
        status=r.get("status"),
        site_id=site_id,
        p=num(p),
        chip_url=None if chip is None else f"/api/chips/{obs_id}",
    )


def _cut_chip(
    catalog: Catalog, video: SortieVideo, feature: Mapping[str, Any], vocab: Vocabulary
) -> None:
    """The chip of the mark's observation, when it is through the consent gate (the chip rule
    of `vigia.exploit.chips`: withheld observations are never cut)."""
    obs_id = _obs_id(feature, vocab)
    obs = catalog.observations()
    row = obs.filter(pc.equal(obs.column("obs_id"), obs_id)).slice(0, 1)
    if row.num_rows == 0 or not bool(usable_mask(row)[0]):
        return
    path = catalog.chips_dir / f"{obs_id}.jpg"
    if path.exists():
        return
    props = feature["properties"]
    rgb = video.decode_frame(int(props["frame_index"]))
    write_frame_chips(
        rgb,
        np.asarray([props["box_px"]], float),
        [path],
        frame_width=np.asarray([props["frame_width"]]),
        frame_height=np.asarray([props["frame_height"]]),
    )


def _drop_chip(catalog: Catalog, obs_id: str, keep: str | None = None) -> None:
    if obs_id != keep:
        with contextlib.suppress(FileNotFoundError):
            (catalog.chips_dir / f"{obs_id}.jpg").unlink()


def _now() -> str:
    return iso_time(datetime.now(UTC))


# --- use cases -----------------------------------------------------------------------------
def create_mark(
    catalog: Catalog,
    sortie_id: str,
    *,
    time: str | float,
    box: Sequence[float],
    indicator: str,
    note: str | None = None,
    author: str | None = None,
    vocab: Vocabulary | None = None,
    wait_s: float = DEFAULT_WAIT_S,
) -> MarkView:
    """Draw a mark on the frame of sortie ``sortie_id`` at ``time`` (ISO 8601, or the media
    time in seconds): the observation is ingested and its site re-scored. NotFound for an
    unknown sortie; ValidationError for a bad indicator, box or time; CatalogBusy when another
    writer holds the data directory past ``wait_s`` seconds."""
    vocab = vocab or default_vocabulary()
    video = open_sortie(catalog, sortie_id)
    index = _frame_of(video, time)
    mark_id = "M" + secrets.token_hex(8)
    feature = mark_feature(
        video, index, box, indicator, note, author, mark_id=mark_id, vocab=vocab, created=_now()
    )
    path = mark_path(catalog, mark_id)
    with _marks_lock(catalog, wait_s):
        _write_feature(path, feature)
        try:
            _ingest(catalog, path, add=True, vocab=vocab, wait_s=wait_s)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        _cut_chip(catalog, video, feature, vocab)
    return _view(catalog, feature, vocab)


def edit_mark(
    catalog: Catalog,
    mark_id: str,
    *,
    indicator: str | None = None,
    note: str | None = None,
    box: Sequence[float] | None = None,
    editor: str | None = None,
    vocab: Vocabulary | None = None,
    wait_s: float = DEFAULT_WAIT_S,
) -> tuple[MarkView, MarkView]:
    """Change a mark's indicator, note or box (None: unchanged); the old observation leaves
    the catalog (and its chip the chips folder) in the same ingest that brings the new one.
    Returns the mark (before, after)."""
    vocab = vocab or default_vocabulary()
    path = mark_path(catalog, mark_id)
    with _marks_lock(catalog, wait_s):
        old = _read_feature(catalog, mark_id)
        before = _view(catalog, old, vocab)
        props = old["properties"]
        video = open_sortie(catalog, str(props.get("sortie_id") or props["sortie"]))
        feature = mark_feature(
            video,
            int(props["frame_index"]),
            props["box_px"] if box is None else box,
            props["indicator"] if indicator is None else indicator,
            props.get("note") if note is None else note,
            props.get("author"),
            mark_id=mark_id,
            vocab=vocab,
            created=props.get("created"),
            edited=_now(),
        )
        if editor is not None and editor != props.get("author"):
            feature["properties"]["edited_by"] = editor
        _write_feature(path, feature)
        try:
            _ingest(catalog, path, add=True, vocab=vocab, wait_s=wait_s)
        except BaseException:
            _write_feature(path, old)
            raise
        _drop_chip(catalog, before.obs_id, keep=_obs_id(feature, vocab))
        _cut_chip(catalog, video, feature, vocab)
    return before, _view(catalog, feature, vocab)


def delete_mark(
    catalog: Catalog,
    mark_id: str,
    *,
    vocab: Vocabulary | None = None,
    wait_s: float = DEFAULT_WAIT_S,
) -> MarkView:
    """Take a mark out: its observation leaves the catalog, the sites are fused again, its
    chip and file are removed. Returns the mark as it was."""
    vocab = vocab or default_vocabulary()
    path = mark_path(catalog, mark_id)
    with _marks_lock(catalog, wait_s):
        old = _read_feature(catalog, mark_id)
        before = _view(catalog, old, vocab)
        if _held(catalog, path):
            _ingest(catalog, path, add=False, vocab=vocab, wait_s=wait_s)
        _drop_chip(catalog, before.obs_id)
        path.unlink(missing_ok=True)
    return before


def list_marks(
    catalog: Catalog, sortie_id: str | None = None, *, vocab: Vocabulary | None = None
) -> list[MarkView]:
    """The marks held (of ``sortie_id``, or all), in time order."""
    vocab = vocab or default_vocabulary()
    folder = _marks_dir(catalog)
    if not folder.is_dir():
        return []
    obs = catalog.observations()
    out = []
    for path in sorted(folder.glob("M*.geojson")):
        (feat,) = read_marks(path)
        props = feat["properties"]
        if sortie_id is not None and (props.get("sortie_id") or props.get("sortie")) != sortie_id:
            continue
        out.append(_view(catalog, feat, vocab, obs))
    return sorted(out, key=lambda m: (m.time, m.mark_id))
