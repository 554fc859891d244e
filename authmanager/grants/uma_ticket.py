"""Asking the realm owner, and the UMA ticket grant that polls for the answer.

UMA 2.0 Grant for OAuth 2.0 Authorization, with ProtectServe's signed client authentication:

* **Submit** (§3.3.6 ``request_submitted``): when the policies say ``ask`` for some requested
  scopes, the token request is recorded — the ticket's SHA-256, the consumer key, the realm, the
  requested scopes and those put to the owner, an expiry (15 minutes by default) — and answered
  ``403 {"error": "request_submitted", "ticket", "interval"}``.
* **Poll** (§3.3.1): ``grant_type=urn:ietf:params:oauth:grant-type:uma-ticket&ticket=…``, signed
  exactly like a client-credentials request (docs/protocol.md §5). The answer (§3.3.5, §3.3.6):

  - ``403 request_submitted`` while the owner has not answered (the poll time is recorded);
  - ``400 slow_down`` when polled again within ``interval`` seconds (RFC 8628 §3.5);
  - ``403 request_denied`` once the owner denied it, or if nothing is left to grant;
  - ``200`` and a token once approved: the requested scopes as the realm's policies now decide
    them with the saved grant the owner's answer updated — the approved scopes plus anything
    permitted outright. The ticket is then spent (one atomic conditional UPDATE);
  - ``400 invalid_grant`` for a ticket that is unknown, expired, spent or another consumer's —
    one description for all;
  - ``400 invalid_target`` for a ``resource`` (RFC 8707) that is malformed or does not name the
    ticket's realm (:func:`authmanager.operations.targets.require_within`).

  Whatever the answer, the poll's nonce is spent (``endpoints.token.signed_transaction``).
  The request's row is locked (``FOR UPDATE``) before the saved grant is read ``FOR SHARE``, the
  order an owner's answer takes them in; a revocation of the grant or of the consumer key waits
  for the poll, then revokes the token it issued.

A pending request whose scopes a later decision has settled (another request approved for the
same consumer) resolves by itself at the next poll. No aiohttp here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from .. import audit
from ..errors import InvalidGrant, InvalidRequest, RequestDenied, RequestSubmitted, SlowDown
from ..operations.targets import require_within, target_key
from ..policy import Requester
from ..runtime.keyring import KeyRing
from ..secretbox import digest, random_secret
from ..storage import access_requests as request_repo
from ..storage import realms as realm_repo
from ..storage.models import AccessRequest, Consumer
from .assessment import assess
from .issuance import (ConsumerLike, RealmLike, TokenResponse, mint_for_consumer, policy_client, within_ceiling,
                       within_subkey_limits)

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:uma-ticket"
#: Defaults of the settings ``request_ttl`` and ``poll_interval`` (UMA 2.0 §3.3.6: 5 s).
REQUEST_TTL = 900
POLL_INTERVAL = 5
MAX_TICKET = 512
_REFUSED = "the ticket is unknown, expired, already used or not this consumer's"


def new_request(*, consumer: ConsumerLike, realm: RealmLike, requested: frozenset[str], ask: frozenset[str],
                now: int, request_ttl: int) -> tuple[str, dict[str, Any]]:
    """A request to put to the owner: its ticket (returned once) and the row to store, which keeps
    only the ticket's digest."""
    value = random_secret(32)
    return value, {"ticket_hash": digest(value), "realm_id": realm.id, "client_id": consumer.client_id,
                   "scopes": sorted(requested), "ask_scopes": sorted(ask), "status": request_repo.PENDING,
                   "created_at": now, "expires_at": now + request_ttl, "last_polled_at": now}


async def poll(session: AsyncSession, *, consumer: Consumer, params: Mapping[str, str], keyring: KeyRing,
               issuer: str, now: int, default_ttl: int, interval: int = POLL_INTERVAL,
               client_key_id: int | None = None, ceiling: frozenset[str] | None = None) -> TokenResponse:
    """Poll with ``ticket``. A poll signed by a registered key (``client_key_id``) is decided
    within that key's scope ``ceiling`` and its token names the key."""
    value, resource = params.get("ticket"), params.get("resource")
    if not value:
        raise InvalidRequest("ticket is required")
    if resource is not None:
        target_key(resource)  # malformed: invalid_target (RFC 8707 §2)
    if len(value) > MAX_TICKET:
        raise InvalidGrant(_REFUSED)
    row = await request_repo.by_hash(session, digest(value), for_update=True)
    if row is None or row.client_id != consumer.client_id or row.used_at is not None or row.expires_at <= now:
        raise InvalidGrant(_REFUSED)
    await require_within(session, resource, realm_id=row.realm_id)  # RFC 8707 §2.2
    if row.status == request_repo.DENIED:
        raise RequestDenied("the realm owner denied this request")
    realm = await realm_repo.by_id(session, row.realm_id)
    if realm is None:
        raise InvalidGrant(_REFUSED)
    requested = within_ceiling(within_subkey_limits(consumer, realm, frozenset(row.scopes)), ceiling)
    decision = await assess(session, realm_id=realm.id, requester=Requester(client_id=policy_client(consumer)),
                            requested=requested, now=now, default_ttl=default_ttl, issuing=True)
    if row.status == request_repo.PENDING and decision.ask:
        if not await request_repo.note_poll(session, row.id, now=now, interval=interval):
            raise SlowDown(f"poll at most every {interval} s")
        raise RequestSubmitted(ticket=value, interval=interval)
    if not decision.permitted:
        raise RequestDenied("the realm's policies deny this request")
    if not await request_repo.claim(session, row.id, now=now):
        raise InvalidGrant(_REFUSED)
    issued = await mint_for_consumer(session, consumer=consumer, realm=realm, decision=decision, keyring=keyring,
                                     issuer=issuer, now=now, client_key_id=client_key_id)
    await session.execute(update(AccessRequest).where(AccessRequest.id == row.id)
                          .values(token_jti=issued.claims["jti"]))
    await audit.record(session, action="token.issue", actor=f"consumer:{consumer.client_id}", now=now,
                       realm_id=realm.id, target=issued.claims["jti"],
                       detail={"scope": issued.scope, "exp": issued.claims["exp"], "request": row.id})
    return issued
