"""Benchmark of the sortie video: remux speed, seek + ``/frame`` latency, peak memory.

Goals (issue "The FMV analyst's workstation"): the rendition of an H.264 sortie is made at
>= 20x real time; seeking to any frame (decode) and its ``/frame`` JSON take < 300 ms; making
the rendition of an hour of video peaks below 300 MB of RSS.

* Speed: the scenario's video sortie (synthetic, 640x360 at 10 fps, ``--minutes``), ingested
  on its DEM, then :func:`vigia.video.rendition.make_rendition`. The peer, on the same file:
  the ``ffmpeg`` command-line remux (``-c copy`` to fragmented MP4) when ``ffmpeg`` is on PATH,
  else a plain PyAV decode of every frame (what a player must do at least once).
* Seek: ``SortieVideo.decode_frame`` and ``SortieVideo.frame_info`` of ``--seeks`` random
  frames (p50 / p95 / max, ms).
* Memory: an hour-long H.264 transport stream synthesised by repeating the sortie's packets
  with shifted timestamps (no KLV: the frames are not tied to telemetry), remuxed in a
  subprocess whose peak RSS (``ru_maxrss``) is reported.

Figures are measured on the synthetic scenario only (no real capture here carries video).
Run: ``.venv/bin/python bench/bench_video.py [--minutes 1] [--hours 1] [--seeks 50]``.
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from vigia.app.ingest import ingest
from vigia.footprints import TerrainOptions
from vigia.scenario import build_world, fly_sorties
from vigia.store.catalog import Catalog
from vigia.video.rendition import make_rendition
from vigia.video.sortie import list_sorties, open_sortie


def _long_stream(src: Path, dest: Path, hours: float) -> float:
    """Write ``dest``: the video packets of ``src`` repeated for ``hours``; its duration (s)."""
    import av

    with av.open(str(src)) as c:
        vs = c.streams.video[0]
        pkts = [
            (bytes(p), int(p.pts), int(p.dts), bool(p.is_keyframe)) for p in c.demux(vs) if p.size
        ]
        with av.open(str(dest), "w", format="mpegts") as out:
            ost = out.add_stream_from_template(vs)
            p0 = pkts[0][1]
            span = pkts[-1][1] - p0 + (pkts[1][1] - pkts[0][1])
            reps = max(1, round(hours * 3600 * 90000 / span))
            for k in range(reps):
                for data, pts, dts, key in pkts:
                    p = av.Packet(data)
                    p.pts, p.dts = pts + k * span, dts + k * span
                    p.time_base = Fraction(1, 90000)
                    p.is_keyframe = key
                    p.stream = ost
                    out.mux(p)
    return reps * span / 90000


def _peer(src: Path, work: Path) -> tuple[str, float]:
    """Seconds the peer takes on ``src``."""
    ff = shutil.which("ffmpeg")
    t0 = time.perf_counter()
    if ff:
        out = work / "peer.mp4"
        subprocess.run(
            [
                ff,
                "-v",
                "error",
                "-y",
                "-i",
                str(src),
                "-map",
                "0:v:0",
                "-c",
                "copy",
                "-movflags",
                "frag_keyframe+empty_moov+default_base_moof",
                str(out),
            ],
            check=True,
        )
        return "ffmpeg -c copy", time.perf_counter() - t0
    import av

    with av.open(str(src)) as c:
        for _ in c.decode(video=0):
            pass
    return "PyAV decode of every frame", time.perf_counter() - t0


def _child_remux(src: str, out: str) -> None:
    base_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # after the imports
    t0 = time.perf_counter()
    info = make_rendition(src, out)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    secs = time.perf_counter() - t0
    print(f"{info.frames} {info.duration_s:.1f} {secs:.2f} {rss_mb:.1f} {base_mb:.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=1.0)
    ap.add_argument("--hours", type=float, default=1.0)
    ap.add_argument("--seeks", type=int, default=50)
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child_remux(*args.child)
        return
    work = Path(tempfile.mkdtemp(prefix="bench-video-"))
    try:
        print(f"scenario: one {args.minutes:g}-minute H.264 sortie (640x360, 10 fps) ...")
        sortie = fly_sorties(build_world(3), work / "s", 1, video=True, minutes=args.minutes)[0]
        cat = Catalog(work / "data")
        ingest(
            [sortie.path], cat, terrain=TerrainOptions(dem_path=str(sortie.dem_path)), chips=False
        )

        t0 = time.perf_counter()
        info = make_rendition(sortie.path, work / "r")
        ours = time.perf_counter() - t0
        name, peer = _peer(sortie.path, work)
        print(
            f"rendition (remux and frame index): {ours:.3f} s for "
            f"{info.duration_s:.0f} s of video = {info.duration_s / ours:.0f}x real time "
            f"(goal >= 20x)"
        )
        print(
            f"peer, {name}: {peer:.3f} s = {info.duration_s / peer:.0f}x real time; "
            f"ours / peer time = {ours / peer:.2f}"
        )

        sv = open_sortie(cat, list_sorties(cat)[0].sortie_id)
        sv.ensure_rendition()
        n = sv.frames.num_rows
        rnd = random.Random(1)
        seek_ms, info_ms = [], []
        for _ in range(args.seeks):
            i = rnd.randrange(n)
            t0 = time.perf_counter()
            sv.decode_frame(i)
            seek_ms.append(1000 * (time.perf_counter() - t0))
            t0 = time.perf_counter()
            sv.frame_info(i)
            info_ms.append(1000 * (time.perf_counter() - t0))
        for label, v in (("seek+decode", seek_ms), ("/frame JSON", info_ms)):
            a = np.asarray(v)
            print(
                f"{label}: p50 {np.percentile(a, 50):.1f} ms, p95 {np.percentile(a, 95):.1f} ms, "
                f"max {a.max():.1f} ms over {a.size} random frames"
            )
        both = np.asarray(seek_ms) + np.asarray(info_ms)
        print(f"seek + /frame together: max {both.max():.1f} ms (goal < 300 ms)")

        long_ts = work / "long.ts"
        dur = _long_stream(sortie.path, long_ts, args.hours)
        print(f"long stream: {dur / 3600:.2f} h, {long_ts.stat().st_size / 1e6:.0f} MB")
        r = subprocess.run(
            [sys.executable, __file__, "--child", str(long_ts), str(work / "long")],
            check=True,
            capture_output=True,
            text=True,
        )
        frames, media_s, secs, rss, base = r.stdout.split()
        print(
            f"long remux: {frames} frames, {float(media_s) / 3600:.2f} h in {float(secs):.1f} s "
            f"= {float(media_s) / float(secs):.0f}x real time; peak RSS {float(rss):.0f} MB "
            f"(goal < 300 MB), of which {float(base):.0f} MB is the process once Vigía is "
            f"imported: the remux itself adds {float(rss) - float(base):.0f} MB"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
