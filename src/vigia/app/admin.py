"""Functions behind the store's CLI commands (``vigia metrics``, ``vigia audit verify``,
``vigia users``) and the demo: they open the store of a data directory, do one thing, and close
it."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigia.errors import SourceError, StoreError
from vigia.store.audit import AuditReport
from vigia.store.auditkey import CheckpointLog
from vigia.store.db import DEFAULT_DATA_DIR, open_store
from vigia.store.generation import Generation
from vigia.store.metrics import compute_metrics
from vigia.store.models import User
from vigia.store.passwords import password_problems
from vigia.store.sites import SyncReport, load_sites_parquet, sync_sites
from vigia.store.users import create_user, get_user, set_active, set_password

__all__ = [
    "DEMO_USERS",
    "DemoUser",
    "UserInfo",
    "add_user",
    "audit_verify",
    "create_demo_users",
    "format_metrics",
    "list_user_info",
    "metrics",
    "reset_password",
    "set_user_active",
    "sync_data_dir",
    "tokens_changed",
    "verify",
]

CLI_ACTOR = "cli"


def verify(
    data_dir: Path | str | None = None,
    *,
    url: str | None = None,
    checkpoints: Path | str | None = None,
) -> AuditReport:
    """Verify the audit chain of the store of ``data_dir`` (or ``url``, ``$VIGIA_DATABASE_URL``)
    with its key, against the checkpoint log ``checkpoints`` (default: the store's own,
    ``<data_dir>/audit-checkpoints.log``). When intact, the verified head is appended to the
    store's checkpoint log.

    Raises :class:`AuditKeyError` when the key file is missing (never an 'ok' without it) and
    :class:`SourceError` when ``checkpoints`` names no file.
    """
    given = CheckpointLog(checkpoints) if checkpoints is not None else None
    if given is not None and not given.exists():
        raise SourceError(f"no checkpoint log at {given.path}")
    with open_store(data_dir, url, create=False, audit_key="load") as store:
        report = store.verify_audit(given)
        if report.ok and store.checkpoints is not None:
            store.checkpoints.append(store.require_audit_key(), report.last_seq, report.last_hash)
        return report


def audit_verify(
    data_dir: Path | str | None = None,
    *,
    url: str | None = None,
    checkpoints: Path | str | None = None,
    echo: Callable[[str], None] = print,
) -> int:
    """``vigia audit verify``: print the outcome; exit status 0 when intact, 1 when not (a
    missing key raises :class:`AuditKeyError`: exit 2)."""
    report = verify(data_dir, url=url, checkpoints=checkpoints)
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


def new_password(username: str | None = None) -> str:
    """A generated password: 16 URL-safe characters (96 random bits) that pass the password
    policy for ``username`` (:func:`vigia.store.passwords.password_problems`)."""
    while True:
        password = secrets.token_urlsafe(12)
        if not password_problems(password, username):
            return password


def create_demo_users(session: Session, *, actor: User | None = None) -> list[DemoUser]:
    """Create the demo accounts with freshly generated passwords (returned, never stored).

    Accounts that already exist (a second demo run on the same data directory) get a new
    password and are enabled again, so the passwords printed last are the ones that work.
    """
    made = []
    for username, role, agency, name in DEMO_USERS:
        password = new_password(username)
        existing = session.execute(select(User).where(User.username == username)).scalar()
        if existing is None:
            create_user(session, username, password, role, agency, display_name=name, actor=actor)
        else:
            set_password(session, existing, password)
            if not existing.active:
                set_active(session, actor, username, True)
        made.append(DemoUser(username, role, agency, name, password))
    return made


# --- vigia users ------------------------------------------------------------------------------
@dataclass(frozen=True)
class UserInfo:
    """What ``vigia users list`` shows of an account (never its password hash)."""

    username: str
    role: str
    agency: str
    display_name: str
    language: str
    active: bool


def _info(user: User) -> UserInfo:
    return UserInfo(
        user.username,
        user.role,
        user.agency_code,
        user.display_name,
        user.language,
        user.active,
    )


def add_user(
    data_dir: Path | str | None,
    username: str,
    role: str,
    agency: str,
    *,
    password: str | None = None,
    display_name: str | None = None,
    language: str | None = None,
    url: str | None = None,
) -> tuple[UserInfo, str | None]:
    """``vigia users add``: create an account (the store is created if needed).

    Without ``password`` one is generated and returned (show it once); with one, None is
    returned in its place.
    """
    generated = new_password(username) if password is None else None
    with open_store(data_dir, url) as store, store.transaction() as session:
        user = create_user(
            session,
            username,
            password if password is not None else str(generated),
            role,
            agency,
            display_name=display_name,
            language=language,
        )
        return _info(user), generated


def list_user_info(data_dir: Path | str | None = None, *, url: str | None = None) -> list[UserInfo]:
    """``vigia users list``: every account, by username."""
    with open_store(data_dir, url, create=False) as store, store.transaction() as session:
        users = session.execute(select(User).order_by(User.username)).scalars()
        return [_info(u) for u in users]


def reset_password(
    data_dir: Path | str | None,
    username: str,
    *,
    password: str | None = None,
    url: str | None = None,
) -> str | None:
    """``vigia users passwd``: replace a password (and revoke the user's tokens). Returns the
    generated password when none was given."""
    generated = new_password(username) if password is None else None
    with open_store(data_dir, url, create=False) as store, store.transaction() as session:
        user = get_user(session, username)
        set_password(session, user, password if password is not None else str(generated))
    tokens_changed(data_dir)
    return generated


def set_user_active(
    data_dir: Path | str | None, username: str, active: bool, *, url: str | None = None
) -> UserInfo:
    """``vigia users enable|disable``: disabling also revokes the user's tokens."""
    with open_store(data_dir, url, create=False) as store, store.transaction() as session:
        info = _info(set_active(session, None, username, active))
    tokens_changed(data_dir)
    return info


def tokens_changed(data_dir: Path | str | None) -> None:
    """Tell every API worker serving ``data_dir`` that accounts or tokens changed (call after
    the commit): their token caches are dropped before their next lookup, so a revoked token or
    a disabled user is refused from the very next request."""
    Generation(Path(data_dir) if data_dir is not None else DEFAULT_DATA_DIR).bump()
