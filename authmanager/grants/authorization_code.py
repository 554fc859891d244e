"""``grant_type=authorization_code`` (RFC 6749 §4.1.3, OAuth 2.1 §4.1.3, RFC 7636 §4.5-4.6,
RFC 8707 §2.2): a code from the authorization dialog (:mod:`authmanager.authorize.codes`) for an
access token and a refresh token. No aiohttp here; runs in the token endpoint's transaction,
which is committed on an OAuth error too (what a refusal recorded is kept).

The client has been authenticated by the endpoint: a confidential client by its signature, a
public one (:mod:`authmanager.client_auth.public`) by ``client_id`` alone. Then:

* :func:`parse` (before anything is touched): ``code``, ``redirect_uri`` and ``code_verifier``
  are required (``invalid_request``), the verifier 43-128 characters of the unreserved alphabet
  (RFC 7636 §4.1); ``resource`` and ``scope`` are optional.
* The client must have the grant among its ``grant_types`` (``unauthorized_client``).
* **A revoked consent** (:func:`authmanager.operations.consents.given`): before the claim, the
  consent the code came from is read ``FOR SHARE``; revoked, the code is ``invalid_grant`` and is
  not claimed. A consent revocation therefore either waits for this transaction (and revokes what
  it issued) or comes first (and nothing is issued).
* **Single use.** The code is claimed by one conditional ``UPDATE … WHERE used_at IS NULL AND
  expires_at > now`` (:func:`authmanager.storage.codes.claim`): of concurrent redemptions exactly
  one wins. An unknown, expired or used code is ``invalid_grant``; a *used* one also revokes what
  its first redemption issued, the access token and the whole refresh family (§4.1.2: "If an
  authorization code is used more than once, the authorization server MUST deny the request and
  SHOULD revoke (when possible) all tokens previously issued based on that authorization code").
* **Bindings**, checked once the code is claimed, so a failed attempt burns it (whoever holds a
  code but not its verifier cannot try again, and the client starts over): the client
  (``invalid_grant``, §4.1.3 "ensure that the authorization code was issued to the authenticated
  confidential client, or ... public client"), the exact ``redirect_uri`` (``invalid_grant``),
  PKCE S256 (``BASE64URL(SHA256(verifier)) == challenge``, constant time; ``invalid_grant``,
  RFC 7636 §4.6) and, if sent, a ``resource`` the grant was for (``invalid_target``, RFC 8707
  §2.2): the code's own (normalised), or one that names the code's realm by the matching rule
  of :mod:`authmanager.operations.targets`.
* **Scope**: absent, the code's scopes; present, a subset of them (``invalid_scope`` otherwise)
  narrows the access token, while the refresh token keeps the whole grant (RFC 6749 §6 lets a
  later refresh ask for any of it). Scopes the realm no longer has are dropped.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..clients import ClientInfo
from ..errors import InvalidGrant, InvalidRequest, InvalidTarget, UnauthorizedClient
from ..operations import consents
from ..operations.revocation import revoke_token
from ..operations.targets import require_within, target_key
from ..runtime.keyring import KeyRing
from ..secretbox import digest
from ..storage import codes as code_repo
from ..storage import realms as realm_repo
from ..storage import refresh_tokens as refresh_repo
from ..storage.models import AccessToken, AuthorizationCode
from . import person_tokens
from .person_tokens import Binding, Lifetimes, PersonTokens, narrowed

GRANT_TYPE = "authorization_code"
MAX_CODE = 512
#: RFC 7636 §4.1: ``code-verifier = 43*128unreserved``.
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
_REFUSED = "the code is unknown, expired or already used"

log = logging.getLogger("authmanager.authorization_code")


@dataclass(frozen=True, slots=True)
class Request:
    code: str
    redirect_uri: str
    code_verifier: str
    resource: str | None
    scope: str | None


def parse(params: Mapping[str, str]) -> Request:
    """§4.1.3's parameters, each present once (the form reader refuses duplicates)."""
    for name in ("code", "redirect_uri", "code_verifier"):
        if not params.get(name):
            raise InvalidRequest(f"{name} is required")
    verifier = params["code_verifier"]
    if _VERIFIER.fullmatch(verifier) is None:
        raise InvalidRequest("code_verifier must be 43-128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636 §4.1)")
    resource = params.get("resource")
    if resource is not None:
        target_key(resource)  # malformed: invalid_target (RFC 8707 §2), the code untouched
    return Request(code=params["code"], redirect_uri=params["redirect_uri"], code_verifier=verifier,
                   resource=resource, scope=params.get("scope"))


def s256(verifier: str) -> str:
    """RFC 7636 §4.2: ``BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))``, unpadded."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode("ascii")


def pkce_matches(verifier: str, challenge: str) -> bool:
    return hmac.compare_digest(s256(verifier).encode("ascii"), challenge.encode("ascii", "replace"))


def allowed(client: ClientInfo) -> bool:
    return GRANT_TYPE in client.grant_types


async def redeem(session: AsyncSession, *, client: ClientInfo, request: Request, keyring: KeyRing, issuer: str,
                 now: int, lifetimes: Lifetimes, client_key_id: int | None = None,
                 ceiling: frozenset[str] | None = None) -> PersonTokens:
    if not allowed(client):
        raise UnauthorizedClient(f"the client is not registered for the {GRANT_TYPE} grant")
    if len(request.code) > MAX_CODE:
        raise InvalidGrant(_REFUSED)
    code_hash = digest(request.code)
    bound = (await session.execute(select(AuthorizationCode.client_id, AuthorizationCode.account_id,
                                          AuthorizationCode.realm_id)
                                   .where(AuthorizationCode.code_hash == code_hash))).first()
    if bound is not None and not await consents.given(session, client_id=bound.client_id,
                                                      account_id=bound.account_id, realm_id=bound.realm_id):
        raise InvalidGrant(_REFUSED)  # its consent was revoked (the code too, then)
    if not await code_repo.claim(session, code_hash, now=now):
        row = await code_repo.by_hash(session, code_hash)
        if row is not None and row.used_at is not None:
            await _revoke_first(session, row, now=now)
        raise InvalidGrant(_REFUSED)
    code = await code_repo.by_hash(session, code_hash)
    assert code is not None
    if code.client_id != client.client_id:
        raise InvalidGrant("the code was issued to another client")
    if code.redirect_uri != request.redirect_uri:
        raise InvalidGrant("redirect_uri is not the one the code was issued for")
    if not pkce_matches(request.code_verifier, code.code_challenge):
        raise InvalidGrant("code_verifier does not match the code_challenge")
    await require_within(session, request.resource, realm_id=code.realm_id, granted=code.resource)
    realm = await realm_repo.by_id(session, code.realm_id)
    if realm is None:
        raise InvalidGrant(_REFUSED)
    known = {s.name for s in await realm_repo.scopes(session, realm.id)}
    granted = frozenset(code.scopes) & known
    if not granted:
        raise InvalidGrant("the code's scopes no longer exist in its realm")
    access = narrowed(request.scope, granted)
    binding = Binding(client_id=client.client_id, account_id=code.account_id, realm_id=realm.id,
                      realm_name=realm.name, audience=realm.resource, resource=code.resource)
    issued = await person_tokens.issue(session, binding=binding, access_scopes=access, refresh_scopes=granted,
                                       family_id=None, absolute_expires_at=None, keyring=keyring, issuer=issuer,
                                       now=now, lifetimes=lifetimes, grant=GRANT_TYPE, client_key_id=client_key_id,
                                       ceiling=ceiling)
    token = await session.get(AccessToken, issued.claims["jti"])
    assert token is not None and token.family_id is not None
    await code_repo.record_issued(session, code.id, token_jti=token.jti, family_id=token.family_id)
    return issued


async def _revoke_first(session: AsyncSession, code: AuthorizationCode, *, now: int) -> None:
    """A replayed code: revoke the access token and the refresh family its first redemption
    issued (each access token's revocation pushes a feed event)."""
    revoked = 0
    if code.family_id is not None:
        revoked += await refresh_repo.revoke_family(session, code.family_id, now, actor="system",
                                                    reason="authorization code replayed")
    token = await session.get(AccessToken, code.token_jti) if code.token_jti else None
    if token is not None and await revoke_token(session, token, now=now, actor="system"):
        revoked += 1
    log.warning("authorization code %d redeemed again; %d token(s) of its grant revoked", code.id, revoked)
