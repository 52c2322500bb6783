"""Release withdrawal: a supervisor may withdraw a release from an agency, with the reason.

Adds ``withdrawn_at``, ``withdrawn_by`` and ``withdrawal_reason`` to ``product_releases``
(null while the release is active).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FK = "fk_product_releases_withdrawn_by_users"


def upgrade() -> None:
    with op.batch_alter_table("product_releases") as batch:
        batch.add_column(sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("withdrawn_by", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("withdrawal_reason", sa.Text(), nullable=True))
        batch.create_foreign_key(_FK, "users", ["withdrawn_by"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("product_releases") as batch:
        batch.drop_constraint(_FK, type_="foreignkey")
        batch.drop_column("withdrawal_reason")
        batch.drop_column("withdrawn_by")
        batch.drop_column("withdrawn_at")
