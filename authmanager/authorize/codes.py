"""Authorization codes: issued by the dialog, redeemed at the token endpoint
(:mod:`authmanager.grants.authorization_code`). No aiohttp here.

A code is 256 random bits, shown once (in the redirect) and kept only as its SHA-256; it lives at
most :data:`CODE_TTL` seconds (RFC 6749 §4.1.2: "A maximum authorization code lifetime of 10
minutes is RECOMMENDED"; OAuth 2.1 and this AM: far shorter) and is bound to everything the token
request must repeat."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from ..secretbox import digest, random_secret
from ..storage.models import AuthorizationCode

#: Seconds a code lives.
CODE_TTL = 60


async def issue(session: AsyncSession, *, client_id: str, account_id: int, realm_id: int, redirect_uri: str,
                code_challenge: str, resource: str, scopes: Sequence[str], now: int,
                dpop_jkt: str | None = None, ttl: int = CODE_TTL) -> str:
    """Store a new code in ``session``'s transaction and return its value (never stored)."""
    code = random_secret(32)
    session.add(AuthorizationCode(code_hash=digest(code), client_id=client_id, account_id=account_id,
                                  realm_id=realm_id, redirect_uri=redirect_uri, code_challenge=code_challenge,
                                  resource=resource, scopes=list(scopes), dpop_jkt=dpop_jkt, created_at=now,
                                  expires_at=now + min(ttl, CODE_TTL)))
    return code
