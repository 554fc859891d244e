"""``authmanager share REALM --with URL --scope S [--max-ttl N]`` and ``authmanager share list``.

Owner-initiated sharing by IndieAuth Ticket Auth (docs/protocol.md §12). Outbound requests go
through the SSRF guard; ``AUTHMANAGER_ALLOW_PRIVATE_TARGETS=1`` (setting
``allow_private_targets``) lets them reach loopback and private addresses.
"""

from __future__ import annotations

import json
import time

import click

from ..outbound.guard import policy_for
from ..settings import Settings
from ..sharing.share import list_shares
from ..sharing.share import share as share_with
from .common import emit, run_admin


class _DefaultToSend(click.Group):
    """``share REALM …`` means ``share send REALM …``; ``share list`` lists (a realm named
    "list" or "send" is shared with ``share send NAME …``)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["send", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_DefaultToSend)
def share() -> None:
    """Share a realm with a subject URL by sending it a ticket (IndieAuth Ticket Auth)."""


@share.command("send")
@click.argument("realm_name", metavar="REALM")
@click.option("--with", "subject", required=True, help="The subject's URL (its homepage advertises a ticket_endpoint).")
@click.option("--scope", "scopes", multiple=True, required=True, help="A scope to share (repeatable).")
@click.option("--max-ttl", type=click.IntRange(min=1), default=None, help="Cap on the token lifetime, s.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def share_send(settings: Settings, realm_name: str, subject: str, scopes: tuple[str, ...], max_ttl: int | None,
               as_json: bool) -> None:
    """Discover SUBJECT's ticket endpoint, deliver a single-use ticket for REALM, record the outcome."""
    result = run_admin(settings, lambda s: share_with(
        s, realm=realm_name, subject=subject, scopes=scopes, max_ttl=max_ttl,
        policy=policy_for(settings.allow_private_targets), now=time.time))
    if as_json:
        click.echo(json.dumps(result.as_dict()))
    elif result.delivered:
        click.echo(f"shared {result.realm} ({' '.join(result.scopes)}) with {result.subject}: ticket delivered to "
                   f"{result.endpoint} (HTTP {result.status})")
    else:
        click.echo(f"shared {result.realm} with {result.subject}, but the delivery to {result.endpoint} failed: "
                   f"{result.error}", err=True)
    if not result.delivered:
        raise SystemExit(1)


@share.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def share_list(settings: Settings, as_json: bool) -> None:
    """Tickets sent, newest first: delivery outcome and redemption."""
    emit(run_admin(settings, list_shares), as_json,
         lambda t: f"{t['id']:4} {t['realm']:12} {t['subject']:32} {' '.join(t['scopes']):12} {t['delivery']:9} "
                   f"{t['http_status'] or t['error'] or '-'}  redeemed={'yes' if t['redeemed_at'] else 'no'}")
