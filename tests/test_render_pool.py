"""Renders outside any transaction, in a bounded pool with a time limit, cached by version.

The renderers below are injected through :class:`vigia.app.renders.RenderPool` (its
``renderer``): they render exactly as the server does (:func:`vigia.app.products.render_bytes`),
after saying that they started and, for the gated one, after the test opens its gate. They are
module-level callables so that worker processes can unpickle them.
"""

from __future__ import annotations

import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from tests.helpers.api import SENTINELS, SITES, Api
from vigia.app.products import RenderInput, render_bytes
from vigia.app.renders import RENDERS_DIR, RenderCache, RenderPool
from vigia.store import AuditEntry, open_store

#: Longest a gated renderer waits for its gate, and a test for a renderer to start (s): a bound
#: against hanging, not a timed assertion.
PATIENCE_S = 60.0


@dataclass(frozen=True)
class GatedRenderer:
    """Writes ``started-*`` in ``signals`` when it starts, then renders once the file
    ``signals/open`` exists (or after ``wait_s``)."""

    signals: str
    wait_s: float = PATIENCE_S

    def __call__(self, inp: RenderInput) -> bytes:
        d = Path(self.signals)
        (d / f"started-{os.getpid()}-{uuid.uuid4().hex}").touch()
        deadline = time.monotonic() + self.wait_s
        while not (d / "open").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        return render_bytes(inp)


@dataclass(frozen=True)
class CountingRenderer:
    """Appends one line per rendering it makes to ``log``."""

    log: str

    def __call__(self, inp: RenderInput) -> bytes:
        with open(self.log, "a", encoding="utf-8") as fp:
            fp.write(f"{inp.product_id} {inp.fmt} {inp.lang} {inp.viewer}\n")
        return render_bytes(inp)


def _use_pool(api: Api, **kw: object) -> RenderPool:
    """Give the app a render pool with ``kw`` (its lifespan closes it)."""
    state = api.client.app.state.vigia  # type: ignore[attr-defined]
    state.renders.close()
    state.renders = RenderPool(api.data_dir / RENDERS_DIR, **kw)  # type: ignore[arg-type]
    pool: RenderPool = state.renders
    return pool


def _wait_for(path: Path, pattern: str) -> bool:
    deadline = time.monotonic() + PATIENCE_S
    while time.monotonic() < deadline:
        if any(path.glob(pattern)):
            return True
        time.sleep(0.02)
    return False


def _reads_of(api: Api, pid: str, actor: str) -> int:
    with open_store(api.data_dir, api.database_url) as store, store.read_only() as s:
        q = select(func.count()).where(
            AuditEntry.object_id == pid, AuditEntry.actor == actor, AuditEntry.action == "read"
        )
        return int(s.execute(q).scalar_one())


def _renders(log: Path) -> list[str]:
    return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


def test_partner_reads_complete_while_a_render_runs(api: Api, tmp_path: Path) -> None:
    """While a staff PDF is being rendered (held at its gate, in a worker process), audited
    partner reads and a staff write complete, and the render's own audit entry is already
    committed: the render holds no transaction."""
    pid = api.release(SITES[0], ["SEMAR"])
    signals = tmp_path / "signals"
    signals.mkdir()
    _use_pool(api, renderer=GatedRenderer(str(signals)), timeout_s=2 * PATIENCE_S)
    with ThreadPoolExecutor(1) as ex:
        pending = ex.submit(api.get, f"/api/products/{pid}/render?format=pdf", "ana")
        try:
            assert _wait_for(signals, "started-*"), "the render never started"
            assert _reads_of(api, pid, "ana") == 1  # committed before the rendering
            assert api.get("/api/sites", "semar.oficial").status_code == 200
            one = api.get(f"/api/products/{pid}", "semar.oficial")
            assert one.status_code == 200, one.text
            assert _reads_of(api, pid, "semar.oficial") == 1
            assert api.draft(user="alex")  # a write transaction too
            assert not pending.done()  # all that while the render was still held
        finally:
            (signals / "open").touch()
        r = pending.result(timeout=PATIENCE_S)
    assert r.status_code == 200, r.text
    assert r.content.startswith(b"%PDF-") and r.headers["content-type"] == "application/pdf"


def test_cache_serves_a_second_identical_render_and_never_across_viewers(
    api: Api, tmp_path: Path
) -> None:
    log = tmp_path / "renders.log"
    _use_pool(api, renderer=CountingRenderer(str(log)), processes=False)
    pid = api.release(SITES[0], ["SEMAR", "FGR"])
    url = f"/api/products/{pid}/render?format=html&lang=es"

    first = api.get(url, "ana")
    again = api.get(url, "ana")
    assert first.status_code == again.status_code == 200
    assert again.content == first.content and len(_renders(log)) == 1  # not rendered again
    assert api.get(url, "sam").content == first.content  # same class of viewer: staff
    assert len(_renders(log)) == 1
    assert SENTINELS["mission_id"] in first.text  # the whole product, for staff

    semar = api.get(url, "semar.oficial")
    assert semar.status_code == 200 and len(_renders(log)) == 2
    assert SENTINELS["mission_id"] not in semar.text  # the tearline, for the partner
    assert api.get(url, "semar.enlace").content == semar.content  # same agency
    assert len(_renders(log)) == 2
    fgr = api.get(url, "fgr.enlace")
    assert fgr.status_code == 200 and len(_renders(log)) == 3  # another agency: its own
    assert api.get(url, "ana").content == first.content  # staff still get theirs
    assert api.get(url.replace("lang=es", "lang=en"), "ana").status_code == 200
    assert len(_renders(log)) == 4
    assert [line.split()[-1] for line in _renders(log)] == [
        "staff",
        "partner:SEMAR",
        "partner:FGR",
        "staff",
    ]
    cached = list((api.data_dir / RENDERS_DIR).glob("*/*.bin"))
    assert len(cached) == 4
    assert not list((api.data_dir / RENDERS_DIR).glob("*/.tmp-*"))  # written atomically


def test_a_new_version_is_rendered_again(api: Api, tmp_path: Path) -> None:
    """A draft rendered by staff, then approved: the next rendering is of the released
    product, not the cached draft."""
    log = tmp_path / "renders.log"
    _use_pool(api, renderer=CountingRenderer(str(log)), processes=False)
    pid = api.draft()
    url = f"/api/products/{pid}/render?format=json"
    draft = api.get(url, "ana").json()
    assert api.get(url, "ana").json() == draft and len(_renders(log)) == 1
    r = api.post(f"/api/products/{pid}/approve", "sam", json={"agencies": ["SEMAR"]})
    assert r.status_code == 200, r.text
    released = api.get(url, "ana").json()
    assert len(_renders(log)) == 2 and released != draft
    assert draft["release"] is None and released["release"]["approved_by"] == "sam"


def test_withdrawal_beats_the_cache(api: Api, tmp_path: Path) -> None:
    log = tmp_path / "renders.log"
    _use_pool(api, renderer=CountingRenderer(str(log)), processes=False)
    pid = api.release(SITES[0], ["SEMAR"])
    url = f"/api/products/{pid}/render?format=pdf"
    assert api.get(url, "semar.oficial").status_code == 200
    assert api.get(url, "semar.oficial").status_code == 200 and len(_renders(log)) == 1
    r = api.post(f"/api/products/{pid}/withdraw", "sofia", json={"reason": "wrong place"})
    assert r.status_code == 200, r.text
    gone = api.get(url, "semar.oficial")
    assert gone.status_code == 410 and "wrong place" in gone.json()["detail"]
    assert len(list((api.data_dir / RENDERS_DIR).glob("*/*.bin"))) == 1  # it was there
    assert len(_renders(log)) == 1


def test_past_the_time_limit_the_client_gets_503_with_retry_after(api: Api, tmp_path: Path) -> None:
    """A rendering held past the pool's limit (1 s) is answered 503 with Retry-After; the
    worker is interrupted and free again for the next rendering."""
    pid = api.release(SITES[0], ["SEMAR"])
    signals = tmp_path / "signals"
    signals.mkdir()
    _use_pool(api, renderer=GatedRenderer(str(signals)), timeout_s=1.0, workers=1)
    slow = api.get(f"/api/products/{pid}/render?format=pdf", "semar.oficial")
    assert slow.status_code == 503, slow.text
    assert int(slow.headers["retry-after"]) > 0
    assert "longer than 1 s" in slow.json()["detail"]
    assert _reads_of(api, pid, "semar.oficial") == 1  # the read was audited all the same
    (signals / "open").touch()
    deadline = time.monotonic() + PATIENCE_S
    while True:  # the interrupted worker comes back (a try may find it still starting)
        ok = api.get(f"/api/products/{pid}/render?format=pdf", "semar.oficial")
        if ok.status_code != 503 or time.monotonic() > deadline:
            break
    assert ok.status_code == 200 and ok.content.startswith(b"%PDF-")


def test_cache_writes_whole_files_only(tmp_path: Path) -> None:
    cache = RenderCache(tmp_path / "renders")
    assert cache.get("ab" * 32) is None
    cache.put("ab" * 32, b"one")
    cache.put("ab" * 32, b"two")
    assert cache.get("ab" * 32) == b"two"
    assert [p.name for p in (tmp_path / "renders" / "ab").iterdir()] == [f"{'ab' * 32}.bin"]
