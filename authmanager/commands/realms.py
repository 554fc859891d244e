"""``authmanager realm …`` and ``authmanager policy …``."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from ..realm_admin import AdminError, add_policy, create_realm, set_subkeys
from ..settings import Settings
from ..storage import realms as realm_repo
from .common import Sessions, emit, run_admin


@click.group()
def realm() -> None:
    """Protection realms."""


@realm.command("create")
@click.argument("name")
@click.option("--resource", required=True, help="The resource identifier (RFC 9728) the realm protects.")
@click.option("--scope", "scopes", multiple=True, required=True, help="A scope of the realm (repeatable).")
@click.option("--resource-name", default=None, help="Human-readable name.")
@click.option("--subkeys/--no-subkeys", default=True, show_default=True,
              help="Whether grasshopper sub-keys may obtain tokens for this realm.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def realm_create(settings: Settings, name: str, resource: str, scopes: tuple[str, ...], resource_name: str | None,
                 subkeys: bool, as_json: bool) -> None:
    """Create a realm and print its sph and sph_secret (shown once)."""
    new = run_admin(settings, lambda s: create_realm(s, name=name, resource=resource, scopes=scopes,
                                                     resource_name=resource_name, allow_subkeys=subkeys,
                                                     now=int(time.time())))
    if as_json:
        click.echo(json.dumps(new.as_dict()))
    else:
        click.echo(f"realm {new.realm} protects {new.resource}\nsph:        {new.sph}\n"
                   f"sph_secret: {new.sph_secret}   (shown once; only its hash is stored)")


@realm.command("subkeys")
@click.argument("name")
@click.option("--allow/--forbid", required=True, help="Allow or forbid grasshopper sub-keys in this realm.")
@click.pass_obj
def realm_subkeys(settings: Settings, name: str, allow: bool) -> None:
    """Allow or forbid grasshopper sub-keys for realm NAME."""
    run_admin(settings, lambda s: set_subkeys(s, realm=name, allow=allow))
    click.echo(f"grasshopper keys {'allowed' if allow else 'forbidden'} in {name}")


@realm.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def realm_list(settings: Settings, as_json: bool) -> None:
    """List realms."""

    async def action(sessions: Sessions) -> list[dict[str, Any]]:
        async with sessions() as session:
            return [{"realm": row.name, "sph": row.sph, "resource": row.resource, "subkeys": row.allow_subkeys,
                     "scopes": [s.name for s in await realm_repo.scopes(session, row.id)]}
                    for row in await realm_repo.list_all(session)]

    emit(run_admin(settings, action), as_json,
         lambda r: f"{r['realm']:20} {r['resource']:40} {' '.join(r['scopes'])}")


@click.group()
def policy() -> None:
    """Realm policies."""


@policy.command("add")
@click.argument("realm_name", metavar="REALM")
@click.option("--effect", type=click.Choice(["permit", "deny"]), required=True)
@click.option("--scope", "scopes", multiple=True, required=True)
@click.option("--consumer", default="*", show_default=True, help="A consumer key, or * for any consumer.")
@click.option("--max-ttl", type=click.IntRange(min=1), default=None, help="Maximum token lifetime, seconds.")
@click.pass_obj
def policy_add(settings: Settings, realm_name: str, effect: str, scopes: tuple[str, ...], consumer: str,
               max_ttl: int | None) -> None:
    """Append a policy to REALM."""
    pid = run_admin(settings, lambda s: add_policy(s, realm=realm_name, effect=effect, scopes=scopes,
                                                   consumer=consumer, max_ttl=max_ttl, now=int(time.time())))
    click.echo(f"policy {pid} added to {realm_name}")


@policy.command("list")
@click.argument("realm_name", metavar="REALM")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def policy_list(settings: Settings, realm_name: str, as_json: bool) -> None:
    """List REALM's policies in evaluation order."""

    async def action(sessions: Sessions) -> list[dict[str, Any]]:
        async with sessions() as session:
            row = await realm_repo.by_name(session, realm_name)
            if row is None:
                raise AdminError(f"no realm named {realm_name!r}")
            return [{"id": p.id, "effect": p.effect, "scopes": p.scopes, "consumer": p.consumer,
                     "max_ttl": p.max_ttl} for p in await realm_repo.policies(session, row.id)]

    emit(run_admin(settings, action), as_json,
         lambda p: f"{p['id']:4} {p['effect']:7} {' '.join(p['scopes']):20} consumer={p['consumer']} "
                   f"max_ttl={p['max_ttl'] or '-'}")
