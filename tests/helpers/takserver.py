"""A real TAK server (taky, from PyPI) on loopback for the tests, and a plain TAK client that
reads the CoT events the server relays."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.ports import free_port

#: Generous bound on waiting for the server (s): only to avoid hanging, never asserted on.
WAIT_S = 60.0
#: The [ssl] section of a plain-TCP server.
PLAIN_TCP = "[ssl]\nenabled = false\n"


@dataclass
class Taky:
    """A running taky: its CoT port, root directory and log file."""

    port: int
    root: Path
    log: Path


def start_taky(root: Path, ssl_section: str = PLAIN_TCP, port: int | None = None) -> Iterator[Taky]:
    """Run taky in ``root`` until the generator is closed (use with ``yield from``).

    Without ``port``, a :func:`~tests.helpers.ports.free_port` is held until taky listens on it;
    a caller passing ``port`` holds its own reservation.
    """
    if port is None:
        with free_port() as reserved:
            yield from _run_taky(root, ssl_section, reserved.number)
    else:
        yield from _run_taky(root, ssl_section, port)


def _run_taky(root: Path, ssl_section: str, port: int) -> Iterator[Taky]:
    cfg = root / "taky.conf"
    cfg.write_text(
        "[taky]\nhostname = localhost\nnode_id = VIGIATEST\nbind_ip = 127.0.0.1\n"
        f"root_dir = {root}\n"
        f"[cot_server]\nport = {port}\n"
        f"[dp_server]\nupload_path = {root / 'dp'}\n" + ssl_section,
        encoding="utf-8",
    )
    log = root / "taky.log"
    with log.open("wb") as log_fp:
        proc = subprocess.Popen(
            [sys.executable, "-m", "taky.cot", "-c", str(cfg), "-l", "info"],
            stdout=log_fp,
            stderr=subprocess.STDOUT,
            cwd=root,
        )
    try:
        deadline = time.monotonic() + WAIT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"taky exited: {log.read_text(errors='replace')}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("taky did not start listening")
                time.sleep(0.1)
        yield Taky(port, root, log)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Subscriber:
    """A plain TAK client: connects, then reads the CoT events the server relays to it."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.parser = ET.XMLPullParser(events=("end",))
        self.parser.feed(b"<stream>")
        self.events: dict[str, ET.Element] = {}

    def read_until(self, uids: set[str]) -> dict[str, ET.Element]:
        """Read until every uid has arrived (or :data:`WAIT_S` passed); events by uid."""
        deadline = time.monotonic() + WAIT_S
        self.sock.settimeout(1.0)
        while not uids <= set(self.events) and time.monotonic() < deadline:
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            if not data:
                break
            self.parser.feed(data)
            for _, elem in self.parser.read_events():
                if elem.tag == "event":
                    self.events[elem.get("uid", "")] = elem
        return self.events

    def close(self) -> None:
        self.sock.close()
