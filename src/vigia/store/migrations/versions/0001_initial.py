"""Initial schema: agencies, users, tokens, sites, products, releases, deliveries, actions,
seizures and the hash-chained audit log. On PostgreSQL: PostGIS and a GIST-indexed point.

Revision ID: 0001
Revises:
Create Date: 2026-05-20
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Hash that the first audit entry chains to.
GENESIS_HASH = "0" * 64

#: Agencies every store starts with (more can be added with ``create_agency``).
SEED_AGENCIES = [
    ("VIGIA", "Vigía program PED cell", "USA"),
    ("SEMAR", "Secretaría de Marina", "MEX"),
    ("SEDENA", "Secretaría de la Defensa Nacional", "MEX"),
    ("GN", "Guardia Nacional", "MEX"),
    ("FGR", "Fiscalía General de la República", "MEX"),
]


def _time(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _fk(column: str, table: str, target: str, referred: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{referred}.{target}"], name=f"fk_{table}_{column}_{referred}"
    )


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("CREATE EXTENSION IF NOT EXISTS postgis")

    agencies = op.create_table(
        "agencies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("country", sa.String(3), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_agencies"),
        sa.UniqueConstraint("code", name="uq_agencies_code"),
    )
    audit_head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_head"),
    )
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        _time("time"),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("object_type", sa.String(32), nullable=False),
        sa.Column("object_id", sa.String(64), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_log"),
    )
    op.create_table(
        "sites",
        sa.Column("site_id", sa.String(32), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        *(
            sa.Column(c, sa.Float(), nullable=True)
            for c in (
                "h_m",
                "ce90_m",
                "cov_ee_m2",
                "cov_en_m2",
                "cov_nn_m2",
                "log_odds",
                "probability",
            )
        ),
        sa.Column("candidate", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(16), nullable=True),
        sa.Column("new_since_previous_pass", sa.Boolean(), nullable=True),
        _time("previous_pass_time", True),
        _time("first_seen", True),
        _time("last_seen", True),
        *(
            sa.Column(c, sa.Integer(), nullable=True)
            for c in ("n_observations", "n_passes", "n_sorties", "night_passes", "empty_passes")
        ),
        sa.Column("indicators", sa.JSON(), nullable=False),
        sa.Column("sorties", sa.JSON(), nullable=False),
        sa.Column("aoi", sa.String(200), nullable=True),
        sa.Column("vocabulary", sa.String(100), nullable=True),
        sa.Column("explanation", sa.Text(), nullable=True),
        sa.Column("assessment", sa.Text(), nullable=True),
        _time("synced_at"),
        sa.Column("partner_status", sa.String(16), nullable=True),
        _time("partner_status_at", True),
        sa.Column("partner_status_agency_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("lat >= -90 AND lat <= 90", name="ck_sites_lat"),
        sa.CheckConstraint("lon >= -180 AND lon <= 180", name="ck_sites_lon"),
        _fk("partner_status_agency_id", "sites", "id", "agencies"),
        sa.PrimaryKeyConstraint("site_id", name="pk_sites"),
    )
    op.create_index("ix_sites_candidate", "sites", ["candidate"])
    if postgres:
        op.execute(
            "ALTER TABLE sites ADD COLUMN geom geometry(Point, 4326) "
            "GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lon, lat), 4326)) STORED"
        )
        op.execute("CREATE INDEX ix_sites_geom ON sites USING gist (geom)")
        op.execute("CREATE INDEX ix_sites_geog ON sites USING gist ((geom::geography))")

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        _time("created_at"),
        sa.CheckConstraint("language IN ('en', 'es')", name="ck_users_language"),
        sa.CheckConstraint(
            _in("role", ("analyst", "supervisor", "partner-liaison", "partner-officer")),
            name="ck_users_role",
        ),
        _fk("agency_id", "users", "id", "agencies"),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("username", name="uq_users_username"),
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        _time("created_at"),
        _time("expires_at"),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        _time("revoked_at", True),
        _fk("user_id", "tokens", "id", "users"),
        sa.PrimaryKeyConstraint("id", name="pk_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_tokens_token_hash"),
    )
    op.create_index("ix_tokens_user_id", "tokens", ["user_id"])

    op.create_table(
        "products",
        sa.Column("product_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("site_id", sa.String(32), nullable=True),
        sa.Column("title", sa.String(300), nullable=True),
        sa.Column("author_id", sa.Integer(), nullable=False),
        _time("created_at"),
        sa.Column("classification", sa.String(16), nullable=False),
        sa.Column("caveats", sa.String(200), nullable=True),
        sa.Column("releasable_to", sa.JSON(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("tearline", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("approver_id", sa.Integer(), nullable=True),
        _time("approved_at", True),
        sa.Column("rejection_reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            _in(
                "classification",
                ("UNCLASSIFIED", "RESTRICTED", "CONFIDENTIAL", "SECRET", "TOP SECRET"),
            ),
            name="ck_products_class",
        ),
        sa.CheckConstraint(
            _in("kind", ("site_report", "sortie_summary", "digest")), name="ck_products_kind"
        ),
        sa.CheckConstraint(
            _in("state", ("draft", "released", "rejected")), name="ck_products_state"
        ),
        _fk("approver_id", "products", "id", "users"),
        _fk("author_id", "products", "id", "users"),
        _fk("site_id", "products", "site_id", "sites"),
        sa.PrimaryKeyConstraint("product_id", name="pk_products"),
    )
    op.create_index("ix_products_site_id", "products", ["site_id"])
    op.create_index("ix_products_state", "products", ["state"])

    op.create_table(
        "product_releases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.String(32), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        _time("released_at"),
        sa.Column("released_by", sa.Integer(), nullable=False),
        _fk("agency_id", "product_releases", "id", "agencies"),
        _fk("product_id", "product_releases", "product_id", "products"),
        _fk("released_by", "product_releases", "id", "users"),
        sa.PrimaryKeyConstraint("id", name="pk_product_releases"),
        sa.UniqueConstraint("product_id", "agency_id", name="uq_release"),
    )
    op.create_index("ix_product_releases_agency_id", "product_releases", ["agency_id"])

    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.String(32), nullable=True),
        sa.Column("site_id", sa.String(32), nullable=True),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        _time("created_at"),
        _time("updated_at"),
        _time("delivered_at", True),
        sa.CheckConstraint(
            _in("status", ("pending", "delivered", "failed")), name="ck_deliveries_status"
        ),
        _fk("product_id", "deliveries", "product_id", "products"),
        _fk("site_id", "deliveries", "site_id", "sites"),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
    )
    op.create_index("ix_deliveries_status", "deliveries", ["status"])

    op.create_table(
        "actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.String(32), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        _time("occurred_at"),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        _time("recorded_at"),
        sa.CheckConstraint(
            _in(
                "kind",
                ("acknowledged", "inspection", "operation", "lab_dismantled", "nothing_found"),
            ),
            name="ck_actions_kind",
        ),
        sa.CheckConstraint("lat IS NULL OR (lat >= -90 AND lat <= 90)", name="ck_actions_lat"),
        sa.CheckConstraint("lon IS NULL OR (lon >= -180 AND lon <= 180)", name="ck_actions_lon"),
        _fk("agency_id", "actions", "id", "agencies"),
        _fk("site_id", "actions", "site_id", "sites"),
        _fk("user_id", "actions", "id", "users"),
        sa.PrimaryKeyConstraint("id", name="pk_actions"),
    )
    op.create_index("ix_actions_site_id", "actions", ["site_id"])

    op.create_table(
        "seizures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=False),
        sa.Column("substance", sa.String(32), nullable=False),
        sa.Column("amount", sa.Float(), nullable=False),
        sa.Column("unit", sa.String(8), nullable=False),
        sa.Column("original_amount", sa.Float(), nullable=False),
        sa.Column("original_unit", sa.String(16), nullable=False),
        sa.CheckConstraint(
            _in(
                "substance",
                ("fentanyl_pills", "fentanyl_powder", "methamphetamine", "precursor_chemical"),
            ),
            name="ck_seizures_substance",
        ),
        sa.CheckConstraint("unit IN ('count', 'kg', 'L')", name="ck_seizures_unit"),
        sa.CheckConstraint("amount > 0", name="ck_seizures_amount"),
        _fk("action_id", "seizures", "id", "actions"),
        sa.PrimaryKeyConstraint("id", name="pk_seizures"),
    )
    op.create_index("ix_seizures_action_id", "seizures", ["action_id"])

    op.bulk_insert(agencies, [{"code": c, "name": n, "country": k} for c, n, k in SEED_AGENCIES])
    op.bulk_insert(audit_head, [{"id": 1, "seq": 0, "hash": GENESIS_HASH}])


def downgrade() -> None:
    for table in (
        "seizures",
        "actions",
        "deliveries",
        "product_releases",
        "products",
        "tokens",
        "users",
        "sites",
        "audit_log",
        "audit_head",
        "agencies",
    ):
        op.drop_table(table)
