"""``authmanager keys …``, ``authmanager consumer …`` and ``authmanager purge``."""

from __future__ import annotations

import time
from typing import Any

import click

from ..operations.realms import revoke_consumer_key
from ..runtime.keyring import import_private, key_state, rotate, signing_row
from ..runtime.purge import purge as run_purge
from ..secretbox import SecretBox
from ..settings import Settings
from ..storage import consumers as consumer_repo
from ..storage import keys as key_repo
from .common import Sessions, emit, run_admin


@click.group()
def keys() -> None:
    """Token-signing keys."""


@keys.command("rotate")
@click.option("--delay", type=click.IntRange(min=0), default=None,
              help="Seconds before the new key starts signing (default: the configured key_activation_delay).")
@click.pass_obj
def keys_rotate(settings: Settings, delay: int | None) -> None:
    """Stage a new signing key: published now, signing after DELAY; old keys retire once their
    last token has expired."""
    box = SecretBox.from_settings(secret_key=settings.secret_key, key_file=settings.resolved_key_file)
    wait = settings.key_activation_delay if delay is None else delay

    async def action(sessions: Sessions) -> str:
        async with sessions.begin() as session:
            # The server key must open the keys already sealed here (another key file: InvalidTag,
            # one line) before it seals a new one beside them.
            for published in await key_repo.published(session, now=int(time.time())):
                import_private(box, published)
            row = await rotate(session, box, now=int(time.time()), delay=wait, max_token_ttl=settings.token_ttl)
            return row.kid

    kid = run_admin(settings, action)
    click.echo(f"staged key {kid}: published now, signing in {wait} s")


@keys.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def keys_list(settings: Settings, as_json: bool) -> None:
    """Show each key's state: staged, active, retiring or retired."""

    async def action(sessions: Sessions) -> list[dict[str, Any]]:
        now = int(time.time())
        async with sessions() as session:
            rows = await key_repo.all_keys(session)
        signer = signing_row(rows, now)
        return [{"kid": r.kid, "alg": r.alg, "state": key_state(r, now=now, signing_kid=signer and signer.kid),
                 "activates_at": r.activates_at, "retires_at": r.retires_at} for r in rows]

    emit(run_admin(settings, action), as_json,
         lambda k: f"{k['kid']:18} {k['alg']:6} {k['state']:9} activates_at={k['activates_at']} "
                   f"retires_at={k['retires_at'] or '-'}")


@click.group()
def consumer() -> None:
    """Consumer keys."""


@consumer.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def consumer_list(settings: Settings, as_json: bool) -> None:
    """List consumer keys (secrets are never shown)."""

    async def action(sessions: Sessions) -> list[dict[str, Any]]:
        async with sessions() as session:
            return [{"client_id": c.client_id, "client_name": c.client_name, "issued_at": c.issued_at,
                     "last_used_at": c.last_used_at, "revoked": c.revoked_at is not None,
                     "parent_client_id": c.parent_id, "expires_at": c.expires_at}
                    for c in await consumer_repo.list_all(session)]

    emit(run_admin(settings, action), as_json,
         lambda c: f"{c['client_id']:24} {c['client_name']:30} {'revoked' if c['revoked'] else 'active'}"
                   + (f" grasshopper of {c['parent_client_id']}" if c["parent_client_id"] else ""))


def _revoke(settings: Settings, client_id: str, *, delete: bool) -> int:
    return run_admin(settings, lambda s: revoke_consumer_key(s, client_id, now=int(time.time()), delete=delete))


@consumer.command("revoke")
@click.argument("client_id")
@click.pass_obj
def consumer_revoke(settings: Settings, client_id: str) -> None:
    """Revoke a consumer key, its sub-keys and every token they obtained."""
    click.echo(f"revoked {client_id} and {_revoke(settings, client_id, delete=False)} live token(s)")


@consumer.command("delete")
@click.argument("client_id")
@click.pass_obj
def consumer_delete(settings: Settings, client_id: str) -> None:
    """Delete a consumer key (revoking its sub-keys and tokens first)."""
    click.echo(f"deleted {client_id}; revoked {_revoke(settings, client_id, delete=True)} live token(s)")


@click.command()
@click.pass_obj
def purge(settings: Settings) -> None:
    """Purge expired tokens, spent nonces, stale feed events and unused consumer keys now."""
    report = run_admin(settings, lambda s: run_purge(s, now=int(time.time()),
                                                     unused_consumer_ttl=settings.unused_consumer_ttl))
    click.echo(f"purged {report.tokens} tokens, {report.nonces} nonces, {report.events} events, "
               f"{report.consumers} consumer keys, {report.requests} expired requests")
