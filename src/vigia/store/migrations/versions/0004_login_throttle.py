"""Login throttling: one row of back-off state per account and per client address.

Adds ``login_throttle`` (see :mod:`vigia.store.throttle`). In the store, not in memory, so that
every worker of ``vigia serve`` (and every host in front of one PostgreSQL) counts the same
failures.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_login_throttle"),
    )
    op.create_index("ix_login_throttle_last_attempt_at", "login_throttle", ["last_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_login_throttle_last_attempt_at", table_name="login_throttle")
    op.drop_table("login_throttle")
