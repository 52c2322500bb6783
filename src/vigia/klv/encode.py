"""Vectorised ST 0601 encoding: columns of values -> a stream of checksummed packets.

Used to write sample sorties, test streams and benchmark inputs, and by the single-packet
encoder. Each item column becomes a block of ``tag | BER length | value`` bytes per row (empty
where the value is missing); the blocks are laid out row by row with NumPy and the ST 0601
checksum is computed for all packets at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from vigia.errors import ItemError
from vigia.klv.batch import st0601_checksums
from vigia.klv.ber import encode_ber_length, encode_ber_oid
from vigia.klv.keys import KEY_LENGTH, ST0601_KEY
from vigia.klv.st0601 import BY_COLUMN, ITEMS, Item, Kind, value_to_raw


def _uint_bytes(raw: np.ndarray, length: int) -> np.ndarray:
    """(N, length) big-endian bytes of ``uint64`` values."""
    shifts = np.arange(length - 1, -1, -1, dtype=np.uint64) * np.uint64(8)
    return ((raw[:, None] >> shifts[None, :]) & np.uint64(0xFF)).astype(np.uint8)


def _header(tag: int, length: int) -> bytes:
    return encode_ber_oid(tag) + encode_ber_length(length)


def _item_block(item: Item, values: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Encoded TLV bytes of one item for ``n`` rows: ``(data, per-row lengths)``."""
    if item.kind in (Kind.STRING, Kind.SET):
        seq = list(values)
        if len(seq) != n:
            raise ItemError(f"column {item.column} has {len(seq)} values, expected {n}")
        parts: list[bytes] = []
        lengths = np.zeros(n, dtype=np.int64)
        for i, v in enumerate(seq):
            if v is None:
                continue
            b = v.encode("utf-8") if isinstance(v, str) else bytes(v)
            if item.max_length is not None and len(b) > item.max_length:
                raise ItemError(f"{item.name} longer than {item.max_length} bytes: {len(b)}")
            t = _header(item.tag, len(b)) + b
            parts.append(t)
            lengths[i] = len(t)
        data = np.frombuffer(b"".join(parts), dtype=np.uint8)
        return data, lengths
    arr = np.asarray(values)
    if arr.shape != (n,):
        raise ItemError(f"column {item.column} has shape {arr.shape}, expected ({n},)")
    length = item.length or 8
    if item.kind is Kind.TIMESTAMP and np.issubdtype(arr.dtype, np.datetime64):
        arr = arr.astype("datetime64[us]").astype(np.int64)
    if arr.dtype == object:
        present = np.array([v is not None for v in arr])
        filler = 0 if item.kind in (Kind.UINT, Kind.INT, Kind.TIMESTAMP) else np.nan
        arr = np.array([filler if v is None else v for v in arr])
    elif item.kind in (Kind.UINT, Kind.INT, Kind.TIMESTAMP):
        present = np.ones(n, dtype=bool)
    else:
        present = np.ones(n, dtype=bool)  # NaN encodes the item's sentinel / IMAP NaN
        if item.sentinel is None and item.kind is not Kind.IMAPB:
            present = ~np.isnan(arr.astype(np.float64))
    if item.kind in (Kind.MAPPED_UINT, Kind.MAPPED_INT, Kind.IMAPB):
        f = arr.astype(np.float64)
        finite = f[present & np.isfinite(f)]
        if finite.size and (finite.min() < item.lo or finite.max() > item.hi):
            raise ItemError(
                f"{item.name} outside [{item.lo}, {item.hi}] {item.units}: "
                f"[{finite.min()}, {finite.max()}]"
            )
    raw = value_to_raw(item, arr, length)
    head = np.frombuffer(_header(item.tag, length), dtype=np.uint8)
    block = np.empty((n, head.size + length), dtype=np.uint8)
    block[:, : head.size] = head
    block[:, head.size :] = _uint_bytes(raw, length)
    lengths = np.where(present, block.shape[1], 0).astype(np.int64)
    return block[present].reshape(-1), lengths


def encode_st0601_stream(
    columns: Mapping[str, Any], *, n: int | None = None
) -> tuple[bytes, np.ndarray]:
    """Encode ``n`` ST 0601 packets from columns named after items (values in standard units).

    Packets are canonical: ``precision_time_stamp`` (µs since 1970 UTC, or ``datetime64``)
    first, the other items in ascending tag order, the checksum last, shortest BER lengths.
    Missing values (``None``; NaN for items without a sentinel) leave the item out of that
    packet; NaN in an item with a sentinel encodes the sentinel. Returns the concatenated
    packets and the ``int64`` offset of each packet (plus the total length at the end).
    """
    unknown = [c for c in columns if c not in BY_COLUMN]
    if unknown:
        raise ItemError(f"not ST 0601 item columns: {', '.join(unknown)}")
    if n is None:
        n = len(next(iter(columns.values()))) if columns else 0
    # Canonical order: the time stamp first, then ascending tags; the checksum is added last.
    names = sorted(
        (c for c in columns if c != "checksum"),
        key=lambda c: (c != "precision_time_stamp", BY_COLUMN[c].tag),
    )
    blocks = [_item_block(BY_COLUMN[c], columns[c], n) for c in names]
    body_len = np.zeros(n, dtype=np.int64)
    for _, ln in blocks:
        body_len += ln
    value_len = body_len + 4  # checksum item
    ber_size = np.where(
        value_len < 0x80, 1, 1 + (np.floor(np.log2(np.maximum(value_len, 1)) / 8) + 1)
    )
    ber_size = ber_size.astype(np.int64)
    pkt_len = KEY_LENGTH + ber_size + value_len
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(pkt_len, out=offsets[1:])
    out = np.zeros(int(offsets[-1]), dtype=np.uint8)
    starts = offsets[:-1]
    # Keys.
    key = np.frombuffer(ST0601_KEY, dtype=np.uint8)
    out[(starts[:, None] + np.arange(KEY_LENGTH)).reshape(-1)] = np.tile(key, n)
    # BER lengths (short form, or long form with 1-2 bytes).
    short = ber_size == 1
    out[starts[short] + KEY_LENGTH] = value_len[short].astype(np.uint8)
    for nb in (2, 3):
        sel = ber_size == nb
        if sel.any():
            s = starts[sel] + KEY_LENGTH
            out[s] = 0x80 | (nb - 1)
            v = value_len[sel]
            for k in range(nb - 1):
                out[s + 1 + k] = (v >> (8 * (nb - 2 - k))) & 0xFF
    # Item blocks, row by row.
    pos = starts + KEY_LENGTH + ber_size
    for data, ln in blocks:
        total = int(ln.sum())
        if total:
            src_off = np.zeros(n + 1, dtype=np.int64)
            np.cumsum(ln, out=src_off[1:])
            dest = np.repeat(pos - src_off[:-1], ln) + np.arange(total, dtype=np.int64)
            out[dest] = data
        pos = pos + ln
    # Checksum items.
    out[pos] = 0x01
    out[pos + 1] = 0x02
    ck = st0601_checksums(out, starts, pos + 2)
    out[pos + 2] = (ck >> 8).astype(np.uint8)
    out[pos + 3] = (ck & 0xFF).astype(np.uint8)
    return out.tobytes(), offsets


def encode_st0601(values: Mapping[str, Any]) -> bytes:
    """Encode one ST 0601 packet from ``{column: value}`` (values in the standard's units)."""
    cols: dict[str, Any] = {}
    for name, v in values.items():
        item = BY_COLUMN.get(name)
        if item is None:
            raise ItemError(f"not an ST 0601 item column: {name}")
        if item.kind in (Kind.STRING, Kind.SET):
            cols[name] = [v]
        else:
            cols[name] = np.array([v], dtype=np.float64 if item.is_float else np.int64)
    data, _ = encode_st0601_stream(cols, n=1)
    return data


def default_length(tag: int) -> int | None:
    """The length Vigía writes for ``tag`` (the standard's fixed or recommended length)."""
    return ITEMS[tag].length


__all__: Sequence[str] = ["default_length", "encode_st0601", "encode_st0601_stream"]


def table_columns(table: Any) -> dict[str, Any]:
    """Item columns of a decoded telemetry table, ready for :func:`encode_st0601_stream`.

    Absent values become ``None`` (item left out); values the decoder reported as sentinels
    (listed in ``sentinel_items``) become NaN so that they are written back as sentinels.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    n = table.num_rows
    sentinel_rows: dict[str, np.ndarray] = {}
    if "sentinel_items" in table.column_names and table["sentinel_items"].null_count < n:
        lists = table["sentinel_items"].combine_chunks()
        flat = pc.list_flatten(lists).to_numpy(zero_copy_only=False)
        parent = pc.list_parent_indices(lists).to_numpy()
        for name in np.unique(flat):
            sentinel_rows[str(name)] = parent[flat == name]
    cols: dict[str, Any] = {}
    for name in table.column_names:
        item = BY_COLUMN.get(name)
        if item is None or name == "checksum":
            continue
        col = table[name]
        sent = sentinel_rows.get(name)
        if col.null_count == n and sent is None:
            continue
        if item.kind in (Kind.STRING, Kind.SET):
            cols[name] = col.to_pylist()
            continue
        if pa.types.is_timestamp(col.type):
            col = pc.cast(col, pa.int64())
        values = np.array(col.to_pylist(), dtype=object)
        if sent is not None:
            values[sent] = np.nan
        cols[name] = values
    return cols


def encode_table(table: Any) -> bytes:
    """Re-encode a decoded telemetry table into ST 0601 packets (items in tag order)."""
    data, _ = encode_st0601_stream(table_columns(table), n=table.num_rows)
    return data
