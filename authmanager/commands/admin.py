"""``authmanager admin create|list`` and ``authmanager admin token create|list|revoke``: the
accounts of the web console (``/admin``) and the tokens of the admin JSON API (``/admin/api/``)."""

from __future__ import annotations

import json
import sys
import time

import click

from ..admin.auth import create_admin, create_token, list_admins, list_tokens, revoke_token
from ..settings import Settings
from .common import ROW_ID, emit, run_admin


@click.group()
def admin() -> None:
    """Realm admins of the web console and the admin API."""


@admin.command("create")
@click.argument("name")
@click.option("--realm", "realms", multiple=True, help="Limit the admin to this realm (repeatable); "
                                                        "none given: every realm.")
@click.option("--no-admin", "no_admin", is_flag=True,
              help="An account that administers no realm: it may only sign in to approve applications "
                   "for itself (the authorization dialog) and manage what it allowed.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (for scripts).")
@click.pass_obj
def admin_create(settings: Settings, name: str, realms: tuple[str, ...], no_admin: bool, password_stdin: bool) -> None:
    """Create account NAME (an admin unless --no-admin); the password is prompted for (or read
    from stdin) and stored as scrypt."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    result = run_admin(settings, lambda s: create_admin(s, name=name, password=password, realms=realms,
                                                        now=int(time.time()), administers=not no_admin))
    if no_admin:
        click.echo(f"account {name} created (administers no realm)")
        return
    where = "every realm" if result["realms"] == "*" else "realms " + " ".join(result["realms"])
    click.echo(f"admin {name} created for {where}")


@admin.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def admin_list(settings: Settings, as_json: bool) -> None:
    """List admins and the realms each may administer (* = every realm)."""
    emit(run_admin(settings, list_admins), as_json,
         lambda a: f"{a['name']:24} {a['realms'] if a['realms'] == '*' else ' '.join(a['realms']) or '-'}"
                   + ("" if a["administers"] else " (administers no realm)"))


@admin.group("token")
def token() -> None:
    """Admin API tokens (Authorization: Bearer …)."""


@token.command("create")
@click.argument("name")
@click.option("--label", default="", help="What the token is for, e.g. \"CI\".")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def token_create(settings: Settings, name: str, label: str, as_json: bool) -> None:
    """Create an API token for admin NAME and print it once (only its SHA-256 is stored)."""
    result = run_admin(settings, lambda s: create_token(s, name=name, label=label, now=int(time.time())))
    if as_json:
        click.echo(json.dumps(result))
    else:
        click.echo(f"token {result['id']} for {name}: {result['token']}\n(shown once; only its hash is stored)")


@token.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def token_list(settings: Settings, as_json: bool) -> None:
    """List API tokens (never their values)."""
    emit(run_admin(settings, list_tokens), as_json,
         lambda t: f"{t['id']:4} {t['admin']:20} {t['label']:20} {'revoked' if t['revoked'] else 'live'}")


@token.command("revoke")
@click.argument("token_id", metavar="ID", type=ROW_ID)
@click.pass_obj
def token_revoke(settings: Settings, token_id: int) -> None:
    """Revoke API token ID."""
    result = run_admin(settings, lambda s: revoke_token(s, token_id, now=int(time.time())))
    click.echo(f"token {token_id} of {result['admin']} revoked")
