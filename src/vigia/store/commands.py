"""Functions behind the store's CLI commands (``vigia metrics``, ``vigia audit verify``) and the
demo: they open the store of a data directory, do one thing, and close it."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from vigia.store.audit import AuditReport
from vigia.store.db import DEFAULT_DATA_DIR, open_store
from vigia.store.errors import StoreError
from vigia.store.metrics import compute_metrics
from vigia.store.models import User
from vigia.store.sites import SyncReport, load_sites_parquet, sync_sites
from vigia.store.users import create_user

__all__ = [
    "DEMO_USERS",
    "DemoUser",
    "audit_verify",
    "create_demo_users",
    "format_metrics",
    "metrics",
    "sync_data_dir",
    "verify",
]

CLI_ACTOR = "cli"


def verify(data_dir: Path | str | None = None, *, url: str | None = None) -> AuditReport:
    """Verify the audit chain of the store of ``data_dir`` (or ``url``, ``$VIGIA_DATABASE_URL``)."""
    with open_store(data_dir, url, create=False) as store:
        return store.verify_audit()


def audit_verify(
    data_dir: Path | str | None = None,
    *,
    url: str | None = None,
    echo: Callable[[str], None] = print,
) -> int:
    """``vigia audit verify``: print the outcome; exit status 0 when intact, 1 when not."""
    report = verify(data_dir, url=url)
    if report.ok:
        echo(f"OK: {report.message}")
        return 0
    echo(f"FAILED at entry {report.first_bad_seq} ({report.problem}): {report.message}")
    return 1


def metrics(
    data_dir: Path | str | None = None, *, agency: str | None = None, url: str | None = None
) -> dict[str, Any]:
    """``vigia metrics``: the metrics dict (see :func:`vigia.store.metrics.compute_metrics`)."""
    with open_store(data_dir, url, create=False) as store, store.transaction() as session:
        return compute_metrics(session, CLI_ACTOR, agency=agency)


_LABELS = {
    "en": {
        "title": "Vigía metrics",
        "agency": "agency",
        "all": "all agencies",
        "sites": "Sites: {total} in store, {detected} detected, {released} released, "
        "{acted_on} acted on",
        "status": "Partner status",
        "products": "Products",
        "actions": "Actions",
        "delays": "Median delays (hours)",
        "detection_to_release": "detection -> release",
        "release_to_action": "release -> action",
        "detection_to_action": "detection -> action",
        "seizures": "Seizures",
        "by_month": "Seizures by month",
        "none": "none",
        "n/a": "n/a",
    },
    "es": {
        "title": "Métricas de Vigía",
        "agency": "dependencia",
        "all": "todas las dependencias",
        "sites": "Sitios: {total} registrados, {detected} detectados, {released} entregados, "
        "{acted_on} con acción",
        "status": "Estado según la contraparte",
        "products": "Productos",
        "actions": "Acciones",
        "delays": "Demoras medianas (horas)",
        "detection_to_release": "detección -> entrega",
        "release_to_action": "entrega -> acción",
        "detection_to_action": "detección -> acción",
        "seizures": "Aseguramientos",
        "by_month": "Aseguramientos por mes",
        "none": "ninguno",
        "n/a": "s/d",
    },
}


def format_metrics(m: dict[str, Any], lang: str = "en") -> str:
    """The metrics dict as plain text for a terminal (English or Spanish)."""
    lab = _LABELS.get(lang, _LABELS["en"])
    lines = [f"{lab['title']} ({lab['agency']}: {m['agency'] or lab['all']})", ""]
    lines.append(lab["sites"].format(**m["sites"]))
    status = m["sites"]["by_partner_status"]
    if status:
        lines.append(f"{lab['status']}: " + ", ".join(f"{k} {v}" for k, v in status.items()))
    lines.append(f"{lab['products']}: " + ", ".join(f"{k} {v}" for k, v in m["products"].items()))
    acts = m["actions"]
    lines.append(
        f"{lab['actions']}: "
        + (", ".join(f"{k} {v}" for k, v in acts.items()) if acts else lab["none"])
    )
    lines += ["", lab["delays"]]
    for key in ("detection_to_release", "release_to_action", "detection_to_action"):
        v = m["median_hours"][key]
        lines.append(f"  {lab[key]:<24} {lab['n/a'] if v is None else f'{v:.1f}'}")
    lines += ["", lab["seizures"]]
    totals = m["seizures"]["totals"]
    if not totals:
        lines.append(f"  {lab['none']}")
    for t in totals:
        lines.append(f"  {t['substance']:<20} {t['amount']:>14,} {t['unit']:<5} ({t['seizures']})")
    if m["seizures"]["by_month"]:
        lines += ["", lab["by_month"]]
        for t in m["seizures"]["by_month"]:
            lines.append(f"  {t['month']}  {t['substance']:<20} {t['amount']:>14,} {t['unit']}")
    return "\n".join(lines)


def sync_data_dir(
    data_dir: Path | str | None = None, *, url: str | None = None, actor: str = CLI_ACTOR
) -> SyncReport:
    """Upsert ``<data_dir>/sites.parquet`` into the store (creating the store if needed)."""
    directory = Path(data_dir) if data_dir is not None else DEFAULT_DATA_DIR
    path = directory / "sites.parquet"
    if not path.exists():
        raise StoreError(f"no sites.parquet in {directory}")
    table = load_sites_parquet(path)
    with open_store(directory, url) as store, store.transaction() as session:
        return sync_sites(session, table, actor=actor)


@dataclass(frozen=True)
class DemoUser:
    """A demo account: the password is generated and shown once."""

    username: str
    role: str
    agency: str
    display_name: str
    password: str


#: (username, role, agency, display name) of the demo accounts.
DEMO_USERS = (
    ("analyst", "analyst", "VIGIA", "Demo analyst"),
    ("supervisor", "supervisor", "VIGIA", "Demo supervisor"),
    ("semar.enlace", "partner-liaison", "SEMAR", "Enlace SEMAR (demo)"),
    ("semar.oficial", "partner-officer", "SEMAR", "Oficial SEMAR (demo)"),
    ("fgr.enlace", "partner-liaison", "FGR", "Enlace FGR (demo)"),
)


def create_demo_users(session: Session, *, actor: User | None = None) -> list[DemoUser]:
    """Create the demo accounts with freshly generated passwords (returned, never stored)."""
    made = []
    for username, role, agency, name in DEMO_USERS:
        password = secrets.token_urlsafe(12)
        create_user(session, username, password, role, agency, display_name=name, actor=actor)
        made.append(DemoUser(username, role, agency, name, password))
    return made
