"""Tampering with the audit trail is detected, the audit rows are append-only, and the API
audits refusals, AOI reads, log-outs, renderings and the client address.

Each tampering test plays an attacker who can write the database (dropping the append-only
triggers first, :func:`tests.helpers.audit.drop_audit_guards`) but cannot read the key file;
``vigia audit verify`` (the function behind it, and the command through ``CliRunner``) must
name what was done and never exit 0.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from tests.helpers.api import SITES, Api
from tests.helpers.audit import drop_audit_guards
from tests.helpers.users import SEED_USERS
from vigia.app.admin import audit_verify, verify
from vigia.cli import app as cli_app
from vigia.errors import AuditKeyError
from vigia.store import AuditEntry, Store, User, audit, list_sites, open_store, sync_sites
from vigia.store.audit import SCHEME_HMAC, SCHEME_SHA256, AuditRecord, entry_hash
from vigia.store.auditkey import AUDIT_KEY_FILE_ENV, CHECKPOINTS_FILENAME, CheckpointLog
from vigia.store.auditlog import RawAppender
from vigia.store.db import make_engine, upgrade

runner = CliRunner()


@pytest.fixture
def history(
    data_dir: Path, store: Store, users: dict[str, User], make_sites: Callable[..., pa.Table]
) -> int:
    """A few audited operations, then one ``vigia audit verify`` (which writes a checkpoint of
    the head); returns the number of entries."""
    with store.transaction() as s:
        sync_sites(s, make_sites(2))
    for name in ("ana", "sam", "alex"):
        with store.transaction() as s:
            list_sites(s, users[name])
    with store.transaction() as s:
        audit(s, "sam", "approve", "product", "P1", {"approver": "sam", "author": "ana"})
    lines: list[str] = []
    assert audit_verify(data_dir, echo=lines.append) == 0, lines
    return len(SEED_USERS) + 5


def _rows(store: Store) -> list[Any]:
    with store.read_only() as s:
        return list(s.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars())


def _failed(data_dir: Path, **kw: Any) -> str:
    """Run the check; it must fail (exit 1); its one line."""
    lines: list[str] = []
    assert audit_verify(data_dir, echo=lines.append, **kw) == 1, lines
    assert len(lines) == 1
    return lines[0]


def _rehash_from(conn: Any, first: int, *, scheme: str | None = None) -> None:
    """Recompute the hash of every entry from ``first`` on with the public SHA-256, chaining
    each to the one before, and move the head to the end: a rewrite without the key."""
    rows = conn.execute(
        select(AuditEntry).where(AuditEntry.seq >= first).order_by(AuditEntry.seq)
    ).all()
    prev = conn.execute(
        select(AuditEntry.hash).where(AuditEntry.seq == first - 1)
    ).scalar_one_or_none() or ("0" * 64)
    for r in rows:
        h = entry_hash(
            r.seq, r.time, r.actor, r.action, r.object_type, r.object_id, r.details, prev
        )
        conn.execute(
            text("UPDATE audit_log SET prev_hash = :p, hash = :h, scheme = :sc WHERE seq = :s"),
            {"p": prev, "h": h, "s": r.seq, "sc": scheme or r.scheme},
        )
        prev = h
    conn.execute(text("UPDATE audit_head SET hash = :h"), {"h": prev})


# --- tampering --------------------------------------------------------------------------------
def test_intact_chain_passes_and_is_checkpointed(
    data_dir: Path, store: Store, history: int
) -> None:
    result = runner.invoke(cli_app, ["audit", "verify", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    assert f"OK: audit log intact: {history} entries" in result.output
    assert store.audit_key is not None
    cps = CheckpointLog(data_dir / CHECKPOINTS_FILENAME).read(store.audit_key)
    assert len(cps) == 2 and all(c.valid for c in cps)  # one per verify
    assert cps[-1].seq == history and cps[-1].hash == _rows(store)[-1].hash
    assert {r.scheme for r in _rows(store)} == {SCHEME_HMAC}


def test_altered_entry(data_dir: Path, store: Store, history: int) -> None:
    with store.engine.begin() as conn:
        drop_audit_guards(conn)
        conn.execute(text("UPDATE audit_log SET actor = 'ana' WHERE seq = :s"), {"s": history})
    line = _failed(data_dir)
    assert f"FAILED at entry {history} (altered)" in line and "MAC does not match" in line


def test_deleted_entry_in_the_middle(data_dir: Path, store: Store, history: int) -> None:
    with store.engine.begin() as conn:
        drop_audit_guards(conn)
        conn.execute(text("DELETE FROM audit_log WHERE seq = 4"))
    assert _failed(data_dir) == "FAILED at entry 4 (removed): audit entries 4 are missing"


def test_deleted_newest_entries_and_head_moved_back(
    data_dir: Path, store: Store, history: int
) -> None:
    # The database is consistent afterwards: only the checkpoint log knows better.
    rows = _rows(store)
    keep = rows[history - 3]
    with store.engine.begin() as conn:
        drop_audit_guards(conn)
        conn.execute(text("DELETE FROM audit_log WHERE seq > :s"), {"s": keep.seq})
        conn.execute(
            text("UPDATE audit_head SET seq = :s, hash = :h"), {"s": keep.seq, "h": keep.hash}
        )
    line = _failed(data_dir)
    assert line == (
        f"FAILED at entry {keep.seq + 1} (removed): the checkpoint log records entry {history} "
        f"but the audit log ends at entry {keep.seq}: entries {keep.seq + 1}..{history} "
        "were deleted"
    )


def test_rewritten_chain_with_the_public_hash(data_dir: Path, store: Store, history: int) -> None:
    # The approval is made to look like the analyst approved her own product, and every later
    # hash is recomputed with the public function.
    with store.engine.begin() as conn:
        drop_audit_guards(conn)
        conn.execute(
            text("UPDATE audit_log SET actor = 'ana', details = :d WHERE seq = :s"),
            {"d": json.dumps({"approver": "ana", "author": "ana"}), "s": history},
        )
        _rehash_from(conn, history)
    line = _failed(data_dir)
    assert line == (
        f"FAILED at entry {history} (rewritten): entry {history} was rewritten: its hash is the "
        "public SHA-256, not the keyed MAC"
    )


def test_rewritten_tail_marked_unkeyed(data_dir: Path, store: Store, history: int) -> None:
    with store.engine.begin() as conn:
        drop_audit_guards(conn)
        conn.execute(text("UPDATE audit_log SET actor = 'ana' WHERE seq = :s"), {"s": history})
        _rehash_from(conn, history, scheme=SCHEME_SHA256)
    line = _failed(data_dir)
    assert f"(rewritten): entry {history} is unkeyed after keyed entries" in line


def test_whole_chain_downgraded_to_the_public_hash(
    data_dir: Path, store: Store, history: int
) -> None:
    # Every entry made to look like one from before the key: only the checkpoint catches it.
    with store.engine.begin() as conn:
        drop_audit_guards(conn)
        conn.execute(text("UPDATE audit_log SET object_id = 'S99999999' WHERE seq = 2"))
        _rehash_from(conn, 1, scheme=SCHEME_SHA256)
    line = _failed(data_dir)
    assert f"(rewritten): entry {history} differs from checkpoint line 1" in line


def test_reset_head(data_dir: Path, store: Store, history: int) -> None:
    rows = _rows(store)
    with store.engine.begin() as conn:
        drop_audit_guards(conn)
        conn.execute(text("UPDATE audit_head SET seq = :s, hash = :h"), {"s": 3, "h": rows[2].hash})
    assert _failed(data_dir) == (
        f"FAILED at entry 4 (reset): the audit head was reset to entry 3, but the chain goes on "
        f"to entry {history}"
    )


def test_forged_checkpoint_line(data_dir: Path, store: Store, history: int) -> None:
    log = data_dir / CHECKPOINTS_FILENAME
    doc = json.loads(log.read_text().splitlines()[0])
    doc["seq"] = history + 50
    with log.open("a") as f:
        f.write(json.dumps(doc) + "\n")
    assert "(checkpoint): checkpoint line 2 is not genuine" in _failed(data_dir)


def test_shipped_checkpoint_log_outlives_the_local_one(
    data_dir: Path, store: Store, history: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    shipped = tmp_path_factory.mktemp("elsewhere") / "checkpoints.log"
    shutil.copyfile(data_dir / CHECKPOINTS_FILENAME, shipped)
    rows = _rows(store)
    with store.engine.begin() as conn:  # newest entry gone, head back, local log removed
        drop_audit_guards(conn)
        conn.execute(text("DELETE FROM audit_log WHERE seq = :s"), {"s": history})
        conn.execute(
            text("UPDATE audit_head SET seq = :s, hash = :h"),
            {"s": history - 1, "h": rows[-2].hash},
        )
    (data_dir / CHECKPOINTS_FILENAME).unlink()
    assert audit_verify(data_dir, echo=lambda _: None) == 0  # the local view is fooled
    result = runner.invoke(
        cli_app, ["audit", "verify", "--data-dir", str(data_dir), "--checkpoints", str(shipped)]
    )
    assert result.exit_code == 1
    assert f"the checkpoint log records entry {history}" in result.output


def test_missing_checkpoint_file_is_refused(data_dir: Path, history: int) -> None:
    result = runner.invoke(
        cli_app,
        ["audit", "verify", "--data-dir", str(data_dir), "--checkpoints", str(data_dir / "nope")],
    )
    assert result.exit_code == 2
    assert "no checkpoint log at" in result.output


def test_missing_key_is_exit_2_never_ok(
    data_dir: Path, history: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(AUDIT_KEY_FILE_ENV, str(data_dir / "no-such.key"))
    with pytest.raises(AuditKeyError, match=r"no-such\.key is missing"):
        verify(data_dir)
    result = runner.invoke(cli_app, ["audit", "verify", "--data-dir", str(data_dir)])
    assert result.exit_code == 2
    assert "is missing" in result.output and "OK" not in result.output
    # A store that writes does not make a new key behind the keyed entries' back either.
    with pytest.raises(AuditKeyError, match="holds keyed entries"):
        open_store(data_dir)


def test_a_wrong_key_does_not_verify(
    data_dir: Path, store: Store, history: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = data_dir / "other.key"
    fd = os.open(other, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, (os.urandom(32).hex() + "\n").encode())
    os.close(fd)
    monkeypatch.setenv(AUDIT_KEY_FILE_ENV, str(other))
    line = _failed(data_dir)
    assert "checkpoint line 1 is not genuine" in line


def test_key_readable_by_others_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(AUDIT_KEY_FILE_ENV, str(tmp_path / "k" / ".audit.key"))
    d = tmp_path / "d"
    open_store(d).close()  # creates the key, 0600
    key = tmp_path / "k" / ".audit.key"
    assert (key.stat().st_mode & 0o777) == 0o600
    key.chmod(0o644)
    with pytest.raises(AuditKeyError, match="may be read by others"):
        open_store(d)


def test_default_key_and_checkpoints_are_in_the_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(AUDIT_KEY_FILE_ENV, raising=False)
    monkeypatch.delenv("VIGIA_DATABASE_URL", raising=False)
    with open_store(tmp_path) as store, store.transaction() as s:
        audit(s, "cli", "note", "test", "1")
    assert (tmp_path / ".audit.key").stat().st_mode & 0o777 == 0o600
    assert audit_verify(tmp_path, echo=lambda _: None) == 0
    assert len((tmp_path / CHECKPOINTS_FILENAME).read_text().splitlines()) == 1


def test_an_unkeyed_chain_from_before_verifies_and_continues_keyed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VIGIA_DATABASE_URL", raising=False)
    monkeypatch.setenv(AUDIT_KEY_FILE_ENV, str(tmp_path / ".audit.key"))
    url = f"sqlite+pysqlite:///{tmp_path / 'vigia.db'}"
    engine = make_engine(url)
    upgrade(engine, "0002")  # a store of the version before the key
    prev = "0" * 64
    with engine.begin() as conn:
        for seq in (1, 2, 3):
            t = datetime(2026, 1, 1, 0, 0, seq, tzinfo=UTC)
            h = entry_hash(seq, t, "old", "note", "test", str(seq), {}, prev)
            conn.execute(
                AuditEntry.__table__.insert().values(  # type: ignore[attr-defined]
                    seq=seq,
                    time=t,
                    actor="old",
                    action="note",
                    object_type="test",
                    object_id=str(seq),
                    details={},
                    prev_hash=prev,
                    hash=h,
                )
            )
            prev = h
        conn.execute(text("UPDATE audit_head SET seq = 3, hash = :h"), {"h": prev})
    engine.dispose()
    with open_store(tmp_path) as store, store.transaction() as s:  # migrates, makes the key
        audit(s, "cli", "note", "test", "4")
    with open_store(tmp_path) as store:
        assert [r.scheme for r in _rows(store)] == [SCHEME_SHA256] * 3 + [SCHEME_HMAC]
    lines: list[str] = []
    assert audit_verify(tmp_path, echo=lines.append) == 0
    assert lines == ["OK: audit log intact: 4 entries"]
    # An old entry altered (and re-hashed with the public function) is still caught: the
    # checkpoint written by the verify above anchors the head.
    with open_store(tmp_path) as store, store.engine.begin() as conn:
        drop_audit_guards(conn)
        conn.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2"))
    assert "FAILED at entry 2 (altered)" in _failed(tmp_path)


# --- append-only ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_log SET actor = 'mallory' WHERE seq = 1",
        "DELETE FROM audit_log WHERE seq = 1",
        "DELETE FROM audit_log",
        "UPDATE audit_head SET seq = seq - 1",
        "UPDATE audit_head SET hash = 'x'",
        "DELETE FROM audit_head",
    ],
)
def test_audit_rows_are_append_only(store: Store, sql: str) -> None:
    refused = r"append-only|only moves forward|cannot be deleted"
    with pytest.raises(DBAPIError, match=refused), store.engine.begin() as conn:
        conn.execute(text(sql))
    with store.transaction() as s:  # appending still works, and the chain is intact
        audit(s, "cli", "note", "test", "1")
    assert store.verify_audit().ok


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
@pytest.mark.postgresql
def test_postgresql_truncate_and_grants(store: Store) -> None:
    with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as conn:
        conn.execute(text("TRUNCATE audit_log"))
    with store.engine.connect() as conn:
        granted = set(
            conn.execute(
                text(
                    "SELECT privilege_type FROM information_schema.role_table_grants "
                    "WHERE table_name = 'audit_log' AND grantee IN (current_user, 'PUBLIC')"
                )
            ).scalars()
        )
    assert "INSERT" in granted and "SELECT" in granted
    assert not granted & {"UPDATE", "DELETE", "TRUNCATE"}


# --- what the API audits ----------------------------------------------------------------------
def _entries_after(api: Api, seq: int) -> list[AuditEntry]:
    with open_store(api.data_dir, api.database_url) as store, store.read_only() as s:
        return list(
            s.execute(
                select(AuditEntry).where(AuditEntry.seq > seq).order_by(AuditEntry.seq)
            ).scalars()
        )


def _last_seq(api: Api) -> int:
    rows = _entries_after(api, 0)
    return rows[-1].seq if rows else 0


def test_failed_login_is_audited_without_the_password(api: Api) -> None:
    before = _last_seq(api)
    r = api.client.post(
        "/api/auth/login", json={"username": "ana", "password": "wrong-horse-battery"}
    )
    assert r.status_code == 401
    (e,) = _entries_after(api, before)
    assert (e.actor, e.action, e.object_type, e.object_id) == (
        "anonymous",
        "login_failed",
        "user",
        "ana",
    )
    assert e.details == {"username": "ana", "reason": "refused", "client": "testclient"}
    assert "wrong-horse" not in json.dumps(e.details)


def test_a_throttled_login_is_audited_as_such(api: Api) -> None:
    for _ in range(12):
        r = api.client.post(
            "/api/auth/login", json={"username": "ana", "password": "wrong-horse-battery"}
        )
        if r.status_code == 429:
            break
    assert r.status_code == 429
    before = _last_seq(api)
    r = api.client.post(
        "/api/auth/login", json={"username": "ana", "password": "wrong-horse-battery"}
    )
    assert r.status_code == 429
    (e,) = _entries_after(api, before)
    assert (e.action, e.object_id) == ("login_failed", "ana")
    assert e.details == {"username": "ana", "reason": "throttled", "client": "testclient"}


def test_logout_is_audited(api: Api) -> None:
    headers = api.headers("ana")
    before = _last_seq(api)
    assert api.client.post("/api/auth/logout", headers=headers).status_code == 204
    (e,) = _entries_after(api, before)
    assert (e.actor, e.action, e.object_id, e.details) == (
        "ana",
        "logout",
        "ana",
        {"client": "testclient"},
    )


def test_denied_reads_are_audited(api: Api) -> None:
    api.headers("fgr.enlace")
    pid = api.release(SITES[0], ["SEMAR"])
    before = _last_seq(api)
    assert api.get(f"/api/sites/{SITES[1]}", "fgr.enlace").status_code == 404
    assert api.get(f"/api/products/{pid}", "fgr.enlace").status_code == 404
    assert api.get(f"/api/sites/{SITES[0]}", None).status_code == 401
    assert api.get(f"/api/sites/{SITES[0]}/evidence", "fgr.enlace").status_code == 403
    assert api.get("/api/no-such-route/x", "fgr.enlace").status_code == 404  # names no object
    denied = [e for e in _entries_after(api, before) if e.action == "denied"]
    got = [(e.actor, e.object_type, e.object_id, e.details["status"]) for e in denied]
    assert got == [
        ("fgr.enlace", "site", SITES[1], 404),
        ("fgr.enlace", "product", pid, 404),
        ("anonymous", "site", SITES[0], 401),
        ("fgr.enlace", "site", SITES[0], 403),
    ]
    assert all(e.details["client"] == "testclient" for e in denied)
    assert denied[1].details["path"] == f"/api/products/{pid}"


def test_aoi_read_is_audited(api: Api) -> None:
    api.headers("semar.enlace")
    before = _last_seq(api)
    assert api.get("/api/aois", "semar.enlace").status_code == 200
    (e,) = _entries_after(api, before)
    assert (e.actor, e.action, e.object_type, e.object_id) == ("semar.enlace", "read", "aoi", "*")
    assert e.details["client"] == "testclient"


def test_render_entry_has_format_and_language(api: Api) -> None:
    pid = api.release(SITES[0], ["SEMAR"])
    api.headers("semar.enlace")
    before = _last_seq(api)
    r = api.get(f"/api/products/{pid}/render", "semar.enlace", params={"format": "kml"})
    assert r.status_code == 200
    (e,) = _entries_after(api, before)
    assert (e.action, e.object_id) == ("read", pid)
    assert e.details == {"format": "kml", "lang": "es", "client": "testclient"}


def test_every_api_entry_has_the_client_address_fast_path_too(api: Api) -> None:
    api.release(SITES[0], ["SEMAR"])
    before = _last_seq(api)
    for _ in range(3):  # the first resolves the token; then the fast path answers
        assert api.get("/api/sites", "semar.oficial").status_code == 200
    entries = _entries_after(api, before)
    lists = [e for e in entries if e.object_type == "site" and e.object_id == "*"]
    assert len(lists) == 3
    assert all(e.details.get("client") == "testclient" for e in entries)
    with open_store(api.data_dir, api.database_url) as store:
        assert store.verify_audit().ok


def test_checkpoints_every_n_entries_from_both_writers(
    data_dir: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.modules["vigia.store.audit"], "CHECKPOINT_EVERY", 5)
    with open_store(data_dir, database_url) as store:
        assert store.audit_key is not None and store.checkpoints is not None
        log = store.checkpoints
        assert log.path == data_dir / CHECKPOINTS_FILENAME and not log.exists()
        first = _rows(store)[-1].seq
        for i in range(7):  # audit(): one entry per transaction
            with store.transaction() as s:
                audit(s, "cli", "note", "test", str(i))
        appender = RawAppender(store.engine, store.audit_key, log)
        try:  # the group commit: one group of 6 passes one multiple of 5
            appender.append([AuditRecord("cli", "note", "test", str(i)) for i in range(6)])
        finally:
            appender.reset()
        rows = {r.seq: r.hash for r in _rows(store)}
        new = log.read(store.audit_key)
        expected = [s for s in range(first + 1, first + 8) if s % 5 == 0] + [first + 13]
        assert [c.seq for c in new] == expected
        assert all(c.valid and rows[c.seq] == c.hash for c in new)
        assert store.verify_audit().ok
