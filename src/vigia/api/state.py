"""Everything one API process holds: the store, the data directory, caches and the audit sink."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from vigia.api.cache import Principal, TokenCache
from vigia.api.geo import FileCache
from vigia.api.partner import INDEX_TTL_S, PartnerIndex, TearlineCache, build_partner_index
from vigia.api.views import ChipIndex
from vigia.app.renders import RENDERS_DIR, RenderPool
from vigia.share.tak import TakTarget
from vigia.store import (
    Site,
    Store,
    Token,
    hash_token,
    load_sites_parquet,
    sync_sites,
    user_for_token,
)
from vigia.store.auditlog import AuditRecord, AuditSink
from vigia.store.catalog import Catalog
from vigia.store.generation import Generation

__all__ = ["ApiState", "sync_if_newer"]

log = logging.getLogger("vigia.api")
SYNC_ACTOR = "system"


def sync_if_newer(store: Store, data_dir: Path) -> bool:
    """Mirror ``<data_dir>/sites.parquet`` into the store when the file is newer than the last
    sync (or the store has no sites). Returns True when it synced."""
    path = Path(data_dir) / "sites.parquet"
    if not path.exists():
        return False
    mtime = datetime.fromtimestamp(os.stat(path).st_mtime, UTC)
    with store.read_only() as s:
        last = s.execute(select(func.max(Site.synced_at))).scalar_one_or_none()
    if isinstance(last, str):  # aggregates bypass the column type on SQLite
        last = datetime.fromisoformat(last)
    if last is not None and last.tzinfo is None:
        last = last.replace(tzinfo=UTC)
    if last is not None and last >= mtime:
        return False
    table = load_sites_parquet(path)
    with store.transaction() as s:
        report = sync_sites(s, table, actor=SYNC_ACTOR)
    log.info("synced %s: %d new, %d updated", path, report.inserted, report.updated)
    return True


@dataclass
class ApiState:
    """The process-wide state behind the routes (one per app)."""

    data_dir: Path
    store: Store
    tak: TakTarget | None = None
    max_body_bytes: int = 1 << 20
    catalog: Catalog = field(init=False)
    generation: Generation = field(init=False)
    tokens: TokenCache = field(init=False)
    sink: AuditSink = field(init=False)
    tearlines: TearlineCache = field(init=False)
    chips: ChipIndex = field(init=False)
    files: FileCache = field(init=False)
    renders: RenderPool = field(init=False)
    """Product renderings: worker processes (started lazily), time limit, cache."""
    _partner: dict[int, PartnerIndex] = field(init=False, default_factory=dict)
    _locks: dict[int, asyncio.Lock] = field(init=False, default_factory=dict)
    _refreshing: set[int] = field(init=False, default_factory=set)
    _lookups: dict[str, asyncio.Task[Principal]] = field(init=False, default_factory=dict)
    _tasks: set[asyncio.Task[None]] = field(init=False, default_factory=set)

    def __post_init__(self) -> None:
        self.catalog = Catalog(self.data_dir)
        self.generation = Generation(self.data_dir)
        self.tokens = TokenCache()
        self.sink = AuditSink(self.store)
        self.tearlines = TearlineCache()
        self.chips = ChipIndex(self.catalog)
        self.files = FileCache(self.catalog)
        self.renders = RenderPool(self.data_dir / RENDERS_DIR)

    # --- who is asking --------------------------------------------------------------------------
    def principal_sync(self, token: str) -> Principal:
        """The user of a bearer token (:class:`AuthError` when unknown, expired or revoked)."""
        th = hash_token(token)
        gen = self.generation.current()
        hit = self.tokens.get(th, gen)
        if hit is not None:
            return hit
        with self.store.read_only() as s:
            user = user_for_token(s, token)
            expires = s.execute(select(Token.expires_at).where(Token.token_hash == th)).scalar_one()
            principal = Principal.of(user, th, expires)
        self.tokens.put(principal, gen)
        return principal

    async def principal(self, token: str) -> Principal:
        """As :meth:`principal_sync`, without blocking the event loop on a cache hit.

        Concurrent requests with the same uncached token share one store lookup.
        """
        th = hash_token(token)
        hit = self.tokens.get(th, self.generation.current())
        if hit is not None:
            return hit
        task = self._lookups.get(th)
        if task is None:
            task = asyncio.get_running_loop().create_task(
                run_in_threadpool(self.principal_sync, token)
            )
            self._lookups[th] = task
            task.add_done_callback(lambda _t: self._lookups.pop(th, None))
        return await asyncio.shield(task)

    # --- partner views -----------------------------------------------------------------------
    def _build_partner(self, agency_id: int, agency_code: str) -> PartnerIndex:
        gen = self.generation.current()
        with self.store.read_only() as s:
            return build_partner_index(s, agency_id, agency_code, gen, self.tearlines)

    async def partner_index(self, who: Principal) -> PartnerIndex:
        """The partner index of ``who``'s agency, rebuilt when the store changed.

        After a write (the generation changed) requests wait for the new index. When the index
        is merely older than its TTL it is served while a fresh one is built.
        """
        idx = self._partner.get(who.agency_id)
        gen = self.generation.current()
        if idx is not None and idx.generation == gen:
            if time.monotonic() - idx.built_at >= INDEX_TTL_S:
                self._refresh_soon(who)
            return idx
        lock = self._locks.setdefault(who.agency_id, asyncio.Lock())
        async with lock:
            idx = self._partner.get(who.agency_id)
            if idx is None or idx.generation != self.generation.current():
                idx = await run_in_threadpool(self._build_partner, who.agency_id, who.agency_code)
                self._partner[who.agency_id] = idx
            return idx

    def _refresh_soon(self, who: Principal) -> None:
        if who.agency_id in self._refreshing:
            return
        self._refreshing.add(who.agency_id)

        async def refresh() -> None:
            try:
                lock = self._locks.setdefault(who.agency_id, asyncio.Lock())
                async with lock:
                    idx = await run_in_threadpool(
                        self._build_partner, who.agency_id, who.agency_code
                    )
                    current = self._partner.get(who.agency_id)
                    if current is None or current.generation == idx.generation:
                        self._partner[who.agency_id] = idx
            finally:
                self._refreshing.discard(who.agency_id)

        task = asyncio.get_running_loop().create_task(refresh())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def changed(self) -> None:
        """Call after a committed write that partners or tokens may see."""
        self._partner.clear()
        self.generation.bump()

    # --- audit of cached reads -----------------------------------------------------------------
    def listing_record(self, who: Principal, idx: PartnerIndex) -> AuditRecord:
        """The audit entry of a partner read served from ``idx``.

        The first entry of a listing in this process names its site ids; later ones name the
        listing (its SHA-256) and count.
        """
        details: dict[str, object] = {
            "agency": idx.agency_code,
            "listing": idx.listing,
            "count": len(idx.site_ids),
        }
        if not idx.published:
            details["site_ids"] = idx.site_ids
        return AuditRecord(who.username, "read", "site", None, details)

    def close(self) -> None:
        """Stop the render workers and the audit writer, checkpoint the audit head and close
        the store."""
        self.renders.close()
        self.sink.close()
        try:
            self.store.checkpoint()
        except Exception:  # the store still closes; the failure is in the log
            log.exception("the audit head could not be checkpointed at shutdown")
        self.store.close()
