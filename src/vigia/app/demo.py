"""``vigia demo``: fly the scenario's sorties over Culiacán and run the whole chain on them,
then leave behind the store that ``vigia serve --data-dir DIR`` shows at once.

:func:`run_demo` runs the steps in order (the world, its DEM and its sorties; inspect, telemetry,
footprints, coverage and consent compliance of the first sortie; ingest of every sortie; the
ranked sites; the next sortie's plan; the store) and hands each result to a
:class:`DemoReporter`, which shows it (the CLI prints the tables its commands print). Every step
geolocates on the world's DEM (``OUT/sorties/terrain.tif``), as ``--dem`` would.

The store (:func:`prepare_demo_store`): after the demo has ingested the scenario's sorties into
``DIR``, it mirrors ``DIR/sites.parquet`` into the store, creates the demo accounts with
generated passwords, and runs the release chain the way people would through the API: the demo
analyst drafts a site report for each of the best candidates and a digest, the demo supervisor
(a second person) approves them for the partner agencies, and one report is left as a draft
awaiting approval. The partner's renderings of the first released report (PDF in Spanish and
English, KML, GeoJSON) are written out as they would be handed over. A second run on the same
directory keeps the products and gives the accounts new passwords.
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import func, select

from vigia.app.admin import CLI_ACTOR, DemoUser, create_demo_users, sync_data_dir
from vigia.app.ingest import IngestReport
from vigia.app.ingest import ingest as run_ingest
from vigia.app.plan import plan_run
from vigia.app.process import (
    ProgressFactory,
    TelemetryDone,
    compliance_report,
    coverage_to_file,
    decode_telemetry,
    footprints_to_file,
    inspect_source,
)
from vigia.app.products import DraftRequest, draft_product, render_product
from vigia.footprints import TerrainOptions
from vigia.outputs import writing
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

__all__ = [
    "DEMO_RELEASES",
    "DemoProduct",
    "DemoReporter",
    "DemoStore",
    "DemoWorld",
    "prepare_demo_store",
    "run_demo",
]

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
                with writing(out, "partner renderings"):
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


#: The demo's next sortie: from Culiacán's airport, the evening after the scenario.
DEMO_PLAN_BASE = "24.764,-107.474"
DEMO_PLAN_START = "2026-03-14T19:00:00-07:00"
DEMO_PLAN_PLATFORM = "mq9"


@dataclass(frozen=True)
class DemoWorld:
    """Step 1: the world (places, AOIs written to ``aois``) and the sorties flown over it."""

    n_objects: int
    labs: int
    n_aois: int
    aois: Path
    sorties: list[Any]  # vigia.scenario.flights.SortieFile, KLV only
    video: list[Any]  # the same, video + KLV


class DemoReporter(Protocol):
    """What shows the demo's steps (the CLI prints them as its commands would)."""

    def step(self, title: str) -> None:
        """A new step begins."""

    def busy(self, what: str) -> AbstractContextManager[object]:
        """Something long is under way (a spinner)."""

    def progress(self) -> AbstractContextManager[ProgressFactory]:
        """Byte progress bars for long inputs."""

    def world(self, world: DemoWorld) -> None: ...

    def inspected(self, report: dict[str, Any]) -> None: ...

    def telemetry(self, done: TelemetryDone) -> None: ...

    def footprints(self, rows: int, path: Path) -> None: ...

    def coverage(self, n_cells: int, path: Path, png: Path) -> None: ...

    def compliance(self, report: Any) -> None: ...

    def ingested(self, report: IngestReport, data_dir: Path) -> None: ...

    def sites(self, data_dir: Path, limit: int) -> None: ...

    def site(self, site_id: str, data_dir: Path) -> None: ...

    def plan(self, summary: dict[str, Any], path: Path) -> None: ...

    def store(self, made: DemoStore, data_dir: Path) -> None: ...


def run_demo(
    out_dir: Path,
    reporter: DemoReporter,
    *,
    data_dir: Path | None = None,
    seed: int = 7,
    sorties: int = 6,
) -> Path:
    """Fly the scenario's sorties into ``out_dir`` and run the whole chain on them (module
    doc); the data directory (default ``out_dir/data``) is left behind. Returns it."""
    from vigia.plan import demo_plan_aois_path
    from vigia.scenario import build_world, fly_sorties

    with writing(out_dir, "demo"):
        out_dir.mkdir(parents=True, exist_ok=True)
    data = data_dir or out_dir / "data"
    reporter.step("1. the world and its sorties")
    world = build_world(seed)
    aois = out_dir / "aois.geojson"
    aois.write_text(json.dumps(world.aois_geojson(), ensure_ascii=False, indent=1))
    with reporter.busy("flying the sorties (MPEG-TS: ST 0601 + ST 0903 VMTI)"):
        files = fly_sorties(world, out_dir / "sorties", sorties, seed=seed)
        video = fly_sorties(world, out_dir / "video", 1, seed=seed + 500, video=True, minutes=1.5)
    labs = sum(1 for k in world.objects.column("kind").to_pylist() if k == "lab")
    reporter.world(DemoWorld(world.n_objects, labs, len(world.aois), aois, files, video))
    src = str(files[0].path)
    dem = files[0].dem_path if files else world.write_dem(out_dir / "terrain.tif")
    terrain = TerrainOptions(dem_path=str(dem))  # the hills the sorties were flown over
    reporter.step("2. inspect the first sortie")
    with reporter.progress() as bars:
        reporter.inspected(inspect_source(src, terrain, geo=True, progress=bars))
    reporter.step("3. telemetry")
    with reporter.progress() as bars:
        reporter.telemetry(decode_telemetry(src, out_dir / "telemetry.parquet", progress=bars))
    reporter.step("4. footprints")
    fp = out_dir / "footprints.parquet"
    with reporter.progress() as bars:
        reporter.footprints(footprints_to_file(src, fp, terrain, progress=bars), fp)
    reporter.step("5. coverage of every sortie")
    cells_path, png = out_dir / "cells.parquet", out_dir / "coverage.png"
    cells = coverage_to_file([str(f.path) for f in files], cells_path, terrain, png=png, aois=aois)
    reporter.coverage(cells.num_rows, cells_path, png)
    reporter.step("6. consent compliance")
    reporter.compliance(compliance_report(src, aois, terrain))
    reporter.step("7. ingest: observations → fused, scored sites")
    with reporter.progress() as bars:
        report = run_ingest(
            [f.path for f in [*files, *video]],
            Catalog(data),
            aois=aois,
            terrain=terrain,
            progress=bars,
        )
    reporter.ingested(report, data)
    # the workstation's playable video of the sorties that carry it (vigia.video)
    from vigia.video import make_renditions

    make_renditions(Catalog(data))
    reporter.step("8. ranked candidate sites")
    reporter.sites(data, 15)
    top = Catalog(data).sites()
    if top.num_rows:
        reporter.step("9. why the top site scores as it does")
        reporter.site(top.column("site_id")[0].as_py(), data)
    reporter.step("10. next sortie plan")
    plan_path = out_dir / "plan.geojson"
    summary = plan_run(
        demo_plan_aois_path(),
        DEMO_PLAN_BASE,
        DEMO_PLAN_START,
        platform=DEMO_PLAN_PLATFORM,
        output=plan_path,
    )
    reporter.plan(summary, plan_path)
    reporter.step("11. the store: demo users and released products")
    with reporter.busy("syncing sites, creating users, drafting and releasing products"):
        made = prepare_demo_store(data, export_dir=out_dir / "products")
    reporter.store(made, data)
    return data
