"""UDP source on loopback: unicast and multicast delivery, drops under a slow consumer."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import numpy as np
import pytest

from tests.helpers.ports import ReservedPort, free_port
from tests.helpers.streams import make_klv, ts_bytes
from vigia.errors import SourceError
from vigia.mpegts import KLVDemuxer, MetadataChunk, UdpSource, parse_udp_url

DGRAM = 7 * 188


def open_source(url: str, port: ReservedPort, **kw: Any) -> UdpSource:
    """A UdpSource on ``url`` (``{port}`` filled in); the source binds the reserved port
    beside the reservation, which is then released so that only the source receives."""
    try:
        return UdpSource(url.format(port=port.number), **kw)
    finally:
        port.release()


def sender(
    data: bytes, addr: tuple[str, int], rate_dgrams: float, multicast: bool = False
) -> threading.Thread:
    """Thread sending ``data`` in 7-packet datagrams at ``rate_dgrams`` per second."""

    def run() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            if multicast:
                s.setsockopt(
                    socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1")
                )
                s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
            t0 = time.monotonic()
            for k, i in enumerate(range(0, len(data), DGRAM)):
                delay = t0 + k / rate_dgrams - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                s.sendto(data[i : i + DGRAM], addr)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("udp://127.0.0.1:5000", ("127.0.0.1", 5000, False)),
        ("udp://@239.1.2.3:1234", ("239.1.2.3", 1234, True)),
        ("udp://239.1.2.3:1234", ("239.1.2.3", 1234, True)),
        ("udp://@:6000", ("", 6000, False)),
        ("udp://localhost:7000?localaddr=127.0.0.1", ("localhost", 7000, False)),
        ("UDP://10.0.0.5:65535", ("10.0.0.5", 65535, False)),
    ],
)
def test_parse_udp_url(url: str, expected: tuple[str, int, bool]) -> None:
    assert parse_udp_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://1.2.3.4:5",
        "udp://1.2.3.4",
        "udp://1.2.3.4:0",
        "udp://1.2.3.4:70000",
        "udp://1.2.3.4:port",
        "udp://[::1]:5000",
        "udp://a@b@c:5",
        "udp://bad host:5",
        "",
        "5000",
    ],
)
def test_parse_udp_url_rejects(url: str) -> None:
    with pytest.raises(SourceError):
        parse_udp_url(url)


def collect(src: UdpSource) -> tuple[list[bytes], KLVDemuxer]:
    d = KLVDemuxer()
    parts: list[MetadataChunk] = []
    for dgram in src:
        parts += d.feed(dgram)
    parts += d.flush()
    return (MetadataChunk.concat(parts).aus() if parts else []), d


def test_unicast_loopback_recovers_every_klv_packet() -> None:
    klv = make_klv(300, seed=1, big_every=10)
    data = ts_bytes(klv, 90_000 + np.arange(300) * 3003)
    with free_port("udp") as port, open_source("udp://127.0.0.1:{port}", port, timeout=0.5) as src:
        t = sender(data, ("127.0.0.1", port.number), rate_dgrams=2000)
        got, d = collect(src)
        t.join()
    assert got == klv
    assert src.stats.drops == 0
    assert src.stats.bytes == len(data)
    assert src.stats.datagrams == -(-len(data) // DGRAM)
    assert d.stats.total_cc_errors == 0


def test_multicast_loopback() -> None:
    klv = make_klv(100, seed=2)
    data = ts_bytes(klv, np.arange(100) * 3003, carriage="sync")
    group = "239.255.42.99"
    with free_port("udp") as port:
        try:
            src = open_source(f"udp://@{group}:{{port}}?localaddr=127.0.0.1", port, timeout=0.5)
        except SourceError as exc:  # pragma: no cover - depends on the sandbox
            pytest.skip(f"multicast join not possible here: {exc}")
    with src:
        t = sender(data, (group, port.number), rate_dgrams=2000, multicast=True)
        got, _ = collect(src)
        t.join()
    if not got and src.stats.datagrams == 0:  # pragma: no cover - depends on the sandbox
        pytest.skip("multicast on loopback does not route here")
    assert got == klv


def test_slow_consumer_drops_and_reader_never_blocks() -> None:
    data = ts_bytes(make_klv(600, seed=3), np.arange(600) * 3003)
    n_dgrams = -(-len(data) // DGRAM)
    with (
        free_port("udp") as port,
        open_source("udp://127.0.0.1:{port}", port, queue_packets=8, timeout=0.5) as src,
    ):
        t = sender(data, ("127.0.0.1", port.number), rate_dgrams=20000)
        t.join()
        # the consumer has not read anything yet; the reader kept receiving and dropping
        deadline = time.monotonic() + 5
        while src.stats.datagrams < n_dgrams and time.monotonic() < deadline:
            time.sleep(0.01)
        assert src.stats.datagrams == n_dgrams
        assert src.stats.drops == n_dgrams - 8
        delivered = []
        for dgram in src:
            delivered.append(dgram)
            time.sleep(0.001)  # slow consumer
    assert len(delivered) == 8
    assert delivered[0] == data[:DGRAM]
    assert src.stats.dropped_bytes == len(data) - sum(map(len, delivered))
    d = KLVDemuxer()
    for dgram in delivered:
        d.feed(dgram)
    d.flush()  # what survived still parses


def test_close_stops_iteration_without_timeout() -> None:
    with free_port("udp") as port:
        src = open_source("udp://127.0.0.1:{port}", port, timeout=None)
    threading.Timer(0.2, src.close).start()
    t0 = time.monotonic()
    assert list(src) == []
    assert time.monotonic() - t0 < 3
    src.close()


def test_bind_conflict_is_a_source_error() -> None:
    # 10.255.255.1 is no address of this machine: binding it fails (nothing is sent).
    with free_port("udp") as port, pytest.raises(SourceError):
        UdpSource(f"udp://10.255.255.1:{port.number}")
