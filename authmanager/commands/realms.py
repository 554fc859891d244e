"""``authmanager realm …`` and ``authmanager scope …`` (policies: ``commands/policies.py``)."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from ..operations.realms import AdminError, ScopeText, create_realm, set_scope, set_subkeys
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
@click.option("--scope-title", "titles", multiple=True, metavar="SCOPE=TEXT", help="A scope's title (repeatable).")
@click.option("--scope-description", "descriptions", multiple=True, metavar="SCOPE=TEXT",
              help="What a scope lets a consumer do (repeatable).")
@click.option("--scope-icon-uri", "icons", multiple=True, metavar="SCOPE=URL", help="A scope's icon (repeatable).")
@click.option("--resource-name", default=None, help="Human-readable name.")
@click.option("--subkeys/--no-subkeys", default=True, show_default=True,
              help="Whether grasshopper sub-keys may obtain tokens for this realm.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def realm_create(settings: Settings, name: str, resource: str, scopes: tuple[str, ...], titles: tuple[str, ...],
                 descriptions: tuple[str, ...], icons: tuple[str, ...], resource_name: str | None,
                 subkeys: bool, as_json: bool) -> None:
    """Create a realm and print its sph and sph_secret (shown once)."""
    title, text, icon = _pairs(titles, "--scope-title"), _pairs(descriptions, "--scope-description"), \
        _pairs(icons, "--scope-icon-uri")
    texts = {scope: ScopeText(title=title.get(scope), description=text.get(scope), icon_uri=icon.get(scope))
             for scope in {*title, *text, *icon}}
    new = run_admin(settings, lambda s: create_realm(s, name=name, resource=resource, scopes=scopes,
                                                     resource_name=resource_name, allow_subkeys=subkeys,
                                                     scope_texts=texts, now=int(time.time())))
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


def _pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    out = {}
    for value in values:
        scope, sep, text = value.partition("=")
        if not sep or not scope:
            raise click.BadParameter(f"expected SCOPE=TEXT, got {value!r}", param_hint=option)
        out[scope] = text
    return out


@click.group()
def scope() -> None:
    """A realm's scopes, as documented things (published at <issuer>/realms/REALM/scopes)."""


@scope.command("set")
@click.argument("realm_name", metavar="REALM")
@click.argument("name")
@click.option("--title", default=None, help="A short title, e.g. \"Read photos\".")
@click.option("--description", default=None, help="What the scope lets a consumer do.")
@click.option("--icon-uri", default=None, help="An http(s) URL of an icon ('' removes it).")
@click.pass_obj
def scope_set(settings: Settings, realm_name: str, name: str, title: str | None, description: str | None,
              icon_uri: str | None) -> None:
    """Document scope NAME of REALM."""
    run_admin(settings, lambda s: set_scope(s, realm=realm_name, name=name,
                                            text=ScopeText(title=title, description=description, icon_uri=icon_uri),
                                            now=int(time.time())))
    click.echo(f"scope {name} of {realm_name} updated")


@scope.command("list")
@click.argument("realm_name", metavar="REALM")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def scope_list(settings: Settings, realm_name: str, as_json: bool) -> None:
    """List REALM's scopes with their titles and descriptions."""

    async def action(sessions: Sessions) -> list[dict[str, Any]]:
        async with sessions() as session:
            row = await realm_repo.by_name(session, realm_name)
            if row is None:
                raise AdminError(f"no realm named {realm_name!r}")
            return [{"name": s.name, "title": s.title, "description": s.description, "icon_uri": s.icon_uri}
                    for s in await realm_repo.scopes(session, row.id)]

    emit(run_admin(settings, action), as_json,
         lambda s: f"{s['name']:12} {s['title']:24} {s['description']}")
