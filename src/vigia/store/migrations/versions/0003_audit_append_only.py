"""Append-only audit log: a ``scheme`` column and triggers that refuse rewriting it.

* ``audit_log.scheme``: how an entry's hash is computed; entries written before this revision
  are 'sha256' (plain SHA-256, the server default), new ones 'hmac-sha256' (keyed MAC).
* Triggers refuse UPDATE and DELETE of ``audit_log`` rows (and TRUNCATE on PostgreSQL), and let
  the single ``audit_head`` row only move forward (a larger ``seq``), never be deleted. The
  head stays in the database because appending locks it (the chain never forks); the
  checkpoint log outside the database is what detects a head moved back by someone who can
  drop the triggers.
* On PostgreSQL, UPDATE, DELETE and TRUNCATE of ``audit_log`` (DELETE and TRUNCATE of
  ``audit_head``) are revoked from PUBLIC and from the role that runs the migration (the
  application's role), which keeps INSERT and SELECT.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SQLITE_TRIGGERS = {
    "audit_log_no_update": (
        "BEFORE UPDATE ON audit_log BEGIN "
        "SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused'); END"
    ),
    "audit_log_no_delete": (
        "BEFORE DELETE ON audit_log BEGIN "
        "SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused'); END"
    ),
    "audit_head_forward_only": (
        "BEFORE UPDATE ON audit_head WHEN NEW.seq <= OLD.seq OR NEW.id <> OLD.id BEGIN "
        "SELECT RAISE(ABORT, 'audit_head only moves forward'); END"
    ),
    "audit_head_no_delete": (
        "BEFORE DELETE ON audit_head BEGIN SELECT RAISE(ABORT, 'audit_head cannot be deleted'); END"
    ),
}

_PG_UP = [
    """
    CREATE FUNCTION vigia_audit_log_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END $$
    """,
    """
    CREATE FUNCTION vigia_audit_head_forward() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP <> 'UPDATE' THEN
            RAISE EXCEPTION 'audit_head cannot be deleted or truncated (% refused)', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF NEW.seq <= OLD.seq OR NEW.id <> OLD.id THEN
            RAISE EXCEPTION 'audit_head only moves forward (% -> %)', OLD.seq, NEW.seq
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN NEW;
    END $$
    """,
    "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION vigia_audit_log_refuse()",
    "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
    "FOR EACH STATEMENT EXECUTE FUNCTION vigia_audit_log_refuse()",
    "CREATE TRIGGER audit_head_forward_only BEFORE UPDATE OR DELETE ON audit_head "
    "FOR EACH ROW EXECUTE FUNCTION vigia_audit_head_forward()",
    "CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head "
    "FOR EACH STATEMENT EXECUTE FUNCTION vigia_audit_head_forward()",
    "REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM PUBLIC, CURRENT_USER",
    "REVOKE DELETE, TRUNCATE ON audit_head FROM PUBLIC, CURRENT_USER",
]

_PG_DOWN = [
    "GRANT UPDATE, DELETE, TRUNCATE ON audit_log TO CURRENT_USER",
    "GRANT DELETE, TRUNCATE ON audit_head TO CURRENT_USER",
    "DROP TRIGGER IF EXISTS audit_head_no_truncate ON audit_head",
    "DROP TRIGGER IF EXISTS audit_head_forward_only ON audit_head",
    "DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log",
    "DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log",
    "DROP FUNCTION IF EXISTS vigia_audit_head_forward()",
    "DROP FUNCTION IF EXISTS vigia_audit_log_refuse()",
]


def upgrade() -> None:
    op.add_column(
        "audit_log",
        sa.Column("scheme", sa.String(16), nullable=False, server_default="sha256"),
    )
    if op.get_bind().dialect.name == "postgresql":
        for sql in _PG_UP:
            op.execute(sql)
    else:
        for name, body in _SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {body}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for sql in _PG_DOWN:
            op.execute(sql)
    else:
        for name in _SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("scheme")
