"""Delivery of CoT events to a partner TAK server over TCP or TLS, with bounded retries.

A TAK server takes a stream of CoT XML events on a TCP socket (8087 by convention) or a TLS one
(8089, usually with client certificates). TAK has no per-event acknowledgement, so after the
events a CoT ping (``t-x-c-t``) is sent: the server's pong (``t-x-c-t-r``) comes once it has
read everything before it, and *confirms* the delivery. Failures (connection refused, reset,
timeout, TLS errors) are retried with exponential backoff up to a bounded number of attempts;
what could not be delivered is reported in a :class:`DeliveryRecord` with status ``failed``.
Nothing here raises for a network failure: a delivery run always returns one record per event.
"""

from __future__ import annotations

import contextlib
import re
import socket
import ssl
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from os import PathLike
from typing import Final, Literal

from vigia.errors import TakError
from vigia.share.products import Product, require_released
from vigia.share.render import CotEvent, cot_events

__all__ = [
    "DeliveryRecord",
    "RetryPolicy",
    "TakError",
    "TakTarget",
    "deliver_product",
    "push_events",
    "ssl_context",
]

DELIVERED: Final = "delivered"
FAILED: Final = "failed"


@dataclass(frozen=True, slots=True)
class TakTarget:
    """Where to deliver: host, port, and TLS settings (PEM file paths) when ``tls``.

    ``cafile`` verifies the server (system CAs when ``None``); ``certfile``/``keyfile`` are the
    client certificate most TAK servers require. ``server_hostname`` overrides the name checked
    against the server certificate (default: ``host``).
    """

    host: str
    port: int = 8087
    tls: bool = False
    cafile: str | PathLike[str] | None = None
    certfile: str | PathLike[str] | None = None
    keyfile: str | PathLike[str] | None = None
    key_password: str | None = field(default=None, repr=False)
    server_hostname: str | None = None
    check_hostname: bool = True
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if not isinstance(self.port, int) or not 0 < self.port < 65536:
            raise TakError(f"TAK port {self.port!r} is not in 1..65535")
        if not self.host:
            raise TakError("TAK target needs a host")
        if self.timeout_s <= 0:
            raise TakError("TAK timeout must be positive")
        if self.keyfile is not None and self.certfile is None:
            raise TakError("a client key needs its certificate (certfile)")

    @property
    def url(self) -> str:
        """``tcp://host:port`` or ``ssl://host:port`` (no credentials)."""
        return f"{'ssl' if self.tls else 'tcp'}://{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded exponential backoff: ``initial_delay_s * multiplier**k``, capped, at most
    ``max_attempts`` attempts in all."""

    max_attempts: int = 5
    initial_delay_s: float = 0.5
    multiplier: float = 2.0
    max_delay_s: float = 30.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise TakError("max_attempts must be at least 1")
        if self.initial_delay_s < 0 or self.max_delay_s < 0 or self.multiplier < 1:
            raise TakError("delays must be non-negative and the multiplier at least 1")

    def delays_s(self) -> Iterator[float]:
        """The waits before attempts 2..max_attempts (s)."""
        d = self.initial_delay_s
        for _ in range(self.max_attempts - 1):
            yield min(d, self.max_delay_s)
            d *= self.multiplier


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """Outcome for one event: where, which uid, how many attempts, and when (UTC)."""

    target: str
    uid: str
    attempts: int
    status: Literal["delivered", "failed"]
    error: str | None
    time: datetime
    confirmed: bool = False
    """The server answered the ping sent after the events (it has read them)."""

    @property
    def delivered(self) -> bool:
        """True when the status is ``delivered``."""
        return self.status == DELIVERED


def ssl_context(target: TakTarget) -> ssl.SSLContext:
    """A client TLS context for ``target``: server verification, and the client certificate."""
    try:
        ctx = ssl.create_default_context(
            cafile=None if target.cafile is None else str(target.cafile)
        )
        ctx.check_hostname = target.check_hostname
        if target.certfile is not None:
            ctx.load_cert_chain(
                str(target.certfile),
                None if target.keyfile is None else str(target.keyfile),
                password=target.key_password,
            )
    except (OSError, ssl.SSLError) as exc:
        raise TakError(f"cannot set up TLS for {target.url}: {exc}") from exc
    return ctx


def _connect(target: TakTarget, ctx: ssl.SSLContext | None) -> socket.socket:
    sock = socket.create_connection((target.host, target.port), timeout=target.timeout_s)
    if ctx is None:
        return sock
    try:
        return ctx.wrap_socket(sock, server_hostname=target.server_hostname or target.host)
    except BaseException:
        sock.close()
        raise


_PONG = re.compile(rb"""type\s*=\s*["']t-x-c-t-r["']""")


def ping_event(now: datetime | None = None) -> bytes:
    """A CoT ping (``t-x-c-t``); TAK servers answer it with a pong (``t-x-c-t-r``)."""
    t = (now or datetime.now(UTC)).astimezone(UTC)
    stamp = t.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    stale = (t + timedelta(seconds=20)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    uid = f"vigia-{uuid.uuid4().hex[:12]}-ping"
    return (
        f'<event version="2.0" uid="{uid}" type="t-x-c-t" how="m-g" time="{stamp}" '
        f'start="{stamp}" stale="{stale}"><point lat="0.0" lon="0.0" hae="0.0" '
        f'ce="9999999.0" le="9999999.0"/><detail/></event>'
    ).encode("ascii")


def _await_pong(sock: socket.socket, wait_s: float) -> bool:
    """True once the server's pong arrives; False if it stays silent for ``wait_s``.

    The server answers in stream order, so a pong proves it has read every event sent before
    the ping. A close, reset or TLS alert before the pong raises (the attempt failed).
    """
    deadline = time.monotonic() + wait_s
    tail = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        sock.settimeout(remaining)
        try:
            data = sock.recv(65536)
        except TimeoutError:
            return False
        if not data:
            raise ConnectionError("the server closed the connection before answering the ping")
        tail += data
        if _PONG.search(tail):
            return True
        tail = tail[-64:]


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)
    sock.close()


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


def push_events(
    events: Sequence[CotEvent],
    target: TakTarget,
    *,
    retry: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    confirm_s: float = 5.0,
    require_confirmation: bool = False,
) -> list[DeliveryRecord]:
    """Send ``events`` to ``target``, one connection per attempt, retrying what failed.

    An attempt connects, writes every pending event in order, then a ping, and waits up to
    ``confirm_s`` for the pong: a pong *confirms* the server read them all. A close, reset or
    TLS alert instead (e.g. a refused client certificate) fails the attempt. Silence gives
    ``delivered`` but unconfirmed, or a failure with ``require_confirmation``. A failed attempt
    leaves all its events pending for the next one, after the policy's backoff wait (CoT events
    are idempotent by uid: a resent event only refreshes its marker). Returns one record per
    event, in order; never raises for network errors.
    """
    policy = retry or RetryPolicy()
    ctx = ssl_context(target) if target.tls else None
    n = len(events)
    attempts = [0] * n
    done: list[tuple[datetime, bool] | None] = [None] * n
    last_error: str | None = None
    delays = policy.delays_s()
    for attempt in range(1, policy.max_attempts + 1):
        pending = [i for i in range(n) if done[i] is None]
        if not pending:
            break
        if attempt > 1:
            sleep(next(delays))
        for i in pending:
            attempts[i] += 1
        try:
            sock = _connect(target, ctx)
            try:
                for i in pending:
                    sock.sendall(events[i].to_bytes())
                sock.sendall(ping_event())
                confirmed = _await_pong(sock, confirm_s)
            finally:
                _close(sock)
        except (OSError, ssl.SSLError) as exc:
            last_error = _describe(exc)
            continue
        if require_confirmation and not confirmed:
            last_error = f"no answer to the ping within {confirm_s:g} s"
            continue
        now = datetime.now(UTC)
        for i in pending:
            done[i] = (now, confirmed)
    failed_at = datetime.now(UTC)
    records = []
    for i, ev in enumerate(events):
        outcome = done[i]
        if outcome is not None:
            at, ok = outcome
            records.append(DeliveryRecord(target.url, ev.uid, attempts[i], DELIVERED, None, at, ok))
        else:
            error = last_error or "not attempted"
            records.append(
                DeliveryRecord(target.url, ev.uid, attempts[i], FAILED, error, failed_at, False)
            )
    return records


def deliver_product(
    product: Product,
    target: TakTarget,
    *,
    retry: RetryPolicy | None = None,
    stale_after: timedelta = timedelta(days=7),
    lang: str = "es",
    sleep: Callable[[float], None] = time.sleep,
    confirm_s: float = 5.0,
    require_confirmation: bool = False,
) -> list[DeliveryRecord]:
    """Push a *released* product's sites as CoT markers (from its tearline only).

    Raises :class:`~vigia.share.products.ReleaseError` for a product never approved.
    """
    require_released(product)
    events = cot_events(product.tearline, stale_after=stale_after, lang=lang)
    return push_events(
        events,
        target,
        retry=retry,
        sleep=sleep,
        confirm_s=confirm_s,
        require_confirmation=require_confirmation,
    )
