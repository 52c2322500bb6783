"""Sites: the mirror of ``sites.parquet`` and who may see which site.

Staff (analysts, supervisors) see every site. A partner user sees a site only once a site report
about it has been released to their agency; any other site is :class:`NotFound` to them (its
existence is not disclosed). Every read and write appends to the audit log.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import Select, insert, select, text, update
from sqlalchemy.orm import Session

from vigia.errors import NotFound, PermissionDenied, ValidationError
from vigia.geo.wgs84 import MEAN_EARTH_RADIUS_M, great_circle_m
from vigia.store.audit import audit, lock_audit
from vigia.store.models import Product, ProductRelease, Site, User
from vigia.store.users import visible_agency_id
from vigia.times import null_implausible_times

__all__ = [
    "SITE_COLUMNS",
    "SyncReport",
    "agency_site_ids",
    "get_site",
    "list_sites",
    "load_sites_parquet",
    "products_released_to",
    "released_sites_for_agency",
    "site_visible_to",
    "sites_within",
    "sync_sites",
    "visible_site_ids",
]

#: Columns of ``sites.parquet`` mirrored in the ``sites`` table (site contract, issue 4).
SITE_COLUMNS = (
    "site_id",
    "lat",
    "lon",
    "h_m",
    "ce90_m",
    "cov_ee_m2",
    "cov_en_m2",
    "cov_nn_m2",
    "log_odds",
    "probability",
    "candidate",
    "status",
    "new_since_previous_pass",
    "previous_pass_time",
    "first_seen",
    "last_seen",
    "n_observations",
    "n_passes",
    "n_sorties",
    "night_passes",
    "empty_passes",
    "indicators",
    "sorties",
    "aoi",
    "vocabulary",
    "explanation",
    "assessment",
)
_REQUIRED = ("site_id", "lat", "lon")
_LIST_COLUMNS = ("indicators", "sorties")
_TIME_COLUMNS = ("previous_pass_time", "first_seen", "last_seen")


@dataclass(frozen=True)
class SyncReport:
    """Outcome of :func:`sync_sites`."""

    inserted: int
    updated: int


def _require_staff(actor: User, what: str) -> None:
    if actor.is_partner:
        raise PermissionDenied(f"partner users may not {what}")


def sync_sites(
    session: Session, table: pa.Table, *, actor: str = "system", now: datetime | None = None
) -> SyncReport:
    """Insert or update (by ``site_id``) the sites of a ``sites.parquet`` table.

    Partner status fields are left as they are; sites missing from ``table`` are kept. Every
    row is checked before anything is written (:class:`ValidationError` lists the problems).
    """
    lock_audit(session)
    missing = [c for c in _REQUIRED if c not in table.column_names]
    if missing:
        raise ValidationError(f"sites table lacks column(s) {', '.join(missing)}")
    problems = []
    ids = table.column("site_id")
    if ids.null_count:
        problems.append(f"{ids.null_count} site(s) without site_id")
    if len(pc.unique(ids)) != len(ids):
        problems.append("duplicate site_id values")
    lat = table.column("lat").to_numpy(zero_copy_only=False).astype(float)
    lon = table.column("lon").to_numpy(zero_copy_only=False).astype(float)
    bad = ~(np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180))
    if bad.any():
        first = ids[int(np.flatnonzero(bad)[0])].as_py()
        problems.append(f"{int(bad.sum())} site(s) with coordinates out of range (first {first})")
    if problems:
        raise ValidationError(problems)

    t = (now or datetime.now(UTC)).astimezone(UTC)
    present = [c for c in SITE_COLUMNS if c in table.column_names]
    rows: list[dict[str, Any]] = table.select(present).to_pylist()
    for row in rows:
        for c in SITE_COLUMNS:
            row.setdefault(c, None)
        for c in _LIST_COLUMNS:
            row[c] = list(row[c] or [])
        row["candidate"] = bool(row["candidate"])
        for c in _TIME_COLUMNS:
            v = row[c]
            if v is not None and v.tzinfo is None:  # naive Arrow timestamps are taken as UTC
                row[c] = v.replace(tzinfo=UTC)
        row["synced_at"] = t
    wanted = [r["site_id"] for r in rows]
    existing: set[str] = set()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        existing.update(
            session.execute(select(Site.site_id).where(Site.site_id.in_(chunk))).scalars()
        )
    new_rows = [r for r in rows if r["site_id"] not in existing]
    old_rows = [r for r in rows if r["site_id"] in existing]
    if new_rows:
        session.execute(insert(Site), new_rows)
    if old_rows:
        session.execute(update(Site), old_rows)
    audit(
        session,
        actor,
        "sync",
        "site",
        None,
        {
            "inserted": [r["site_id"] for r in new_rows],
            "updated": [r["site_id"] for r in old_rows],
        },
        now=t,
    )
    return SyncReport(len(new_rows), len(old_rows))


def load_sites_parquet(path: Path | str) -> pa.Table:
    """Read ``sites.parquet`` (the columns the store mirrors that are present); a time outside
    1990-2100 (damage) reads as null (:func:`vigia.times.null_implausible_times`)."""
    schema = pq.read_schema(path)
    table = pq.read_table(path, columns=[c for c in SITE_COLUMNS if c in schema.names])
    return null_implausible_times(table)[0]


def products_released_to(agency_id: int, *, withdrawn: bool = False) -> Select[Any]:
    """Ids of the products released to an agency and not withdrawn from it (the part of the
    partner visibility rule that says what "released to" means); ``withdrawn=True`` adds the
    withdrawn ones (listed to the partner as withdrawn, never served)."""
    q = (
        select(ProductRelease.product_id)
        .join(Product, ProductRelease.product_id == Product.product_id)
        .where(Product.state == "released", ProductRelease.agency_id == agency_id)
    )
    return q if withdrawn else q.where(ProductRelease.withdrawn_at.is_(None))


def _released_to(agency_id: int) -> Select[Any]:
    """Ids of sites with a site report released (and not withdrawn) to the agency."""
    return (
        select(Product.site_id)
        .where(
            Product.site_id.is_not(None),
            Product.product_id.in_(products_released_to(agency_id)),
        )
        .distinct()
    )


def visible_site_ids(session: Session, actor: User) -> frozenset[str] | None:
    """The partner visibility rule: ids of the sites ``actor`` may see, ``None`` for staff (all).

    A partner sees a site once a site report about it was released to their agency. Every
    route, rendering and product body given to a partner names only these sites.
    """
    if not actor.is_partner:
        return None
    return agency_site_ids(session, actor.agency_id)


def agency_site_ids(session: Session, agency_id: int) -> frozenset[str]:
    """Ids of the sites the agency ``agency_id`` may see (see :func:`visible_site_ids`)."""
    return frozenset(session.execute(_released_to(agency_id)).scalars())


def site_visible_to(session: Session, actor: User, site_id: str) -> bool:
    """True when ``actor`` may see the site (staff always; partners once released to them)."""
    if not actor.is_partner:
        return session.get(Site, site_id) is not None
    q = _released_to(actor.agency_id).where(Product.site_id == site_id)
    return session.execute(q).first() is not None


def get_site(session: Session, actor: User, site_id: str) -> Site:
    """One site, if ``actor`` may see it (else :class:`NotFound`); audited."""
    site = session.get(Site, site_id)
    if site is None or (actor.is_partner and not site_visible_to(session, actor, site_id)):
        raise NotFound(f"no site {site_id!r}")
    audit(session, actor.username, "read", "site", site_id)
    return site


def list_sites(session: Session, actor: User, *, candidates_only: bool = False) -> list[Site]:
    """The sites ``actor`` may see, by site_id: all for staff, released ones for partners."""
    if actor.is_partner:
        return released_sites_for_agency(session, actor, actor.agency_code)
    q = select(Site).order_by(Site.site_id)
    if candidates_only:
        q = q.where(Site.candidate.is_(True))
    sites = list(session.execute(q).scalars())
    audit(session, actor.username, "read", "site", None, {"count": len(sites)})
    return sites


def released_sites_for_agency(session: Session, actor: User, agency: str) -> list[Site]:
    """Sites with a site report released to ``agency``, by site_id; audited.

    A partner user may ask only for their own agency (:class:`PermissionDenied` otherwise).
    """
    agency_id = visible_agency_id(session, actor, agency)
    sites = list(
        session.execute(
            select(Site).where(Site.site_id.in_(_released_to(agency_id))).order_by(Site.site_id)
        ).scalars()
    )
    audit(
        session,
        actor.username,
        "read",
        "site",
        None,
        {"agency": agency, "site_ids": [s.site_id for s in sites]},
    )
    return sites


def sites_within(
    session: Session, actor: User, lat: float, lon: float, radius_m: float
) -> list[tuple[Site, float]]:
    """Sites ``actor`` may see within ``radius_m`` metres of (lat, lon) degrees, nearest first,
    each with its great-circle distance in metres.

    On PostgreSQL the search uses PostGIS (``ST_DWithin`` on the GIST-indexed geography); on
    SQLite a bounding box in SQL and the haversine distance.
    """
    if not (math.isfinite(lat) and math.isfinite(lon) and abs(lat) <= 90 and abs(lon) <= 180):
        raise ValidationError(f"coordinates out of range: lat {lat}, lon {lon}")
    if not (math.isfinite(radius_m) and 0 <= radius_m <= 2_000_000):
        raise ValidationError(f"radius {radius_m} m must be between 0 and 2,000,000 m")
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(
            text(
                "SELECT site_id, ST_Distance(geom::geography, p) AS d FROM sites, "
                "(SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography AS p) q "
                "WHERE ST_DWithin(geom::geography, p, :r) ORDER BY d, site_id"
            ),
            {"lat": lat, "lon": lon, "r": radius_m},
        ).all()
        found: list[tuple[str, float]] = [(r[0], float(r[1])) for r in rows]
    else:
        dlat = math.degrees(radius_m / MEAN_EARTH_RADIUS_M) * 1.01 + 1e-9
        coslat = max(math.cos(math.radians(min(abs(lat) + dlat, 90.0))), 1e-12)
        dlon = min(dlat / coslat, 360.0)
        q = select(Site.site_id, Site.lat, Site.lon).where(Site.lat.between(lat - dlat, lat + dlat))
        if dlon < 180:
            lo, hi = lon - dlon, lon + dlon
            if lo < -180:
                q = q.where((Site.lon >= lo + 360) | (Site.lon <= hi))
            elif hi > 180:
                q = q.where((Site.lon >= lo) | (Site.lon <= hi - 360))
            else:
                q = q.where(Site.lon.between(lo, hi))
        cand = session.execute(q).all()
        ids = [c[0] for c in cand]
        d = great_circle_m(
            lat, lon, np.array([c[1] for c in cand], float), np.array([c[2] for c in cand], float)
        )
        order = sorted((float(d[i]), ids[i]) for i in np.flatnonzero(d <= radius_m))
        found = [(sid, dist) for dist, sid in order]
    if actor.is_partner:
        visible = set(
            session.execute(
                _released_to(actor.agency_id).where(Product.site_id.in_([f[0] for f in found]))
            ).scalars()
        )
        found = [f for f in found if f[0] in visible]
    by_id = {
        s.site_id: s
        for s in session.execute(select(Site).where(Site.site_id.in_([f[0] for f in found])))
        .scalars()
        .all()
    }
    audit(
        session,
        actor.username,
        "read",
        "site",
        None,
        {"near": [lat, lon], "radius_m": radius_m, "site_ids": [f[0] for f in found]},
    )
    return [(by_id[sid], dist) for sid, dist in found]
