"""Tokens issued for a person (the authorization-code and refresh grants): an RFC 9068 access
token whose ``sub`` is the account's stable subject and whose ``client_id`` is the application,
plus a refresh token of the grant's family. No aiohttp here; everything runs in the caller's
transaction.

The access token is signed by the key ring like every other (:func:`authmanager.tokens.access_token_claims`)
and stored as an ``access_tokens`` row by digest, with ``account_id`` and ``family_id``, so that
revoking the family (reuse of a refresh token, a replayed code, RFC 7009, a revoked consent)
revokes it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from .. import audit
from ..errors import InvalidScope
from ..runtime.keyring import KeyRing
from ..secretbox import digest, random_secret
from ..storage import refresh_tokens as refresh_repo
from ..storage import tokens as token_repo
from ..storage.models import AccessToken, RefreshToken
from ..tokens import access_token_claims, subject_of
from .issuance import parse_scope


@dataclass(frozen=True, slots=True)
class PersonTokens:
    """RFC 6749 §5.1 with a refresh token (§1.5, §6)."""

    access_token: str
    expires_in: int
    scope: str
    refresh_token: str
    claims: dict[str, Any]

    def body(self) -> dict[str, Any]:
        return {"access_token": self.access_token, "token_type": "Bearer", "expires_in": self.expires_in,
                "scope": self.scope, "refresh_token": self.refresh_token}


@dataclass(frozen=True, slots=True)
class Lifetimes:
    access: int
    refresh_idle: int
    refresh_absolute: int


@dataclass(frozen=True, slots=True)
class Binding:
    """What every token of a family is bound to."""

    client_id: str
    account_id: int
    realm_id: int
    realm_name: str
    audience: str
    resource: str


async def issue(session: AsyncSession, *, binding: Binding, access_scopes: frozenset[str],
                refresh_scopes: frozenset[str], family_id: str | None, absolute_expires_at: int | None,
                keyring: KeyRing, issuer: str, now: int, lifetimes: Lifetimes, grant: str,
                client_key_id: int | None = None, ceiling: frozenset[str] | None = None) -> PersonTokens:
    """Mint and store an access token and a refresh token. ``family_id`` None starts a family
    (an authorization-code grant), whose absolute end is ``now + refresh_absolute``; a rotation
    passes the family's id and end. The refresh token's idle end never passes the absolute one.

    A confidential client authenticated by a registered key (``client_key_id``) gets an access
    token that names the key and never carries a scope beyond the key's ``ceiling``
    (``invalid_scope`` when nothing is left); the refresh token keeps the grant's scopes, bound
    to the client, not to the key."""
    if ceiling is not None:
        access_scopes = access_scopes & ceiling
        if not access_scopes:
            raise InvalidScope("the signing key's scope ceiling allows none of the granted scopes")
    if family_id is None:
        family_id = random_secret(16)
        absolute_expires_at = now + lifetimes.refresh_absolute
    assert absolute_expires_at is not None
    scope = " ".join(sorted(access_scopes))
    ttl = lifetimes.access
    claims = access_token_claims(issuer=issuer, client_id=binding.client_id, audience=binding.audience,
                                 realm=binding.realm_name, scope=scope, now=now, ttl=ttl,
                                 subject=subject_of(issuer, binding.account_id))
    value = keyring.sign(claims, now=now)
    await token_repo.add(session, AccessToken(
        jti=claims["jti"], token_hash=digest(value), client_id=binding.client_id, realm_id=binding.realm_id,
        scope=scope, issued_at=now, expires_at=claims["exp"], account_id=binding.account_id, family_id=family_id,
        client_key_id=client_key_id))
    refresh = random_secret(32)
    await refresh_repo.add(session, RefreshToken(
        token_hash=digest(refresh), family_id=family_id, client_id=binding.client_id,
        account_id=binding.account_id, realm_id=binding.realm_id, resource=binding.resource,
        scopes=sorted(refresh_scopes), created_at=now, expires_at=min(now + lifetimes.refresh_idle, absolute_expires_at),
        absolute_expires_at=absolute_expires_at))
    await audit.record(session, action="token.issue", actor=f"client:{binding.client_id}", now=now,
                       realm_id=binding.realm_id, target=claims["jti"],
                       detail={"scope": scope, "exp": claims["exp"], "grant": grant, "account_id": binding.account_id,
                               "family": family_id})
    return PersonTokens(access_token=value, expires_in=ttl, scope=scope, refresh_token=refresh, claims=claims)


def narrowed(raw: str | None, granted: frozenset[str]) -> frozenset[str]:
    """RFC 6749 §6 (and, by this AM's choice, §4.1.3): a ``scope`` in the token request may
    narrow what was granted, never widen it (``invalid_scope``); absent, the whole grant."""
    if raw is None:
        return granted
    requested = parse_scope(raw)
    if not requested <= granted:
        raise InvalidScope("scope exceeds what was granted: " + " ".join(sorted(requested - granted)))
    return requested
