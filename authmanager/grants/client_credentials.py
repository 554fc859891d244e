"""ProtectServe step 1's token request: RFC 6749 §4.4 client credentials, naming the realm by ``sph``.

No aiohttp here: the endpoint hands over the already-authenticated consumer and the form
parameters; this module checks the realm and scope, asks the policy evaluator (through
:mod:`.assessment`), and mints the token and persists its digest — all inside the caller's
transaction, so an error stores nothing.

When the decision is to ask the realm owner about some requested scopes, no token is issued:
the request is recorded and ``request_submitted`` (UMA 2.0 Grant §3.3.6) is raised with a ticket
to poll with (:mod:`.uma_ticket`); that answer commits the transaction (``RecordedOutcome``).
"""

from __future__ import annotations

from typing import Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from ..errors import InvalidRequest, InvalidScope, RequestDenied
from ..keyring import KeyRing
from ..policy import Requester
from ..storage import realms as realm_repo
from ..storage.models import Consumer
from . import uma_ticket
from .assessment import assess
from .issuance import MAX_SCOPES, TokenResponse, mint_for_consumer, parse_scope, policy_client, within_subkey_limits

GRANT_TYPE = "client_credentials"
__all__ = ["GRANT_TYPE", "MAX_SCOPES", "TokenResponse", "issue", "parse_scope"]


async def issue(
    session: AsyncSession,
    *,
    consumer: Consumer,
    params: Mapping[str, str],
    keyring: KeyRing,
    issuer: str,
    now: int,
    default_ttl: int,
    request_ttl: int = uma_ticket.REQUEST_TTL,
    poll_interval: int = uma_ticket.POLL_INTERVAL,
) -> TokenResponse:
    sph = params.get("sph")
    if not sph:
        raise InvalidRequest("sph is required")
    requested = parse_scope(params.get("scope"))
    realm = await realm_repo.by_sph(session, sph)
    if realm is None:
        raise InvalidRequest("unknown sph")
    known = {s.name for s in await realm_repo.scopes(session, realm.id)}
    unknown = requested - known
    if unknown:
        raise InvalidScope(f"not scopes of realm {realm.name}: {' '.join(sorted(unknown))}")
    # A grasshopper sub-key is judged as its master key (so it never gets more than the master
    # could), may be narrowed further at creation, and its tokens never outlive it.
    requested = within_subkey_limits(consumer, realm, requested)
    decision = await assess(session, realm_id=realm.id, requester=Requester(client_id=policy_client(consumer)),
                            requested=requested, now=now, default_ttl=default_ttl)
    if decision.ask:
        raise await uma_ticket.submit(session, consumer=consumer, realm=realm, requested=requested,
                                      ask=decision.ask, now=now, request_ttl=request_ttl, interval=poll_interval)
    if not decision.permitted:
        raise RequestDenied("the realm's policies deny this request")
    return await mint_for_consumer(session, consumer=consumer, realm=realm, decision=decision, keyring=keyring,
                                   issuer=issuer, now=now)
