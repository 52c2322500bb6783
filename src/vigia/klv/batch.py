"""Vectorised KLV decoding: a whole buffer of ST 0601 packets into columns at once.

The stream is handled as one ``uint8`` array. Packets are framed by finding every SMPTE UL
prefix, reading all BER lengths at once and keeping the candidates that chain (each ends
where the next begins) or carry a valid checksum. Local sets are then walked item by item
*across all packets together*: iteration ``k`` reads the ``k``-th item of every packet in one
NumPy step, so the Python loop runs as many times as a packet has items, not once per packet.
Values are gathered per tag and length and converted with the item table of
:mod:`vigia.klv.st0601`.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vigia.errors import ChecksumError, ItemError, KLVError, TruncatedError, VigiaError
from vigia.klv import st0601
from vigia.klv.ber import decode_ber_length, encode_ber_length, encode_ber_oid
from vigia.klv.eg0104 import decode_eg0104
from vigia.klv.keys import (
    EG0104_KEY,
    KEY_LENGTH,
    ST0601_KEY,
    ST0903_KEY,
    UL_PREFIX,
    key_family,
)
from vigia.klv.st0601 import ITEMS, Kind
from vigia.times import implausible_time_mask

_KEY_ARRAY = np.frombuffer(ST0601_KEY, dtype=np.uint8)
#: Keep at most this many example errors in the statistics.
MAX_ERRORS_KEPT = 50


def _add_counts(mine: dict[Any, int], theirs: dict[Any, int]) -> None:
    for k, v in theirs.items():
        mine[k] = mine.get(k, 0) + v


#: What real encoders get wrong that the lenient decoder recovers, counted per packet in
#: :attr:`DecodeStats.deviations`; a strict decoder refuses each of them.
DEVIATIONS = {
    "one_byte_tags": "local-set tags of 128 and above written as one byte, not as BER-OID",
    "non_minimal_ber": "a BER length in long form where a shorter form would do",
    "truncated_keys": "a packet whose 16-byte key lost its first bytes",
    "repeated_items": "a local-set item repeated in one packet (the first one is kept)",
}


def _non_minimal_ber(buf: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Which BER lengths at ``pos`` (all readable) are long-form where shorter would do."""
    n = buf.size
    first = buf[np.minimum(pos, n - 1)]
    second = buf[np.minimum(pos + 1, n - 1)]
    nb = first & 0x7F
    return (first >= 0x80) & ((nb == 0) | (second == 0) | ((nb == 1) & (second < 0x80)))


@dataclass
class DecodeStats:
    """What the decoder saw: counts of good and damaged input, and the first errors."""

    packets: int = 0  # ST 0601 packets decoded into rows
    other_packets: dict[str, int] = field(default_factory=dict)  # other keys -> count
    damaged_packets: int = 0  # candidate packets that could not be framed or parsed
    checksum_failures: int = 0
    bytes_skipped: int = 0  # bytes that belong to no packet
    item_errors: dict[str, int] = field(default_factory=dict)  # column -> items of wrong size
    unknown_tags: dict[int, int] = field(default_factory=dict)
    repeated_tags: int = 0
    sentinels: dict[str, int] = field(default_factory=dict)  # column -> sentinel values seen
    damage: dict[str, int] = field(default_factory=dict)  # reason -> rows flagged in ``damage``
    deviations: dict[str, int] = field(default_factory=dict)  # see DEVIATIONS -> packets
    errors: list[VigiaError] = field(default_factory=list)
    cut_short_at: int | None = None  # byte offset of a last packet the stream's end cut short

    def note(self, error: VigiaError) -> None:
        """Keep ``error`` as an example (the first :data:`MAX_ERRORS_KEPT`)."""
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(error)

    def merge(self, other: DecodeStats) -> None:
        """Add ``other``'s counts to these."""
        self.packets += other.packets
        self.damaged_packets += other.damaged_packets
        self.checksum_failures += other.checksum_failures
        self.bytes_skipped += other.bytes_skipped
        self.repeated_tags += other.repeated_tags
        _add_counts(self.other_packets, other.other_packets)
        _add_counts(self.item_errors, other.item_errors)
        _add_counts(self.unknown_tags, other.unknown_tags)
        _add_counts(self.sentinels, other.sentinels)
        _add_counts(self.damage, other.damage)
        _add_counts(self.deviations, other.deviations)
        for e in other.errors:
            self.note(e)
        if other.cut_short_at is not None:
            self.cut_short_at = other.cut_short_at

    def deviate(self, name: str, count: int, offset: int, strict: bool) -> None:
        """Count ``count`` packets recovered despite deviation ``name`` (see
        :data:`DEVIATIONS`); a strict decoder refuses the first one instead."""
        if count <= 0:
            return
        if strict:
            raise KLVError(f"non-conforming KLV: {DEVIATIONS[name]}", offset=offset)
        self.deviations[name] = self.deviations.get(name, 0) + count

    def families(self) -> dict[str, int]:
        """Packets per KLV family (see :func:`vigia.klv.keys.key_family`), most first;
        unknown keys by their hex."""
        out: dict[str, int] = {"ST 0601": self.packets} if self.packets else {}
        for key, n in self.other_packets.items():
            fam = key_family(bytes.fromhex(key))
            out[fam] = out.get(fam, 0) + n
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "packets": self.packets,
            "families": self.families(),
            "other_packets": dict(self.other_packets),
            "damaged_packets": self.damaged_packets,
            "checksum_failures": self.checksum_failures,
            "bytes_skipped": self.bytes_skipped,
            "item_errors": dict(self.item_errors),
            "unknown_tags": {str(k): v for k, v in self.unknown_tags.items()},
            "repeated_tags": self.repeated_tags,
            "sentinels": dict(self.sentinels),
            "damage": dict(self.damage),
            "deviations": dict(self.deviations),
            "errors": [str(e) for e in self.errors],
            "cut_short_at": self.cut_short_at,
        }


@dataclass
class Framing:
    """Packets found in a buffer (all arrays aligned, one element per packet)."""

    starts: np.ndarray  # int64 offset of the key
    value_starts: np.ndarray  # int64 offset of the value
    ends: np.ndarray  # int64 offset one past the value
    is_0601: np.ndarray  # bool, key is the ST 0601 key
    checksum_ok: np.ndarray  # bool, checksum verified right (only for packets that do not chain)
    has_checksum: np.ndarray  # bool, packet ends with a ``01 02`` checksum item
    consumed: int  # bytes of the buffer that are settled (the rest may continue later)


def _read_ber_lengths(
    buf: np.ndarray, pos: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BER lengths at ``pos`` (all at once): ``(length, header_size, ok)``.

    ``ok`` is False where the length field runs past the buffer or is longer than 8 bytes, or
    where the value it announces could not fit in the buffer (this also refuses 8-byte lengths
    of 2^63 and more, which would wrap to negative int64 offsets).
    """
    n = buf.size
    inside = pos < n
    first = buf[np.minimum(pos, n - 1)]
    length = first.astype(np.int64)
    hsize = np.ones(pos.size, dtype=np.int64)
    ok = inside.copy()
    longs = np.flatnonzero(first >= 0x80)
    if longs.size:
        p = pos[longs]
        nb = length[longs] & 0x7F
        good = inside[longs] & (nb >= 1) & (nb <= 8) & (p + 1 + nb <= n)
        val = np.zeros(longs.size, dtype=np.int64)
        for k in range(1, 9):
            sel = good & (nb >= k)
            if not sel.any():
                break
            byte = buf[np.minimum(p + k, n - 1)].astype(np.int64)
            val = np.where(sel, (val << 8) | byte, val)
        good &= (val >= 0) & (val <= n - (p + 1 + nb))
        length[longs] = np.where(good, val, 0)
        hsize[longs] = 1 + nb
        ok[longs] = good
    return length, hsize, ok


def _word_prefix(buf: np.ndarray, parity: int) -> np.ndarray:
    """Exclusive prefix sums (mod 2^32) of big-endian 16-bit words starting at ``parity``."""
    m = (buf.size - parity) // 2
    words = buf[parity : parity + 2 * m].view(">u2")
    out = np.zeros(m + 1, dtype=np.uint32)
    np.cumsum(words, dtype=np.uint32, out=out[1:])
    return out


def st0601_checksums(buf: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """ST 0601 running 16-bit checksums of ``buf[starts[i]:stops[i]]`` for every ``i``.

    The running sum weighs bytes at even positions of a packet by 256, so it is the sum of the
    packet's big-endian 16-bit words. Packets that follow one another are summed with one
    ``reduceat`` over the words; overlapping ranges (candidates in damaged data) use prefix sums.
    """
    out = np.zeros(starts.size, dtype=np.uint64)
    for parity in (0, 1):
        sel = np.flatnonzero((starts & 1) == parity)
        if sel.size == 0:
            continue
        m = (buf.size - parity) // 2
        words = buf[parity : parity + 2 * m].view(">u2").astype(np.uint64)
        s = starts[sel]
        nwords = (stops[sel] - s) // 2
        w0 = (s - parity) // 2
        w1 = w0 + nwords
        idx = np.empty(2 * sel.size, dtype=np.int64)
        idx[0::2] = w0
        idx[1::2] = w1
        if (nwords > 0).all() and (np.diff(idx) >= 0).all() and m > 0:
            tail = idx[-1] >= m
            sums = np.add.reduceat(words, idx[:-1] if tail else idx)[0::2]
        else:
            pref = _word_prefix(buf, parity)
            sums = (pref[w1] - pref[w0]).astype(np.uint64)
        odd = ((stops[sel] - s) & 1) == 1
        last = buf[np.maximum(stops[sel] - 1, 0)].astype(np.uint64) << np.uint64(8)
        out[sel] = sums + np.where(odd, last, np.uint64(0))
    return (out & np.uint64(0xFFFF)).astype(np.uint16)


def frame_packets(buf: np.ndarray, *, final: bool) -> Framing:
    """Find the KLV packets in ``buf``.

    A candidate is any position holding the 4-byte SMPTE UL prefix. It is accepted when its
    BER length fits and either the next candidate starts where it ends (or the data ends there)
    or it carries a valid ST 0601 checksum; candidates inside an accepted packet are ignored.
    With ``final=False`` an incomplete packet at the end is left unconsumed for the next call.
    """
    n = buf.size
    empty = np.zeros(0, dtype=np.int64)
    if n < 4:
        nothing = np.zeros(0, dtype=bool)
        return Framing(empty, empty, empty, nothing, nothing, nothing, n if final else 0)
    first = np.flatnonzero(buf[: n - 3] == UL_PREFIX[0])
    keep = (
        (buf[first + 1] == UL_PREFIX[1])
        & (buf[first + 2] == UL_PREFIX[2])
        & (buf[first + 3] == UL_PREFIX[3])
    )
    cand = first[keep].astype(np.int64)
    length, hsize, ok = _read_ber_lengths(buf, cand + KEY_LENGTH)
    vstart = cand + KEY_LENGTH + hsize
    end = vstart + length
    complete = ok & (end <= n)
    # Chain confirmation: the packet ends where another candidate (or the data) begins.
    nxt = np.searchsorted(cand, end)
    chained = complete & (
        (end == n) | ((nxt < cand.size) & (cand[np.minimum(nxt, cand.size - 1)] == end))
    )
    if not final:
        tail = n - end
        partial_prefix = complete & (tail > 0) & (tail < 4)
        for i in np.flatnonzero(partial_prefix):
            if bytes(buf[end[i] : n]) == UL_PREFIX[: int(tail[i])]:
                chained[i] = True
    # Checksum confirmation for ST 0601 packets ending in a checksum item.
    has_ck = complete & (length >= 4)
    idx_tag = np.where(has_ck, end - 4, 0)
    has_ck &= (buf[idx_tag] == 0x01) & (buf[np.minimum(idx_tag + 1, n - 1)] == 0x02)
    # Checksums decide only for packets that do not chain; the others are checked (faster, by
    # runs) when their local sets are decoded.
    ck_ok = np.zeros(cand.size, dtype=bool)
    if (has_ck & ~chained).any():
        sel = np.flatnonzero(has_ck & ~chained)
        computed = st0601_checksums(buf, cand[sel], end[sel] - 2)
        stored = (buf[end[sel] - 2].astype(np.uint16) << 8) | buf[end[sel] - 1]
        ck_ok[sel] = computed == stored
    accepted = chained | ck_ok
    # Drop candidates that lie inside an accepted packet.
    reach = np.where(accepted, end, -1)
    prev_reach = np.concatenate(([-1], np.maximum.accumulate(reach)[:-1]))
    inside = cand < prev_reach
    accepted &= ~inside
    # Decide how much of the buffer is settled.
    if final:
        consumed = n
    else:
        last_end = int(end[accepted].max()) if accepted.any() else 0
        # The first candidate after the last packet that may still complete with more data.
        pending = ~accepted & ~inside & (cand >= last_end) & (~ok | (end > n))
        if pending.any():
            consumed = int(cand[np.flatnonzero(pending)[0]])
        else:
            # Keep a few trailing bytes that could be the start of a key.
            consumed = max(last_end, n - 3)
            while consumed < n and bytes(buf[consumed:n]) != UL_PREFIX[: n - consumed]:
                consumed += 1
    is_key = np.ones(cand.size, dtype=bool)
    for k in range(4, KEY_LENGTH):
        is_key &= buf[np.minimum(cand + k, n - 1)] == _KEY_ARRAY[k]
    sel = np.flatnonzero(accepted)
    return Framing(
        starts=cand[sel],
        value_starts=vstart[sel],
        ends=end[sel],
        is_0601=is_key[sel],
        checksum_ok=ck_ok[sel],
        has_checksum=has_ck[sel],
        consumed=consumed,
    )


@dataclass
class ItemRecords:
    """Every local-set item found, one element per item."""

    packet: np.ndarray  # int64 row index
    tag: np.ndarray  # uint16
    vstart: np.ndarray  # int64 offset of the value in the buffer
    vlen: np.ndarray  # int64
    damaged_rows: np.ndarray  # int64 rows whose local set was cut short
    damaged_at: np.ndarray  # int64 offsets where each damage was found
    non_minimal_rows: np.ndarray  # int64 rows with an item length in non-minimal BER


def walk_local_sets(
    buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, *, one_byte_tags: bool = False
) -> ItemRecords:
    """Walk all local sets ``buf[starts[i]:ends[i]]`` together, one item per step.

    Tags are BER-OID; ``one_byte_tags`` reads every tag as one byte (a common encoder fault).
    """
    n = buf.size
    pos = starts.astype(np.int64).copy()
    rows = np.arange(starts.size, dtype=np.int64)
    out: list[tuple[np.ndarray, ...]] = []
    damaged_rows: list[np.ndarray] = []
    damaged_at: list[np.ndarray] = []
    non_minimal: list[np.ndarray] = []
    active = rows[pos < ends]
    while active.size:
        p = pos[active]
        e = ends[active]
        t0 = buf[np.minimum(p, n - 1)]
        tag = t0.astype(np.int64)
        hl = np.ones(p.size, dtype=np.int64)
        tag_ok = np.ones(p.size, dtype=bool)
        two = np.flatnonzero(t0 >= 0x80) if not one_byte_tags else np.zeros(0, np.int64)
        if two.size:  # two-byte BER-OID tags (128 and above)
            t1 = buf[np.minimum(p[two] + 1, n - 1)].astype(np.int64)
            tag[two] = ((tag[two] & 0x7F) << 7) | (t1 & 0x7F)
            tag_ok[two] = t1 < 0x80
            hl[two] = 2
        length, lsize, len_ok = _read_ber_lengths(buf, p + hl)
        vstart = p + hl + lsize
        vend = vstart + length
        good = tag_ok & len_ok & (vend <= e)
        nm = good & (lsize > 1)
        if nm.any():
            nm &= _non_minimal_ber(buf, p + hl)
            non_minimal.append(active[nm])
        if good.all():
            out.append((active, tag, vstart, length))
            pos[active] = vend
            nxt = active
        else:
            bad = ~good
            damaged_rows.append(active[bad])
            damaged_at.append(p[bad])
            g = np.flatnonzero(good)
            out.append((active[g], tag[g], vstart[g], length[g]))
            pos[active[g]] = vend[g]
            nxt = active[g]
        active = nxt[pos[nxt] < ends[nxt]]
    if out:
        packet = np.concatenate([o[0] for o in out])
        tags = np.concatenate([o[1] for o in out]).astype(np.uint16)
        vstarts = np.concatenate([o[2] for o in out])
        vlens = np.concatenate([o[3] for o in out])
    else:
        packet = vstarts = vlens = np.zeros(0, dtype=np.int64)
        tags = np.zeros(0, dtype=np.uint16)
    return ItemRecords(
        packet=packet,
        tag=tags,
        vstart=vstarts,
        vlen=vlens,
        damaged_rows=np.concatenate(damaged_rows) if damaged_rows else np.zeros(0, np.int64),
        damaged_at=np.concatenate(damaged_at) if damaged_at else np.zeros(0, np.int64),
        non_minimal_rows=np.concatenate(non_minimal) if non_minimal else np.zeros(0, np.int64),
    )


def gather_uint(buf: np.ndarray, vstart: np.ndarray, length: int) -> np.ndarray:
    """Big-endian unsigned integers of ``length`` (1..8) bytes at each ``vstart``."""
    raw = np.zeros(vstart.size, dtype=np.uint64)
    for k in range(length):
        raw = (raw << np.uint64(8)) | buf[vstart + k].astype(np.uint64)
    return raw


def gather_binary(
    buf: np.ndarray, vstart: np.ndarray, vlen: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate ``buf[vstart[i]:vstart[i]+vlen[i]]``; return ``(data, offsets int32)``."""
    offsets = np.zeros(vlen.size + 1, dtype=np.int64)
    np.cumsum(vlen, out=offsets[1:])
    total = int(offsets[-1])
    if total == 0:
        return np.zeros(0, dtype=np.uint8), offsets.astype(np.int32)
    # index of each output byte = vstart[item] + (k - offsets[item])
    shift = np.repeat(vstart - offsets[:-1], vlen)
    idx = np.arange(total, dtype=np.int64) + shift
    return buf[idx], offsets.astype(np.int32)


def _binary_column(
    data: np.ndarray, rows: np.ndarray, vlen: np.ndarray, n_rows: int, *, text: bool
) -> pa.Array:
    """A binary/string column of ``n_rows``: values (end to end in ``data``, in row order) at
    ``rows``, nulls elsewhere."""
    full_len = np.zeros(n_rows, dtype=np.int64)
    full_len[rows] = vlen
    offsets = np.zeros(n_rows + 1, dtype=np.int32)
    np.cumsum(full_len, out=offsets[1:])
    present = np.zeros(n_rows, dtype=bool)
    present[rows] = True
    validity = pa.array(present).buffers()[1]
    arr = pa.Array.from_buffers(
        pa.binary(),
        n_rows,
        [validity, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(data))],
        null_count=int(n_rows - rows.size),
    )
    if not text:
        return arr
    try:
        # Validate UTF-8 once per distinct value (telemetry strings repeat), then reinterpret.
        for value in pc.unique(arr).to_pylist():
            if value is not None:
                value.decode("utf-8")
        return arr.view(pa.string())
    except UnicodeDecodeError:
        # Invalid UTF-8 somewhere: replace undecodable bytes row by row (rare path).
        values = [
            None if v is None else v.decode("utf-8", errors="replace") for v in arr.to_pylist()
        ]
        return pa.array(values, type=pa.string())


def _numeric_column(values: np.ndarray, present: np.ndarray, typ: pa.DataType) -> pa.Array:
    """Arrow column from values and a presence mask, without per-element conversion."""
    if present.all() and not pa.types.is_timestamp(typ) and values.dtype == typ.to_pandas_dtype():
        return pa.array(values, type=typ)
    if pa.types.is_timestamp(typ):
        base = pa.array(values.astype(np.int64), mask=~present, type=pa.int64())
        return pa.Array.from_buffers(typ, len(base), base.buffers(), null_count=base.null_count)
    return pa.array(values, mask=~present, type=typ)


def _arrow_type(item: st0601.Item) -> pa.DataType:
    if item.kind is Kind.TIMESTAMP:
        return pa.timestamp("us", tz="UTC")
    if item.kind is Kind.STRING:
        return pa.string()
    if item.kind is Kind.SET:
        return pa.binary()
    if item.is_float:
        return pa.float64()
    if item.kind is Kind.INT:
        return pa.int64()
    return pa.int64() if (item.length or 8) >= 4 else pa.int32()


#: Columns that say where each row came from, before the item columns.
META_FIELDS = [
    pa.field("source_offset", pa.int64()),
    pa.field("pts_90k", pa.int64()),
    pa.field("checksum_valid", pa.bool_()),
    pa.field("sentinel_items", pa.list_(pa.string())),
    pa.field("damage", pa.string()),
    pa.field("source_standard", pa.string()),  # "ST 0601", or "EG 0104" (legacy Predator set)
]

#: Why a row is damaged (the ``damage`` column; null when the packet is clean), by code. A row
#: carries its most serious reason: the local set was cut short, its checksum is missing or
#: wrong, or its precision time stamp lies outside :data:`vigia.times.PLAUSIBLE_US`.
DAMAGE_REASONS = (None, "time", "checksum", "truncated")
DAMAGE_TIME, DAMAGE_CHECKSUM, DAMAGE_TRUNCATED = 1, 2, 3

#: The telemetry schema: where-from columns, then one column per ST 0601 item in tag order.
SCHEMA = pa.schema(
    META_FIELDS + [pa.field(it.column, _arrow_type(it)) for it in ITEMS.values() if it.tag != 66]
)


#: Runs of at least this many same-layout packets are decoded through a template.
MIN_TEMPLATE_RUN = 16


class _Columns:
    """Per-item accumulation of decoded values for one buffer of packets."""

    def __init__(self, buf: np.ndarray, n_rows: int, stats: DecodeStats, base: int, strict: bool):
        self.buf = buf
        self.n = n_rows
        self.stats = stats
        self.base = base
        self.strict = strict
        self.values: dict[int, np.ndarray] = {}
        self.present: dict[int, np.ndarray] = {}
        self.binary: dict[int, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
        self.sentinel_rows: list[np.ndarray] = []
        self.sentinel_names: list[np.ndarray] = []
        self.damage = np.zeros(n_rows, dtype=np.uint8)  # codes of DAMAGE_REASONS

    def flag(self, rows: np.ndarray, code: int) -> None:
        """Mark ``rows`` damaged with ``code`` (a more serious reason already there stays)."""
        self.damage[rows] = np.maximum(self.damage[rows], code)

    def check_times(self, starts: np.ndarray) -> None:
        """Null time values outside :data:`vigia.times.PLAUSIBLE_US`; a bad precision time
        stamp (item 2) flags its row ``time`` (and stops a strict decoder), a bad other time
        (an event time of 0 means "unset" to some encoders) only counts as an item error."""
        for tag, values in self.values.items():
            item = ITEMS[tag]
            if item.kind is not Kind.TIMESTAMP:
                continue
            present = self.present[tag]
            bad = present & implausible_time_mask(values)
            if not bad.any():
                continue
            rows = np.flatnonzero(bad)
            present[rows] = False
            err = ItemError(
                f"{item.name} (tag {tag}) is outside 1990..2100: {int(values[rows[0]])} µs",
                offset=self.base + int(starts[rows[0]]),
            )
            if self.strict and tag == 2:
                raise err
            self.stats.note(err)
            if tag == 2:
                self.flag(rows, DAMAGE_TIME)
            else:
                self.stats.item_errors[item.column] = (
                    self.stats.item_errors.get(item.column, 0) + rows.size
                )

    def damage_column(self) -> pa.Array:
        """``damage``: per row, why it must not be used (null when clean); counts the reasons."""
        if not self.damage.any():
            return _nulls(pa.string(), self.n)
        counts = np.bincount(self.damage, minlength=len(DAMAGE_REASONS))
        for code in np.flatnonzero(counts[1:]) + 1:
            reason = DAMAGE_REASONS[code]
            assert reason is not None
            self.stats.damage[reason] = self.stats.damage.get(reason, 0) + int(counts[code])
        return pc.take(pa.array(DAMAGE_REASONS, type=pa.string()), pa.array(self.damage))

    def unknown(self, tag: int, count: int, offset: int) -> bool:
        """Count an unknown tag; return True when the item must be skipped."""
        item = ITEMS.get(tag)
        if item is not None and tag != 66:
            return False
        self.stats.unknown_tags[tag] = self.stats.unknown_tags.get(tag, 0) + count
        if self.strict and item is None:
            raise ItemError(f"unknown ST 0601 tag {tag}", offset=self.base + offset)
        return True

    def add_binary(
        self, item: st0601.Item, rows: np.ndarray, vs: np.ndarray, vl: np.ndarray
    ) -> None:
        """Text or set values scattered in the buffer at ``vs`` with lengths ``vl``."""
        data, _ = gather_binary(self.buf, vs, vl)
        self.binary.setdefault(item.tag, []).append((rows, data, vl))

    def add_binary_data(
        self, item: st0601.Item, rows: np.ndarray, data: np.ndarray, vl: np.ndarray
    ) -> None:
        """Text or set values already laid end to end in ``data`` (row order of ``rows``)."""
        self.binary.setdefault(item.tag, []).append((rows, data, vl))

    def add_raw(self, item: st0601.Item, rows: np.ndarray, raw: np.ndarray, length: int) -> None:
        """Store raw integers of one length for ``rows``."""
        vals, special = st0601.raw_to_value(item, raw, length)
        self.add_values(item, rows, vals, special)

    def add_values(
        self,
        item: st0601.Item,
        rows: np.ndarray,
        vals: np.ndarray,
        special: np.ndarray,
        span: slice | None = None,
    ) -> None:
        """Store converted values for ``rows`` (``span``: the same rows as a slice, faster)."""
        if item.tag not in self.values:
            self.values[item.tag] = np.zeros(
                self.n, dtype=np.float64 if item.is_float else np.int64
            )
            self.present[item.tag] = np.zeros(self.n, dtype=bool)
        where: slice | np.ndarray = rows if span is None else span
        self.values[item.tag][where] = vals
        self.present[item.tag][where] = ~special
        if special.any():
            k = int(special.sum())
            self.stats.sentinels[item.column] = self.stats.sentinels.get(item.column, 0) + k
            self.sentinel_rows.append(rows[special])
            self.sentinel_names.append(np.full(k, item.column, dtype=object))

    def length_ok(
        self, item: st0601.Item, vl: np.ndarray, vs: np.ndarray, *, each: int = 1
    ) -> np.ndarray:
        """Which values have a length the item allows (others are counted as item errors);
        ``each``: how many packets every value stands for (a template run's rows)."""
        allowed = (vl == item.length) if item.fixed_length else (vl >= 1) & (vl <= item.max_bytes)
        if not allowed.all():
            nbad = int((~allowed).sum()) * each
            self.stats.item_errors[item.column] = self.stats.item_errors.get(item.column, 0) + nbad
            err = ItemError(
                f"{item.name} (tag {item.tag}) has length {int(vl[~allowed][0])}",
                offset=self.base + int(vs[~allowed][0]),
            )
            if self.strict:
                raise err
            self.stats.note(err)
        return allowed

    def add_gathered(
        self, item: st0601.Item, rows: np.ndarray, vs: np.ndarray, vl: np.ndarray
    ) -> None:
        """Values scattered in the buffer at ``vs`` with lengths ``vl``."""
        if item.kind in (Kind.STRING, Kind.SET):
            self.add_binary(item, rows, vs, vl)
            return
        allowed = self.length_ok(item, vl, vs)
        uniform = allowed.all() and vl.size and vl.min() == vl.max()
        for length in [int(vl[0])] if uniform else np.unique(vl[allowed]):
            m = allowed & (vl == length)
            self.add_raw(item, rows[m], gather_uint(self.buf, vs[m], int(length)), int(length))

    def table_arrays(self) -> dict[str, pa.Array]:
        """The item columns decoded so far (only those present)."""
        out: dict[str, pa.Array] = {}
        for tag, parts in self.binary.items():
            item = ITEMS[tag]
            rows = np.concatenate([p[0] for p in parts])
            data = np.concatenate([p[1] for p in parts])
            vl = np.concatenate([p[2] for p in parts])
            if rows.size > 1 and not (np.diff(rows) > 0).all():
                order = np.argsort(rows, kind="stable")
                seg = np.zeros(vl.size, dtype=np.int64)
                np.cumsum(vl[:-1], out=seg[1:])
                data, _ = gather_binary(data, seg[order], vl[order])
                rows, vl = rows[order], vl[order]
            out[item.column] = _binary_column(data, rows, vl, self.n, text=item.kind is Kind.STRING)
        for tag, values in self.values.items():
            item = ITEMS[tag]
            out[item.column] = _numeric_column(values, self.present[tag], _arrow_type(item))
        return out

    def sentinel_column(self) -> pa.Array:
        """``sentinel_items``: per row, the items that carried an error sentinel."""
        if not self.sentinel_rows:
            return pa.nulls(self.n, type=pa.list_(pa.string()))
        srows = np.concatenate(self.sentinel_rows)
        snames = np.concatenate(self.sentinel_names)
        o = np.argsort(srows, kind="stable")
        counts = np.bincount(srows, minlength=self.n)
        offs = np.zeros(self.n + 1, dtype=np.int32)
        np.cumsum(counts, out=offs[1:])
        return pa.ListArray.from_arrays(
            pa.array(offs), pa.array(snames[o], type=pa.string()), mask=pa.array(counts == 0)
        )


def _template_runs(
    starts: np.ndarray, ends: np.ndarray, vstarts: np.ndarray
) -> list[tuple[int, int]]:
    """Runs ``[lo, hi)`` of adjacent packets of identical size (candidates for a template)."""
    n = starts.size
    if n < MIN_TEMPLATE_RUN:
        return []
    size = ends - starts
    hdr = vstarts - starts
    same = (starts[1:] == ends[:-1]) & (size[1:] == size[:-1]) & (hdr[1:] == hdr[:-1])
    breaks = np.flatnonzero(~same) + 1
    edges = np.concatenate(([0], breaks, [n]))
    return [(int(a), int(b)) for a, b in itertools.pairwise(edges) if b - a >= MIN_TEMPLATE_RUN]


def _template_layout(
    buf: np.ndarray, vstart: int, end: int
) -> list[tuple[int, int, int, int]] | None:
    """Items of one packet as ``(tag, header offset, value offset, value length)`` (relative to
    ``vstart``), or None when the packet is not a clean local set."""
    from vigia.klv.localset import iter_local_set

    layout = []
    seen = set()
    try:
        for it in iter_local_set(buf[vstart:end].tobytes()):
            if it.tag in seen:
                return None
            seen.add(it.tag)
            hlen = len(encode_ber_oid(it.tag)) + len(encode_ber_length(len(it.value)))
            layout.append((it.tag, it.offset, it.offset + hlen, len(it.value)))
    except VigiaError:
        return None
    return layout


def _decode_template_run(
    cols: _Columns, lo: int, hi: int, starts: np.ndarray, vstarts: np.ndarray, ends: np.ndarray
) -> np.ndarray:
    """Decode rows ``lo..hi`` that share the first packet's layout; return rows that do not."""
    buf = cols.buf
    rows = np.arange(lo, hi, dtype=np.int64)
    layout = _template_layout(buf, int(vstarts[lo]), int(ends[lo]))
    if layout is None:
        return rows
    size = int(ends[lo] - starts[lo])
    voff = int(vstarts[lo] - starts[lo])
    base = int(starts[lo])
    mat = buf[base : base + (hi - lo) * size].reshape(hi - lo, size)
    # Every header byte of the template must match in every packet of the run.
    # (header bytes are read as big-endian integers of 4, 2 and 1 bytes: integer compares).
    pieces: list[tuple[int, int]] = []
    for _, h, v, _ in layout:
        pos, end = voff + h, voff + v
        for width in (4, 2, 1):
            while end - pos >= width:
                pieces.append((pos, width))
                pos += width
    hdt = np.dtype(
        {
            "names": [f"h{i}" for i in range(len(pieces))],
            "formats": [f">u{w}" for _, w in pieces],
            "offsets": [p for p, _ in pieces],
            "itemsize": size,
        }
    )
    hrec = mat.reshape(-1).view(hdt)
    match = np.ones(hi - lo, dtype=bool)
    for i in range(len(pieces)):
        field = hrec[f"h{i}"]
        match &= field == field[0]
    if not match.any():
        return rows
    mrows = rows[match]
    vs0 = int(vstarts[lo])
    lpos = np.array([vs0 + h + len(encode_ber_oid(tag)) for tag, h, _v, _ln in layout], np.int64)
    if lpos.size and _non_minimal_ber(buf, lpos).any():
        cols.stats.deviate("non_minimal_ber", int(mrows.size), cols.base + vs0, cols.strict)
    # One structured dtype describes the whole packet: each field is a strided view.
    names, formats, offsets = [], [], []
    for tag, _h, v, ln in layout:
        item = ITEMS.get(tag)
        if item is None or tag == 66:
            continue
        names.append(f"t{tag}")
        if item.kind in (Kind.STRING, Kind.SET):
            formats.append(f"V{ln}")
        elif ln in (1, 2, 4, 8):
            signed = item.kind in (Kind.INT, Kind.MAPPED_INT)
            formats.append(f">{'i' if signed else 'u'}{ln}")
        else:
            formats.append(f"V{ln}")
        offsets.append(voff + v)
    dt = np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": size})
    rec = mat.reshape(-1).view(dt)
    span: slice | None = slice(lo, hi)
    if not match.all():
        rec = rec[match]
        span = None
    for tag, _h, v, ln in layout:
        if cols.unknown(tag, int(mrows.size), int(vstarts[lo]) + _h):
            continue
        item = ITEMS[tag]
        field = rec[f"t{tag}"]
        if item.kind in (Kind.STRING, Kind.SET):
            data = np.ascontiguousarray(field).view(np.uint8).reshape(-1)
            cols.add_binary_data(item, mrows, data, np.full(mrows.size, ln, dtype=np.int64))
            continue
        at = np.array([int(vstarts[lo]) + v])
        if not cols.length_ok(item, np.array([ln]), at, each=int(mrows.size)).all():
            continue
        if ln in (1, 2, 4, 8) and item.kind is not Kind.IMAPB:
            vals, special = st0601.field_to_value(item, field, ln)
            cols.add_values(item, mrows, vals, special, span=span)
            continue
        if ln in (1, 2, 4, 8):
            raw = field.astype(np.uint64)
        else:
            block = np.ascontiguousarray(field).view(np.uint8).reshape(-1, ln)
            raw = np.zeros(mrows.size, dtype=np.uint64)
            for k in range(ln):
                raw = (raw << np.uint64(8)) | block[:, k].astype(np.uint64)
        cols.add_raw(item, mrows, raw, ln)
    return rows[~match]


def _checksums_ok(
    buf: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    has_checksum: np.ndarray,
    runs: list[tuple[int, int]],
) -> np.ndarray:
    """Which packets carry a right ST 0601 checksum.

    Runs of adjacent same-size packets are summed as rows of a ``(packets, words)`` view of
    big-endian 16-bit words; the others through :func:`st0601_checksums`.
    """
    ok = np.zeros(starts.size, dtype=bool)
    done = np.zeros(starts.size, dtype=bool)
    for lo, hi in runs:
        size = int(ends[lo] - starts[lo])
        if size % 2 or not has_checksum[lo:hi].all():
            continue
        base = int(starts[lo])
        mat = buf[base : base + (hi - lo) * size].reshape(hi - lo, size)
        sums = mat[:, : size - 2].view(">u2").sum(axis=1, dtype=np.uint64) & np.uint64(0xFFFF)
        stored = mat[:, size - 2 :].view(">u2")[:, 0]
        ok[lo:hi] = sums == stored
        done[lo:hi] = True
    rest = np.flatnonzero(has_checksum & ~done)
    if rest.size:
        computed = st0601_checksums(buf, starts[rest], ends[rest] - 2)
        stored = (buf[ends[rest] - 2].astype(np.uint16) << 8) | buf[ends[rest] - 1]
        ok[rest] = computed == stored
    return ok


def decode_local_sets(
    buf: np.ndarray,
    framing: Framing,
    *,
    stats: DecodeStats,
    base_offset: int = 0,
    strict: bool = False,
) -> pa.Table:
    """Decode the ST 0601 packets of ``framing`` into a table with :data:`SCHEMA`.

    Runs of adjacent packets with the same layout (the usual case: a platform sends the same
    items every frame) are checked against the first packet's layout and decoded column by
    column from a zero-copy ``(packets, bytes)`` view; the rest are walked item by item.
    """
    sel = np.flatnonzero(framing.is_0601)
    starts = framing.starts[sel]
    vstarts = framing.value_starts[sel]
    ends = framing.ends[sel]
    n_rows = sel.size
    runs = _template_runs(starts, ends, vstarts)
    ck_ok = _checksums_ok(buf, starts, ends, framing.has_checksum[sel], runs)
    stats.packets += n_rows
    for s in framing.starts[~framing.is_0601]:
        key = bytes(buf[s : s + KEY_LENGTH]).hex()
        stats.other_packets[key] = stats.other_packets.get(key, 0) + 1
    bad_ck = np.flatnonzero(~ck_ok)
    stats.checksum_failures += bad_ck.size
    for r in bad_ck[:MAX_ERRORS_KEPT]:
        err = ChecksumError(
            "ST 0601 checksum missing or wrong", offset=base_offset + int(starts[r])
        )
        if strict:
            raise err
        stats.note(err)

    cols = _Columns(buf, n_rows, stats, base_offset, strict)
    cols.flag(bad_ck, DAMAGE_CHECKSUM)
    if n_rows:
        nm = _non_minimal_ber(buf, starts + KEY_LENGTH)
        if nm.any():
            first = base_offset + int(starts[np.flatnonzero(nm)[0]])
            stats.deviate("non_minimal_ber", int(nm.sum()), first, strict)
    leftovers: list[np.ndarray] = []
    covered = np.zeros(n_rows, dtype=bool)
    for lo, hi in runs:
        covered[lo:hi] = True
        leftovers.append(_decode_template_run(cols, lo, hi, starts, vstarts, ends))
    leftovers.append(np.flatnonzero(~covered))
    rest = np.sort(np.concatenate(leftovers)) if leftovers else np.zeros(0, np.int64)
    if rest.size:
        _decode_walked(cols, rest, vstarts, ends)

    cols.check_times(starts)
    columns = cols.table_arrays()
    arrays: list[pa.Array] = [
        pa.array(base_offset + starts, type=pa.int64()),
        pa.nulls(n_rows, type=pa.int64()),
        pa.array(ck_ok, type=pa.bool_()),
        cols.sentinel_column(),
        cols.damage_column(),
        constant_strings("ST 0601", n_rows),
    ]
    for fld in SCHEMA:
        if fld.name in _META_NAMES:
            continue
        col = columns.get(fld.name)
        arrays.append(_nulls(fld.type, n_rows) if col is None else col)
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


_META_NAMES = frozenset(f.name for f in META_FIELDS)


def constant_strings(value: str, n: int) -> pa.Array:
    """A string column of ``n`` copies of ``value`` (built from buffers, no Python loop)."""
    raw = value.encode()
    offsets = np.arange(n + 1, dtype=np.int32) * len(raw)
    return pa.Array.from_buffers(
        pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(raw * n)]
    )


def eg0104_table(
    buf: bytes,
    starts: np.ndarray,
    vstarts: np.ndarray,
    ends: np.ndarray,
    base: int,
    stats: DecodeStats,
    strict: bool,
) -> pa.Table:
    """Legacy EG 0104 packets as telemetry rows (:data:`SCHEMA`, ``source_standard`` "EG 0104")."""
    rows = decode_eg0104(
        (base + int(v), buf[int(v) : int(e)]) for v, e in zip(vstarts, ends, strict=True)
    )
    n = len(rows.offsets)
    damage = np.where(np.array(rows.damaged, dtype=bool), DAMAGE_TRUNCATED, 0).astype(np.uint8)
    for err in rows.errors:
        if strict:
            raise err
        stats.note(err)
    stats.damaged_packets += int(np.count_nonzero(damage))
    arrays: dict[str, pa.Array] = {}
    for name, values in rows.columns.items():
        typ = SCHEMA.field(name).type
        if pa.types.is_timestamp(typ):
            us = np.array([-1 if v is None else v for v in values], dtype=np.float64)
            ok = ~implausible_time_mask(np.clip(us, -1, 2**62).astype(np.int64))
            if name == "precision_time_stamp":
                damage[~ok & (us >= 0)] = np.maximum(damage[~ok & (us >= 0)], DAMAGE_TIME)
            ints = np.where(ok, us, 0).astype(np.int64)
            arrays[name] = pa.array(ints, mask=~ok, type=pa.int64()).cast(typ)
        else:
            arrays[name] = pa.array(values, type=typ)
    counts = np.bincount(damage, minlength=len(DAMAGE_REASONS))
    for code in np.flatnonzero(counts[1:]) + 1:
        reason = DAMAGE_REASONS[code]
        assert reason is not None
        stats.damage[reason] = stats.damage.get(reason, 0) + int(counts[code])
    meta = {
        "source_offset": pa.array(base + starts, type=pa.int64()),
        "pts_90k": pa.nulls(n, type=pa.int64()),
        "checksum_valid": pa.nulls(n, type=pa.bool_()),
        "sentinel_items": pa.nulls(n, type=pa.list_(pa.string())),
        "damage": pc.take(pa.array(DAMAGE_REASONS, type=pa.string()), pa.array(damage)),
        "source_standard": constant_strings("EG 0104", n),
    }
    cols = [
        meta.get(f.name, arrays.get(f.name))
        if f.name in meta or f.name in arrays
        else _nulls(f.type, n)
        for f in SCHEMA
    ]
    return pa.Table.from_arrays(cols, schema=SCHEMA)


_NULLS: dict[pa.DataType, pa.Array] = {}


def _nulls(typ: pa.DataType, n: int) -> pa.Array:
    """``n`` nulls of ``typ``: a zero-copy slice of a cached all-null array."""
    cached = _NULLS.get(typ)
    if cached is None or len(cached) < n:
        cached = _NULLS[typ] = pa.nulls(max(n, 1 << 16), type=typ)
    return cached.slice(0, n)


def _decode_walked(cols: _Columns, rows: np.ndarray, vstarts: np.ndarray, ends: np.ndarray) -> None:
    """Decode packets ``rows`` by walking their local sets item by item (all together)."""
    rec = walk_local_sets(cols.buf, vstarts[rows], ends[rows])
    stats = cols.stats
    if rec.damaged_rows.size and not cols.strict:
        rec = _retry_one_byte_tags(cols, rec, rows, vstarts, ends)
    if rec.non_minimal_rows.size:
        bad = np.unique(rec.non_minimal_rows)
        stats.deviate(
            "non_minimal_ber", bad.size, cols.base + int(vstarts[rows[bad[0]]]), cols.strict
        )
    if rec.damaged_rows.size:
        stats.damaged_packets += np.unique(rec.damaged_rows).size
        cols.flag(rows[rec.damaged_rows], DAMAGE_TRUNCATED)
        err = TruncatedError(
            "local-set item runs past its packet", offset=cols.base + int(rec.damaged_at.min())
        )
        if cols.strict:
            raise err
        stats.note(err)
    packet = rows[rec.packet]
    order = np.argsort(rec.tag, kind="stable")
    counts = np.bincount(rec.tag[order].astype(np.int64)) if order.size else np.zeros(0, np.int64)
    bounds = np.concatenate(([0], np.cumsum(counts)))
    for tag in np.flatnonzero(counts):
        grp = order[bounds[tag] : bounds[tag + 1]]
        if cols.unknown(int(tag), grp.size, int(rec.vstart[grp[0]])):
            continue
        item = ITEMS[int(tag)]
        prow = packet[grp]
        if np.bincount(prow, minlength=cols.n).max() > 1:
            _, first_idx = np.unique(prow, return_index=True)
            stats.repeated_tags += grp.size - first_idx.size
            if not cols.strict:
                stats.deviate("repeated_items", int((np.bincount(prow) > 1).sum()), 0, False)
            if cols.strict:
                raise ItemError(
                    f"tag {int(tag)} repeated in a local set",
                    offset=cols.base + int(rec.vstart[grp[0]]),
                )
            grp = grp[np.sort(first_idx)]
            prow = packet[grp]
        cols.add_gathered(item, prow, rec.vstart[grp], rec.vlen[grp])


def _retry_one_byte_tags(
    cols: _Columns, rec: ItemRecords, rows: np.ndarray, vstarts: np.ndarray, ends: np.ndarray
) -> ItemRecords:
    """Walk the local sets ``rec`` found cut short again, reading tags as single bytes; keep
    the packets that then walk cleanly (counted as the ``one_byte_tags`` deviation)."""
    damaged = np.unique(rec.damaged_rows)
    sub = rows[damaged]
    again = walk_local_sets(cols.buf, vstarts[sub], ends[sub], one_byte_tags=True)
    clean = np.ones(damaged.size, dtype=bool)
    clean[again.damaged_rows] = False
    if not clean.any():
        return rec
    cols.stats.deviate("one_byte_tags", int(clean.sum()), 0, False)
    fixed = np.zeros(rows.size, dtype=bool)
    fixed[damaged[clean]] = True
    keep = ~fixed[rec.packet]
    take = clean[again.packet]
    dkeep = ~fixed[rec.damaged_rows]
    return ItemRecords(
        packet=np.concatenate([rec.packet[keep], damaged[again.packet[take]]]),
        tag=np.concatenate([rec.tag[keep], again.tag[take]]),
        vstart=np.concatenate([rec.vstart[keep], again.vstart[take]]),
        vlen=np.concatenate([rec.vlen[keep], again.vlen[take]]),
        damaged_rows=rec.damaged_rows[dkeep],
        damaged_at=rec.damaged_at[dkeep],
        non_minimal_rows=np.concatenate(
            [
                rec.non_minimal_rows[~fixed[rec.non_minimal_rows]],
                damaged[again.non_minimal_rows[clean[again.non_minimal_rows]]],
            ]
        ),
    )


class KLVStreamDecoder:
    """Incremental decoder of a raw KLV byte stream into telemetry tables.

    Feed bytes in chunks of any size; each call returns a table of the ST 0601 packets that
    are complete so far. Lenient by default: damaged input is counted in :attr:`stats` and
    skipped; ``strict=True`` raises the first problem as a typed :class:`VigiaError`.
    ``keep_vmti=True`` also keeps the stand-alone ST 0903 packets for :meth:`take_vmti`.
    """

    def __init__(
        self, *, strict: bool = False, max_pending: int = 4 << 20, keep_vmti: bool = False
    ) -> None:
        self.strict = strict
        self.keep_vmti = keep_vmti
        self.stats = DecodeStats()
        self._pending = b""
        self._pending_offset = 0  # source offset of the first pending byte
        self._max_pending = max_pending
        # Access-unit map for transport streams: stream offsets -> (pts, source offset).
        self._au_stream_offsets = np.zeros(0, dtype=np.int64)
        self._au_pts = np.zeros(0, dtype=np.int64)
        self._au_source = np.zeros(0, dtype=np.int64)
        self._stream_pos = 0  # stream offset of the first pending byte
        #: With ``keep_vmti``, stand-alone ST 0903 packets not yet taken: ``(offset, value)``.
        self.vmti_packets: list[tuple[int, bytes]] = []

    def add_access_units(
        self, stream_offsets: np.ndarray, pts: np.ndarray, source_offsets: np.ndarray
    ) -> None:
        """Declare where access units start in the byte stream fed next (for PTS lookup)."""
        self._au_stream_offsets = np.concatenate([self._au_stream_offsets, stream_offsets])
        self._au_pts = np.concatenate([self._au_pts, pts])
        self._au_source = np.concatenate([self._au_source, source_offsets])

    @property
    def stream_position(self) -> int:
        """Bytes of the stream fed so far (offset the next fed byte will have)."""
        return self._stream_pos + len(self._pending)

    def feed(self, chunk: bytes) -> pa.Table:
        """Decode what ``chunk`` completes; return the new rows."""
        return self._run(self._pending + bytes(chunk), final=False)

    def flush(self) -> pa.Table:
        """Decode whatever is left at the end of the stream."""
        return self._run(self._pending, final=True)

    def _run(self, data: bytes, *, final: bool) -> pa.Table:
        buf = np.frombuffer(data, dtype=np.uint8)
        base = self._pending_offset
        try:
            framing = frame_packets(buf, final=final)
        except VigiaError:
            raise
        except Exception as exc:  # pragma: no cover - framing is total; defensive
            raise KLVError(f"framing failed: {exc}", offset=base) from exc
        settled = framing.consumed
        covered = int((framing.ends - framing.starts).sum())
        # Bytes before the first packet, between packets and after the last, up to `settled`.
        skipped = settled - covered
        orig = data
        shift: _KeyRepair | None = None
        if skipped and not self.strict:
            shift = _restore_cut_keys(data, framing, settled, final=final)
            if shift is not None:
                data, framing = shift.data, shift.framing
                buf = np.frombuffer(data, dtype=np.uint8)
                settled = framing.consumed
                covered = int((framing.ends - framing.starts).sum())
                skipped = settled - covered
                self.stats.deviate("truncated_keys", shift.count, base, False)
        if skipped:
            gap_at = _first_gap(framing, settled)
            err = _cut_packet(data, gap_at, base) if final else None
            if err is not None:
                self.stats.cut_short_at = err.offset
            else:
                err = KLVError(f"{skipped} bytes do not form KLV packets", offset=base + gap_at)
            if self.strict:
                raise err
            self.stats.bytes_skipped += skipped
            self.stats.damaged_packets += _count_gaps(framing, settled)
            self.stats.note(err)
        table = decode_local_sets(
            buf, framing, stats=self.stats, base_offset=base, strict=self.strict
        )
        row_starts = framing.starts[framing.is_0601]
        eg = _eg0104_packets(data, framing)
        if eg.size:
            legacy = eg0104_table(
                data,
                framing.starts[eg],
                framing.value_starts[eg],
                framing.ends[eg],
                base,
                self.stats,
                self.strict,
            )
            row_starts = np.concatenate([row_starts, framing.starts[eg]])
            table = pa.concat_tables([table, legacy])
            if table.num_rows > eg.size:  # both kinds: back in stream order
                order = np.argsort(row_starts, kind="stable")
                table, row_starts = table.take(pa.array(order)), row_starts[order]
        if shift is not None:  # offsets back into the bytes as they came
            framing = shift.original(framing)
            row_starts = shift.to_original(row_starts)
            table = table.set_column(
                0, SCHEMA.field("source_offset"), pa.array(base + row_starts, pa.int64())
            )
            settled = shift.to_original(np.array([settled]))[0]
            data = orig
        table = self._attach_pts(table, row_starts)
        if self.keep_vmti:
            self._keep_vmti(data, framing, base)
        rest = data[settled:]
        if len(rest) > self._max_pending:
            drop = len(rest) - 16
            self.stats.bytes_skipped += drop
            self.stats.note(
                KLVError(f"{drop} bytes without a complete packet", offset=base + settled)
            )
            rest = rest[drop:]
            settled += drop
        self._pending = rest
        self._pending_offset = base + settled
        self._stream_pos += settled
        return table

    def _keep_vmti(self, data: bytes, framing: Framing, base: int) -> None:
        others = np.flatnonzero(~framing.is_0601)
        for i in others:
            s = int(framing.starts[i])
            if data[s : s + KEY_LENGTH] == ST0903_KEY:
                v0, v1 = int(framing.value_starts[i]), int(framing.ends[i])
                self.vmti_packets.append((base + v0, data[v0:v1]))

    def take_vmti(self) -> list[tuple[int, bytes]]:
        """The stand-alone ST 0903 packets seen since the last call: ``(offset, value)``."""
        out, self.vmti_packets = self.vmti_packets, []
        return out

    def _attach_pts(self, table: pa.Table, row_starts: np.ndarray) -> pa.Table:
        if self._au_stream_offsets.size == 0 or table.num_rows == 0:
            return table
        stream_starts = self._stream_pos + row_starts
        au = np.searchsorted(self._au_stream_offsets, stream_starts, side="right") - 1
        ok = au >= 0
        au_c = np.maximum(au, 0)
        pts = self._au_pts[au_c]
        src = self._au_source[au_c]
        pts_arr = pa.array(pts, mask=~ok | (pts < 0), type=pa.int64())
        src_arr = pa.array(np.where(ok, src, -1), type=pa.int64())
        table = table.set_column(0, SCHEMA.field("source_offset"), src_arr)
        table = table.set_column(1, SCHEMA.field("pts_90k"), pts_arr)
        # Forget access units that can no longer be referenced.
        keep_from = max(int(au.max()) if au.size else 0, 0)
        self._au_stream_offsets = self._au_stream_offsets[keep_from:]
        self._au_pts = self._au_pts[keep_from:]
        self._au_source = self._au_source[keep_from:]
        return table


#: The designator half of the ST 0601 key: what is left of a key that lost its first bytes.
_DESIGNATOR = ST0601_KEY[8:]


@dataclass
class _KeyRepair:
    """A buffer with the missing first bytes of cut ST 0601 keys put back."""

    data: bytes
    framing: Framing
    count: int  # keys restored
    at: np.ndarray  # int64 positions (in the repaired bytes) where bytes were put back
    sizes: np.ndarray  # int64 bytes put back at each

    def to_original(self, pos: np.ndarray) -> np.ndarray:
        """Offsets in the repaired bytes -> offsets in the bytes as they came."""
        before = np.searchsorted(self.at, pos, side="right")
        cum = np.concatenate(([0], np.cumsum(self.sizes)))
        inside = before > 0
        last = np.maximum(before - 1, 0)
        # a position inside restored bytes maps to where they were put back
        into = inside & (pos < self.at[last] + self.sizes[last])
        out = pos - cum[before]
        return np.where(into, self.at[last] - cum[last], out).astype(np.int64)

    def original(self, f: Framing) -> Framing:
        """``f`` with its offsets in the bytes as they came."""
        return dataclasses.replace(
            f,
            starts=self.to_original(f.starts),
            value_starts=self.to_original(f.value_starts),
            ends=self.to_original(f.ends),
            consumed=int(self.to_original(np.array([f.consumed]))[0]),
        )


def _restore_cut_keys(
    data: bytes, framing: Framing, settled: int, *, final: bool
) -> _KeyRepair | None:
    """Put back the first bytes of ST 0601 keys that lost up to 8 of them (extractions that
    drop the start of every packet), where unframed bytes hold the key's designator half.
    Returns None when nothing was restored or restoring frames no more bytes."""
    covered = np.zeros(len(data) + 1, dtype=np.int64)
    np.add.at(covered, framing.starts, 1)
    np.add.at(covered, framing.ends, -1)
    inside = np.cumsum(covered)[:-1] > 0
    found: list[tuple[int, int]] = []  # (position of the cut key, bytes missing)
    pos = data.find(_DESIGNATOR)
    while pos >= 0 and pos < settled:
        if not inside[pos]:
            kept = 0  # key bytes before the designator that survived
            while kept < 8 and pos > kept and data[pos - kept - 1] == ST0601_KEY[7 - kept]:
                kept += 1
            if kept < 8:
                found.append((pos - kept, 8 - kept))
        pos = data.find(_DESIGNATOR, pos + 1)
    if not found:
        return None
    pieces, last, at, sizes, added = [], 0, [], [], 0
    for p, missing in found:
        pieces += [data[last:p], ST0601_KEY[:missing]]
        at.append(p + added)
        sizes.append(missing)
        added += missing
        last = p
    pieces.append(data[last:])
    fixed = b"".join(pieces)
    framing2 = frame_packets(np.frombuffer(fixed, dtype=np.uint8), final=final)
    before = int((framing.ends - framing.starts).sum())
    after = int((framing2.ends - framing2.starts).sum()) - added
    if after <= before:
        return None
    return _KeyRepair(
        fixed, framing2, len(found), np.array(at, np.int64), np.array(sizes, np.int64)
    )


#: Key bytes 8..13 of the EG 0104 universal set (byte 7, the version, varies).
_EG0104_DESIGNATOR = EG0104_KEY[8:14]


def _eg0104_packets(data: bytes, framing: Framing) -> np.ndarray:
    """Indices of the framed packets that are EG 0104 universal sets."""
    others = np.flatnonzero(~framing.is_0601)
    if others.size == 0:
        return others
    keep = [
        i
        for i in others.tolist()
        if data[int(framing.starts[i]) + 8 : int(framing.starts[i]) + 14] == _EG0104_DESIGNATOR
    ]
    return np.array(keep, dtype=np.int64)


def _cut_packet(data: bytes, at: int, base: int) -> KLVError | None:
    """A :class:`TruncatedError` when the unframed bytes at ``at`` are a packet whose declared
    length runs past the end of the stream (a capture cut short), else None."""
    if data[at : at + 4] != UL_PREFIX or len(data) < at + KEY_LENGTH + 1:
        return None
    try:
        length, value_at = decode_ber_length(data, at + KEY_LENGTH)
    except VigiaError:
        return None
    have = len(data) - value_at
    if length <= have:
        return None
    return TruncatedError(
        f"packet declares {length} value bytes, only {have} follow (stream cut short)",
        offset=base + at,
    )


def _first_gap(framing: Framing, settled: int) -> int:
    """Offset of the first byte (below ``settled``) that belongs to no packet."""
    if framing.starts.size == 0:
        return 0
    if framing.starts[0] > 0:
        return 0
    gaps = np.flatnonzero(framing.starts[1:] != framing.ends[:-1])
    if gaps.size:
        return int(framing.ends[gaps[0]])
    return int(framing.ends[-1])


def _count_gaps(framing: Framing, settled: int) -> int:
    """Number of separate stretches of unframed bytes (each counts as one damaged packet)."""
    if framing.starts.size == 0:
        return 1 if settled else 0
    n = int(framing.starts[0] > 0)
    n += int((framing.starts[1:] != framing.ends[:-1]).sum())
    n += int(framing.ends[-1] < settled)
    return n


def decode_buffer(data: bytes, *, strict: bool = False) -> tuple[pa.Table, DecodeStats]:
    """Decode a complete raw KLV byte string into a telemetry table and its statistics."""
    dec = KLVStreamDecoder(strict=strict)
    t1 = dec.feed(data)
    t2 = dec.flush()
    return pa.concat_tables([t1, t2]), dec.stats
