"""ProtectServe step 1's token request: RFC 6749 §4.4 client credentials, naming the realm by ``sph``.

No aiohttp here: the endpoint hands over the already-authenticated consumer and the form
parameters; this module checks the realm and scope, asks the policy evaluator, mints the token
and persists its digest — all inside the caller's transaction, so an error stores nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from .. import policy
from ..errors import InvalidRequest, InvalidScope, RequestDenied
from ..secretbox import digest
from ..storage import realms as realm_repo
from ..storage import tokens as token_repo
from ..keyring import KeyRing
from ..storage.models import AccessToken, Consumer
from ..tokens import access_token_claims

GRANT_TYPE = "client_credentials"
MAX_SCOPES = 50


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
    """RFC 6749 §3.3: space-delimited, case-sensitive scope tokens (printable ASCII, no ``"`` or ``\\``)."""
    if raw is None or not raw.strip():
        raise InvalidScope("scope is required")
    items = raw.split(" ")
    if "" in items or len(items) > MAX_SCOPES:
        raise InvalidScope("scope must be single-space separated tokens")
    for item in items:
        if not all(0x21 <= ord(c) <= 0x7E and c not in '"\\' for c in item):
            raise InvalidScope("scope token has invalid characters")
    return frozenset(items)


async def issue(
    session: AsyncSession,
    *,
    consumer: Consumer,
    params: Mapping[str, str],
    keyring: KeyRing,
    issuer: str,
    now: int,
    default_ttl: int,
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
    policy_subject = consumer.parent_id or consumer.client_id
    if consumer.parent_id is not None:
        if not realm.allow_subkeys:
            raise RequestDenied(f"realm {realm.name} does not accept grasshopper keys")
        limit = consumer.client_metadata.get("scope")
        if limit:
            requested = requested & frozenset(limit.split())
    rules = [
        policy.Rule(id=p.id, effect=p.effect, scopes=frozenset(p.scopes), consumer=p.consumer, max_ttl=p.max_ttl)
        for p in await realm_repo.policies(session, realm.id)
    ]
    decision = policy.evaluate(rules, consumer=policy_subject, requested=requested, default_ttl=default_ttl)
    if not decision.permitted:
        raise RequestDenied("the realm's policies deny this request")
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
    await token_repo.add(
        session,
        AccessToken(jti=claims["jti"], token_hash=digest(value), client_id=client_id, realm_id=realm.id,
                    scope=scope, issued_at=now, expires_at=claims["exp"]),
    )
    return TokenResponse(access_token=value, expires_in=ttl, scope=scope, claims=claims)
