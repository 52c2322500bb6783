"""The attacker's first step in the tampering tests: drop the append-only triggers.

Migration 0003 refuses UPDATE and DELETE of audit rows; someone who owns the database (or holds
the SQLite file) can drop those triggers. The tests do so to show that what is left — the keyed
MAC and the checkpoint log — still detects the change.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

__all__ = ["drop_audit_guards"]

_SQLITE = (
    "audit_log_no_update",
    "audit_log_no_delete",
    "audit_head_forward_only",
    "audit_head_no_delete",
)
_PG = (
    ("audit_log_append_only", "audit_log"),
    ("audit_log_no_truncate", "audit_log"),
    ("audit_head_forward_only", "audit_head"),
    ("audit_head_no_truncate", "audit_head"),
)


def drop_audit_guards(conn: Connection) -> None:
    """Drop the triggers and grant back UPDATE/DELETE, as the database owner could."""
    if conn.dialect.name == "postgresql":
        for name, table in _PG:
            conn.execute(text(f"DROP TRIGGER IF EXISTS {name} ON {table}"))
        conn.execute(text("GRANT UPDATE, DELETE ON audit_log, audit_head TO CURRENT_USER"))
    else:
        for name in _SQLITE:
            conn.execute(text(f"DROP TRIGGER IF EXISTS {name}"))
