"""``authmanager consumer key add|list|revoke``: a consumer's public keys (RFC 7523
``private_key_jwt``), e.g. one per device, each with an optional scope ceiling (issue 13 §3).

The work is :mod:`authmanager.operations.client_keys`'; a file that cannot be read, a key that
is refused, an unknown consumer key or a ``kid`` already used is one line and exit status 1
(:class:`~authmanager.operations.realms.AdminError` and ``OSError`` through
``commands/failures.py``). A key's private members are never read from a file (a private key is
refused) and never printed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from ..operations.client_keys import add_client_key, list_client_keys, revoke_client_key
from ..settings import Settings
from .common import emit, run_admin

MAX_KEY_FILE = 64 * 1024


def read_key_file(path: str) -> bytes:
    """A key file's bytes (PEM or JWK); an unreadable one raises ``OSError`` naming the file."""
    with Path(path).open("rb") as handle:
        return handle.read(MAX_KEY_FILE)


def _line(k: dict[str, Any]) -> str:
    ceiling = " ".join(k["scope_ceiling"]) if k["scope_ceiling"] is not None else "(follows the consumer)"
    state = f"revoked_at={k['revoked_at']}" if k["revoked_at"] is not None else "active"
    return f"{k['kid']:44} {k['kty'] or '-':4} {k['name'] or '-':20} {state:22} created_at={k['created_at']} " \
           f"ceiling: {ceiling}"


@click.group("key")
def key() -> None:
    """A consumer's public keys (private_key_jwt), with scope ceilings."""


@key.command("add")
@click.argument("client_id")
@click.option("--public-key", "public_key", required=True, metavar="FILE", help="The public key: PEM or JWK.")
@click.option("--scope", "scopes", multiple=True,
              help="The key's scope ceiling (repeat for more): its tokens never carry another scope. "
                   "None: the key follows its consumer.")
@click.option("--name", default=None, help="What the key is, e.g. laptop.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def key_add(settings: Settings, client_id: str, public_key: str, scopes: tuple[str, ...], name: str | None,
            as_json: bool) -> None:
    """Add a public key to consumer key CLIENT_ID."""
    raw = read_key_file(public_key)
    made = run_admin(settings, lambda s: add_client_key(s, client_id, raw, now=int(time.time()), name=name,
                                                        scopes=scopes or None))
    emit([made], as_json, lambda k: f"added key {k['kid']} to {client_id}")


@key.command("list")
@click.argument("client_id")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def key_list(settings: Settings, client_id: str, as_json: bool) -> None:
    """List consumer key CLIENT_ID's public keys, revoked ones included."""
    emit(run_admin(settings, lambda s: list_client_keys(s, client_id)), as_json, _line)


@key.command("revoke")
@click.argument("client_id")
@click.argument("kid")
@click.pass_obj
def key_revoke(settings: Settings, client_id: str, kid: str) -> None:
    """Revoke key KID of CLIENT_ID and every token obtained with it; the other keys keep working."""
    revoked = run_admin(settings, lambda s: revoke_client_key(s, client_id, kid, now=int(time.time())))
    click.echo(f"revoked key {kid} of {client_id} and {revoked} live token(s)")
