"""The data directory of ingested sorties: observations, coverage passes, sites, chips.

Layout::

    DATA_DIR/
      ingested.json           manifest: one entry per ingested input (by SHA-256), settings
      aois.geojson            the consent AOIs the data was ingested under
      observations.parquet    every observation (any status), with the site it was fused into
      coverage_passes.parquet looks at each H3 cell, per pass (the negative evidence)
      coverage.parquet        per-cell coverage (see vigia.coverage)
      sites.parquet           fused, scored sites (vigia.exploit.scoring.SITE_SCHEMA)
      inputs/<sha256>/        what each input gave, as ingested: observations.parquet,
                              passes.parquet (to take an input out again)
      chips/<obs_id>.jpg      image chips cut around detections, where video was present
      .txn/                   a transaction being written (see below)
      .ingest.lock            the writers' lock

Writes are transactions (:meth:`Catalog.transaction`): every file of a run is written into
``.txn/`` and flushed to disk, then the file ``.txn/COMMIT`` is created (one atomic rename:
the commit point), then each staged file is renamed over the one it replaces and ``.txn/`` is
removed. A run that dies before the commit point leaves ``.txn/`` without ``COMMIT``, which the
next writer throws away: the data directory is as it was. One that dies after it is finished by
the next writer (the renames are idempotent). Readers never wait: while a committed
transaction is being applied they read its staged files, so they see either every file of a
run or none. Writers are serialised by an ``flock`` on ``.ingest.lock``
(:meth:`Catalog.writer`). Chips are written straight into ``chips/`` under their observation's
id, which names their content: one left by a run that did not commit is never listed.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import shutil
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from os import PathLike
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vigia.errors import CatalogBusy, CatalogError
from vigia.exploit.observations import OBSERVATION_SCHEMA
from vigia.exploit.scoring import PASSES_SCHEMA, SITE_SCHEMA
from vigia.outputs import replace_atomically
from vigia.store.files import private_dir
from vigia.times import iso_time, null_implausible_times

__all__ = [
    "FAULT_ENV",
    "OBSERVATIONS_WITH_SITE",
    "Catalog",
    "CatalogBusy",
    "CatalogError",
    "CatalogTransaction",
    "fault_point",
]

#: Fault injection for tests: ``VIGIA_FAULT=STEP`` kills the process (SIGKILL) when a writer
#: reaches ``STEP``; ``VIGIA_FAULT=enospc:STEP`` makes that step fail as a full disk would.
#: Steps: ``staged:NAME`` (after a staged file is flushed), ``commit`` (after the commit
#: point), ``applied:NAME`` (after a staged file replaced its target), ``done``.
FAULT_ENV = "VIGIA_FAULT"


def fault_point(step: str) -> None:
    """A deterministic hook point of the writers (see :data:`FAULT_ENV`); a no-op unless set."""
    want = os.environ.get(FAULT_ENV)
    if not want:
        return
    if want == step:
        os.kill(os.getpid(), signal.SIGKILL)
    if want == f"enospc:{step}":
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), step)


DEFAULT_DATA_DIR = Path("vigia-data")

OBSERVATIONS_WITH_SITE = OBSERVATION_SCHEMA.append(pa.field("site_id", pa.string()))

log = logging.getLogger(__name__)


class Catalog:
    """Read and write the files of one data directory."""

    def __init__(self, data_dir: str | PathLike[str] = DEFAULT_DATA_DIR) -> None:
        self.root = Path(data_dir)

    # --- paths -------------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        """``ingested.json``."""
        return self.root / "ingested.json"

    @property
    def aois_path(self) -> Path:
        """``aois.geojson``."""
        return self.root / "aois.geojson"

    @property
    def captures_dir(self) -> Path:
        """Where streams received live (``udp://``) are recorded before they are ingested."""
        return self.root / "captures"

    @property
    def chips_dir(self) -> Path:
        """``chips/``."""
        return self.root / "chips"

    @property
    def txn_dir(self) -> Path:
        """Where a transaction stages its files (``.txn/``)."""
        return self.root / ".txn"

    @property
    def inputs_dir(self) -> Path:
        """``inputs/``: what each input gave, by SHA-256."""
        return self.root / "inputs"

    def path(self, name: str) -> Path:
        """Path of one of the Parquet files (``observations``, ``sites``, ...) as committed."""
        return self._current(self.root / f"{name}.parquet")

    def _current(self, target: Path) -> Path:
        """``target``, or its staged copy while a committed transaction is being applied."""
        txn = self.txn_dir
        if (txn / COMMIT).exists():
            staged = txn / target.relative_to(self.root)
            if staged.exists():
                return staged
        return target

    def chip_path(self, obs_id: str) -> Path | None:
        """The JPEG chip of an observation, if one was cut."""
        p = self.chips_dir / f"{obs_id}.jpg"
        return p if p.is_file() else None

    # --- manifest ----------------------------------------------------------------------------
    def manifest(self) -> dict[str, Any]:
        """The manifest (empty when nothing was ingested yet)."""
        path = self._current(self.manifest_path)
        if not path.exists():
            return {"version": 1, "inputs": {}}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise CatalogError(f"damaged manifest {self.manifest_path}: {exc}") from exc
        if not isinstance(data, dict) or "inputs" not in data:
            raise CatalogError(f"damaged manifest {self.manifest_path}")
        return data

    def input_table(self, sha256: str, name: str) -> pa.Table | None:
        """What input ``sha256`` gave (``observations`` or ``passes``), or None when it was
        ingested before inputs were kept one by one."""
        p = self._current(self.inputs_dir / sha256 / f"{name}.parquet")
        if not p.exists():
            return None
        try:
            return pq.read_table(p)
        except (OSError, pa.ArrowInvalid) as exc:
            raise CatalogError(f"cannot read {p}: {exc}") from exc

    # --- writers -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def writer(self, *, wait_s: float = 0.0) -> Iterator[None]:
        """Hold the writers' lock of the data directory (finishing or discarding a transaction
        an earlier writer left). Another writer holding it: wait up to ``wait_s`` seconds,
        then :class:`CatalogBusy`. Readers never take it."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = time.monotonic() + max(wait_s, 0.0)
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
                        raise CatalogBusy(
                            f"another ingest is writing to {self.root} ({holder or 'unknown'}); "
                            "wait for it to finish (or give --wait SECONDS)"
                        ) from None
                    time.sleep(0.05)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} since {iso_time(datetime.now(UTC))}".encode(), 0)
            self.recover()
            yield
        finally:
            os.close(fd)  # releases the lock

    def recover(self) -> str | None:
        """Finish a committed transaction or throw away an uncommitted one (call holding the
        writers' lock); returns 'finished', 'discarded' or None (nothing was left)."""
        txn = self.txn_dir
        if not txn.exists():
            return None
        if (txn / COMMIT).exists():
            _apply(txn, self.root)
            log.warning("%s: finished a committed transaction an earlier run left", self.root)
            return "finished"
        shutil.rmtree(txn, ignore_errors=True)
        log.warning("%s: threw away a transaction an earlier run did not commit", self.root)
        return "discarded"

    def transaction(self) -> CatalogTransaction:
        """A new transaction (call holding :meth:`writer`); commit it with
        :meth:`CatalogTransaction.commit`, or nothing it wrote is ever seen."""
        return CatalogTransaction(self)

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        """Replace the manifest (one file, atomically; a run writing several files uses a
        :meth:`transaction`)."""
        self._atomic_text(self.manifest_path, json.dumps(manifest, indent=2, sort_keys=True))

    # --- tables ------------------------------------------------------------------------------
    def _read(self, name: str, schema: pa.Schema) -> pa.Table:
        p = self.path(name)  # the staged copy while a committed transaction is applied
        if not p.exists():
            return schema.empty_table()
        try:
            table = pq.read_table(p)
        except (OSError, pa.ArrowInvalid) as exc:
            raise CatalogError(f"cannot read {p}: {exc}") from exc
        table, bad = null_implausible_times(table)
        if bad:
            log.warning("%s: %d time value(s) outside 1990-2100 read as null", p, bad)
        return table

    def observations(self, site_id: str | None = None) -> pa.Table:
        """All observations, or those fused into ``site_id``."""
        t = self._read("observations", OBSERVATIONS_WITH_SITE)
        if site_id is not None:
            t = t.filter(pc.equal(t.column("site_id"), site_id))
        return t

    def sites(self) -> pa.Table:
        """The scored sites, highest log-odds first."""
        return self._read("sites", SITE_SCHEMA)

    def site(self, site_id: str) -> dict[str, Any] | None:
        """One site as a dict, or None (a unique prefix of the id is enough)."""
        t = self.sites()
        ids = t.column("site_id").to_pylist()
        hits = [i for i, s in enumerate(ids) if s == site_id]
        if not hits:
            hits = [i for i, s in enumerate(ids) if s.startswith(site_id)]
        if len(hits) != 1:
            return None
        return dict(t.slice(hits[0], 1).to_pylist()[0])

    def coverage_passes(self) -> pa.Table:
        """Looks at each H3 cell, one row per cell and pass."""
        return self._read("coverage_passes", PASSES_SCHEMA)

    def write_table(self, name: str, table: pa.Table) -> None:
        """Replace one of the Parquet files."""
        private_dir(self.root)
        replace_atomically(
            self.root / f"{name}.parquet",
            lambda tmp: pq.write_table(table, tmp, compression="zstd"),
        )

    def _atomic_text(self, path: Path, text: str) -> None:
        private_dir(self.root)
        replace_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))

    def write_aois(self, geojson: dict[str, Any]) -> None:
        """Keep the consent AOIs the data is ingested under."""
        self._atomic_text(self.aois_path, json.dumps(geojson, indent=1))


#: The commit point of a transaction, inside ``.txn/``.
COMMIT = "COMMIT"
#: The writers' lock file.
LOCK_FILE = ".ingest.lock"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


#: Inside ``.txn/``: the folders (relative to the data directory) a commit removes.
REMOVALS = "REMOVE"


def _staged_files(txn: Path) -> list[Path]:
    return sorted(
        p
        for p in txn.rglob("*")
        if p.is_file() and p.relative_to(txn).as_posix() not in (COMMIT, REMOVALS)
    )


def _apply(txn: Path, root: Path) -> None:
    """Rename every staged file over its target, remove the folders the transaction takes
    out, then remove ``txn`` (idempotent: a run that dies here is finished by the next)."""
    for staged in _staged_files(txn):
        rel = staged.relative_to(txn)
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, target)
        fault_point(f"applied:{rel}")
    if (txn / REMOVALS).exists():
        for rel in json.loads((txn / REMOVALS).read_text(encoding="utf-8")):
            shutil.rmtree(root / rel, ignore_errors=True)
    _fsync_dir(root)
    (txn / COMMIT).unlink(missing_ok=True)
    shutil.rmtree(txn, ignore_errors=True)
    fault_point("done")


class CatalogTransaction:
    """The files of one write, staged in ``.txn/`` until :meth:`commit` (see the module)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.dir = catalog.txn_dir
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        self.committed = False
        self.removals: list[str] = []

    def _stage(self, rel: str, write: Any) -> None:
        path = self.dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            write(path)
            with open(path, "rb+") as fh:
                os.fsync(fh.fileno())
            fault_point(f"staged:{rel}")
        except OSError as exc:
            self.abort()
            raise CatalogError(
                f"cannot write {self.catalog.root / rel}: {exc.strerror or exc}; nothing of "
                "this run was committed (the data directory is as it was)"
            ) from exc

    def write_table(self, name: str, table: pa.Table) -> None:
        """Stage one of the catalog's Parquet files (``observations``, ``sites``, ...)."""
        self._stage(f"{name}.parquet", lambda p: pq.write_table(table, p, compression="zstd"))

    def write_input(self, sha256: str, name: str, table: pa.Table) -> None:
        """Stage what input ``sha256`` gave (``observations``, ``passes``)."""
        self._stage(
            f"inputs/{sha256}/{name}.parquet",
            lambda p: pq.write_table(table, p, compression="zstd"),
        )

    def remove_input(self, sha256: str) -> None:
        """Take the records of input ``sha256`` out at commit."""
        self.removals.append(f"inputs/{sha256}")

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        """Stage the manifest."""
        text = json.dumps(manifest, indent=2, sort_keys=True)
        self._stage("ingested.json", lambda p: p.write_text(text, encoding="utf-8"))

    def write_aois(self, geojson: dict[str, Any]) -> None:
        """Stage the consent AOIs."""
        text = json.dumps(geojson, indent=1)
        self._stage("aois.geojson", lambda p: p.write_text(text, encoding="utf-8"))

    def commit(self) -> None:
        """The commit point, then apply: every staged file replaces its target."""
        if self.removals:
            text = json.dumps(self.removals)
            self._stage(REMOVALS, lambda p: p.write_text(text, encoding="utf-8"))
        try:
            _fsync_dir(self.dir)
            tmp = self.dir / f"{COMMIT}.tmp"
            tmp.write_text(str(len(_staged_files(self.dir))), encoding="utf-8")
            fault_point("commit:before")
            os.replace(tmp, self.dir / COMMIT)
            _fsync_dir(self.dir)
        except OSError as exc:
            self.abort()
            raise CatalogError(
                f"cannot commit to {self.catalog.root}: {exc.strerror or exc}; nothing of "
                "this run was committed (the data directory is as it was)"
            ) from exc
        self.committed = True
        fault_point("commit")
        _apply(self.dir, self.catalog.root)

    def abort(self) -> None:
        """Throw the staged files away."""
        if not self.committed:
            shutil.rmtree(self.dir, ignore_errors=True)
