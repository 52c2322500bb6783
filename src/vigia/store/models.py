"""Tables of the store as typed SQLAlchemy 2 declarative models.

The schema itself is created by the Alembic migrations in :mod:`vigia.store.migrations`; a test
checks that these models and the migrations agree. Times are timezone-aware UTC datetimes on
both back ends (SQLite keeps naive UTC text, PostgreSQL ``timestamptz``). On PostgreSQL the
``sites`` table also has a PostGIS ``geom`` column (generated from lat/lon, GIST-indexed) that
the models do not map: spatial queries go through :func:`vigia.store.sites.sites_within`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "ACTION_KINDS",
    "CLASSIFICATIONS",
    "DELIVERY_STATES",
    "LANGUAGES",
    "OWNER_AGENCY",
    "PARTNER_ROLES",
    "PARTNER_STATUS_FOR_KIND",
    "PRODUCT_KINDS",
    "PRODUCT_STATES",
    "ROLES",
    "STAFF_ROLES",
    "SUBSTANCES",
    "Action",
    "Agency",
    "AuditEntry",
    "AuditHead",
    "Base",
    "Delivery",
    "LoginThrottle",
    "Product",
    "ProductRelease",
    "Seizure",
    "Site",
    "Token",
    "UTCDateTime",
    "User",
]

ROLES = ("analyst", "supervisor", "partner-liaison", "partner-officer")
#: The agency that runs the program: staff roles belong to it, partner roles never do.
OWNER_AGENCY = "VIGIA"
STAFF_ROLES = frozenset({"analyst", "supervisor"})
PARTNER_ROLES = frozenset({"partner-liaison", "partner-officer"})
LANGUAGES = ("en", "es")
PRODUCT_KINDS = ("site_report", "sortie_summary", "digest")
PRODUCT_STATES = ("draft", "released", "rejected")
#: ST 0102 item 1 markings, lowest to highest.
CLASSIFICATIONS = ("UNCLASSIFIED", "RESTRICTED", "CONFIDENTIAL", "SECRET", "TOP SECRET")
DELIVERY_STATES = ("pending", "delivered", "failed")
ACTION_KINDS = ("acknowledged", "inspection", "operation", "lab_dismantled", "nothing_found")
#: What each kind of partner action makes the site's partner status.
PARTNER_STATUS_FOR_KIND = {
    "acknowledged": "acknowledged",
    "inspection": "inspected",
    "operation": "operation",
    "lab_dismantled": "dismantled",
    "nothing_found": "nothing_found",
}
SUBSTANCES = ("fentanyl_pills", "fentanyl_powder", "methamphetamine", "precursor_chemical")
NORMALISED_UNITS = ("count", "kg", "L")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every back end; naive datetimes are refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a UTC time is stored")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


#: Names of indexes and constraints, so that migrations and models agree on them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every table of the store."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)

    def as_dict(self) -> dict[str, Any]:
        """The mapped columns of this row as a plain dict."""
        return {a.key: getattr(self, a.key) for a in self.__mapper__.column_attrs}


class Agency(Base):
    """An agency whose users use Vigía: the program's own cell or a partner agency."""

    __tablename__ = "agencies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(3))
    """ISO 3166 three-letter code ('MEX', 'USA'), as in ST 0102 releasability."""


class User(Base):
    """A person who logs in; the password is kept only as an argon2 hash."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(_in("role", ROLES), name="ck_users_role"),
        CheckConstraint(_in("language", LANGUAGES), name="ck_users_language"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
    password_hash: Mapped[str] = mapped_column(String(255))
    language: Mapped[str] = mapped_column(String(2))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    agency: Mapped[Agency] = relationship(lazy="joined")

    @property
    def is_partner(self) -> bool:
        """True for partner-liaison and partner-officer users."""
        return self.role in PARTNER_ROLES

    @property
    def agency_code(self) -> str:
        """Code of the user's agency, e.g. 'SEMAR'."""
        return self.agency.code


class Token(Base):
    """A bearer token: only the SHA-256 (hex) of the token is stored."""

    __tablename__ = "tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LoginThrottle(Base):
    """The login back-off of one key: an account (``user:<username>``) or a client address
    (``addr:<host>``); see :mod:`vigia.store.throttle`."""

    __tablename__ = "login_throttle"
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Site(Base):
    """A candidate site: a mirror of one row of ``sites.parquet`` plus the partner's status.

    The mirrored columns are overwritten by :func:`vigia.store.sites.sync_sites`; the
    ``partner_*`` columns are written only by partner actions.
    """

    __tablename__ = "sites"
    __table_args__ = (
        CheckConstraint("lat >= -90 AND lat <= 90", name="ck_sites_lat"),
        CheckConstraint("lon >= -180 AND lon <= 180", name="ck_sites_lon"),
    )
    site_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    h_m: Mapped[float | None] = mapped_column(Float)
    ce90_m: Mapped[float | None] = mapped_column(Float)
    cov_ee_m2: Mapped[float | None] = mapped_column(Float)
    cov_en_m2: Mapped[float | None] = mapped_column(Float)
    cov_nn_m2: Mapped[float | None] = mapped_column(Float)
    log_odds: Mapped[float | None] = mapped_column(Float)
    probability: Mapped[float | None] = mapped_column(Float)
    candidate: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    status: Mapped[str | None] = mapped_column(String(16))
    new_since_previous_pass: Mapped[bool | None] = mapped_column(Boolean)
    previous_pass_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_seen: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime)
    n_observations: Mapped[int | None] = mapped_column(Integer)
    n_passes: Mapped[int | None] = mapped_column(Integer)
    n_sorties: Mapped[int | None] = mapped_column(Integer)
    night_passes: Mapped[int | None] = mapped_column(Integer)
    empty_passes: Mapped[int | None] = mapped_column(Integer)
    indicators: Mapped[list[str]] = mapped_column(JSON, default=list)
    sorties: Mapped[list[str]] = mapped_column(JSON, default=list)
    """Mission ids: SOURCE-SENSITIVE, never in a partner tearline."""
    aoi: Mapped[str | None] = mapped_column(String(200))
    vocabulary: Mapped[str | None] = mapped_column(String(100))
    explanation: Mapped[str | None] = mapped_column(Text)
    assessment: Mapped[str | None] = mapped_column(Text)
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime)
    partner_status: Mapped[str | None] = mapped_column(String(16))
    partner_status_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    partner_status_agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"))


class Product(Base):
    """An intelligence product with its marking, its full body and its tearline."""

    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint(_in("kind", PRODUCT_KINDS), name="ck_products_kind"),
        CheckConstraint(_in("state", PRODUCT_STATES), name="ck_products_state"),
        CheckConstraint(_in("classification", CLASSIFICATIONS), name="ck_products_class"),
    )
    product_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    site_id: Mapped[str | None] = mapped_column(ForeignKey("sites.site_id"), index=True)
    title: Mapped[str | None] = mapped_column(String(300))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    classification: Mapped[str] = mapped_column(String(16))
    caveats: Mapped[str | None] = mapped_column(String(200))
    releasable_to: Mapped[list[str]] = mapped_column(JSON)
    """ISO 3166 three-letter country codes."""
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The full product (may hold source-sensitive fields)."""
    tearline: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The partner-releasable part, built by :mod:`vigia.share`."""
    state: Mapped[str] = mapped_column(String(16), index=True)
    approver_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rejection_reason: Mapped[str | None] = mapped_column(Text)

    releases: Mapped[list[ProductRelease]] = relationship(
        lazy="selectin", order_by="ProductRelease.id"
    )

    @property
    def released_to(self) -> list[str]:
        """Codes of the agencies the product is released to (releases not withdrawn)."""
        return [r.agency.code for r in self.releases if r.active]

    @property
    def withdrawn_from(self) -> list[str]:
        """Codes of the agencies whose release of the product was withdrawn."""
        return [r.agency.code for r in self.releases if not r.active]

    def release_to(self, agency_id: int) -> ProductRelease | None:
        """The release of the product to an agency (active or withdrawn), if there is one."""
        return next((r for r in self.releases if r.agency_id == agency_id), None)


class ProductRelease(Base):
    """One agency a released product went to (two-person rule: approver != author), until a
    supervisor withdraws it (``withdrawn_at``, ``withdrawn_by``, ``withdrawal_reason``)."""

    __tablename__ = "product_releases"
    __table_args__ = (UniqueConstraint("product_id", "agency_id", name="uq_release"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.product_id"))
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    released_at: Mapped[datetime] = mapped_column(UTCDateTime)
    released_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """When a supervisor withdrew the release (the agency lost access then); None while active."""
    withdrawn_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    withdrawal_reason: Mapped[str | None] = mapped_column(Text)

    agency: Mapped[Agency] = relationship(lazy="joined")

    @property
    def active(self) -> bool:
        """True while the release has not been withdrawn."""
        return self.withdrawn_at is None


class Delivery(Base):
    """One push of a product or site to a partner system (e.g. ``tak://host:8087``)."""

    __tablename__ = "deliveries"
    __table_args__ = (CheckConstraint(_in("status", DELIVERY_STATES), name="ck_deliveries_status"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[str | None] = mapped_column(ForeignKey("products.product_id"))
    site_id: Mapped[str | None] = mapped_column(ForeignKey("sites.site_id"))
    target: Mapped[str] = mapped_column(String(255))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), index=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Action(Base):
    """What a partner agency did about a released site."""

    __tablename__ = "actions"
    __table_args__ = (
        CheckConstraint(_in("kind", ACTION_KINDS), name="ck_actions_kind"),
        CheckConstraint("lat IS NULL OR (lat >= -90 AND lat <= 90)", name="ck_actions_lat"),
        CheckConstraint("lon IS NULL OR (lon >= -180 AND lon <= 180)", name="ck_actions_lon"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.site_id"), index=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    notes: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)

    seizures: Mapped[list[Seizure]] = relationship(lazy="selectin", order_by="Seizure.id")
    agency: Mapped[Agency] = relationship(lazy="joined")


class Seizure(Base):
    """A quantity seized during an action, normalised (count, kg or L) and as reported."""

    __tablename__ = "seizures"
    __table_args__ = (
        CheckConstraint(_in("substance", SUBSTANCES), name="ck_seizures_substance"),
        CheckConstraint(_in("unit", NORMALISED_UNITS), name="ck_seizures_unit"),
        CheckConstraint("amount > 0", name="ck_seizures_amount"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("actions.id"), index=True)
    substance: Mapped[str] = mapped_column(String(32))
    amount: Mapped[float] = mapped_column(Float)
    """Normalised amount: pills by count, masses in kg, volumes in L."""
    unit: Mapped[str] = mapped_column(String(8))
    original_amount: Mapped[float] = mapped_column(Float)
    original_unit: Mapped[str] = mapped_column(String(16))


class AuditEntry(Base):
    """One entry of the MAC-chained audit log (see :mod:`vigia.store.audit`); append-only
    (triggers refuse UPDATE and DELETE, migration 0003)."""

    __tablename__ = "audit_log"
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    time: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    scheme: Mapped[str] = mapped_column(String(16), server_default="sha256")
    """How ``hash`` is computed: 'hmac-sha256' (keyed) or 'sha256' (entries of older versions)."""


class AuditHead(Base):
    """The single row holding the last sequence number and hash of the audit log.

    Appending locks this row, so the chain never forks; verifying compares the last entry
    with it, so removing entries at the end of the log is detected too. Triggers let it only
    move forward (a larger ``seq``) and refuse DELETE (migration 0003).
    """

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
