"""The store of ``vigia demo``: what ``vigia serve --data-dir DIR`` shows at once.

After the demo has ingested the scenario's sorties into ``DIR``, :func:`prepare_demo_store`
mirrors ``DIR/sites.parquet`` into the store, creates the demo accounts with generated
passwords, and runs the release chain the way people would through the API: the demo analyst
drafts a site report for each of the best candidates and a digest, the demo supervisor (a second
person) approves them for the partner agencies, and one report is left as a draft awaiting
approval. The partner's renderings of the first released report (PDF in Spanish and English,
KML, GeoJSON) are written out as they would be handed over. A second run on the same directory
keeps the products and gives the accounts new passwords.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from vigia.app.admin import CLI_ACTOR, DemoUser, create_demo_users, sync_data_dir
from vigia.app.products import DraftRequest, draft_product, render_product
from vigia.store import (
    Product,
    Site,
    SyncReport,
    approve_release,
    get_user,
    open_store,
)
from vigia.store.audit import audit
from vigia.store.catalog import Catalog
from vigia.store.generation import Generation

__all__ = ["DEMO_RELEASES", "DemoProduct", "DemoStore", "prepare_demo_store"]

#: Partner agencies the demo releases each site report to, best candidate first; the report
#: after the last is left as a draft for the supervisor.
DEMO_RELEASES: tuple[tuple[str, ...], ...] = (("SEMAR", "FGR"), ("SEMAR",), ("SEMAR",), ("FGR",))
#: The partner account whose view of the best report is exported (SEMAR's liaison).
DEMO_EXPORT_READER = "semar.enlace"
#: Agencies the demo digest is released to.
DEMO_DIGEST_TO = ("SEMAR", "FGR")
#: (format, language) of the partner renderings :func:`prepare_demo_store` writes out.
DEMO_EXPORTS = (("pdf", "es"), ("pdf", "en"), ("kml", "es"), ("geojson", "en"))
#: The demo's marking: unclassified, for official use only, releasable to the USA and Mexico.
DEMO_CLASSIFICATION = "UNCLASSIFIED"
DEMO_CAVEATS = ("FOUO",)
DEMO_RELEASABLE_TO = ("USA", "MEX")


@dataclass(frozen=True)
class DemoProduct:
    """A product the demo made: id, kind, title, state and the agencies it went to."""

    product_id: str
    kind: str
    title: str
    state: str
    agencies: tuple[str, ...]
    site_id: str | None


@dataclass(frozen=True)
class DemoStore:
    """What :func:`prepare_demo_store` did."""

    sync: SyncReport
    users: list[DemoUser]
    products: list[DemoProduct]
    products_kept: int
    exported: list[Path]


def _assessment(site: Site) -> str:
    """The analyst's assessment of a demo site, in English and Spanish."""
    p = site.probability or 0.0
    shown = f"{p:.2f}" if p < 0.995 else "> 0.99"  # never round up to certainty
    n = site.n_passes or 0
    night = site.night_passes or 0
    return (
        f"Probable clandestine synthetic-drug laboratory: probability {shown} after {n} "
        f"passes ({night} at night). / Probable laboratorio clandestino de drogas sintéticas: "
        f"probabilidad {shown} tras {n} pasadas ({night} nocturnas)."
    )


def _request(kind: str, site: Site | None = None) -> DraftRequest:
    return DraftRequest(
        kind=kind,
        site_id=site.site_id if site is not None else None,
        assessment=_assessment(site) if site is not None else None,
        classification=DEMO_CLASSIFICATION,
        caveats=DEMO_CAVEATS,
        releasable_to=DEMO_RELEASABLE_TO,
        mission_id=None,
        period_start=None,
        period_end=None,
        lang="en",
    )


def _made(p: Product) -> DemoProduct:
    return DemoProduct(
        p.product_id,
        p.kind,
        p.title or "",
        p.state,
        tuple(r.agency.code for r in p.releases),
        p.site_id,
    )


def prepare_demo_store(
    data_dir: Path | str, *, url: str | None = None, export_dir: Path | str | None = None
) -> DemoStore:
    """Sync ``data_dir``'s sites into its store, create (or re-password) the demo accounts and,
    when the store has no products yet, draft and release the demo products (see module doc);
    with ``export_dir``, write the partner renderings of the first released site report there.

    ``url`` (or ``$VIGIA_DATABASE_URL``) selects another database than ``data_dir/vigia.db``.
    """
    data_dir = Path(data_dir)
    sync = sync_data_dir(data_dir, url=url)
    catalog = Catalog(data_dir)
    made: list[DemoProduct] = []
    exported: list[Path] = []
    with open_store(data_dir, url) as store:
        with store.transaction() as session:
            users = create_demo_users(session)
            kept = session.scalar(select(func.count()).select_from(Product)) or 0
        if not kept:
            with store.transaction() as session:
                analyst = get_user(session, "analyst")
                supervisor = get_user(session, "supervisor")
                best = session.execute(
                    select(Site)
                    .where(Site.candidate.is_(True))
                    .order_by(Site.probability.desc(), Site.site_id)
                    .limit(len(DEMO_RELEASES) + 1)
                ).scalars()
                for i, site in enumerate(list(best)):
                    p = draft_product(session, analyst, _request("site_report", site), catalog)
                    if i < len(DEMO_RELEASES):
                        p = approve_release(session, supervisor, p.product_id, DEMO_RELEASES[i])
                    made.append(_made(p))
                if made:
                    p = draft_product(session, analyst, _request("digest"), catalog)
                    p = approve_release(session, supervisor, p.product_id, DEMO_DIGEST_TO)
                    made.append(_made(p))
            if made and export_dir is not None:
                out = Path(export_dir)
                out.mkdir(parents=True, exist_ok=True)
                with store.transaction() as session:
                    first = session.get_one(Product, made[0].product_id)
                    reader = get_user(session, DEMO_EXPORT_READER)
                    for fmt, lang in DEMO_EXPORTS:
                        r = render_product(session, first, fmt, lang, viewer=reader)
                        exported.append(out / r.filename)
                        exported[-1].write_bytes(r.data)
                    audit(
                        session,
                        CLI_ACTOR,
                        "export",
                        "product",
                        first.product_id,
                        {"files": [p.name for p in exported], "audience": "partner"},
                    )
    Generation(data_dir).bump()  # a server already running on data_dir sees the change
    return DemoStore(sync, users, made, kept, exported)
