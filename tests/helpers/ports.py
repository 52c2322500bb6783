"""Loopback ports for the tests' servers, without the bind-close-reuse race.

:func:`free_port` binds a socket on ``127.0.0.1`` to a port the kernel picks and keeps it bound
(``SO_REUSEADDR``, never listening) while the test needs the port. Either the bound socket is
handed over to the server (:meth:`ReservedPort.take`, e.g. ``uvicorn.Server.run(sockets=[...])``),
or a server that itself binds with ``SO_REUSEADDR`` (UdpSource, taky, PostgreSQL) binds the same
port beside it; the reservation is then released once the server holds the port. While it is
held, no other process can be given the port, and a TCP connection to it is refused.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

HOST = "127.0.0.1"


class ReservedPort:
    """A port on 127.0.0.1 held by a bound, non-listening socket until released or taken."""

    def __init__(self, kind: Literal["tcp", "udp"]) -> None:
        sock_type = socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM
        self._sock: socket.socket | None = socket.socket(socket.AF_INET, sock_type)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((HOST, 0))
        self.number: int = int(self._sock.getsockname()[1])

    def take(self) -> socket.socket:
        """Hand the bound socket over (the caller's server owns and closes it from now on)."""
        if self._sock is None:
            raise RuntimeError(f"port {self.number} was already taken or released")
        sock, self._sock = self._sock, None
        return sock

    def release(self) -> None:
        """Close the reserving socket (once the server has bound the port itself); idempotent."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None


@contextmanager
def free_port(kind: Literal["tcp", "udp"] = "tcp") -> Iterator[ReservedPort]:
    """Reserve a loopback port for the ``with`` block (released at its end unless taken)."""
    port = ReservedPort(kind)
    try:
        yield port
    finally:
        port.release()
