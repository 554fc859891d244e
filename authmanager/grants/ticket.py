"""The ticket grant of IndieAuth Ticket Auth: ``grant_type=ticket&ticket=…`` → an access token.

The owner's ``authmanager share`` delivered a single-use ticket to the subject's own ticket
endpoint; possession of it is the proof, so no client authentication is required (documented in
docs/protocol.md §12). No aiohttp here.

* RFC 6749 §5.1 success: a token for the ticket's realm and scopes, ``sub`` = ``client_id`` =
  the subject URL (RFC 9068 §2.2), lifetime the AM default capped by the share's ``max_ttl``.
* RFC 8707 §2.2 ``invalid_target`` for a ``resource`` that is malformed or does not name the
  ticket's realm (checked before the ticket is spent).
* RFC 6749 §5.2 ``invalid_grant`` for an unknown, expired or already used ticket. A second
  redemption also revokes the token the first one bought (as RFC 6749 §4.1.2 asks for a reused
  authorization code); the revocation is committed, then the error is raised.
* The realm's policies are consulted for the subject (``subject:<URL>`` or ``*``) with the share
  as its saved grant: a deny overrides the share (``403 request_denied``), and a revoked grant
  makes its tickets ``invalid_grant``. The grant is read ``FOR SHARE``: revoking it waits for a
  redemption in flight, then revokes the token it issued.
* Single use is one atomic conditional ``UPDATE … WHERE used_at IS NULL`` (``storage.shares.claim``)
  in the same transaction as the token, so concurrent redemptions see exactly one winner.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .. import audit
from ..errors import InvalidGrant, InvalidRequest, RequestDenied
from ..operations.revocation import revoke_token
from ..operations.targets import require_within, target_key
from ..policy import Requester, SavedDecision
from ..runtime.keyring import KeyRing
from ..secretbox import digest
from ..storage import grants as grant_repo
from ..storage import realms as realm_repo
from ..storage import shares as share_repo
from ..storage import tokens as token_repo
from ..storage.models import AccessToken, Ticket
from ..tokens import access_token_claims
from .assessment import assess
from .client_credentials import TokenResponse

GRANT_TYPE = "ticket"
#: Tickets are short-lived: "approximately a minute at most" (IndieAuth Ticket Auth, step 2).
TICKET_TTL = 60
MAX_TICKET = 512

log = logging.getLogger("authmanager.ticket")
_REFUSED = "the ticket is unknown, expired or already used"


async def redeem(
    sessions: async_sessionmaker[AsyncSession],
    *,
    params: Mapping[str, str],
    keyring: KeyRing,
    issuer: str,
    now: int,
    default_ttl: int,
) -> TokenResponse:
    value, resource = params.get("ticket"), params.get("resource")
    if not value:
        raise InvalidRequest("ticket is required")
    if resource is not None:
        target_key(resource)  # malformed: invalid_target (RFC 8707 §2)
    if len(value) > MAX_TICKET:
        raise InvalidGrant(_REFUSED)
    ticket_hash = digest(value)
    async with sessions.begin() as session:
        if resource is not None:  # before the claim: a refused resource spends nothing
            unspent = await share_repo.by_hash(session, ticket_hash)
            if unspent is not None:
                await require_within(session, resource, realm_id=unspent.realm_id)
        if await share_repo.claim(session, ticket_hash, now=now):
            ticket = await share_repo.by_hash(session, ticket_hash)
            assert ticket is not None
            return await _issue(session, ticket, keyring=keyring, issuer=issuer, now=now, default_ttl=default_ttl)
        ticket = await share_repo.by_hash(session, ticket_hash)
        if ticket is not None and ticket.used_at is not None:
            await _revoke_first(session, ticket, now=now)
    raise InvalidGrant(_REFUSED)


async def _issue(session: AsyncSession, ticket: Ticket, *, keyring: KeyRing, issuer: str, now: int,
                 default_ttl: int) -> TokenResponse:
    realm = await realm_repo.by_id(session, ticket.realm_id)
    if realm is None:
        raise InvalidGrant(_REFUSED)
    known = {s.name for s in await realm_repo.scopes(session, realm.id)}
    shared = frozenset(ticket.scopes) & known
    if not shared:
        raise InvalidGrant("the ticket's scopes no longer exist in its realm")
    # FOR SHARE: revoking the grant waits for this transaction and then revokes this token, or
    # has committed and is seen here.
    grant = await grant_repo.get(session, ticket.grant_id, share=True)
    if grant is None or grant.revoked_at is not None:
        raise InvalidGrant(_REFUSED)
    # The share is the owner's decision (the ticket's own copy of it); the realm's policies for
    # this subject, or for any consumer, still apply: a deny overrides the share.
    decision = await assess(session, realm_id=realm.id, requester=Requester(subject=ticket.subject),
                            requested=shared, now=now, default_ttl=default_ttl,
                            saved=SavedDecision(id=ticket.grant_id, approved=shared, max_ttl=ticket.max_ttl))
    if not decision.permitted:
        raise RequestDenied("the realm's policies deny this subject")
    ttl = min(decision.ttl, ticket.max_ttl or default_ttl)
    scope = " ".join(sorted(decision.granted))
    claims = access_token_claims(issuer=issuer, client_id=ticket.subject, audience=realm.resource,
                                 realm=realm.name, scope=scope, now=now, ttl=ttl)
    value = keyring.sign(claims, now=now)
    await token_repo.add(session, AccessToken(
        jti=claims["jti"], token_hash=digest(value), client_id=ticket.subject, realm_id=realm.id, scope=scope,
        issued_at=now, expires_at=claims["exp"]))
    await session.execute(update(Ticket).where(Ticket.id == ticket.id).values(token_jti=claims["jti"]))
    await audit.record(session, action="token.issue", actor=f"subject:{ticket.subject}", now=now, realm_id=realm.id,
                       target=claims["jti"], detail={"scope": scope, "exp": claims["exp"], "grant": "ticket"})
    return TokenResponse(access_token=value, expires_in=ttl, scope=scope, claims=claims)


async def _revoke_first(session: AsyncSession, ticket: Ticket, *, now: int) -> None:
    """A replayed ticket: revoke what the first redemption bought (pushing the feed event)."""
    token = await session.get(AccessToken, ticket.token_jti) if ticket.token_jti else None
    revoked = token is not None and await revoke_token(session, token, now=now, actor="system")
    log.warning("ticket %d redeemed again; its token %s", ticket.id,
                "was revoked" if revoked else "was already revoked or gone")
