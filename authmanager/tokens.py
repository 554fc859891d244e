"""Token format ("strategy"): RFC 9068 JWT access-token claims. Signing is the key ring's."""

from __future__ import annotations

from typing import Any

from .secretbox import random_secret


def access_token_claims(
    *, issuer: str, client_id: str, audience: str, realm: str, scope: str, now: int, ttl: int,
    extra: dict[str, Any] | None = None, subject: str | None = None,
) -> dict[str, Any]:
    """RFC 9068 §2.2 claims. ``sub`` is the client itself for the client-credentials grant
    (§2.2: "In cases of access tokens obtained through grants where no resource owner is
    involved, such as the client credentials grant, the value of sub SHOULD correspond to an
    identifier the authorization server uses to indicate the client application"); for a
    person's token (authorization code, refresh) it is ``subject``, the account's stable
    identifier (:func:`subject_of`), and ``client_id`` stays the application."""
    return {
        "iss": issuer,
        "sub": subject or client_id,
        "aud": audience,
        "client_id": client_id,
        "scope": scope,
        "realm": realm,
        "iat": now,
        "exp": now + ttl,
        "jti": random_secret(16),
        **(extra or {}),
    }


def subject_of(issuer: str, account_id: int) -> str:
    """An account's stable subject (issue 12 contract, same format as ``authmanager.accounts``):
    ``{issuer}/people/{account_id}``: never reassigned, and a URL, as IndieAuth's ``me`` is."""
    return f"{issuer}/people/{account_id}"
