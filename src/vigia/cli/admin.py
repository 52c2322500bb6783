"""Administration: ``audit verify``, ``users``, ``metrics`` and ``serve``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from vigia.cli.errors import group
from vigia.cli.options import DEFAULT_DATA_DIR, DataDirOpt, JsonOpt, out
from vigia.cli.root import app

audit_app = group(help="The MAC-chained audit log.")
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify_cmd(
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    checkpoints: Annotated[
        Path | None,
        typer.Option(
            "--checkpoints",
            help="Checkpoint log to check against, e.g. the copy shipped elsewhere "
            "(default: <data-dir>/audit-checkpoints.log)",
        ),
    ] = None,
) -> None:
    """Check every entry of the audit log with its key and against the checkpoint log: exit 0
    when intact, 1 when an entry was altered, rewritten or removed or the head reset (naming
    the first bad one), 2 when the key is missing."""
    from vigia.app.admin import audit_verify

    code = audit_verify(data_dir, checkpoints=checkpoints, echo=out.print)
    raise typer.Exit(code)


users_app = group(help="Accounts of the API and web UI.")
app.add_typer(users_app, name="users")
PasswordStdinOpt = Annotated[
    bool,
    typer.Option(
        "--password-stdin", help="Read the password from standard input (else one is generated)"
    ),
]


def _stdin_password(use: bool) -> str | None:
    return sys.stdin.readline().rstrip("\r\n") if use else None


def _show_password(username: str, password: str | None) -> None:
    if password is not None:
        out.print(f"password for {username} (shown once): {password}")


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="Lower-case login name")],
    role: Annotated[
        str, typer.Option(help="analyst, supervisor, partner-liaison or partner-officer")
    ],
    agency: Annotated[str, typer.Option(help="Agency code, e.g. VIGIA, SEMAR, FGR")],
    name: Annotated[str | None, typer.Option("--name", help="Display name")] = None,
    language: Annotated[
        str | None, typer.Option(help="en or es (default: es for partner roles)")
    ] = None,
    password_stdin: PasswordStdinOpt = False,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
) -> None:
    """Create an account; without --password-stdin a password is generated and printed once."""
    from vigia.app.admin import add_user

    info, generated = add_user(
        data_dir,
        username,
        role,
        agency,
        password=_stdin_password(password_stdin),
        display_name=name,
        language=language,
    )
    out.print(f"created {info.username} ({info.role}, {info.agency}, {info.language})")
    _show_password(info.username, generated)


@users_app.command("list")
def users_list(
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    as_json: JsonOpt = False,
) -> None:
    """Every account: role, agency, language and whether it is enabled."""
    from dataclasses import asdict

    from vigia.app.admin import list_user_info

    rows = list_user_info(data_dir)
    if as_json:
        out.print_json(json.dumps([asdict(r) for r in rows], ensure_ascii=False))
        return
    t = Table(title=f"{len(rows)} accounts")
    for col in ("user", "name", "role", "agency", "lang", "enabled"):
        t.add_column(col)
    for r in rows:
        t.add_row(
            r.username, r.display_name, r.role, r.agency, r.language, "yes" if r.active else "no"
        )
    out.print(t)


@users_app.command("passwd")
def users_passwd(
    username: Annotated[str, typer.Argument(help="Login name")],
    password_stdin: PasswordStdinOpt = False,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
) -> None:
    """Replace a password (revoking the user's tokens); generated unless --password-stdin."""
    from vigia.app.admin import reset_password

    generated = reset_password(data_dir, username, password=_stdin_password(password_stdin))
    out.print(f"password of {username} replaced; their sessions are signed out")
    _show_password(username, generated)


def _set_active(username: str, active: bool, data_dir: Path) -> None:
    from vigia.app.admin import set_user_active

    info = set_user_active(data_dir, username, active)
    out.print(f"{info.username} {'enabled' if active else 'disabled and signed out'}")


@users_app.command("disable")
def users_disable(
    username: Annotated[str, typer.Argument(help="Login name")],
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
) -> None:
    """Disable an account and revoke its tokens."""
    _set_active(username, False, data_dir)


@users_app.command("enable")
def users_enable(
    username: Annotated[str, typer.Argument(help="Login name")],
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
) -> None:
    """Enable a disabled account again."""
    _set_active(username, True, data_dir)


@app.command()
def metrics(
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    as_json: JsonOpt = False,
    agency: Annotated[str | None, typer.Option(help="Only this partner agency")] = None,
    lang: Annotated[str, typer.Option(help="en or es")] = "en",
) -> None:
    """Sites detected / released / acted on, times from detection to release to action, and
    seizure totals over time."""
    from vigia.app.admin import format_metrics
    from vigia.app.admin import metrics as compute

    m = compute(data_dir, agency=agency)
    if as_json:
        out.print_json(json.dumps(m, ensure_ascii=False, default=str))
    else:
        out.print(format_metrics(m, lang))


@app.command()
def serve(
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int | None, typer.Option(help="Worker processes")] = None,
    tak: Annotated[
        str | None, typer.Option(help="Partner TAK server for released sites, tcp://HOST:PORT")
    ] = None,
    tls_cert: Annotated[
        Path | None, typer.Option("--tls-cert", help="Serve HTTPS: certificate chain (PEM)")
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option("--tls-key", help="Serve HTTPS: private key (PEM)")
    ] = None,
) -> None:
    """The API (/api, OpenAPI at /openapi.json) and the web UI of a data directory; HTTPS
    with --tls-cert and --tls-key (both or neither)."""
    from vigia.api.serve import check_tls
    from vigia.api.serve import serve as run_serve

    check_tls(tls_cert, tls_key)  # refused before the store is opened
    run_serve(data_dir, host, port, workers=workers, tak=tak, tls_cert=tls_cert, tls_key=tls_key)
