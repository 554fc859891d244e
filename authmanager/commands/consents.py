"""``authmanager consents list [REALM] [--json]`` and ``authmanager consents revoke ID``: the
realm owner's side of "applications I allowed" (issue 12 §3, "the decision is saved as the
grant"; §5, refresh tokens "revocable ... by the realm admin").

A consent is what a person approved (and refused) for an application in the authorization
dialog, per realm. The CLI acts for every realm, as the other admin commands do; revoking one
revokes that application's access tokens for that person (with their feed events), its refresh
tokens and its unredeemed codes, in one audited transaction
(:func:`authmanager.operations.consents.revoke`). Errors are one line and exit status 1
(``cli.py``)."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from ..operations.consents import list_for_realm, revoke
from ..settings import Settings
from .common import ROW_ID, emit, run_admin


@click.group()
def consents() -> None:
    """Consents people gave applications in the authorization dialog."""


def _line(c: dict[str, Any]) -> str:
    app = c["client_name"] or c["client_id"]
    return (f"{c['id']:4} {c['realm']:12} {c['account']:20} {app} ({c['client_id']}) "
            f"approved={' '.join(c['scopes']) or '-'} refused={' '.join(c['refused']) or '-'} "
            f"decided={c['updated_at']}")


@consents.command("list")
@click.argument("realm_name", metavar="[REALM]", required=False)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def consents_list(settings: Settings, realm_name: str | None, as_json: bool) -> None:
    """Live consents (of REALM, or of every realm): application, person, scopes approved and
    refused, when last decided."""
    emit(run_admin(settings, lambda s: list_for_realm(s, realm=realm_name)), as_json, _line)


@consents.command("revoke")
@click.argument("consent_id", metavar="ID", type=ROW_ID)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def consents_revoke(settings: Settings, consent_id: int, as_json: bool) -> None:
    """Revoke consent ID with that application's tokens, refresh tokens and codes for that person."""
    result = run_admin(settings, lambda s: revoke(s, consent_id, realm_ids=None, now=int(time.time()), actor="cli"))
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(f"consent {consent_id} revoked; revoked {result['tokens_revoked']} live token(s) and "
               f"{result['refresh_tokens_revoked']} refresh token(s)")
