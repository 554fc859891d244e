"""The jwks-mode verifier the middleware uses: cache, revocations and the feed's freshness gate.

``GuardedVerifier.verify(token)``, in order (docs/protocol.md §7, §11):

1. If a revocation feed is configured and not ``fresh`` (never caught up, or silent longer than
   ``max_staleness``), fail closed: validate by RFC 7662 introspection (§2.1, ``sph:sph_secret``)
   when the AM has an introspection endpoint, else raise ``FeedStale`` (→ ``503`` +
   ``Retry-After``).  Cache and offline keys are not trusted meanwhile.
2. A cache hit (``TokenCache.get``: one SHA-256 and a dict lookup) returns the claims, if their
   ``realm`` is this SP's (a cache holds only what passed step 3 here, but a hit is not trusted
   to say whose it is); an expired, revoked or other-realm hit raises ``InvalidToken``.
3. Otherwise full RFC 9068 validation (``JWKSVerifier``: signature, ``typ``, ``iss``, ``aud``,
   ``realm``, ``exp`` …), then RFC 9068 §2.2 ``jti`` / ``client_id`` must be present and no known
   revocation may name the token; only then is it cached.

Without a feed (``feed=False``, no ``sph_secret``, or an AM that does not advertise one) steps 2–3
still apply; revocations are then simply never learnt (§9: honoured until ``exp``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from .am_client import AMUnavailable
from .cache import TokenCache
from .claims import InvalidToken, revocation_handles
from .verifier import Claims, JWKSVerifier, TokenVerifier, check_realm


class FeedStale(AMUnavailable):
    """The revocation feed is not current and there is no introspection to fall back on."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("revocation feed is not current")
        self.retry_after = retry_after


class GuardedVerifier:
    """``TokenVerifier`` combining ``TokenCache``, ``JWKSVerifier`` and a freshness gate."""

    def __init__(
        self, *, jwks: JWKSVerifier, cache: TokenCache, fresh: Callable[[], bool] | None = None,
        fallback: TokenVerifier | None = None, retry_after: Callable[[], float] = lambda: 1.0,
    ) -> None:
        self.jwks, self.cache = jwks, cache
        self._fresh, self.fallback, self._retry_after = fresh, fallback, retry_after
        self.fallbacks = 0  # tokens validated by the fallback because the feed was not fresh

    async def verify(self, token: str) -> Claims:
        if self._fresh is not None and not self._fresh():
            if self.fallback is None:
                raise FeedStale(max(1, math.ceil(self._retry_after())))
            self.fallbacks += 1
            return await self.fallback.verify(token)
        cached = self.cache.get(token)
        if cached is not None:
            check_realm(cached, self.jwks.realm)
            return cached
        claims = await self.jwks.verify(token)
        jti, client_id, iat = revocation_handles(claims)
        revocations = self.cache.revocations
        if revocations is not None:
            reason = revocations.reason(jti, client_id, iat)
            if reason is not None:
                raise InvalidToken(reason)
        self.cache.put(token, claims)
        return claims
