"""Token format ("strategy"): RFC 9068 JWT access-token claims. Signing is the key ring's."""

from __future__ import annotations

from typing import Any

from .secretbox import random_secret


def access_token_claims(
    *, issuer: str, client_id: str, audience: str, realm: str, scope: str, now: int, ttl: int,
    extra: dict[str, Any] | None = None,
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
        **(extra or {}),
    }
