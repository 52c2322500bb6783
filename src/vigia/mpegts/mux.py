"""Write MPEG-2 transport streams carrying KLV (and video), for samples, tests and benchmarks.

Everything is vectorised: PES headers are built as one array per block of packets, TS packets
as an ``(M, 188)`` uint8 array (payloads scattered with one boolean mask, stuffing by adaptation
field), PAT/PMT inserted periodically, continuity counters computed with ``arange % 16``.
Millions of KLV packets are written in seconds.

Timestamps are 90 kHz ticks (PTS/DTS, 33 bits); PCR is written as base (90 kHz) + extension 0.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from contextlib import ExitStack
from fractions import Fraction
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from vigia.mpegts.psi import (
    PAT_PID,
    STREAM_TYPE_H264,
    STREAM_TYPE_METADATA_PES,
    STREAM_TYPE_MPEG2_VIDEO,
    STREAM_TYPE_PRIVATE_PES,
    ElementaryStream,
    build_pat,
    build_pmt,
    klv_es_descriptors,
    metadata_pointer_descriptor,
)

TS_PACKET = 188
STREAM_ID_PRIVATE_1 = 0xBD
STREAM_ID_METADATA = 0xFC
STREAM_ID_VIDEO = 0xE0
DEFAULT_KLV_PID = 0x0101
DEFAULT_VIDEO_PID = 0x0100
DEFAULT_PMT_PID = 0x1000
#: PAT/PMT repeated at least this often (90 kHz ticks): 100 ms.
PSI_INTERVAL_90K = 9000
#: PCR written at least this often (90 kHz ticks): 40 ms.
PCR_INTERVAL_90K = 3600
#: PCR runs this far ahead of the PTS/DTS it precedes (90 kHz ticks): 100 ms.
PCR_LEAD_90K = 9000

_COLS = np.arange(TS_PACKET, dtype=np.int64)
U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]


def _ts_bytes(value: I64, prefix: int) -> U8:
    """Encode 33-bit timestamps as the 5-byte PES form with a 4-bit ``prefix``; (n, 5)."""
    v = value.astype(np.int64) & ((1 << 33) - 1)
    out = np.empty((v.size, 5), dtype=np.uint8)
    out[:, 0] = (prefix << 4) | ((v >> 29) & 0x0E) | 1
    out[:, 1] = (v >> 22) & 0xFF
    out[:, 2] = ((v >> 14) & 0xFE) | 1
    out[:, 3] = (v >> 7) & 0xFF
    out[:, 4] = ((v << 1) & 0xFE) | 1
    return out


def build_pes(
    payloads: U8,
    lengths: I64,
    *,
    stream_id: int,
    pts: I64,
    dts: I64 | None = None,
    cell_headers: bool = False,
    service_id: int = 0,
    first_sequence: int = 0,
    allow_unbounded: bool = False,
) -> tuple[U8, I64]:
    """Wrap concatenated ``payloads`` (split by ``lengths``) into PES packets.

    ``pts``/``dts`` in 90 kHz ticks, ``-1`` = absent (a DTS equal to the PTS is not written).
    ``cell_headers`` adds the 5-byte ST 1402 metadata AU cell header (synchronous carriage).
    Returns (all PES bytes concatenated, length of each PES).
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    n = lengths.size
    pts = np.asarray(pts, dtype=np.int64)
    has_pts = pts >= 0
    has_dts = has_pts & (dts >= 0) & (dts != pts) if dts is not None else np.zeros(n, bool)
    hdl = np.where(has_dts, 10, np.where(has_pts, 5, 0))
    cell = 5 if cell_headers else 0
    head = 9 + hdl + cell
    pes_len = 3 + hdl + cell + lengths
    if (lengths > 0xFFFF).any() and cell_headers:
        raise ValueError("a metadata AU cell holds at most 65535 bytes")
    if (pes_len > 0xFFFF).any() and not allow_unbounded:
        raise ValueError("a metadata PES holds at most 65535 bytes (split the KLV packet)")
    pes_len = np.where(pes_len > 0xFFFF, 0, pes_len)
    hdr = np.zeros((n, 24), dtype=np.uint8)
    hdr[:, 2] = 1
    hdr[:, 3] = stream_id
    hdr[:, 4] = pes_len >> 8
    hdr[:, 5] = pes_len & 0xFF
    hdr[:, 6] = 0x84  # '10', data_alignment_indicator
    hdr[:, 7] = np.where(has_dts, 0xC0, np.where(has_pts, 0x80, 0))
    hdr[:, 8] = hdl
    if has_pts.any():
        hdr[has_pts, 9:14] = _ts_bytes(pts[has_pts], 2)
        if has_dts.any():
            assert dts is not None
            hdr[has_dts, 9:14] = _ts_bytes(pts[has_dts], 3)
            hdr[has_dts, 14:19] = _ts_bytes(dts[has_dts], 1)
    if cell_headers:
        c0 = (9 + hdl)[:, None] + np.arange(5)
        seq = (first_sequence + np.arange(n)) & 0xFF
        cells = np.stack(
            [
                np.full(n, service_id & 0xFF),
                seq,
                np.full(n, 0xDF),  # complete cell, random access, reserved bits set
                lengths >> 8,
                lengths & 0xFF,
            ],
            axis=1,
        ).astype(np.uint8)
        np.put_along_axis(hdr, c0, cells, axis=1)
    total_len = head + lengths
    starts = np.zeros(n, dtype=np.int64)
    np.cumsum(total_len[:-1], out=starts[1:])
    out = np.empty(int(total_len.sum()), dtype=np.uint8)
    hmask = np.arange(24) < head[:, None]
    is_head = np.zeros(out.size, dtype=bool)
    hpos = (starts[:, None] + np.arange(24))[hmask]
    is_head[hpos] = True
    out[hpos] = hdr[hmask]
    out[~is_head] = payloads
    return out, total_len


def packetize(
    pes: U8,
    pes_lengths: I64,
    *,
    pid: int,
    first_cc: int = 0,
    pcr_27m: I64 | None = None,
    random_access: npt.NDArray[np.bool_] | None = None,
) -> tuple[U8, I64]:
    """Split PES packets into TS packets on ``pid``; stuffing by adaptation field.

    ``pcr_27m``: PCR (27 MHz units, base*300+ext) to write in the first packet of each PES,
    ``-1`` for none. Returns ((M, 188) packets, index of the first packet of each PES).
    """
    lens = np.asarray(pes_lengths, dtype=np.int64)
    n = lens.size
    has_pcr = (pcr_27m >= 0) if pcr_27m is not None else np.zeros(n, dtype=bool)
    rai = random_access if random_access is not None else np.zeros(n, dtype=bool)
    need_flags = has_pcr | rai
    cap = 184 - np.where(has_pcr, 8, np.where(rai, 2, 0))
    npk = np.where(lens <= cap, 1, 1 + (lens - cap + 183) // 184)
    first_row = np.zeros(n, dtype=np.int64)
    np.cumsum(npk[:-1], out=first_row[1:])
    m = int(npk.sum())
    which = np.repeat(np.arange(n), npk)
    k = np.arange(m) - first_row[which]
    is_first = k == 0
    last_k = npk[which] - 1
    rest = lens[which] - cap[which]
    payload = np.where(
        is_first,
        np.minimum(lens[which], cap[which]),
        np.where(k == last_k, rest - 184 * (k - 1), 184),
    )
    af_total = 184 - payload
    rows = np.full((m, TS_PACKET), 0xFF, dtype=np.uint8)
    rows[:, 0] = 0x47
    rows[:, 1] = (np.where(is_first, 0x40, 0) | (pid >> 8)).astype(np.uint8)
    rows[:, 2] = pid & 0xFF
    afc = np.where(af_total > 0, 0x30, 0x10)
    rows[:, 3] = (afc | ((first_cc + np.arange(m)) & 0x0F)).astype(np.uint8)
    has_af = af_total > 0
    rows[has_af, 4] = (af_total[has_af] - 1).astype(np.uint8)
    flags_row = af_total >= 2
    first_flags = need_flags[which] & is_first
    rows[flags_row, 5] = 0
    if first_flags.any():
        f = np.where(has_pcr[which], 0x10, 0) | np.where(rai[which], 0x40, 0)
        rows[first_flags, 5] = f[first_flags].astype(np.uint8)
        pcr_rows = np.flatnonzero(first_flags & has_pcr[which])
        if pcr_rows.size and pcr_27m is not None:
            v = pcr_27m[which[pcr_rows]].astype(np.int64)
            base = (v // 300) & ((1 << 33) - 1)
            ext = v % 300
            rows[pcr_rows, 6] = (base >> 25) & 0xFF
            rows[pcr_rows, 7] = (base >> 17) & 0xFF
            rows[pcr_rows, 8] = (base >> 9) & 0xFF
            rows[pcr_rows, 9] = (base >> 1) & 0xFF
            rows[pcr_rows, 10] = ((base & 1) << 7) | 0x7E | ((ext >> 8) & 1)
            rows[pcr_rows, 11] = ext & 0xFF
    rows[(4 + af_total)[:, None] <= _COLS] = pes
    return rows, first_row


def psi_packet(pid: int, section: bytes) -> U8:
    """One TS packet (PUSI, pointer_field 0) holding a PSI ``section`` of at most 183 bytes."""
    if len(section) > 183:
        raise ValueError("PSI section longer than one TS packet")
    row = np.full(TS_PACKET, 0xFF, dtype=np.uint8)
    row[:4] = [0x47, 0x40 | (pid >> 8), pid & 0xFF, 0x10]
    row[4] = 0
    row[5 : 5 + len(section)] = np.frombuffer(section, dtype=np.uint8)
    return row


class _PsiRepeater:
    """PAT + PMT packets with running continuity counters."""

    def __init__(self, pat: bytes, pmt: bytes, pmt_pid: int) -> None:
        self.pair = np.stack([psi_packet(PAT_PID, pat), psi_packet(pmt_pid, pmt)])
        self.count = 0

    def rows(self, q: int) -> U8:
        out = np.tile(self.pair, (q, 1))
        cc = ((self.count + np.arange(q)) & 0x0F).astype(np.uint8)
        out[0::2, 3] = 0x10 | cc
        out[1::2, 3] = 0x10 | cc
        self.count += q
        return out


def _clock(pts: I64, fallback_step: int = 3000) -> I64:
    """Forward-filled PTS (90 kHz) for scheduling PSI/PCR; nominal 30 Hz where none at all."""
    pts = np.asarray(pts, dtype=np.int64)
    if pts.size == 0:
        return pts
    valid = pts >= 0
    if not valid.any():
        return np.arange(pts.size, dtype=np.int64) * fallback_step
    idx = np.where(valid, np.arange(pts.size), 0)
    np.maximum.accumulate(idx, out=idx)
    out = pts[idx]
    first = int(np.argmax(valid))
    out[:first] = pts[first]
    return out


def _due(clock: I64, interval: int, last_bucket: int) -> tuple[npt.NDArray[np.bool_], int]:
    """Units where ``clock // interval`` changes (first unit after ``last_bucket`` included)."""
    bucket = clock // interval
    prev = np.empty_like(bucket)
    prev[0] = last_bucket
    prev[1:] = bucket[:-1]
    return bucket != prev, int(bucket[-1])


def _open_dest(dest: str | os.PathLike[str] | BinaryIO, stack: ExitStack) -> BinaryIO:
    if isinstance(dest, str | os.PathLike):
        return stack.enter_context(open(dest, "wb"))
    return dest


def _concat_payloads(packets: Sequence[bytes]) -> tuple[U8, I64]:
    lens = np.fromiter((len(p) for p in packets), dtype=np.int64, count=len(packets))
    data = np.frombuffer(b"".join(packets), dtype=np.uint8)
    return data, lens


def klv_program(
    carriage: str, pid: int, program_number: int = 1, service_id: int = 0
) -> tuple[ElementaryStream, bytes]:
    """(PMT entry, program descriptors) for a KLV stream with the given carriage."""
    if carriage not in ("async", "sync"):
        raise ValueError("carriage must be 'async' or 'sync'")
    stype = STREAM_TYPE_PRIVATE_PES if carriage == "async" else STREAM_TYPE_METADATA_PES
    es = ElementaryStream(stype, pid, klv_es_descriptors(carriage, service_id))
    pdesc = metadata_pointer_descriptor(program_number, service_id) if carriage == "sync" else b""
    return es, pdesc


def write_klv_ts(
    dest: str | os.PathLike[str] | BinaryIO,
    klv_packets: Sequence[bytes],
    pts_90k: npt.ArrayLike,
    *,
    carriage: str = "async",
    pid: int = DEFAULT_KLV_PID,
    pmt_pid: int = DEFAULT_PMT_PID,
    program_number: int = 1,
    service_id: int = 0,
    pcr: bool = True,
    psi_interval_90k: int = PSI_INTERVAL_90K,
    block: int = 65536,
) -> int:
    """Write a KLV-only TS: one PES per KLV packet (``pts_90k`` ticks, ``-1`` = no PTS).

    ``carriage='async'``: stream_type 0x06 + KLVA registration, stream_id 0xBD.
    ``carriage='sync'``: stream_type 0x15 + metadata descriptors, stream_id 0xFC, 5-byte AU
    cell header. PCR (if ``pcr``) rides in the KLV PID's adaptation field. PAT/PMT every
    ``psi_interval_90k`` ticks. Vectorised in blocks of ``block`` packets. Returns TS packets
    written.
    """
    pts_all = np.asarray(pts_90k, dtype=np.int64).reshape(-1)
    if pts_all.size != len(klv_packets):
        raise ValueError("need one PTS per KLV packet")
    es, pdesc = klv_program(carriage, pid, program_number, service_id)
    pat = build_pat({program_number: pmt_pid})
    pmt = build_pmt(program_number, pid if pcr else 0x1FFF, [es], pdesc)
    psi = _PsiRepeater(pat, pmt, pmt_pid)
    clock_all = _clock(pts_all)
    cc = 0
    written = 0
    last_psi = last_pcr = -(1 << 62)
    sid = STREAM_ID_PRIVATE_1 if carriage == "async" else STREAM_ID_METADATA
    with ExitStack() as stack:
        out = _open_dest(dest, stack)
        if len(klv_packets) == 0:
            rows0 = psi.rows(1)
            out.write(rows0.tobytes())
            return 2
        for b0 in range(0, len(klv_packets), block):
            b1 = min(b0 + block, len(klv_packets))
            data, lens = _concat_payloads(klv_packets[b0:b1])
            pts = pts_all[b0:b1]
            clock = clock_all[b0:b1]
            pes, pes_lens = build_pes(
                data,
                lens,
                stream_id=sid,
                pts=pts,
                cell_headers=carriage == "sync",
                service_id=service_id,
                first_sequence=b0,
            )
            pcr_v = None
            if pcr:
                due, last_pcr = _due(clock, PCR_INTERVAL_90K, last_pcr)
                pcr_base = np.maximum(clock - PCR_LEAD_90K, 0)
                pcr_v = np.where(due, pcr_base * 300, -1)
            rows, first = packetize(pes, pes_lens, pid=pid, first_cc=cc, pcr_27m=pcr_v)
            cc = (cc + rows.shape[0]) & 0x0F
            psi_due, last_psi = _due(clock, psi_interval_90k, last_psi)
            at = first[psi_due]
            if at.size:
                rows = np.insert(rows, np.repeat(at, 2), psi.rows(at.size), axis=0)
            out.write(rows.tobytes())
            written += rows.shape[0]
    return written


def _encode_video(
    frames: Iterable[npt.NDArray[np.uint8]], fps: Fraction, codec: str | None, bit_rate: int
) -> tuple[str, list[tuple[bytes, int, int, bool]]]:
    """Encode RGB frames with PyAV; returns codec name and (data, pts, dts, keyframe) in frames."""
    import av

    names = [codec] if codec else ["libx264", "mpeg2video"]
    name = next((c for c in names if c in av.codecs_available), None)
    if name is None:
        raise ValueError(f"no usable video encoder among {names}")
    ctx: av.VideoCodecContext | None = None
    packets: list[tuple[bytes, int, int, bool]] = []

    def grab(pkts: list[av.Packet]) -> None:
        for p in pkts:
            pts = int(p.pts) if p.pts is not None else -1
            dts = int(p.dts) if p.dts is not None else pts
            packets.append((bytes(p), pts, dts, bool(p.is_keyframe)))

    for i, arr in enumerate(frames):
        if ctx is None:
            h, w = arr.shape[:2]
            ctx = av.CodecContext.create(name, "w")  # type: ignore[assignment]
            assert ctx is not None
            ctx.width, ctx.height = w - w % 2, h - h % 2
            ctx.pix_fmt = "yuv420p"
            ctx.time_base = 1 / fps
            ctx.framerate = fps
            ctx.bit_rate = bit_rate
            ctx.gop_size = max(1, round(float(fps)))
            if name == "libx264":
                ctx.options = {"preset": "ultrafast", "bframes": "0"}
            else:
                ctx.max_b_frames = 0
        assert ctx is not None
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr[: ctx.height, : ctx.width]))
        vf = vf.reformat(format="yuv420p")
        vf.pts = i
        grab(ctx.encode(vf))
    if ctx is not None:
        grab(ctx.encode(None))
    return name, packets


def write_video_klv_ts(
    dest: str | os.PathLike[str] | BinaryIO,
    frames: Iterable[npt.NDArray[np.uint8]],
    fps: float | Fraction,
    klv_per_frame: Sequence[bytes],
    *,
    carriage: str = "async",
    video_pid: int = DEFAULT_VIDEO_PID,
    klv_pid: int = DEFAULT_KLV_PID,
    pmt_pid: int = DEFAULT_PMT_PID,
    program_number: int = 1,
    codec: str | None = None,
    bit_rate: int = 1_000_000,
    start_pts_90k: int = 90000,
) -> dict[str, object]:
    """Encode ``frames`` ((H, W, 3) uint8 RGB) with PyAV and mux them with one KLV PES per frame.

    H.264 (libx264) when available, else MPEG-2 video. KLV PES ``i`` carries the PTS of frame
    ``i`` (90 kHz ticks from ``start_pts_90k``); an empty entry writes no KLV for that frame.
    PCR rides on the video PID. Returns a summary (codec, frames, klv packets, TS packets).
    """
    fps_q = Fraction(fps).limit_denominator(1001000)
    name, vpk = _encode_video(frames, fps_q, codec, bit_rate)
    tick = Fraction(90000) / fps_q
    vstype = STREAM_TYPE_H264 if name in ("libx264", "h264") else STREAM_TYPE_MPEG2_VIDEO
    klv_es, pdesc = klv_program(carriage, klv_pid, program_number)
    pat = build_pat({program_number: pmt_pid})
    pmt = build_pmt(program_number, video_pid, [ElementaryStream(vstype, video_pid), klv_es], pdesc)
    psi = _PsiRepeater(pat, pmt, pmt_pid)

    def to90(v: int) -> int:
        return start_pts_90k + round(v * tick)

    v_pts = np.array([to90(p[1]) for p in vpk], dtype=np.int64)
    v_dts = np.array([to90(p[2]) for p in vpk], dtype=np.int64)
    v_key = np.array([p[3] for p in vpk], dtype=bool)
    vdata, vlens = _concat_payloads([p[0] for p in vpk])
    vpes, vpes_lens = build_pes(
        vdata, vlens, stream_id=STREAM_ID_VIDEO, pts=v_pts, dts=v_dts, allow_unbounded=True
    )
    pcr_v = np.maximum(v_dts - PCR_LEAD_90K, 0) * 300
    vrows, vfirst = packetize(vpes, vpes_lens, pid=video_pid, pcr_27m=pcr_v, random_access=v_key)
    vcount = np.diff(np.append(vfirst, vrows.shape[0]))

    nframes = len(vpk)
    sel = [i for i in range(min(nframes, len(klv_per_frame))) if klv_per_frame[i]]
    k_pts = np.array([to90(i) for i in sel], dtype=np.int64)
    if sel:
        kdata, klens = _concat_payloads([klv_per_frame[i] for i in sel])
        kpes, kpes_lens = build_pes(
            kdata,
            klens,
            stream_id=STREAM_ID_PRIVATE_1 if carriage == "async" else STREAM_ID_METADATA,
            pts=k_pts,
            cell_headers=carriage == "sync",
        )
        krows, kfirst = packetize(kpes, kpes_lens, pid=klv_pid)
    else:
        krows, kfirst = np.zeros((0, TS_PACKET), np.uint8), np.zeros(0, np.int64)
    kcount = np.diff(np.append(kfirst, krows.shape[0]))

    # interleave PES units by decode time (video before KLV of the same instant)
    t = np.concatenate([v_dts, k_pts])
    kind = np.concatenate([np.zeros(v_dts.size, np.int64), np.ones(k_pts.size, np.int64)])
    order = np.lexsort((kind, t))
    starts = np.concatenate([vfirst, kfirst + vrows.shape[0]])[order]
    counts = np.concatenate([vcount, kcount])[order]
    all_rows = np.concatenate([vrows, krows])
    unit_first = np.zeros(order.size, dtype=np.int64)
    np.cumsum(counts[:-1], out=unit_first[1:])
    gather = np.repeat(starts - unit_first, counts) + np.arange(int(counts.sum()))
    rows = all_rows[gather]
    if t.size:
        due, _ = _due(t[order], PSI_INTERVAL_90K, -(1 << 62))
        at = unit_first[due]
        rows = np.insert(rows, np.repeat(at, 2), psi.rows(at.size), axis=0)
    else:
        rows = psi.rows(1)
    with ExitStack() as stack:
        _open_dest(dest, stack).write(rows.tobytes())
    return {
        "codec": name,
        "frames": nframes,
        "klv_packets": len(sel),
        "ts_packets": int(rows.shape[0]),
        "klv_pts_90k": k_pts,
    }
