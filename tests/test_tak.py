"""TAK delivery against a real TAK server (taky, started here on loopback), TCP and TLS."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.ports import free_port
from tests.helpers.takserver import PLAIN_TCP, WAIT_S, Subscriber, Taky, start_taky
from vigia.share.markings import Marking
from vigia.share.products import ReleaseError, approve, digest
from vigia.share.render import CotEvent, cot_events
from vigia.share.tak import (
    DeliveryRecord,
    RetryPolicy,
    TakError,
    TakTarget,
    deliver_product,
    push_events,
    ssl_context,
)

pytest.importorskip("taky")

T0 = dt.datetime(2026, 3, 14, 5, 0, tzinfo=dt.UTC)
MARKING = Marking("UNCLASSIFIED", ["FOUO"], ["USA", "MEX"])


@pytest.fixture
def taky_tcp(tmp_path: Path) -> Iterator[Taky]:
    root = tmp_path / "t"
    root.mkdir()
    yield from start_taky(root)


def _sites() -> list[dict[str, object]]:
    return [
        {
            "site_id": f"S{k:08x}",
            "lat": 24.5 + 0.01 * k,
            "lon": -107.2 - 0.01 * k,
            "ce90_m": 10.0 + k,
            "indicators": ["tarp_structure", "burn_waste_pit"],
            "first_seen": T0,
            "last_seen": T0 + dt.timedelta(hours=k),
            "status": "active",
            "sorties": ["VIGIA-SIN-0314"],
            "assessment": "Posible laboratorio clandestino." if k % 2 else None,
            "candidate": True,
        }
        for k in range(1, 4)
    ]


def _released_digest():  # type: ignore[no-untyped-def]
    p = digest(
        _sites(),
        (T0 - dt.timedelta(days=1), T0 + dt.timedelta(days=1)),
        marking=MARKING,
        author="analyst1",
        created=T0 + dt.timedelta(days=1),
    )
    return p, approve(p, approver="super1", approver_role="supervisor")


def _check_arrived(got: dict[str, ET.Element], events: tuple[CotEvent, ...]) -> None:
    for ev in events:
        sent = ET.fromstring(ev.xml)
        elem = got[ev.uid]
        assert elem.get("type") == "a-u-G"
        assert elem.get("how") == "h-e"
        p, q = elem.find("point"), sent.find("point")
        assert p is not None and q is not None
        for key in ("lat", "lon"):
            assert float(p.get(key, "nan")) == pytest.approx(float(q.get(key, "nan")), abs=2e-6)
        assert float(p.get("ce", "nan")) == pytest.approx(float(q.get("ce", "nan")), abs=0.1)
        contact = elem.find("detail/contact")
        assert contact is not None and contact.get("callsign") == f"VIGIA {ev.uid}"
        remarks = elem.findtext("detail/remarks") or ""
        assert remarks.startswith(MARKING.banner("es"))


def test_markers_arrive_at_taky(taky_tcp: Taky) -> None:
    draft, released = _released_digest()
    events = cot_events(released.tearline)
    assert len(events) == 3
    before = Subscriber(socket.create_connection(("127.0.0.1", taky_tcp.port)))
    try:
        target = TakTarget("127.0.0.1", taky_tcp.port)
        records = deliver_product(released, target, retry=RetryPolicy(max_attempts=3))
        assert [r.uid for r in records] == [e.uid for e in events]
        assert all(r.status == "delivered" and r.attempts == 1 for r in records), records
        assert all(r.confirmed for r in records), "taky answers the ping after the events"
        assert all(
            r.error is None and r.target == f"tcp://127.0.0.1:{taky_tcp.port}" for r in records
        )
        uids = {e.uid for e in events}
        got = before.read_until(uids)
        assert uids <= set(got), taky_tcp.log.read_text(errors="replace")
        _check_arrived(got, events)
    finally:
        before.close()
    # The server keeps the markers: a client connecting afterwards is sent them too.
    after = Subscriber(socket.create_connection(("127.0.0.1", taky_tcp.port)))
    try:
        got = after.read_until({e.uid for e in events})
        _check_arrived(got, events)
    finally:
        after.close()
    # A draft never goes out.
    with pytest.raises(ReleaseError):
        deliver_product(draft, TakTarget("127.0.0.1", taky_tcp.port))


def test_connection_refused_retries_then_fails() -> None:
    waits: list[float] = []
    _, released = _released_digest()
    policy = RetryPolicy(max_attempts=4, initial_delay_s=0.01, multiplier=2.0, max_delay_s=0.03)
    with free_port() as port:  # reserved, and nothing listens there
        records = deliver_product(
            released,
            TakTarget("127.0.0.1", port.number, timeout_s=2.0),
            retry=policy,
            sleep=waits.append,
        )
    assert len(records) == 3
    for r in records:
        assert isinstance(r, DeliveryRecord)
        assert r.status == "failed" and not r.delivered
        assert r.attempts == 4
        assert r.error is not None and "Refused" in r.error
        assert r.time.tzinfo is not None
    # Exponential, capped: 0.01, 0.02, then 0.03 (not 0.04); one wait between attempts.
    assert waits == pytest.approx([0.01, 0.02, 0.03])


def test_retry_policy_bounds() -> None:
    assert list(RetryPolicy(max_attempts=1).delays_s()) == []
    d = list(
        RetryPolicy(max_attempts=6, initial_delay_s=1, multiplier=3, max_delay_s=10).delays_s()
    )
    assert d == [1, 3, 9, 10, 10]
    with pytest.raises(TakError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(TakError):
        TakTarget("127.0.0.1", 70000)
    with pytest.raises(TakError):
        TakTarget("127.0.0.1", 8089, keyfile="client.key")
    with pytest.raises(TakError):
        ssl_context(TakTarget("127.0.0.1", 8089, tls=True, cafile="/nonexistent/ca.pem"))


def test_server_that_comes_up_between_attempts(tmp_path: Path) -> None:
    """Attempt 1 is refused; the server starts during the backoff wait; attempt 2 delivers."""
    root = tmp_path / "t"
    root.mkdir()
    _, released = _released_digest()
    events = cot_events(released.tearline)
    with free_port() as reserved:  # held (not listening) until taky binds beside it
        port = reserved.number
        server = start_taky(root, PLAIN_TCP, port)
        started: list[Taky] = []

        def start_server(_: float) -> None:
            if not started:
                started.append(next(server))

        try:
            records = push_events(
                events,
                TakTarget("127.0.0.1", port),
                retry=RetryPolicy(max_attempts=3, initial_delay_s=0.0),
                sleep=start_server,
            )
            assert started, "the first attempt should have failed"
            assert all(r.delivered and r.attempts == 2 for r in records), records
            sub = Subscriber(socket.create_connection(("127.0.0.1", port)))
            try:
                _check_arrived(sub.read_until({e.uid for e in events}), events)
            finally:
                sub.close()
        finally:
            server.close()


# --- TLS ------------------------------------------------------------------------------------------
def _make_pki(d: Path) -> dict[str, Path]:
    x509 = pytest.importorskip("cryptography.x509")
    import ipaddress

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def write(stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
        (d / f"{stem}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (d / f"{stem}.key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("Vigia Test CA"))
        .issuer_name(name("Vigia Test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    write("ca", ca, ca_key)

    def leaf(cn: str, usage: x509.ObjectIdentifier, san: bool) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        b = (
            x509.CertificateBuilder()
            .subject_name(name(cn))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
            )
        )
        if san:
            b = b.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
        write(cn, b.sign(ca_key, hashes.SHA256()), key)

    leaf("server", ExtendedKeyUsageOID.SERVER_AUTH, True)
    leaf("partner", ExtendedKeyUsageOID.CLIENT_AUTH, False)
    leaf("viewer", ExtendedKeyUsageOID.CLIENT_AUTH, False)
    return {p.stem + p.suffix: p for p in d.iterdir()}


def test_markers_arrive_over_tls(tmp_path: Path) -> None:
    pki_dir = tmp_path / "pki"
    pki_dir.mkdir()
    pki = _make_pki(pki_dir)
    root = tmp_path / "t"
    root.mkdir()
    section = (
        "[ssl]\nenabled = true\nclient_cert_required = true\n"
        f"ca = {pki['ca.crt']}\ncert = {pki['server.crt']}\nkey = {pki['server.key']}\n"
        f"cert_db = {root / 'cert-db.txt'}\n"
    )
    _, released = _released_digest()
    events = cot_events(released.tearline)
    for taky in start_taky(root, section):
        ctx = ssl.create_default_context(cafile=str(pki["ca.crt"]))
        ctx.load_cert_chain(str(pki["viewer.crt"]), str(pki["viewer.key"]))
        raw = socket.create_connection(("127.0.0.1", taky.port))
        sub = Subscriber(ctx.wrap_socket(raw, server_hostname="localhost"))
        try:
            target = TakTarget(
                "127.0.0.1",
                taky.port,
                tls=True,
                cafile=pki["ca.crt"],
                certfile=pki["partner.crt"],
                keyfile=pki["partner.key"],
            )
            assert target.url.startswith("ssl://")
            records = push_events(events, target, retry=RetryPolicy(max_attempts=2))
            assert all(r.delivered for r in records), records
            got = sub.read_until({e.uid for e in events})
            _check_arrived(got, events)
        finally:
            sub.close()
        # Without a client certificate the server refuses the delivery: a failed record.
        no_cert = TakTarget("127.0.0.1", taky.port, tls=True, cafile=pki["ca.crt"])
        bad = push_events(
            events[:1], no_cert, retry=RetryPolicy(max_attempts=2, initial_delay_s=0.01)
        )
        assert bad[0].status == "failed" and bad[0].attempts == 2 and bad[0].error, bad


class _Listener:
    """A bare TCP listener in a thread: reads what it gets, answers nothing, or hangs up."""

    def __init__(self, hang_up: bool) -> None:
        import threading

        with free_port() as reserved:
            self.port = reserved.number
            self.srv = reserved.take()  # listens on the very socket that holds the port
        self.srv.listen()
        self.received = bytearray()
        self.hang_up = hang_up
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.srv.settimeout(WAIT_S)
        while True:
            try:
                conn, _ = self.srv.accept()
            except OSError:
                return
            with conn:
                if self.stopping:
                    return
                if self.hang_up:
                    continue
                conn.settimeout(WAIT_S)
                while True:
                    try:
                        data = conn.recv(65536)
                    except OSError:
                        break
                    if not data:
                        break
                    self.received += data

    def close(self) -> None:
        self.stopping = True
        with socket.create_connection(("127.0.0.1", self.port)):  # wakes the accept()
            pass
        self.thread.join(timeout=WAIT_S)
        self.srv.close()


def test_silent_server_is_unconfirmed_and_hang_up_fails() -> None:
    _, released = _released_digest()
    events = cot_events(released.tearline)
    quiet = _Listener(hang_up=False)
    try:
        target = TakTarget("127.0.0.1", quiet.port)
        records = push_events(events, target, confirm_s=0.2)
        assert all(r.delivered and not r.confirmed for r in records)
        strict = push_events(
            events[:1],
            target,
            confirm_s=0.2,
            require_confirmation=True,
            retry=RetryPolicy(max_attempts=2, initial_delay_s=0.0),
        )
        assert strict[0].status == "failed" and strict[0].attempts == 2
        assert strict[0].error is not None and "ping" in strict[0].error
    finally:
        quiet.close()
    assert bytes(quiet.received).count(b'type="a-u-G"') == 3 + 2
    rude = _Listener(hang_up=True)
    try:
        records = push_events(
            events,
            TakTarget("127.0.0.1", rude.port),
            retry=RetryPolicy(max_attempts=2, initial_delay_s=0.0),
        )
        assert all(r.status == "failed" and r.attempts == 2 for r in records), records
    finally:
        rude.close()
