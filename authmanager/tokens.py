"""Token format ("strategy"): RFC 9068 JWT access tokens signed by the AM's key ring.

The key ring is loaded once at start-up; minting is pure CPU (no I/O on the issuance path
beyond persisting the token's digest). The private key is kept in the database sealed under
the server key; the public halves are published at ``jwks_uri``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .secretbox import SecretBox, random_secret
from .storage import keys as key_repo
from .storage.models import SigningKey

ALGORITHM = "ES256"
TOKEN_TYPE = "at+jwt"  # RFC 9068 §2.1


@dataclass(frozen=True, slots=True)
class IssuedToken:
    value: str
    jti: str
    claims: dict[str, Any]


class KeyRing:
    """The signing keys: the active one signs, all published ones appear in the JWKS."""

    def __init__(self, keys: list[tuple[SigningKey, ECKey]]):
        if not keys:
            raise ValueError("key ring is empty")
        self._keys = keys
        active = [(row, k) for row, k in keys if row.state == "active"] or keys
        signing_row, self._signing = active[-1]
        self._kid = signing_row.kid
        self._jwks = {"keys": [row.public_jwk for row, _ in keys]}

    @property
    def kid(self) -> str:
        return self._kid

    def jwks(self) -> dict[str, Any]:
        return self._jwks

    def sign(self, claims: dict[str, Any]) -> str:
        header = {"alg": ALGORITHM, "typ": TOKEN_TYPE, "kid": self._kid}
        return jwt.encode(header, claims, self._signing)

    @classmethod
    async def load(cls, sessions: async_sessionmaker[AsyncSession], box: SecretBox, *, now: float | None = None) -> "KeyRing":
        """Load published keys, creating the first ES256 key if there is none."""
        async with sessions.begin() as session:
            rows = await key_repo.published(session)
            if not rows:
                rows = [await _create_key(session, box, now=int(now if now is not None else time.time()))]
            keys = [
                (row, ECKey.import_key(box.open(row.private_sealed, aad=row.kid), parameters={"kid": row.kid}))
                for row in rows
            ]
        return cls(keys)


async def _create_key(session: AsyncSession, box: SecretBox, *, now: int) -> SigningKey:
    kid = random_secret(12)
    key = ECKey.generate_key("P-256", parameters={"kid": kid, "alg": ALGORITHM, "use": "sig"}, private=True)
    row = SigningKey(
        kid=kid,
        alg=ALGORITHM,
        private_sealed=box.seal(key.as_pem(private=True), aad=kid),
        public_jwk=key.as_dict(private=False),
        state="active",
        created_at=now,
    )
    await key_repo.add(session, row)
    return row


def access_token_claims(
    *, issuer: str, client_id: str, audience: str, realm: str, scope: str, now: int, ttl: int
) -> dict[str, Any]:
    """RFC 9068 §2.2 claims. ``sub`` is the client itself for the client-credentials grant."""
    return {
        "iss": issuer,
        "sub": client_id,
        "aud": audience,
        "client_id": client_id,
        "scope": scope,
        "realm": realm,
        "iat": now,
        "exp": now + ttl,
        "jti": random_secret(16),
    }
