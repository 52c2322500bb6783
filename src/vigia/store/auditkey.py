"""The two files of the audit trail that live outside the database: the MAC key and the
checkpoint log.

* The **key** (32 random bytes, hex, one line) keys the HMAC-SHA256 that chains the entries
  (:func:`vigia.store.audit.entry_mac`). It is ``$VIGIA_AUDIT_KEY_FILE`` when set, else
  ``<data_dir>/.audit.key``; it is created with mode 0600 the first time a store that writes
  audit entries is opened, and refused when anyone but its owner may read it. Whoever can write
  the database but not read this file cannot forge an entry.
* The **checkpoint log** (``<data_dir>/audit-checkpoints.log``) is append-only, one JSON line per
  checkpoint ``{"seq", "hash", "time", "mac"}`` where ``mac`` is the HMAC-SHA256 with the same
  key over the canonical JSON of the other three. It anchors the head of the chain outside the
  database: an operator ships it elsewhere, and ``vigia audit verify --checkpoints FILE`` checks
  the database against the shipped copy, so removing the newest entries (and moving the head
  back) is detected.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from vigia.errors import AuditKeyError
from vigia.times import iso_time_fixed_us

__all__ = [
    "AUDIT_KEY_FILE_ENV",
    "CHECKPOINTS_FILENAME",
    "KEY_FILENAME",
    "AuditKey",
    "Checkpoint",
    "CheckpointLog",
    "create_key",
    "key_path",
    "load_key",
    "load_or_create_key",
]

AUDIT_KEY_FILE_ENV = "VIGIA_AUDIT_KEY_FILE"
KEY_FILENAME = ".audit.key"
CHECKPOINTS_FILENAME = "audit-checkpoints.log"
#: Length of a new key (bytes).
KEY_BYTES = 32


@dataclass(frozen=True, slots=True)
class AuditKey:
    """The secret of the audit MACs and the file it was read from (never printed)."""

    secret: bytes
    path: Path

    def mac(self, message: str) -> str:
        """HMAC-SHA256 (hex) of the UTF-8 bytes of ``message``."""
        return hmac.new(self.secret, message.encode("utf-8"), hashlib.sha256).hexdigest()

    def __repr__(self) -> str:
        return f"AuditKey(path={str(self.path)!r})"


def key_path(audit_dir: Path | str) -> Path:
    """Where the key is: ``$VIGIA_AUDIT_KEY_FILE``, else ``<audit_dir>/.audit.key``."""
    env = os.environ.get(AUDIT_KEY_FILE_ENV, "").strip()
    return Path(env) if env else Path(audit_dir) / KEY_FILENAME


def load_key(path: Path) -> AuditKey | None:
    """The key in ``path``; None when there is no such file.

    Raises :class:`AuditKeyError` when the file is readable or writable by group or others, or
    does not hold a key.
    """
    try:
        with open(path, "rb") as f:
            mode = os.fstat(f.fileno()).st_mode
            text = f.read(4 * KEY_BYTES + 2)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise AuditKeyError(f"cannot read the audit key file {path}: {exc.strerror}") from exc
    if os.name == "posix" and stat.S_IMODE(mode) & 0o077:
        raise AuditKeyError(
            f"the audit key file {path} may be read by others "
            f"(mode {stat.S_IMODE(mode):04o}): chmod 600 it"
        )
    try:
        secret = bytes.fromhex(text.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        secret = b""
    if len(secret) < 16:
        raise AuditKeyError(f"the audit key file {path} does not hold a key")
    return AuditKey(secret, Path(path))


def create_key(path: Path) -> AuditKey:
    """Create a new key in ``path`` (mode 0600); an existing file is loaded instead."""
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = os.urandom(KEY_BYTES)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = load_key(path)
        if key is None:  # pragma: no cover - removed between the two calls
            raise AuditKeyError(f"the audit key file {path} vanished") from None
        return key
    except OSError as exc:
        raise AuditKeyError(f"cannot create the audit key file {path}: {exc.strerror}") from exc
    try:
        os.write(fd, (secret.hex() + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    return AuditKey(secret, path)


def load_or_create_key(path: Path) -> AuditKey:
    """The key in ``path``, created when there is none."""
    key = load_key(path)
    return key if key is not None else create_key(path)


def _checkpoint_message(seq: int, entry_hash: str, time: str) -> str:
    return json.dumps(
        {"hash": entry_hash, "seq": seq, "time": time}, sort_keys=True, separators=(",", ":")
    )


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """One line of the checkpoint log; ``valid`` False when it cannot be read or its MAC fails."""

    line: int
    """Line number in the file (1-based)."""
    seq: int
    hash: str
    time: str
    valid: bool


class CheckpointLog:
    """The append-only checkpoint log of one store (see the module docstring)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def exists(self) -> bool:
        """True when the file exists."""
        return self.path.is_file()

    def append(
        self, key: AuditKey, seq: int, entry_hash: str, *, now: datetime | None = None
    ) -> Checkpoint:
        """Append a checkpoint of entry ``seq`` (whose hash is ``entry_hash``) and fsync it."""
        t = iso_time_fixed_us((now or datetime.now(UTC)).astimezone(UTC))
        mac = key.mac(_checkpoint_message(seq, entry_hash, t))
        line = json.dumps({"seq": seq, "hash": entry_hash, "time": t, "mac": mac}) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, line.encode("ascii"))  # one write: concurrent appenders never interleave
            with contextlib.suppress(OSError):
                os.fsync(fd)
        finally:
            os.close(fd)
        return Checkpoint(0, seq, entry_hash, t, True)

    def read(self, key: AuditKey) -> list[Checkpoint]:
        """Every checkpoint in the file, each checked against ``key`` (empty if no file)."""
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return []
        out = []
        for n, raw in enumerate(text.splitlines(), start=1):
            if not raw.strip():
                continue
            try:
                doc = json.loads(raw)
                seq, h, t, mac = int(doc["seq"]), str(doc["hash"]), str(doc["time"]), doc["mac"]
            except (ValueError, KeyError, TypeError):
                out.append(Checkpoint(n, -1, "", "", False))
                continue
            good = isinstance(mac, str) and hmac.compare_digest(
                mac, key.mac(_checkpoint_message(seq, h, t))
            )
            out.append(Checkpoint(n, seq, h, t, good))
        return out
