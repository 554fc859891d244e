"""``authmanager keys …``, ``authmanager consumer …`` and ``authmanager purge``."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from ..clients import PUBLIC
from ..clients.registration import (
    AUTH_METHODS,
    PRIVATE_KEY_JWT,
    SIGNING_METHOD,
    new_consumer,
    registration_response,
    validate,
)
from ..errors import OAuthError
from ..operations.client_keys import parse_key
from ..operations.realms import revoke_consumer_key
from ..runtime.keyring import import_private, key_state, rotate, signing_row
from ..runtime.purge import purge as run_purge
from ..secretbox import SecretBox
from ..settings import Settings
from ..storage import client_keys as client_key_repo
from ..storage import consumers as consumer_repo
from ..storage import keys as key_repo
from .client_keys import key as key_group
from .client_keys import read_key_file
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


@consumer.command("create")
@click.argument("name")
@click.option("--redirect-uri", "redirect_uris", multiple=True,
              help="A redirect URI (https, or http on loopback); repeat for more. Makes an authorization-code client.")
@click.option("--public", is_flag=True,
              help="A public client (token_endpoint_auth_method none, PKCE): no secret. Needs --redirect-uri.")
@click.option("--auth-method", type=click.Choice([m for m in AUTH_METHODS if m != PUBLIC]), default=SIGNING_METHOD,
              show_default=True, help="How the consumer authenticates: a request signature keyed with cks, an "
              "RFC 7523 client_secret_jwt (HS256 with cks) or private_key_jwt (its --public-key).")
@click.option("--public-key", "public_keys", multiple=True, metavar="FILE",
              help="private_key_jwt: a public key (PEM or JWK) file; repeat for more.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def consumer_create(settings: Settings, name: str, redirect_uris: tuple[str, ...], public: bool,
                    auth_method: str, public_keys: tuple[str, ...], as_json: bool) -> None:
    """Register a consumer key out of band, with the rules of RFC 7591 registration. Without
    --redirect-uri: a machine-to-machine key (client_credentials). A secret is shown once."""
    if public and auth_method != SIGNING_METHOD:
        raise click.UsageError("--public and --auth-method exclude each other")
    if bool(public_keys) != (auth_method == PRIVATE_KEY_JWT):
        raise click.UsageError("--auth-method private_key_jwt needs --public-key, and only it takes one")
    asked: dict[str, Any] = {"client_name": name, "token_endpoint_auth_method": PUBLIC if public else auth_method}
    if public_keys:
        asked["jwks"] = {"keys": [parse_key(read_key_file(path)) for path in public_keys]}
    if redirect_uris:
        asked |= {"redirect_uris": list(redirect_uris), "grant_types": ["authorization_code", "refresh_token"]}
    elif public:
        raise click.UsageError("a public client needs at least one --redirect-uri")
    try:
        metadata = validate(asked)
    except OAuthError as exc:
        raise click.UsageError(f"{exc.error}: {exc.description}") from None
    box = SecretBox.from_settings(secret_key=settings.secret_key, key_file=settings.resolved_key_file)

    async def action(sessions: Sessions) -> dict[str, Any]:
        row, secret = new_consumer(box, metadata, now=int(time.time()))
        jwks = metadata.get("jwks", {}).get("keys", [])
        async with sessions.begin() as session:
            await consumer_repo.add(session, row)
            for jwk in jwks:  # in the consumer's transaction: all or nothing
                await client_key_repo.add(session, client_id=row.client_id, jwk=jwk, now=row.issued_at)
        return registration_response(row, secret, jwks)

    made = run_admin(settings, action)
    if as_json:
        click.echo(json.dumps(made))
        return
    click.echo(f"client_id {made['client_id']} ({made['token_endpoint_auth_method']}, "
               f"grants {' '.join(made['grant_types'])})")
    if "client_secret" in made:
        click.echo(f"client_secret {made['client_secret']} (shown once)")
    for jwk in made.get("jwks", {}).get("keys", []):
        click.echo(f"key {jwk['kid']} ({jwk['kty']})")


consumer.add_command(key_group)


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
