"""A browser-playable rendition of a sortie's video, and its frame index.

:func:`make_rendition` writes, into a folder of its own:

``video.mp4``
    fragmented MP4 (``frag_keyframe+empty_moov+default_base_moof``): the source's H.264 packets
    copied without re-encoding; any other codec (MPEG-2, ...) transcoded to H.264 (libx264).
    Its timeline starts at 0 s at the source's first video frame.
``frames.parquet``
    one row per video frame, in presentation order (:data:`FRAMES_SCHEMA`): its PTS in the
    transport stream (90 kHz), its time in the MP4 (s), whether it is a key frame, and the
    telemetry row (ST 0601 packet) whose PTS is nearest, with that row's time.

Packets are streamed from the source to the MP4: memory does not grow with the video's length.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from vigia.errors import SourceError
from vigia.outputs import replace_atomically

__all__ = ["FRAMES_SCHEMA", "RenditionInfo", "make_rendition", "nearest_rows"]

#: Options of the MP4 muxer for a fragmented MP4 a browser plays while it loads.
FRAGMENTED_MP4 = {"movflags": "frag_keyframe+empty_moov+default_base_moof"}
#: The 33-bit PTS clock of MPEG systems.
PTS_MODULO = 1 << 33

FRAMES_SCHEMA = pa.schema(
    [
        pa.field("frame_index", pa.int32(), nullable=False),
        pa.field("pts_90k", pa.int64()),
        pa.field("media_time_s", pa.float64(), nullable=False),
        pa.field("keyframe", pa.bool_(), nullable=False),
        pa.field("telemetry_row", pa.int32(), nullable=False),
        pa.field("time", pa.timestamp("us", tz="UTC")),
    ]
)


@dataclass(frozen=True)
class RenditionInfo:
    """What :func:`make_rendition` made: codec of the source, whether it was copied
    (``remuxed``) or transcoded, frame count and size, frame rate (Hz), duration (s)."""

    source_codec: str
    remuxed: bool
    frames: int
    width_px: int
    height_px: int
    fps: float
    duration_s: float

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return asdict(self)


def nearest_rows(frame_pts_90k: np.ndarray, row_pts_90k: np.ndarray) -> np.ndarray:
    """Index of the row whose PTS is nearest each frame's (the clock's wrap is taken into
    account relative to the first row); -1 where there is no row or a frame has no PTS."""
    out = np.full(frame_pts_90k.shape, -1, dtype=np.int64)
    ok_rows = np.flatnonzero(row_pts_90k >= 0)
    if ok_rows.size == 0:
        return out
    base = int(row_pts_90k[ok_rows[0]])
    rel_rows = (row_pts_90k[ok_rows] - base) % PTS_MODULO
    order = np.argsort(rel_rows, kind="stable")
    sorted_rel = rel_rows[order]
    ok_f = frame_pts_90k >= 0
    rel_f = (frame_pts_90k[ok_f] - base) % PTS_MODULO
    # a frame just before the first row wraps to the top of the clock: bring it back
    rel_f = np.where(rel_f > PTS_MODULO // 2, rel_f - PTS_MODULO, rel_f)
    hi = np.clip(np.searchsorted(sorted_rel, rel_f), 1, sorted_rel.size - 1)
    if sorted_rel.size == 1:
        pick = np.zeros(rel_f.shape, dtype=np.int64)
    else:
        lo = hi - 1
        pick = np.where(np.abs(sorted_rel[lo] - rel_f) <= np.abs(sorted_rel[hi] - rel_f), lo, hi)
    out[ok_f] = ok_rows[order[pick]]
    return out


def _open(source: Path) -> Any:
    import av

    try:
        container = av.open(str(source))
    except (av.FFmpegError, OSError) as exc:
        raise SourceError(f"cannot open the video of {source.name}: {exc}") from exc
    if not container.streams.video:
        container.close()
        raise SourceError(f"{source.name} carries no video")
    return container


def make_rendition(
    source: str | Path,
    out_dir: str | Path,
    *,
    telemetry_pts_90k: np.ndarray | None = None,
    telemetry_time_us: np.ndarray | None = None,
    progress: Callable[[int], None] | None = None,
) -> RenditionInfo:
    """Write ``video.mp4``, ``frames.parquet`` and ``rendition.json`` for ``source`` (a transport
    stream with video) into ``out_dir``; each file appears whole or not at all.

    ``telemetry_pts_90k`` / ``telemetry_time_us`` (the telemetry table's ``pts_90k`` and time,
    -1 / null where missing) tie each frame to its nearest ST 0601 row. ``progress`` is called
    with the number of frames done since its last call. Raises :class:`SourceError` when the
    source cannot be read as video.
    """
    import av

    src = Path(source)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pts_list: list[int] = []
    key_list: list[bool] = []
    info: dict[str, Any] = {}

    def write_mp4(tmp: Path) -> None:
        with _open(src) as inp:
            vs = inp.streams.video[0]
            codec = vs.codec_context.name
            info["source_codec"] = codec
            info["width_px"] = int(vs.codec_context.width)
            info["height_px"] = int(vs.codec_context.height)
            rate = vs.average_rate or vs.guessed_rate or Fraction(25)
            info["fps"] = float(rate)
            with av.open(str(tmp), "w", format="mp4", options=FRAGMENTED_MP4) as mp4:
                if codec == "h264":
                    info["remuxed"] = True
                    _remux(inp, vs, mp4, pts_list, key_list, progress)
                else:
                    info["remuxed"] = False
                    _transcode(inp, vs, mp4, Fraction(rate), pts_list, key_list, progress)

    try:
        replace_atomically(out / "video.mp4", write_mp4)
    except av.FFmpegError as exc:
        raise SourceError(f"cannot make a playable video of {src.name}: {exc}") from exc
    pts = np.asarray(pts_list, dtype=np.int64)
    keys = np.asarray(key_list, dtype=bool)
    order = np.argsort(pts, kind="stable")
    pts, keys = pts[order], keys[order]
    first = int(pts[0]) if pts.size else 0
    media_s = (pts - first) / 90_000.0
    if telemetry_pts_90k is not None and pts.size:
        rows = nearest_rows(pts % PTS_MODULO, np.asarray(telemetry_pts_90k, np.int64))
    else:
        rows = np.full(pts.size, -1, np.int64)
    times: pa.Array = pa.nulls(pts.size, pa.timestamp("us", tz="UTC"))
    if telemetry_time_us is not None and pts.size:
        t = np.asarray(telemetry_time_us, np.int64)
        picked = np.where(rows >= 0, t[np.maximum(rows, 0)], -1)
        times = pa.array(picked, pa.timestamp("us", tz="UTC"), mask=(rows < 0) | (picked < 0))
    frames = pa.table(
        {
            "frame_index": pa.array(np.arange(pts.size, dtype=np.int32)),
            "pts_90k": pa.array(pts % PTS_MODULO, pa.int64()),
            "media_time_s": pa.array(media_s, pa.float64()),
            "keyframe": pa.array(keys, pa.bool_()),
            "telemetry_row": pa.array(rows.astype(np.int32)),
            "time": times,
        },
        schema=FRAMES_SCHEMA,
    )
    replace_atomically(out / "frames.parquet", lambda p: pq.write_table(frames, p))
    duration = float(media_s[-1] + 1.0 / info["fps"]) if pts.size else 0.0
    result = RenditionInfo(
        source_codec=str(info["source_codec"]),
        remuxed=bool(info["remuxed"]),
        frames=int(pts.size),
        width_px=int(info["width_px"]),
        height_px=int(info["height_px"]),
        fps=float(info["fps"]),
        duration_s=duration,
    )
    text = json.dumps(result.as_dict(), indent=1)
    replace_atomically(out / "rendition.json", lambda p: p.write_text(text, encoding="utf-8"))
    return result


def _remux(
    inp: Any,
    vs: Any,
    mp4: Any,
    pts_list: list[int],
    key_list: list[bool],
    progress: Callable[[int], None] | None,
) -> None:
    """Copy the H.264 packets into the MP4, shifted so that the first decodes at 0."""

    ost = mp4.add_stream_from_template(vs)
    shift: int | None = None
    done = 0
    for pkt in _packets(inp, vs):
        if pkt.size == 0 or pkt.pts is None:
            continue
        dts = pkt.dts if pkt.dts is not None else pkt.pts
        if shift is None:
            shift = int(dts)
        pts_list.append(int(pkt.pts))
        key_list.append(bool(pkt.is_keyframe))
        pkt.pts = int(pkt.pts) - shift
        pkt.dts = int(dts) - shift
        pkt.stream = ost
        mp4.mux(pkt)
        done += 1
        if progress is not None and done % 250 == 0:
            progress(250)


def _transcode(
    inp: Any,
    vs: Any,
    mp4: Any,
    rate: Fraction,
    pts_list: list[int],
    key_list: list[bool],
    progress: Callable[[int], None] | None,
) -> None:
    """Decode the source's frames and encode them as H.264 at the source's frame rate."""
    import av

    if "libx264" not in av.codecs_available:
        raise SourceError("no H.264 encoder (libx264) to transcode this video with")
    ost = mp4.add_stream("libx264", rate=rate)
    ctx = vs.codec_context
    ost.width, ost.height = ctx.width - ctx.width % 2, ctx.height - ctx.height % 2
    ost.pix_fmt = "yuv420p"
    ost.options = {"preset": "veryfast", "bframes": "0", "g": str(max(1, round(float(rate))))}
    first: int | None = None
    tick = Fraction(90_000) / rate
    done = 0
    for frame in _decoded(inp, vs):
        if frame.pts is None:
            continue
        src_pts = int(frame.pts * vs.time_base * 90_000)
        if first is None:
            first = src_pts
        pts_list.append(src_pts)
        index = round((src_pts - first) / tick)
        key_list.append(False)
        out = frame.reformat(width=ost.width, height=ost.height, format="yuv420p")
        out.pts = index
        out.time_base = Fraction(1) / rate
        for p in ost.encode(out):
            mp4.mux(p)
        done += 1
        if progress is not None and done % 250 == 0:
            progress(250)
    for p in ost.encode(None):
        mp4.mux(p)
    # key frames of the new encoding: one every ``g`` frames from the first
    g = max(1, round(float(rate)))
    for i in range(len(key_list)):
        key_list[i] = i % g == 0


def _packets(inp: Any, vs: Any) -> Any:
    """The packets of ``vs``; a damaged one is skipped, as a decoder would."""
    import av

    demux = inp.demux(vs)
    while True:
        try:
            yield next(demux)
        except StopIteration:
            return
        except av.FFmpegError:
            continue


def _decoded(inp: Any, vs: Any) -> Any:
    import av

    for pkt in _packets(inp, vs):
        try:
            yield from pkt.decode()
        except av.FFmpegError:
            continue
