"""Minting an access token for a consumer key, shared by ``client_credentials`` and the UMA
ticket grant: the RFC 6749 §5.1 response, §3.3 scope syntax, and the grasshopper caps.

No aiohttp here; everything runs inside the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from ..errors import InvalidScope, RequestDenied
from ..identifiers import is_scope_token
from ..policy import Decision
from ..runtime.keyring import KeyRing
from ..secretbox import digest
from ..storage import tokens as token_repo
from ..storage.models import AccessToken
from ..tokens import access_token_claims

MAX_SCOPES = 50


class ConsumerLike(Protocol):
    """A consumer key as the grants read it: the ORM row or its cached
    :class:`~authmanager.runtime.consumer_keys.ConsumerKey`."""

    client_id: str
    parent_id: str | None
    expires_at: int | None
    client_metadata: dict[str, Any]


class RealmLike(Protocol):
    """A realm as the grants read it: the ORM row or a row of the ``realms`` table."""

    id: int
    name: str
    resource: str
    allow_subkeys: bool


@dataclass(frozen=True, slots=True)
class TokenResponse:
    """RFC 6749 §5.1."""

    access_token: str
    expires_in: int
    scope: str
    claims: dict

    def body(self) -> dict:
        return {"access_token": self.access_token, "token_type": "Bearer", "expires_in": self.expires_in,
                "scope": self.scope}


def parse_scope(raw: str | None) -> frozenset[str]:
    """RFC 6749 §3.3: space-delimited, case-sensitive scope tokens (printable ASCII, no ``"`` or
    ``\\``), each at most 100 characters (:func:`authmanager.identifiers.is_scope_token`)."""
    if raw is None or not raw.strip():
        raise InvalidScope("scope is required")
    items = raw.split(" ")
    if "" in items or len(items) > MAX_SCOPES:
        raise InvalidScope("scope must be single-space separated tokens")
    for item in items:
        if not is_scope_token(item):
            raise InvalidScope("scope token has invalid characters")
    return frozenset(items)


def policy_client(consumer: ConsumerLike) -> str:
    """The key policies and saved grants are judged for: a grasshopper sub-key counts as its master."""
    return consumer.parent_id or consumer.client_id


def within_subkey_limits(consumer: ConsumerLike, realm: RealmLike, requested: frozenset[str]) -> frozenset[str]:
    """A grasshopper sub-key is refused by realms that forbid them, and never asks for more than
    the scope it was narrowed to at creation."""
    if consumer.parent_id is None:
        return requested
    if not realm.allow_subkeys:
        raise RequestDenied(f"realm {realm.name} does not accept grasshopper keys")
    limit = consumer.client_metadata.get("scope")
    return requested & frozenset(limit.split()) if limit else requested


def within_ceiling(requested: frozenset[str], ceiling: frozenset[str] | None) -> frozenset[str]:
    """A request signed by a registered key with a scope ceiling (OAuth3 issuer step 4: "The key
    will not be allowed to use a scope beyond that which it has been assigned, regardless of the
    scopes identified in a token itself") is decided for the requested scopes within the ceiling
    only; None (a key without a ceiling, or no key) follows the consumer."""
    return requested if ceiling is None else requested & ceiling


def mint(*, consumer: ConsumerLike, realm: RealmLike, decision: Decision, keyring: KeyRing, issuer: str,
         now: int, client_key_id: int | None = None) -> tuple[TokenResponse, dict[str, Any]]:
    """Sign a token for ``decision.granted`` and return it with the row to persist (its digest,
    never its value). A sub-key's tokens never outlive it and name its master (``parent_client_id``);
    a token obtained with a registered key's assertion names the key (``client_key_id``)."""
    ttl = decision.ttl
    extra = None
    if consumer.parent_id is not None and consumer.expires_at is not None:
        ttl = min(ttl, consumer.expires_at - now)
        extra = {"parent_client_id": consumer.parent_id}
    client_id = consumer.client_id
    scope = " ".join(sorted(decision.granted))
    claims = access_token_claims(
        issuer=issuer, client_id=client_id, audience=realm.resource, realm=realm.name, scope=scope, now=now,
        ttl=ttl, extra=extra,
    )
    value = keyring.sign(claims, now=now)
    row = {"jti": claims["jti"], "token_hash": digest(value), "client_id": client_id, "realm_id": realm.id,
           "scope": scope, "issued_at": now, "expires_at": claims["exp"], "client_key_id": client_key_id}
    return TokenResponse(access_token=value, expires_in=ttl, scope=scope, claims=claims), row


async def mint_for_consumer(session: AsyncSession, *, consumer: ConsumerLike, realm: RealmLike,
                            decision: Decision, keyring: KeyRing, issuer: str, now: int,
                            client_key_id: int | None = None) -> TokenResponse:
    """:func:`mint`, persisted in the caller's session."""
    issued, row = mint(consumer=consumer, realm=realm, decision=decision, keyring=keyring, issuer=issuer, now=now,
                       client_key_id=client_key_id)
    await token_repo.add(session, AccessToken(**row))
    return issued
