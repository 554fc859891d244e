"""Claim-level rules shared by first-sight verification, the token cache and the revoked sets.

* ``InvalidToken`` — the token must be refused (→ 401 ``invalid_token``, RFC 6750 §3.1).
* ``expired`` — the one expiry rule.  RFC 7519 §4.1.4: "the current date/time MUST be before
  the expiration date/time listed in the "exp" claim", so ``exp`` is *exclusive*; the same
  section allows "some small leeway ... to account for clock skew".  ProtectServe applies the
  configured ``leeway`` (default 30 s, docs/protocol.md §7) everywhere: a token is usable while
  ``now < exp + leeway`` and refused from ``now >= exp + leeway`` on, on first sight (JWKS and
  introspection) and on a cache hit alike; a revocation is remembered exactly as long.
* ``revocation_handles`` — the RFC 9068 §2.2 claims a revocation can name (``jti``,
  ``client_id``) and the ``iat`` a consumer revocation is compared with.

Pure: no I/O, no aiohttp.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class InvalidToken(Exception):
    """The token must be refused; ``description`` is safe to send in ``error_description``."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


def expired(exp: float, now: float, leeway: float) -> bool:
    """True from ``exp + leeway`` on (RFC 7519 §4.1.4: ``exp`` is exclusive)."""
    return now >= exp + leeway


def revocation_handles(claims: Mapping[str, Any]) -> tuple[str, str, float]:
    """``(jti, client_id, iat)`` of verified claims; ``InvalidToken`` when one is missing.

    RFC 9068 §2.2 makes ``jti`` and ``client_id`` REQUIRED; without them a token could not be
    reached by a ``token_revoked`` or ``client_revoked`` event (docs/protocol.md §11), so the
    offline path refuses it rather than honour it blindly.
    """
    jti, client_id, iat = claims.get("jti"), claims.get("client_id"), claims.get("iat")
    if not isinstance(jti, str) or not jti:
        raise InvalidToken("missing claim: jti")
    if not isinstance(client_id, str) or not client_id:
        raise InvalidToken("missing claim: client_id")
    if not isinstance(iat, (int, float)) or isinstance(iat, bool):
        raise InvalidToken("missing claim: iat")
    return jti, client_id, iat
