"""Vectorised extraction of KLV metadata from MPEG-2 transport streams (STANAG 4609 / ST 1402).

The hot path never loops over TS packets in Python: each fed buffer is viewed as an ``(N, 188)``
uint8 array, header fields are computed for all packets at once, continuity is checked per PID
with one stable sort, and the KLV bytes of every complete PES / metadata access unit are gathered
with one boolean mask over the packet rows. Only PSI packets that changed, the PES left open at
a buffer boundary, and unusual synchronous AUs (several cells, fragments) take a scalar path.

All PTS values are 90 kHz ticks (33 bits); ``-1`` means the PES had no PTS. All offsets are
byte offsets from the start of the source.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from vigia.errors import SourceError, TransportError
from vigia.mpegts.psi import (
    NULL_PID,
    PAT_PID,
    SectionAssembler,
    StreamInfo,
    klv_carriage,
    parse_pat,
    parse_pmt,
)

TS_PACKET = 188
SYNC_BYTE = 0x47
#: Packets whose sync bytes must line up at 188-byte stride to accept a new alignment.
RESYNC_CONFIRM = 4
#: An open metadata PES larger than this is dropped (a stream that never ends one).
MAX_PES_BYTES = 1 << 24

_COLS = np.arange(TS_PACKET, dtype=np.int16)
# PES stream_ids whose header has no optional part (ISO 13818-1 table 2-21).
_NO_OPT_HEADER = np.zeros(256, dtype=bool)
_NO_OPT_HEADER[[0xBC, 0xBE, 0xBF, 0xF0, 0xF1, 0xF2, 0xF8, 0xFF]] = True

I64 = npt.NDArray[np.int64]
U8 = npt.NDArray[np.uint8]


@dataclass
class MetadataChunk:
    """Complete metadata PES payloads / AUs of one PID, in stream order.

    ``data`` holds the KLV bytes of every AU back to back; AU ``i`` is
    ``data[au_offsets[i]:au_offsets[i+1]]`` (the last one runs to the end).
    """

    pid: int
    data: bytes
    au_offsets: I64
    pts: I64
    source_offsets: I64

    def __len__(self) -> int:
        return int(self.au_offsets.size)

    def au_ends(self) -> I64:
        """End offset in ``data`` of each AU."""
        ends = np.empty_like(self.au_offsets)
        ends[:-1] = self.au_offsets[1:]
        if ends.size:
            ends[-1] = len(self.data)
        return ends

    def au(self, i: int) -> bytes:
        """KLV bytes of AU ``i``."""
        return self.data[int(self.au_offsets[i]) : int(self.au_ends()[i])]

    def aus(self) -> list[bytes]:
        """KLV bytes of every AU (one Python object per AU: for tests and small streams)."""
        ends = self.au_ends()
        starts = self.au_offsets.tolist()
        return [self.data[a:b] for a, b in zip(starts, ends.tolist(), strict=True)]

    @staticmethod
    def concat(chunks: list[MetadataChunk]) -> MetadataChunk:
        """Join chunks of one PID (in order) into one."""
        if not chunks:
            raise ValueError("nothing to concatenate")
        sizes = np.cumsum([0] + [len(c.data) for c in chunks[:-1]], dtype=np.int64)
        return MetadataChunk(
            chunks[0].pid,
            b"".join(c.data for c in chunks),
            np.concatenate([c.au_offsets + s for c, s in zip(chunks, sizes, strict=True)]),
            np.concatenate([c.pts for c in chunks]),
            np.concatenate([c.source_offsets for c in chunks]),
        )


@dataclass
class DemuxStats:
    """What the demuxer saw and what damage it counted (nothing lost silently)."""

    ts_packets: int = 0  #: 188-byte packets accepted (sync aligned)
    bytes_read: int = 0  #: bytes fed
    resyncs: int = 0  #: times the 188-byte alignment was lost and found again
    bytes_skipped: int = 0  #: bytes dropped while searching for sync (incl. a truncated tail)
    bad_sync_packets: int = 0  #: packets dropped in place because their sync byte was damaged
    cc_errors: dict[int, int] = field(default_factory=dict)  #: PID -> continuity errors
    duplicate_packets: int = 0  #: repeated packets (same CC, discarded)
    tei_packets: int = 0  #: packets with transport_error_indicator (discarded)
    bad_adaptation: int = 0  #: adaptation_field_length beyond the packet (payload discarded)
    psi_errors: int = 0  #: PAT/PMT sections with a bad CRC or layout
    bad_pes: int = 0  #: metadata PES with a bad header (no start code, bad flags, too short)
    truncated_pes: int = 0  #: metadata PES cut short by packet loss or end of input
    orphan_packets: int = 0  #: metadata packets seen before any PES start
    bad_au_cells: int = 0  #: synchronous metadata AU cells overrunning their PES
    metadata_aus: int = 0  #: PES / AUs delivered
    metadata_bytes: int = 0  #: KLV bytes delivered
    tail_cut_at: int | None = None  #: offset of a last TS packet the end of input cut short

    def as_dict(self) -> dict[str, object]:
        """Plain dict (JSON-ready; PID keys of ``cc_errors`` stay ints)."""
        return asdict(self)

    @property
    def total_cc_errors(self) -> int:
        """Continuity errors over all PIDs."""
        return sum(self.cc_errors.values())


@dataclass(slots=True)
class _Pending:
    """An open metadata PES carried across feeds: its bytes so far (from the PES start code)."""

    data: bytearray
    source_offset: int


@dataclass(slots=True)
class _AU:
    """One AU found by the scalar path, to splice into the vectorised output."""

    data: bytes
    pts: int
    source_offset: int


def _empty_i64() -> I64:
    return np.zeros(0, dtype=np.int64)


def _read_pts(b: bytes | U8, i: int) -> int:
    return (
        ((int(b[i]) >> 1) & 7) << 30
        | int(b[i + 1]) << 22
        | (int(b[i + 2]) >> 1) << 15
        | int(b[i + 3]) << 7
        | int(b[i + 4]) >> 1
    )


class KLVDemuxer:
    """Incremental KLV demuxer: feed byte chunks of any size, get completed metadata AUs.

    ``strict=False`` (default) never raises on damaged input: damage is counted in
    :attr:`stats`. ``strict=True`` raises :class:`TransportError` with the byte offset of the
    first problem (lost sync, TEI, continuity error, bad PSI CRC, bad or truncated PES).
    """

    def __init__(self, *, strict: bool = False) -> None:
        self.strict = strict
        self.stats = DemuxStats()
        self.streams: dict[int, StreamInfo] = {}
        self.programs: dict[int, int] = {}  # program_number -> PMT PID
        self._buf = b""
        self._buf_offset = 0  # source offset of _buf[0]
        self._synced = False
        self._suspect: tuple[int, bytes] | None = None  # packet before a lost sync, undecided
        self._gap_start = 0  # source offset where the current unsynchronised gap began
        self._is_pmt = np.zeros(8192, dtype=bool)
        self._is_meta = np.zeros(8192, dtype=bool)
        self._pmt_program: dict[int, int] = {}
        self._asm: dict[int, SectionAssembler] = {}
        self._psi_cache: dict[int, bytes] = {}
        self._last_cc = np.full(8192, -1, dtype=np.int16)
        self._last_pay = np.zeros(8192, dtype=bool)
        self._cc_counts = np.zeros(8192, dtype=np.int64)
        self._pending: dict[int, _Pending] = {}
        self._problems: list[tuple[int, str]] = []
        self._flushed = False

    # --- public ---------------------------------------------------------------------------
    def feed(self, chunk: bytes | bytearray | memoryview) -> list[MetadataChunk]:
        """Add bytes; return the metadata AUs completed so far (one entry per PID)."""
        if not chunk:
            return []
        self.stats.bytes_read += len(chunk)
        data = bytes(chunk) if not isinstance(chunk, bytes) else chunk
        buf = self._buf + data if self._buf else data
        return self._run(buf, final=False)

    def flush(self) -> list[MetadataChunk]:
        """End of input: deliver the last packet, close open PES (counted as truncated if short)."""
        if self._flushed:
            return []
        self._flushed = True
        out = self._run(self._buf, final=True)
        extra: dict[int, list[_AU]] = {}
        for pid in sorted(self._pending):
            pend = self._pending.pop(pid)
            au = self._finish_scalar(pid, bytes(pend.data), pend.source_offset, False)
            if au is not None:
                extra.setdefault(pid, []).append(au)
        self._raise_problems()
        if extra:
            merged = {c.pid: c for c in out}
            for pid, aus in extra.items():
                tail = self._chunk_from_aus(pid, aus)
                self._deliver(tail)
                merged[pid] = MetadataChunk.concat([merged[pid], tail]) if pid in merged else tail
            out = [merged[p] for p in sorted(merged)]
        return out

    # --- alignment --------------------------------------------------------------------------
    def _problem(self, offset: int, message: str) -> None:
        if self.strict:
            self._problems.append((offset, message))

    def _raise_problems(self) -> None:
        if self._problems:
            offset, message = min(self._problems)
            self._problems.clear()
            raise TransportError(message, offset=offset)

    def _find_sync(self, arr: U8, pos: int, final: bool) -> tuple[int | None, int]:
        """First confirmed packet start at or after ``pos``; else (None, first undecided pos)."""
        n = arr.size
        seg = arr[pos:]
        span = (RESYNC_CONFIRM - 1) * TS_PACKET
        lim = seg.size - span
        if lim > 0:
            ok = seg[:lim] == SYNC_BYTE
            for j in range(1, RESYNC_CONFIRM):
                ok &= seg[j * TS_PACKET : j * TS_PACKET + lim] == SYNC_BYTE
            hit = np.flatnonzero(ok)
            if hit.size:
                return pos + int(hit[0]), pos + int(hit[0])
        tail = pos + max(lim, 0)
        if not final:
            return None, tail
        # End of input: accept a candidate confirmed by every stride still available.
        for c in np.flatnonzero(arr[tail : n - TS_PACKET + 1] == SYNC_BYTE).tolist():
            c += tail
            if bool(np.all(arr[c:n:TS_PACKET] == SYNC_BYTE)):
                return c, c
        return None, n

    def _resynced(self, found_abs: int, runs: list[tuple[U8, int]]) -> None:
        """Alignment found again at ``found_abs``: settle the suspect packet and the gap."""
        gap_start = self._gap_start
        if self._suspect is not None:
            s_off, s_bytes = self._suspect
            self._suspect = None
            if found_abs >= s_off + TS_PACKET:
                # bytes were inserted after the suspect packet, not taken from it: it is whole
                runs.append((np.frombuffer(s_bytes, np.uint8).reshape(1, TS_PACKET), s_off))
                gap_start = s_off + TS_PACKET
        if found_abs > gap_start:
            self.stats.resyncs += 1
            self.stats.bytes_skipped += found_abs - gap_start
            self._problem(gap_start, "sync byte 0x47 lost")

    def _align(self, buf: bytes, final: bool) -> list[tuple[U8, int]]:
        """Split ``buf`` into runs of aligned packets; keep the undecided tail in ``_buf``.

        A packet is accepted when its own sync byte and the next packet's are right. When the
        next one is wrong but the stride goes on after it, only that packet is dropped (damaged
        sync byte). Otherwise alignment is lost: the packet before the break is kept aside and
        accepted only if the new alignment shows that bytes were inserted, not deleted.
        """
        arr = np.frombuffer(buf, dtype=np.uint8)
        n = arr.size
        base = self._buf_offset
        runs: list[tuple[U8, int]] = []
        pos = 0
        while pos < n:
            if not self._synced:
                found, upto = self._find_sync(arr, pos, final)
                if found is None:
                    pos = upto
                    break
                self._resynced(base + found, runs)
                pos = found
                self._synced = True
            m = (n - pos) // TS_PACKET
            if m == 0:
                break
            sync = arr[pos : pos + m * TS_PACKET : TS_PACKET] == SYNC_BYTE
            bad = np.flatnonzero(~sync)
            k_bad = int(bad[0]) if bad.size else m
            if k_bad == m:
                nxt = pos + m * TS_PACKET
                if nxt >= n or arr[nxt] == SYNC_BYTE:
                    if nxt < n or final:
                        runs.append(self._run_view(arr, pos, m, base))
                        pos = nxt
                        continue
                    if m > 1:
                        runs.append(self._run_view(arr, pos, m - 1, base))
                        pos += (m - 1) * TS_PACKET
                    break
            if k_bad >= 2:
                runs.append(self._run_view(arr, pos, k_bad - 1, base))
                pos += (k_bad - 1) * TS_PACKET
                k_bad = 1
            bad_pos = pos + k_bad * TS_PACKET
            after = bad_pos + TS_PACKET
            if after >= n:
                if not final:
                    break  # cannot tell a damaged sync byte from lost alignment yet
                if k_bad == 1:
                    runs.append(self._run_view(arr, pos, 1, base))
                pos = bad_pos
                break
            if arr[after] == SYNC_BYTE:
                # the stride goes on: only this packet's sync byte is damaged; drop it
                if k_bad == 1:
                    runs.append(self._run_view(arr, pos, 1, base))
                self.stats.bad_sync_packets += 1
                self.stats.bytes_skipped += TS_PACKET
                self._problem(base + bad_pos, "damaged sync byte")
                pos = after
                continue
            self._synced = False
            self._problem(base + bad_pos, "sync byte 0x47 lost")
            if k_bad == 1:
                self._suspect = (base + pos, bytes(buf[pos : pos + TS_PACKET]))
                self._gap_start = base + pos
                pos += 1
            else:
                self._gap_start = base + bad_pos
                pos = bad_pos + 1
        if final:
            if not self._synced:
                self._suspect = None
                if base + n > self._gap_start:
                    self.stats.bytes_skipped += base + n - self._gap_start
                    self._problem(self._gap_start, "no transport stream packets")
            elif pos < n:
                self.stats.bytes_skipped += n - pos
                self.stats.tail_cut_at = base + pos
                self._problem(base + pos, "truncated TS packet at end of input")
            pos = n
        self._buf = buf[pos:]
        self._buf_offset = base + pos
        return runs

    @staticmethod
    def _run_view(arr: U8, pos: int, count: int, base: int) -> tuple[U8, int]:
        return arr[pos : pos + count * TS_PACKET].reshape(count, TS_PACKET), base + pos

    # --- per batch ------------------------------------------------------------------------
    def _run(self, buf: bytes, final: bool) -> list[MetadataChunk]:
        runs = self._align(buf, final)
        if not runs:
            self._raise_problems()
            return []
        if len(runs) == 1:
            pkts, first = runs[0]
            offs = first + np.arange(pkts.shape[0], dtype=np.int64) * TS_PACKET
        else:
            pkts = np.concatenate([r for r, _ in runs])
            offs = np.concatenate(
                [o + np.arange(r.shape[0], dtype=np.int64) * TS_PACKET for r, o in runs]
            )
        out = self._process(pkts, offs)
        self._raise_problems()
        return out

    def _process(self, pkts: U8, offs: I64) -> list[MetadataChunk]:
        st = self.stats
        st.ts_packets += pkts.shape[0]
        b1 = pkts[:, 1]
        tei = (b1 & 0x80) != 0
        if tei.any():
            st.tei_packets += int(tei.sum())
            self._problem(int(offs[np.argmax(tei)]), "transport_error_indicator set")
            keep = ~tei
            pkts, offs, b1 = pkts[keep], offs[keep], b1[keep]
        n = pkts.shape[0]
        if n == 0:
            return []
        pid = ((b1.astype(np.int32) & 0x1F) << 8) | pkts[:, 2]
        b3 = pkts[:, 3]
        afc = (b3 >> 4) & 3
        cc = (b3 & 0x0F).astype(np.int16)
        pusi = (b1 & 0x40) != 0
        has_af = afc >= 2
        aflen = pkts[:, 4].astype(np.int16)
        start = np.where(has_af, 5 + aflen, 4).astype(np.int16)
        bad_af = (afc == 3) & (aflen > 182)
        has_pay = ((afc & 1) == 1) & ~bad_af
        if bad_af.any():
            st.bad_adaptation += int(bad_af.sum())
            self._problem(int(offs[np.argmax(bad_af)]), "adaptation_field_length too long")
        disc = has_af & (aflen > 0) & ((pkts[:, 5] & 0x80) != 0)
        dup, err = self._continuity(pid, cc, (afc & 1) == 1, disc, offs)
        use = has_pay & ~dup
        # PSI: PAT first (it may announce PMT PIDs), then the PMTs.
        psi_now = use & ((pid == PAT_PID) | self._is_pmt[pid])
        if psi_now.any():
            self._psi(pkts, offs, pid, pusi, start, err, use & (pid == PAT_PID))
            self._psi(pkts, offs, pid, pusi, start, err, use & self._is_pmt[pid])
        meta = self._is_meta[pid] & ((afc & 1) == 1) & ~dup
        if not meta.any():
            return []
        idx = np.flatnonzero(meta)
        mpid = pid[idx]
        out: list[MetadataChunk] = []
        pids = np.unique(mpid)
        for p in pids.tolist():
            sel = idx if pids.size == 1 else idx[mpid == p]
            chunk = self._pid_batch(
                p,
                pkts[sel],
                offs[sel],
                start[sel],
                pusi[sel],
                err[sel],
                bad_af[sel],
            )
            if chunk is not None:
                out.append(chunk)
        return out

    def _continuity(
        self,
        pid: npt.NDArray[np.int32],
        cc: npt.NDArray[np.int16],
        pay: npt.NDArray[np.bool_],
        disc: npt.NDArray[np.bool_],
        offs: I64,
    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        """Vectorised continuity check: (duplicate, error-before-this-packet) per packet."""
        n = pid.size
        order = np.argsort(pid, kind="stable")
        ps = pid[order]
        ccs = cc[order]
        pays = pay[order]
        first = np.ones(n, dtype=bool)
        first[1:] = ps[1:] != ps[:-1]
        last = np.ones(n, dtype=bool)
        last[:-1] = first[1:]
        prev_cc = np.empty(n, dtype=np.int16)
        prev_cc[1:] = ccs[:-1]
        prev_cc[first] = self._last_cc[ps[first]]
        prev_pay = np.empty(n, dtype=bool)
        prev_pay[1:] = pays[:-1]
        prev_pay[first] = self._last_pay[ps[first]]
        self._last_cc[ps[last]] = ccs[last]
        self._last_pay[ps[last]] = pays[last]
        checked = pays & (prev_cc >= 0) & ~disc[order] & (ps != NULL_PID)
        same = ccs == prev_cc
        dup_s = checked & prev_pay & same
        err_s = checked & ~dup_s & (ccs != ((prev_cc + 1) & 0x0F))
        dup = np.empty(n, dtype=bool)
        dup[order] = dup_s
        err = np.empty(n, dtype=bool)
        err[order] = err_s
        if dup_s.any():
            self.stats.duplicate_packets += int(dup_s.sum())
        if err_s.any():
            counts = np.bincount(ps[err_s], minlength=8192)
            self._cc_counts += counts
            for p in np.flatnonzero(counts).tolist():
                self.stats.cc_errors[p] = int(self._cc_counts[p])
            self._problem(int(offs[np.argmax(err)]), "continuity counter error")
        return dup, err

    # --- PSI ------------------------------------------------------------------------------
    def _psi(
        self,
        pkts: U8,
        offs: I64,
        pid: npt.NDArray[np.int32],
        pusi: npt.NDArray[np.bool_],
        start: npt.NDArray[np.int16],
        err: npt.NDArray[np.bool_],
        mask: npt.NDArray[np.bool_],
    ) -> None:
        idx = np.flatnonzero(mask)
        if idx.size > 1:
            # a packet identical to the previous one of its PID (CC aside) changes nothing
            order = idx[np.argsort(pid[idx], kind="stable")]
            rows = pkts[order]
            same = (pid[order][1:] == pid[order][:-1]) & ~err[order][1:]
            same &= (rows[1:, 4:] == rows[:-1, 4:]).all(axis=1)
            same &= (rows[1:, 1] == rows[:-1, 1]) & ((rows[1:, 3] ^ rows[:-1, 3]) & 0xF0 == 0)
            keep = np.ones(order.size, dtype=bool)
            keep[1:] = ~same
            idx = np.sort(order[keep])
        for i in idx.tolist():
            p = int(pid[i])
            asm = self._asm.get(p)
            if asm is None:
                asm = self._asm[p] = SectionAssembler()
            if err[i]:
                asm.reset()
            payload = pkts[i, int(start[i]) :].tobytes()
            key = payload + (b"\x01" if pusi[i] else b"\x00")
            if asm.idle and self._psi_cache.get(p) == key:
                continue  # same table as last time: nothing to do
            sections = asm.push(payload, bool(pusi[i]))
            for sec in sections:
                self._section(p, sec, int(offs[i]))
            self._psi_cache[p] = key if (asm.idle and sections) else b""

    def _section(self, pid: int, section: bytes, offset: int) -> None:
        if pid == PAT_PID:
            pat = parse_pat(section)
            if pat is None:
                self.stats.psi_errors += 1
                self._problem(offset, "bad PAT section")
                return
            for program, pmt_pid in pat.items():
                if 0 < pmt_pid < NULL_PID:
                    self.programs[program] = pmt_pid
                    self._pmt_program[pmt_pid] = program
                    self._is_pmt[pmt_pid] = True
            return
        pmt = parse_pmt(section)
        if pmt is None:
            if section[0] == 0x02:
                self.stats.psi_errors += 1
                self._problem(offset, "bad PMT section")
            return
        for es in pmt.streams:
            carriage, service = klv_carriage(es.stream_type, es.descriptors)
            if carriage and es.pid not in (PAT_PID, NULL_PID) and not self._is_pmt[es.pid]:
                info = StreamInfo(es.pid, es.stream_type, carriage, pmt.program_number, service)
                self.streams[es.pid] = info
                self._is_meta[es.pid] = True

    # --- PES / AU -------------------------------------------------------------------------
    def _pid_batch(
        self,
        pid: int,
        rows: U8,
        offs: I64,
        start: npt.NDArray[np.int16],
        pusi: npt.NDArray[np.bool_],
        gap: npt.NDArray[np.bool_],
        bad_af: npt.NDArray[np.bool_],
    ) -> MetadataChunk | None:
        """Reassemble the PES of one PID in this batch; return the complete AUs."""
        st = self.stats
        k = rows.shape[0]
        scol: I64 = np.where(bad_af, TS_PACKET, start).astype(np.int64)  # no payload
        plen = TS_PACKET - scol
        pos = np.zeros(k + 1, dtype=np.int64)
        np.cumsum(plen, out=pos[1:])
        pus_rows = np.flatnonzero(pusi)
        first_pusi = int(pus_rows[0]) if pus_rows.size else k
        gap_rows = np.flatnonzero(gap)
        pre: list[_AU] = []
        # 1) rows before the first PES start continue the PES left open by the last feed
        pend = self._pending.get(pid)
        if pend is None:
            st.orphan_packets += first_pusi
        else:
            g = gap_rows[gap_rows <= first_pusi]
            upto = int(g[0]) if g.size else first_pusi
            if upto > 0:
                pend.data += self._row_bytes(rows, scol, 0, upto)
            if upto < first_pusi:
                st.orphan_packets += first_pusi - upto - 1
            closed = bool(g.size) or first_pusi < k or self._declared_complete(pend.data)
            if closed:
                del self._pending[pid]
                au = self._finish_scalar(pid, bytes(pend.data), pend.source_offset, bool(g.size))
                if au is not None:
                    pre.append(au)
            elif len(pend.data) > MAX_PES_BYTES:
                del self._pending[pid]
                st.bad_pes += 1
                self._problem(pend.source_offset, "metadata PES larger than 16 MiB")
        nes = pus_rows.size
        if nes == 0:
            return self._deliver(self._chunk_from_aus(pid, pre)) if pre else None
        # 2) every PES that starts in this batch
        s_flat = pos[pus_rows]
        nxt_row = np.empty(nes, dtype=np.int64)
        nxt_row[:-1] = pus_rows[1:]
        nxt_row[-1] = k
        end_flat = pos[nxt_row]
        truncated = np.zeros(nes, dtype=bool)
        if gap_rows.size:
            gi = np.searchsorted(gap_rows, pus_rows, side="right")
            has = gi < gap_rows.size
            grow = np.where(has, gap_rows[np.minimum(gi, gap_rows.size - 1)], k)
            cut = has & (grow < nxt_row)
            end_flat = np.where(cut, pos[np.minimum(grow, k)], end_flat)
            truncated = cut.copy()
            # a gap on the next PES start row: this PES may have lost its tail
            nxt_gap = np.zeros(nes, dtype=bool)
            nxt_gap[:-1] = gap[pus_rows[1:]]
            truncated |= nxt_gap
        avail = end_flat - s_flat
        # header bytes (14) and, for sync carriage, the 5-byte cell header
        hdr = self._gather(rows, scol, pos, pus_rows, s_flat[:, None] + np.arange(14), end_flat)
        valid_start = (hdr[:, 0] == 0) & (hdr[:, 1] == 0) & (hdr[:, 2] == 1) & (avail >= 6)
        sid = hdr[:, 3].astype(np.intp)
        pes_len = (hdr[:, 4].astype(np.int64) << 8) | hdr[:, 5]
        no_opt = _NO_OPT_HEADER[sid]
        opt_ok = ((hdr[:, 6] & 0xC0) == 0x80) & (avail >= 9)
        hdl = hdr[:, 8].astype(np.int64)
        pts_flag = (hdr[:, 7] & 0x80) != 0
        head_len = np.where(no_opt, 6, 9 + hdl)
        declared_end = np.where(pes_len > 0, s_flat + 6 + pes_len, np.iinfo(np.int64).max)
        ok = valid_start & (no_opt | opt_ok)
        ok &= s_flat + head_len <= np.minimum(end_flat, declared_end)
        pts = np.where(ok & ~no_opt & pts_flag & (hdl >= 5), self._pts(hdr), -1)
        # the last PES stays open unless its declared length is already there (or it was cut)
        is_open = np.zeros(nes, dtype=bool)
        last_closed = bool(truncated[-1]) or int(declared_end[-1]) <= int(end_flat[-1])
        if not last_closed:
            is_open[-1] = True
        # with a declared PES length, truncation is a shortfall; without, any loss inside it
        short = (declared_end > end_flat) & (pes_len > 0) & ~is_open
        truncated = (short | (truncated & (pes_len == 0))) & ok
        pay_begin = s_flat + head_len
        pay_end = np.minimum(end_flat, declared_end)
        carriage = self.streams[pid].carriage if pid in self.streams else "async"
        complex_ = np.zeros(nes, dtype=bool)
        if carriage == "sync":
            cell = self._gather(
                rows, scol, pos, pus_rows, pay_begin[:, None] + np.arange(5), end_flat
            )
            cell_len = (cell[:, 3].astype(np.int64) << 8) | cell[:, 4]
            simple = ((cell[:, 2] >> 6) == 3) & (pay_begin + 5 + cell_len == pay_end) & ~truncated
            complex_ = ok & ~is_open & ~simple
            pay_begin = pay_begin + 5
        bad = ~ok & ~is_open
        if bad.any():
            st.bad_pes += int(bad.sum())
            self._problem(int(offs[pus_rows[np.argmax(bad)]]), "bad PES header")
        if truncated.any():
            st.truncated_pes += int(truncated.sum())
            self._problem(int(offs[pus_rows[np.argmax(truncated)]]), "metadata PES truncated")
        vec = ok & ~is_open & ~complex_
        # 3) open PES -> pending bytes
        if is_open[-1]:
            r0 = int(pus_rows[-1])
            self._pending[pid] = _Pending(
                bytearray(self._row_bytes(rows, scol, r0, k)), int(offs[r0])
            )
        # 4) scalar path for complex sync AUs
        scalar: dict[int, _AU] = {}
        for j in np.flatnonzero(complex_).tolist():
            r0, r1 = int(pus_rows[j]), int(nxt_row[j])
            raw = self._row_bytes(rows, scol, r0, r1)[: int(end_flat[j] - s_flat[j])]
            au = self._finish_scalar(pid, raw, int(offs[r0]), bool(truncated[j]), count=False)
            if au is not None:
                scalar[j] = au
        # 5) vectorised gather: each row keeps [lo, hi) of its PES's AU bytes
        pes_of_row = np.cumsum(pusi) - 1
        pr = np.maximum(pes_of_row, 0)
        keep_row = (pes_of_row >= 0) & vec[pr]
        lo = np.clip(scol + pay_begin[pr] - pos[:-1], scol, TS_PACKET)
        hi = np.clip(scol + pay_end[pr] - pos[:-1], scol, TS_PACKET)
        hi = np.maximum(hi, lo)
        if keep_row.all():
            sub = rows
        else:
            sel_rows = np.flatnonzero(keep_row)
            sub, lo, hi = rows[sel_rows], lo[sel_rows], hi[sel_rows]
        mask = (lo[:, None] <= _COLS) & (hi[:, None] > _COLS)
        data = sub[mask].tobytes()
        lens = np.maximum(pay_end - pay_begin, 0)[vec]
        au_off = np.zeros(lens.size, dtype=np.int64)
        np.cumsum(lens[:-1], out=au_off[1:])
        src = offs[pus_rows].astype(np.int64)
        if not scalar:
            chunk = MetadataChunk(pid, data, au_off, pts[vec], src[vec])
            if pre:
                chunk = MetadataChunk.concat([self._chunk_from_aus(pid, pre), chunk])
        else:
            aus: list[_AU] = list(pre)
            vec_j = np.flatnonzero(vec).tolist()
            ends = (au_off + lens).tolist()
            starts = au_off.tolist()
            vi = 0
            for j in range(nes):
                if vi < len(vec_j) and vec_j[vi] == j:
                    aus.append(_AU(data[starts[vi] : ends[vi]], int(pts[j]), int(src[j])))
                    vi += 1
                elif j in scalar:
                    aus.append(scalar[j])
            chunk = self._chunk_from_aus(pid, aus)
        return self._deliver(chunk)

    def _deliver(self, chunk: MetadataChunk) -> MetadataChunk | None:
        if not len(chunk):
            return None
        self.stats.metadata_aus += len(chunk)
        self.stats.metadata_bytes += len(chunk.data)
        return chunk

    @staticmethod
    def _pts(hdr: U8) -> I64:
        h = hdr.astype(np.int64)
        return (
            ((h[:, 9] >> 1) & 7) << 30
            | h[:, 10] << 22
            | (h[:, 11] >> 1) << 15
            | h[:, 12] << 7
            | h[:, 13] >> 1
        )

    @staticmethod
    def _gather(rows: U8, start: I64, pos: I64, first_row: I64, flat_idx: I64, limit: I64) -> U8:
        """Bytes at flat payload positions ``flat_idx`` (K, w); 0 at or beyond ``limit`` (K,).

        ``first_row`` is a row at or before each position (the PES start row): positions in
        that row are read directly, the others located with a search.
        """
        r = np.broadcast_to(first_row[:, None], flat_idx.shape).copy()
        c = start[r] + flat_idx - pos[r]
        far = c >= TS_PACKET
        if far.any():
            total = int(pos[-1])
            fi = np.minimum(flat_idx[far], max(total - 1, 0))
            rf = np.clip(np.searchsorted(pos, fi, side="right") - 1, 0, rows.shape[0] - 1)
            r[far] = rf
            c[far] = start[rf] + fi - pos[rf]
        out = rows[r, np.clip(c, 0, TS_PACKET - 1)]
        out[flat_idx >= limit[:, None]] = 0
        return out

    @staticmethod
    def _row_bytes(rows: U8, start: I64, r0: int, r1: int) -> bytes:
        if r1 <= r0:
            return b""
        sub = rows[r0:r1]
        return sub[start[r0:r1, None] <= _COLS].tobytes()

    @staticmethod
    def _declared_complete(data: bytearray) -> bool:
        if len(data) < 6:
            return False
        length = (data[4] << 8) | data[5]
        return length > 0 and len(data) >= 6 + length

    def _finish_scalar(
        self, pid: int, raw: bytes, source_offset: int, closed_by_loss: bool, count: bool = True
    ) -> _AU | None:
        """Scalar PES -> AU (for PES spanning feeds and complex sync AUs)."""
        st = self.stats
        n = len(raw)
        if n < 6 or raw[0:3] != b"\x00\x00\x01":
            st.bad_pes += 1
            self._problem(source_offset, "bad PES header")
            return None
        sid = raw[3]
        length = (raw[4] << 8) | raw[5]
        end = min(n, 6 + length) if length else n
        if count and ((length and n < 6 + length) or (not length and closed_by_loss)):
            st.truncated_pes += 1
            self._problem(source_offset, "metadata PES truncated")
        pts = -1
        if _NO_OPT_HEADER[sid]:
            begin = 6
        else:
            if n < 9 or (raw[6] & 0xC0) != 0x80:
                st.bad_pes += 1
                self._problem(source_offset, "bad PES header")
                return None
            hdl = raw[8]
            begin = 9 + hdl
            if begin > n:
                st.bad_pes += 1
                self._problem(source_offset, "bad PES header")
                return None
            if raw[7] & 0x80 and hdl >= 5:
                pts = _read_pts(raw, 9)
        payload = raw[begin:end]
        info = self.streams.get(pid)
        if info is not None and info.carriage == "sync":
            payload = self._cells(payload, source_offset)
        return _AU(payload, pts, source_offset)

    def _cells(self, payload: bytes, source_offset: int) -> bytes:
        """Concatenate the data of the metadata AU cells of one PES (ST 1402, 5-byte headers)."""
        parts: list[bytes] = []
        pos = 0
        n = len(payload)
        while pos + 5 <= n:
            length = (payload[pos + 3] << 8) | payload[pos + 4]
            if pos + 5 + length > n:
                self.stats.bad_au_cells += 1
                self._problem(source_offset, "metadata AU cell overruns its PES")
            parts.append(payload[pos + 5 : pos + 5 + length])
            pos += 5 + length
        return b"".join(parts)

    def _chunk_from_aus(self, pid: int, aus: list[_AU]) -> MetadataChunk:
        lens = np.array([len(a.data) for a in aus], dtype=np.int64)
        offsets = np.zeros(len(aus), dtype=np.int64)
        np.cumsum(lens[:-1], out=offsets[1:])
        return MetadataChunk(
            pid,
            b"".join(a.data for a in aus),
            offsets,
            np.array([a.pts for a in aus], dtype=np.int64),
            np.array([a.source_offset for a in aus], dtype=np.int64),
        )


def is_transport_stream(head: bytes | bytearray | memoryview) -> bool:
    """Content sniffing: sync bytes at 188-byte stride, allowing up to 188 leading garbage bytes.

    Needs at least two sync bytes (so at least 189 bytes); checks up to five packets.
    """
    arr = np.frombuffer(bytes(head), dtype=np.uint8)
    n = arr.size
    if n < TS_PACKET + 1:
        return False
    for off in np.flatnonzero(arr[: min(TS_PACKET, n - TS_PACKET)] == SYNC_BYTE).tolist():
        strides = arr[off : off + 5 * TS_PACKET : TS_PACKET]
        if strides.size >= 2 and bool(np.all(strides == SYNC_BYTE)):
            return True
    return False


class KLVFileReader:
    """Iterator over the metadata chunks of a TS file; ``stats``/``streams`` filled as it goes."""

    def __init__(
        self,
        source: str | os.PathLike[str] | BinaryIO,
        *,
        strict: bool = False,
        chunk_size: int = 188 * 8192,
    ) -> None:
        self.demuxer = KLVDemuxer(strict=strict)
        self._chunk_size = max(1, int(chunk_size))
        if isinstance(source, str | os.PathLike):
            try:
                self._file: BinaryIO = open(source, "rb")  # noqa: SIM115 - closed in _gen
            except OSError as exc:
                raise SourceError(f"cannot open transport stream {source!s}: {exc}") from exc
            self._owns = True
        else:
            self._file = source
            self._owns = False
        self._it = self._gen()

    @property
    def stats(self) -> DemuxStats:
        """Counters of the demuxer (final once the iterator is exhausted)."""
        return self.demuxer.stats

    @property
    def streams(self) -> dict[int, StreamInfo]:
        """KLV streams found so far (PID -> StreamInfo)."""
        return self.demuxer.streams

    def _gen(self) -> Iterator[MetadataChunk]:
        try:
            while True:
                block = self._file.read(self._chunk_size)
                if not block:
                    break
                yield from self.demuxer.feed(block)
            yield from self.demuxer.flush()
        finally:
            if self._owns:
                self._file.close()

    def __iter__(self) -> KLVFileReader:
        return self

    def __next__(self) -> MetadataChunk:
        return next(self._it)

    def read_all(self) -> dict[int, MetadataChunk]:
        """Consume everything; return one concatenated chunk per metadata PID."""
        parts: dict[int, list[MetadataChunk]] = {}
        for c in self:
            parts.setdefault(c.pid, []).append(c)
        return {pid: MetadataChunk.concat(cs) for pid, cs in sorted(parts.items())}


def demux_klv_file(
    path: str | os.PathLike[str] | BinaryIO,
    *,
    strict: bool = False,
    chunk_size: int = 188 * 8192,
) -> KLVFileReader:
    """Iterate the metadata chunks of a TS file (or binary file object), reading ``chunk_size``
    bytes at a time. The returned reader has ``.stats`` and ``.streams``, and ``read_all()``."""
    return KLVFileReader(path, strict=strict, chunk_size=chunk_size)
