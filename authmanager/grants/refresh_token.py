"""``grant_type=refresh_token`` (RFC 6749 §6, OAuth 2.1 §4.3, RFC 9700 §4.14.2): OAuth 1.5's
persistent token, rotated on every use. No aiohttp here; runs in the token endpoint's
transaction, committed on an OAuth error too (a reuse's revocation is kept).

* ``resource`` (RFC 8707 §2.2), if sent, must be one the grant was for: the family's own
  resource (normalised) or one naming the family's realm by the rule of
  :mod:`authmanager.operations.targets` — else ``invalid_target``, checked before the token is
  claimed, so the refused request rotates nothing.
* ``refresh_token`` is required (``invalid_request``); ``scope`` optional, a subset of the
  family's scopes (``invalid_scope`` otherwise, §6: "MUST NOT include any scope not originally
  granted"); the new refresh token keeps the family's scopes (§6: "identical").
* **Client binding** (§6: "the authorization server MUST ... validate the refresh token ... was
  issued to the authenticated client"; OAuth 2.1 §4.3.1 for public clients): a refresh token
  of another client is ``invalid_grant`` and changes nothing.
* **Rotation**: one conditional ``UPDATE … SET used_at WHERE used_at IS NULL AND revoked_at IS
  NULL AND`` unexpired (:func:`authmanager.storage.refresh_tokens.claim`); of two concurrent
  uses exactly one wins. The winner gets a new access token and a new refresh token of the same
  family, bound to the same client, account, realm and resource.
* **A revoked consent** (:func:`authmanager.operations.consents.given`): before the claim, the
  person's consent for the application and realm is read ``FOR SHARE``; revoked, the refresh
  token is ``invalid_grant`` (the revocation revoked it too, or is waiting for this transaction
  and will revoke what it issues).
* **Reuse detection** (RFC 9700 §4.14.2: "If a refresh token is compromised and subsequently used
  by both the attacker and the legitimate client, one of them will present an invalidated
  refresh token, which will inform the authorization server of the breach"): presenting a used
  refresh token revokes the whole family, refresh and access tokens (feed events for each), and
  is ``invalid_grant``. The loser of a race of one client with itself is such a reuse too:
  nothing distinguishes it from theft (the SDK refreshes single-flight).
* **Lifetimes**: idle (``refresh_idle_ttl``, moved on by each rotation) and absolute
  (``refresh_absolute_ttl`` from the code grant); past either, ``invalid_grant``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..clients import ClientInfo
from ..errors import InvalidGrant, InvalidRequest, UnauthorizedClient
from ..operations import consents
from ..operations.targets import require_within, target_key
from ..runtime.keyring import KeyRing
from ..secretbox import digest
from ..storage import realms as realm_repo
from ..storage import refresh_tokens as refresh_repo
from ..storage.models import RefreshToken
from . import person_tokens
from .person_tokens import Binding, Lifetimes, PersonTokens, narrowed

GRANT_TYPE = "refresh_token"
MAX_REFRESH = 512
_REFUSED = "the refresh token is unknown, expired or revoked"

log = logging.getLogger("authmanager.refresh_token")


@dataclass(frozen=True, slots=True)
class Request:
    refresh_token: str
    scope: str | None
    resource: str | None = None


def parse(params: Mapping[str, str]) -> Request:
    """§6's parameters; a malformed ``resource`` is ``invalid_target`` (RFC 8707 §2) before
    anything is touched."""
    value = params.get("refresh_token")
    if not value:
        raise InvalidRequest("refresh_token is required")
    resource = params.get("resource")
    if resource is not None:
        target_key(resource)
    return Request(refresh_token=value, scope=params.get("scope"), resource=resource)


def allowed(client: ClientInfo) -> bool:
    """Refresh tokens come only from authorization-code grants: a client registered for either
    grant may refresh."""
    return GRANT_TYPE in client.grant_types or "authorization_code" in client.grant_types


async def refresh(session: AsyncSession, *, client: ClientInfo, request: Request, keyring: KeyRing, issuer: str,
                  now: int, lifetimes: Lifetimes, client_key_id: int | None = None,
                  ceiling: frozenset[str] | None = None) -> PersonTokens:
    if not allowed(client):
        raise UnauthorizedClient(f"the client is not registered for the {GRANT_TYPE} grant")
    if len(request.refresh_token) > MAX_REFRESH:
        raise InvalidGrant(_REFUSED)
    token_hash = digest(request.refresh_token)
    row = await refresh_repo.by_hash(session, token_hash)
    if row is None:
        raise InvalidGrant(_REFUSED)
    if row.client_id != client.client_id:  # immutable: safe to judge before the claim
        raise InvalidGrant("the refresh token was issued to another client")
    requested = narrowed(request.scope, frozenset(row.scopes))
    if not await consents.given(session, client_id=row.client_id, account_id=row.account_id, realm_id=row.realm_id):
        raise InvalidGrant(_REFUSED)
    # Before the claim: a refused resource leaves the refresh token unused (no false reuse).
    await require_within(session, request.resource, realm_id=row.realm_id, granted=row.resource)
    if not await refresh_repo.claim(session, token_hash, now=now):
        # Read again: a concurrent rotation that won has committed by now (SQLite serialises
        # writers; PostgreSQL's UPDATE waited for its row lock), and the row above may be stale.
        used_at, revoked_at = (await session.execute(
            select(RefreshToken.used_at, RefreshToken.revoked_at).where(RefreshToken.id == row.id))).one()
        if used_at is not None and revoked_at is None:
            revoked = await refresh_repo.revoke_family(session, row.family_id, now, actor="system",
                                                       reason="refresh token reused")
            log.warning("refresh token of family %s used again: family revoked (%d access tokens)",
                        row.family_id, revoked)
            raise InvalidGrant("the refresh token was already used; its grant is revoked")
        raise InvalidGrant(_REFUSED)
    realm = await realm_repo.by_id(session, row.realm_id)
    if realm is None:
        raise InvalidGrant(_REFUSED)
    known = {s.name for s in await realm_repo.scopes(session, realm.id)}
    access = requested & known
    if not access:
        raise InvalidGrant("the grant's scopes no longer exist in its realm")
    binding = Binding(client_id=row.client_id, account_id=row.account_id, realm_id=realm.id,
                      realm_name=realm.name, audience=realm.resource, resource=row.resource)
    return await person_tokens.issue(session, binding=binding, access_scopes=access,
                                     refresh_scopes=frozenset(row.scopes), family_id=row.family_id,
                                     absolute_expires_at=row.absolute_expires_at, keyring=keyring, issuer=issuer,
                                     now=now, lifetimes=lifetimes, grant=GRANT_TYPE, client_key_id=client_key_id,
                                     ceiling=ceiling)
