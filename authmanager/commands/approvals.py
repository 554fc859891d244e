"""``authmanager requests list|approve|deny`` and ``authmanager grants list|revoke``: the owner's
answers to requests put to them (UMA 2.0 Grant §3.3.6 ``request_submitted``) and the saved grants
they leave (docs/protocol.md §13)."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from ..operations.approvals import approve_request, deny_request, list_grants, list_requests, revoke_grant
from ..settings import Settings
from .common import ROW_ID, emit, run_admin


@click.group()
def requests() -> None:
    """Requests waiting for the realm owner's decision."""


def _request_lines(row: dict[str, Any]) -> str:
    head = (f"request {row['id']}: {row['consumer']} ({row['client_id']}) asks realm {row['realm']}, "
            f"expires at {row['expires_at']}")
    lines = [head]
    for scope in row["scopes"]:
        mark = "ask " if scope["ask"] else "    "
        about = f" — {scope['description']}" if scope["description"] else ""
        lines.append(f"  {mark}{scope['name']}: {scope['title']}{about}")
    return "\n".join(lines)


@requests.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def requests_list(settings: Settings, as_json: bool) -> None:
    """Pending requests: consumer, realm and each requested scope with its title ("ask": to decide)."""
    emit(run_admin(settings, lambda s: list_requests(s, now=int(time.time()))), as_json, _request_lines)


@requests.command("approve")
@click.argument("request_id", metavar="ID", type=ROW_ID)
@click.option("--scope", "scopes", multiple=True, help="Approve only these asked scopes (repeatable); "
                                                         "the others are refused. Default: all asked.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def requests_approve(settings: Settings, request_id: int, scopes: tuple[str, ...], as_json: bool) -> None:
    """Approve request ID; the decision is saved as a grant for that consumer and realm."""
    result = run_admin(settings, lambda s: approve_request(s, request_id, scopes=scopes or None,
                                                           now=int(time.time())))
    if as_json:
        click.echo(json.dumps(result))
        return
    refused = f"; refused {' '.join(result['refused'])}" if result["refused"] else ""
    click.echo(f"request {request_id} approved: {' '.join(result['approved'])}{refused} (grant {result['grant_id']})")


@requests.command("deny")
@click.argument("request_id", metavar="ID", type=ROW_ID)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def requests_deny(settings: Settings, request_id: int, as_json: bool) -> None:
    """Deny request ID; the refusal is saved as a grant, so it is not asked again."""
    result = run_admin(settings, lambda s: deny_request(s, request_id, now=int(time.time())))
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(f"request {request_id} denied: {' '.join(result['refused'])} (grant {result['grant_id']})")


@click.group()
def grants() -> None:
    """Saved grants: the owner's decisions per realm and consumer key or subject URL."""


@grants.command("list")
@click.argument("realm_name", metavar="[REALM]", required=False)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def grants_list(settings: Settings, realm_name: str | None, as_json: bool) -> None:
    """Live saved grants (of REALM, or of every realm)."""
    emit(run_admin(settings, lambda s: list_grants(s, realm=realm_name)), as_json, _grant_line)


def _grant_line(g: dict[str, Any]) -> str:
    party = g["subject"] or f"{g['consumer']} ({g['client_id']})"
    return (f"{g['id']:4} {g['realm']:12} {party:40} granted={' '.join(g['scopes']) or '-'} "
            f"refused={' '.join(g['refused']) or '-'}")


@grants.command("revoke")
@click.argument("grant_id", metavar="ID", type=ROW_ID)
@click.pass_obj
def grants_revoke(settings: Settings, grant_id: int) -> None:
    """Revoke grant ID and the live tokens its consumer (or subject) holds for the realm."""
    result = run_admin(settings, lambda s: revoke_grant(s, grant_id, now=int(time.time())))
    click.echo(f"grant {grant_id} revoked; revoked {result['tokens_revoked']} live token(s)")
