"""``authmanager policy add|list|remove|move|explain`` — a realm's ordered policies
(evaluation: ``authmanager/policy.py``, docs/protocol.md §13)."""

from __future__ import annotations

import json
import time

import click

from ..operations.policies import add_policy, explain, list_policies, move_policy, remove_policy
from ..settings import Settings
from .common import ROW_ID, emit, run_admin


@click.group()
def policy() -> None:
    """Realm policies."""


@policy.command("add")
@click.argument("realm_name", metavar="REALM")
@click.option("--effect", type=click.Choice(["permit", "deny", "ask"]), required=True,
              help="permit, deny, or ask the realm owner.")
@click.option("--scope", "scopes", multiple=True, required=True)
@click.option("--consumer", default="*", show_default=True,
              help="A consumer key, account:NAME (a person in the authorization dialog), or * for any consumer.")
@click.option("--subject", default=None, help="Consumers by verified subject URL, e.g. https://bob.example/.")
@click.option("--max-ttl", type=click.IntRange(min=1), default=None, help="Maximum token lifetime, seconds.")
@click.option("--not-before", default=None, help="Applies from this time on (unix seconds or ISO 8601, UTC).")
@click.option("--not-after", default=None, help="Applies until this time (exclusive; unix seconds or ISO 8601).")
@click.pass_obj
def policy_add(settings: Settings, realm_name: str, effect: str, scopes: tuple[str, ...], consumer: str,
               subject: str | None, max_ttl: int | None, not_before: str | None, not_after: str | None) -> None:
    """Append a policy to REALM (evaluated after the existing ones)."""
    pid = run_admin(settings, lambda s: add_policy(
        s, realm=realm_name, effect=effect, scopes=scopes, consumer=consumer, subject=subject, max_ttl=max_ttl,
        not_before=not_before, not_after=not_after, now=int(time.time())))
    click.echo(f"policy {pid} added to {realm_name}")


@policy.command("list")
@click.argument("realm_name", metavar="REALM")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def policy_list(settings: Settings, realm_name: str, as_json: bool) -> None:
    """List REALM's policies in evaluation order."""
    emit(run_admin(settings, lambda s: list_policies(s, realm=realm_name)), as_json,
         lambda p: f"{p['id']:4} {p['effect']:7} {' '.join(p['scopes']):20} consumer={p['consumer']} "
                   f"max_ttl={p['max_ttl'] or '-'}"
                   + (f" window=[{p['not_before'] or '-'}, {p['not_after'] or '-'})"
                      if p["not_before"] or p["not_after"] else ""))


@policy.command("remove")
@click.argument("policy_id", metavar="ID", type=ROW_ID)
@click.pass_obj
def policy_remove(settings: Settings, policy_id: int) -> None:
    """Delete policy ID."""
    realm = run_admin(settings, lambda s: remove_policy(s, policy_id, now=int(time.time())))
    click.echo(f"policy {policy_id} removed from {realm}")


@policy.command("move")
@click.argument("policy_id", metavar="ID", type=ROW_ID)
@click.option("--to", "position", type=click.IntRange(min=1), required=True, help="New position; 1 is first.")
@click.pass_obj
def policy_move(settings: Settings, policy_id: int, position: int) -> None:
    """Move policy ID to position N of its realm's order."""
    order = run_admin(settings, lambda s: move_policy(s, policy_id, to=position, now=int(time.time())))
    click.echo(f"order: {' '.join(map(str, order))}")


@policy.command("explain")
@click.argument("realm_name", metavar="REALM")
@click.option("--consumer", default=None, help="The consumer key asking.")
@click.option("--subject", default=None, help="Or: the verified subject URL asking (ticket grant).")
@click.option("--scope", "scopes", multiple=True, required=True, help="A requested scope (repeatable).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def policy_explain(settings: Settings, realm_name: str, consumer: str | None, subject: str | None,
                   scopes: tuple[str, ...], as_json: bool) -> None:
    """What the token endpoint would decide now, which policy decided each scope, and why."""
    result = run_admin(settings, lambda s: explain(s, realm=realm_name, consumer=consumer, subject=subject,
                                                   scopes=scopes, now=int(time.time()),
                                                   default_ttl=settings.token_ttl, reveal_keys=True))
    if as_json:
        click.echo(json.dumps(result))
        return
    who = f"consumer {consumer}" if consumer else f"subject {result['subject']}"
    click.echo(f"{realm_name}: {who} asks {' '.join(result['requested'])} -> {result['outcome']}")
    if result["note"]:
        click.echo(f"  note: {result['note']}")
    for line in result["reasons"]:
        click.echo(f"  {line}")
    for line in result["policies"]:
        click.echo(f"  {line}")
