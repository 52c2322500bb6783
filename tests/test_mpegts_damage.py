"""Damaged transport streams: resync, continuity counting, recovery of every intact KLV packet."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers.streams import KLV_PID, demux_all, make_klv, ts_bytes
from vigia.errors import TransportError
from vigia.mpegts import KLVDemuxer, MetadataChunk

N_KLV = 60


def small_stream(
    seed: int = 0, carriage: str = "async"
) -> tuple[list[bytes], list[bytes], list[int]]:
    """Clean stream of single-TS-packet KLV PES: (klv, TS packets, TS index of each KLV)."""
    klv = make_klv(N_KLV, seed=seed)
    data = ts_bytes(klv, 90_000 + np.arange(N_KLV) * 3003, carriage=carriage)
    pkts = [data[i : i + 188] for i in range(0, len(data), 188)]
    kp = [i for i, p in enumerate(pkts) if ((p[1] & 0x1F) << 8 | p[2]) == KLV_PID]
    assert len(kp) == N_KLV  # one TS packet per KLV packet
    return klv, pkts, kp


def recovered(data: bytes, chunk: int = 188 * 7 + 3) -> tuple[list[bytes], KLVDemuxer]:
    got, d = demux_all(data, chunk)
    return (got.aus() if got is not None else []), d


def accounting_ok(d: KLVDemuxer) -> bool:
    s = d.stats
    return s.ts_packets * 188 + s.bytes_skipped == s.bytes_read


def apply(pkts: list[bytes], edits: dict[int, str], rng: np.random.Generator) -> bytes:
    out = []
    for i, p in enumerate(pkts):
        e = edits.get(i)
        if e == "drop":
            continue
        if e == "delete":
            a = int(rng.integers(5, 150))
            p = p[:a] + p[a + int(rng.integers(1, 30)) :]
        elif e == "flip_sync":
            p = b"\x46" + p[1:]
        elif e == "insert_before":
            out.append(rng.bytes(int(rng.integers(1, 400))).replace(b"G", b"g"))
        elif e == "tei":
            p = p[:1] + bytes([p[1] | 0x80]) + p[2:]
        elif e == "dup":
            out.append(p)
        out.append(p)
    return b"".join(out)


@pytest.mark.parametrize("carriage", ["async", "sync"])
def test_every_intact_klv_packet_is_recovered(carriage: str) -> None:
    klv, pkts, kp = small_stream(1, carriage)
    rng = np.random.default_rng(4)
    kinds = ["drop", "delete", "flip_sync", "insert_before", "tei", "dup"]
    targets = kp[3:-3:6]  # spaced apart so each resync is confirmed before the next damage
    edits = {j: kinds[n % len(kinds)] for n, j in enumerate(targets)}
    data = apply(pkts, edits, rng)
    got, d = recovered(data)
    lost = {j for j, e in edits.items() if e in ("drop", "delete", "flip_sync", "tei")}
    expected = [k for k, j in zip(klv, kp, strict=True) if j not in lost]
    assert got == expected
    s = d.stats
    count = lambda kind: sum(e == kind for e in edits.values())  # noqa: E731
    assert s.cc_errors == {KLV_PID: len(lost)}
    assert s.tei_packets == count("tei")
    assert s.duplicate_packets == count("dup")
    assert s.bad_sync_packets == count("flip_sync")
    assert s.resyncs == count("delete") + count("insert_before")
    assert s.truncated_pes == s.bad_pes == 0
    assert accounting_ok(d)


def test_loss_inside_a_multi_packet_pes_truncates_only_that_au() -> None:
    klv = make_klv(10, seed=2, big_every=3)  # KLV 0, 3, 6, 9 span several TS packets
    data = ts_bytes(klv, np.arange(10) * 3003)
    pkts = [data[i : i + 188] for i in range(0, len(data), 188)]
    got0, _ = recovered(data)
    assert got0 == klv
    # drop the second TS packet of KLV 3's PES
    starts = [
        i for i, p in enumerate(pkts) if p[1] & 0x40 and ((p[1] & 0x1F) << 8 | p[2]) == KLV_PID
    ]
    victim = starts[3] + 1
    damaged = b"".join(p for i, p in enumerate(pkts) if i != victim)
    got, d = recovered(damaged)
    assert d.stats.truncated_pes == 1 and d.stats.cc_errors == {KLV_PID: 1}
    assert got[:3] == klv[:3] and got[4:] == klv[4:]
    assert klv[3].startswith(got[3]) and len(got[3]) < len(klv[3])


def test_leading_garbage_and_truncated_tail() -> None:
    klv, pkts, _ = small_stream(3)
    data = b"\x00\x46\x12" * 100 + b"".join(pkts)
    got, d = recovered(data[: len(data) - 100])
    assert got == klv[:-1]  # the last PES lost its end
    assert d.stats.bytes_skipped == 300 + 88
    assert d.stats.resyncs == 1
    assert accounting_ok(d)


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"\x47",
        b"\x47" * 5000,
        bytes(188 * 10),
        np.random.default_rng(0).bytes(50_000),
        b"\x47\x40\x00\x10" + b"\x00" * 184,  # PAT packet with a nonsense section
        (b"\x47\x41\x01\x10\x00\x00\x01\xbd\xff\xff" + b"\xaa" * 178) * 3,  # PES on unknown PID
    ],
)
def test_garbage_never_raises_in_lenient_mode(blob: bytes) -> None:
    for chunk in (1000, 188, 7):
        d = KLVDemuxer()
        out: list[MetadataChunk] = []
        for i in range(0, len(blob), chunk):
            out += d.feed(blob[i : i + chunk])
        out += d.flush()
        assert accounting_ok(d)
        assert d.flush() == []


def test_truncated_streams_never_raise() -> None:
    klv = make_klv(20, seed=6, big_every=4)
    data = ts_bytes(klv, np.arange(20) * 3003, carriage="sync")
    for cut in range(0, len(data), 97):
        got, d = recovered(data[:cut], chunk=500)
        assert got == klv[: len(got)] or klv[len(got) - 1].startswith(got[-1])
        assert accounting_ok(d)


def test_strict_reports_offset_of_first_problem() -> None:
    _klv, pkts, kp = small_stream(5)
    j = kp[10]
    data = b"".join(p for i, p in enumerate(pkts) if i != j)
    with pytest.raises(TransportError) as exc:
        demux_all(data, strict=True)
    # the packet after the dropped one now sits at j * 188 and carries the CC error
    nxt = next(i for i in kp if i > j)
    assert exc.value.offset == (nxt - 1) * 188
    tei = b"".join(
        p if i != j else p[:1] + bytes([p[1] | 0x80]) + p[2:] for i, p in enumerate(pkts)
    )
    with pytest.raises(TransportError) as exc:
        demux_all(tei, strict=True)
    assert exc.value.offset == j * 188


DAMAGE_COUNTERS = (
    "resyncs",
    "bytes_skipped",
    "bad_sync_packets",
    "tei_packets",
    "bad_adaptation",
    "psi_errors",
    "bad_pes",
    "truncated_pes",
    "bad_au_cells",
)

_CLEAN = {c: small_stream(7, c) for c in ("async", "sync")}

op = st.tuples(
    st.sampled_from(["delete", "insert", "flip", "drop", "dup", "truncate"]),
    st.integers(0, 10**9),
    st.integers(1, 300),
    st.integers(1, 255),
)


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ops=st.lists(op, min_size=1, max_size=4),
    carriage=st.sampled_from(["async", "sync"]),
    chunk=st.sampled_from([188 * 16, 1000, 4099]),
)
def test_fuzz_random_corruption(
    ops: list[tuple[str, int, int, int]], carriage: str, chunk: int
) -> None:
    klv, pkts, kp = _CLEAN[carriage]
    data = bytearray(b"".join(pkts))
    n_pk = len(pkts)
    touched: set[int] = set()
    # apply from the end so that packet indices keep referring to the clean stream
    total = len(data)
    for kind, a, size, val in sorted(
        ((k, w % total, s, v) for k, w, s, v in ops), key=lambda o: -o[1]
    ):
        if a >= len(data):
            continue
        j = a // 188
        if kind == "delete":
            del data[a : a + size]
            touched.update(range(j, (a + size - 1) // 188 + 1))
        elif kind == "insert":
            data[a:a] = bytes((val * (i + 1)) & 0xFF for i in range(size))
            touched.update({j, j - 1})
        elif kind == "flip":
            data[a] ^= val
            touched.add(j)
        elif kind == "drop":
            del data[j * 188 : j * 188 + 188]
            touched.add(j)
        elif kind == "dup":
            data[j * 188 : j * 188] = data[j * 188 : j * 188 + 188]
            touched.add(j)
        else:
            del data[a:]
            touched.update(range(j, n_pk))
    got, d = recovered(bytes(data), chunk)
    assert accounting_ok(d)
    # every KLV packet with no damage within 5 TS packets of it comes out, in order
    safe = [k for k, j in zip(klv, kp, strict=True) if not touched & set(range(j - 5, j + 6))]
    it = iter(got)
    assert all(any(g == k for g in it) for k in safe)
    # strict mode raises exactly when lenient mode counted damage
    damage = sum(getattr(d.stats, c) for c in DAMAGE_COUNTERS) + d.stats.total_cc_errors
    try:
        demux_all(bytes(data), chunk, strict=True)
        raised = False
    except TransportError:
        raised = True
    assert raised == (damage > 0)
