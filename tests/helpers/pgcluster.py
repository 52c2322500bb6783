"""A throw-away PostgreSQL + PostGIS cluster for the tests.

``PgCluster`` runs ``initdb`` in a temporary directory and starts ``postgres`` listening on
127.0.0.1 only (no Unix socket outside that directory), on a free port, with a generated
password (SCRAM). As root, the server runs as the ``postgres`` system user (PostgreSQL refuses to
run as root). Durability is switched off: it is a test cluster, deleted when stopped.

Also runnable by hand::

    python -m tests.helpers.pgcluster start DIR  # prints the URL
    python -m tests.helpers.pgcluster stop DIR   # stops the server and deletes DIR
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.helpers.ports import free_port

__all__ = ["PgCluster", "PgUnavailable", "find_bindir"]

#: Server settings for a fast, disposable cluster.
_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "32MB",
    "max_connections": "100",
    "log_min_messages": "warning",
    "logging_collector": "off",
}


class PgUnavailable(RuntimeError):
    """PostgreSQL or PostGIS is not installed, or the cluster did not start."""


def find_bindir() -> Path | None:
    """The directory holding ``initdb``/``pg_ctl``/``postgres``: ``$VIGIA_PG_BINDIR`` if set,
    else the newest Debian install, else ``pg_config --bindir``; None when there is none."""
    env = os.environ.get("VIGIA_PG_BINDIR")
    if env:
        ok = (Path(env) / "initdb").is_file() and (Path(env) / "postgres").is_file()
        return Path(env) if ok else None
    candidates: list[str] = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True
    )
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if out.returncode == 0:
            candidates.append(out.stdout.strip())
    for c in candidates:
        if c and (Path(c) / "initdb").is_file() and (Path(c) / "postgres").is_file():
            return Path(c)
    return None


def _postgis_installed(bindir: Path) -> bool:
    version = bindir.parent.name
    return bool(glob.glob(f"/usr/share/postgresql/{version}/extension/postgis.control")) or bool(
        glob.glob(str(bindir.parent / "share" / "extension" / "postgis.control"))
    )


class PgCluster:
    """One temporary PostgreSQL cluster; ``start()`` then ``stop()`` (or use as a context)."""

    user = "vigia"

    def __init__(self, root: Path | None = None) -> None:
        self.bindir = find_bindir()
        self.root = Path(root) if root else Path(tempfile.mkdtemp(prefix="vigia-pg-"))
        self.datadir = self.root / "data"
        self.port = 0
        self.password = secrets.token_urlsafe(18)
        self._as_postgres = os.geteuid() == 0
        self.started = False

    # -- running commands as the cluster owner ----------------------------------------------
    def _run(self, args: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
        if self._as_postgres:
            args = ["runuser", "-u", "postgres", "--", *args]
        return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the ``postgres`` maintenance database."""
        return self.url_for("postgres")

    def url_for(self, database: str) -> str:
        """SQLAlchemy URL (psycopg 3 driver) of ``database`` on this cluster."""
        return f"postgresql+psycopg://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}"

    def start(self) -> PgCluster:
        """initdb + start; raises :class:`PgUnavailable` with the reason when it cannot."""
        if self.bindir is None:
            raise PgUnavailable(
                "PostgreSQL server binaries not found (install the Debian package 'postgresql')"
            )
        if not _postgis_installed(self.bindir):
            raise PgUnavailable(
                f"PostGIS not installed for PostgreSQL {self.bindir.parent.name} "
                f"(install 'postgresql-{self.bindir.parent.name}-postgis-3')"
            )
        self.root.mkdir(parents=True, exist_ok=True)
        pwfile = self.root / "pw"
        pwfile.write_text(self.password + "\n")
        pwfile.chmod(0o600)
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(pwfile, "postgres", "postgres")
        self.root.chmod(0o700)
        res = self._run(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(self.datadir),
                "-U",
                self.user,
                f"--pwfile={pwfile}",
                "--auth-local=scram-sha-256",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ]
        )
        pwfile.unlink()
        if res.returncode != 0:
            raise PgUnavailable(f"initdb failed: {res.stderr.strip() or res.stdout.strip()}")
        # The port stays reserved until the server listens on it (PostgreSQL binds with
        # SO_REUSEADDR beside the reservation; pg_ctl -w returns once it accepts connections).
        with free_port() as reserved:
            self.port = reserved.number
            opts = " ".join(f"-c {k}={v}" for k, v in _SETTINGS.items())
            opts += f" -p {self.port} -c unix_socket_directories={self.root}"
            res = self._run(
                [
                    str(self.bindir / "pg_ctl"),
                    "-D",
                    str(self.datadir),
                    "-l",
                    str(self.root / "server.log"),
                    "-o",
                    opts,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            )
        if res.returncode == 0:
            self.started = True
            return self
        log = self.root / "server.log"
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise PgUnavailable(f"PostgreSQL did not start: {res.stderr.strip()} {tail}")

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete the cluster directory."""
        if self.started and self.bindir is not None:
            self._run([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "stop"])
            self.started = False
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PgCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in {"start", "stop"}:
        print("usage: python -m tests.helpers.pgcluster start|stop DIR", file=sys.stderr)
        return 2
    root = Path(argv[1])
    cluster = PgCluster(root)
    if argv[0] == "start":
        cluster.start()
        (root / "url").write_text(cluster.url)
        print(cluster.url)
        return 0
    if (cluster.datadir / "postmaster.pid").exists():
        cluster.started = True
    cluster.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
