"""Live transport streams over UDP (unicast or IPv4 multicast), as a bounded, non-blocking source.

A reader thread receives datagrams (each normally 7 x 188 bytes) and puts them in a bounded
queue. It never waits for the consumer: when the queue is full the datagram is dropped and
counted, so a slow consumer loses data visibly instead of stalling the socket.
"""

from __future__ import annotations

import contextlib
import ipaddress
import queue
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

from vigia.errors import SourceError

MAX_DATAGRAM = 65535


@dataclass
class UdpStats:
    """Counters of the reader thread."""

    datagrams: int = 0  #: datagrams received
    bytes: int = 0  #: bytes received
    drops: int = 0  #: datagrams dropped because the queue was full
    dropped_bytes: int = 0  #: bytes in the dropped datagrams
    misaligned: int = 0  #: datagrams whose size is not a multiple of 188 (kept)


def parse_udp_url(url: str) -> tuple[str, int, bool]:
    """``udp://HOST:PORT`` (unicast, bind to HOST), ``udp://@GROUP:PORT`` or ``udp://GROUP:PORT``
    (multicast when GROUP is in 224.0.0.0/4), ``udp://@:PORT`` (any address).

    Returns ``(host, port, is_multicast)``; raises :class:`SourceError` on a bad URL.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise SourceError(f"bad UDP URL {url!r}: {exc}") from exc
    if parts.scheme.lower() != "udp":
        raise SourceError(f"not a udp:// URL: {url!r}")
    if port is None or not 0 < port < 65536:
        raise SourceError(f"UDP URL needs a port in 1..65535: {url!r}")
    netloc = parts.netloc
    host = netloc.rsplit(":", 1)[0].lstrip("@").strip("[]")
    if "@" in host:
        raise SourceError(f"bad UDP URL {url!r}")
    is_multicast = False
    if host:
        try:
            addr = ipaddress.ip_address(host)
        except ValueError:
            if not all(c.isalnum() or c in "-." for c in host):
                raise SourceError(f"bad host in UDP URL {url!r}") from None
        else:
            if addr.version != 4:
                raise SourceError(f"only IPv4 is supported: {url!r}")
            is_multicast = addr.is_multicast
    return host, port, is_multicast


class UdpSource:
    """Iterate the datagrams (bytes) of a UDP transport stream.

    ``queue_packets``: how many datagrams may wait for the consumer (bounded; beyond it the
    reader drops and counts). ``timeout`` (seconds): iteration ends after this long without
    data; ``None`` waits until :meth:`close`. ``interface``: local IPv4 address to join a
    multicast group on (also ``?localaddr=`` in the URL).
    """

    def __init__(
        self,
        url: str,
        *,
        queue_packets: int = 4096,
        timeout: float | None = 5.0,
        interface: str | None = None,
        rcvbuf: int = 4 << 20,
    ) -> None:
        self.url = url
        self.host, self.port, self.is_multicast = parse_udp_url(url)
        query = parse_qs(urlsplit(url).query)
        self.interface = interface or query.get("localaddr", ["0.0.0.0"])[0]
        self.timeout = timeout
        self.stats = UdpStats()
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=max(1, queue_packets))
        self._stop = threading.Event()
        self._sock = self._open(rcvbuf)
        self._thread = threading.Thread(target=self._reader, name=f"udp-{self.port}", daemon=True)
        self._thread.start()

    @property
    def address(self) -> tuple[str, int]:
        """The bound local (address, port)."""
        addr = self._sock.getsockname()
        return str(addr[0]), int(addr[1])

    def _open(self, rcvbuf: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            if self.is_multicast:
                sock.bind((self.host, self.port))
                mreq = struct.pack(
                    "4s4s", socket.inet_aton(self.host), socket.inet_aton(self.interface)
                )
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
            else:
                sock.bind((self.host, self.port))
            sock.settimeout(0.1)
        except OSError as exc:
            sock.close()
            raise SourceError(f"cannot open {self.url}: {exc}") from exc
        return sock

    def _reader(self) -> None:
        buf = bytearray(MAX_DATAGRAM)
        view = memoryview(buf)
        st = self.stats
        q = self._queue
        while not self._stop.is_set():
            try:
                n = self._sock.recv_into(buf)
            except TimeoutError:
                continue
            except OSError:
                break
            st.datagrams += 1
            st.bytes += n
            if n % 188:
                st.misaligned += 1
            try:
                q.put_nowait(bytes(view[:n]))
            except queue.Full:
                st.drops += 1
                st.dropped_bytes += n
        with contextlib.suppress(queue.Full):
            q.put_nowait(None)

    def read(self, timeout: float | None = None) -> bytes | None:
        """Next datagram, or None after ``timeout`` seconds (or when closed)."""
        if self._stop.is_set() and self._queue.empty():
            return None
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        return item

    def __iter__(self) -> Iterator[bytes]:
        """Yield datagrams until closed, or until ``timeout`` seconds pass without one."""
        last = time.monotonic()
        while True:
            try:
                item = self._queue.get(timeout=0.05)
            except queue.Empty:
                if self.closed or not self._thread.is_alive():
                    return
                if self.timeout is not None and time.monotonic() - last >= self.timeout:
                    return
                continue
            if item is None:
                return
            last = time.monotonic()
            yield item

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._stop.is_set()

    def close(self) -> None:
        """Stop the reader thread and close the socket (idempotent)."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(timeout=2.0)
        self._sock.close()
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)

    def __enter__(self) -> UdpSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
