"""Verified-token cache: a repeat request costs a dict lookup, not an ES256 signature check.

* Keyed by the SHA-256 digest of the token — the token itself is never stored (like the AM,
  docs/protocol.md §6, which keeps only a token's hash).
* Bounded: at most ``max_entries`` (default 100 000); the least recently used entry goes first.
* Compact: an entry is one tuple ``(shape, *values)``.  The claim *names* live once per
  distinct claim set (the shape); values that many tokens share (``iss``, ``aud``, ``scope``,
  ``realm``, ``client_id``, ``iat`` …) are de-duplicated through a small bounded pool, so an
  RFC 9068 token costs about 0.5 KB (100 000 entries stay well under 64 MB).
* A hit is never served at or after expiry — ``claims.expired``: refused from
  ``now >= exp + leeway`` on (RFC 7519 §4.1.4, ``exp`` exclusive, with the same ``leeway`` as
  first-sight verification) — nor when a known revocation names it (``Revocations.reason``:
  its ``jti``, or its ``client_id`` with ``iat <= issued_before``).  Such entries are evicted
  and the hit raises ``InvalidToken``.

Only tokens that passed full verification are ``put`` here; the caller (``guarded``) decides.
Pure: no I/O, no aiohttp.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from .claims import InvalidToken, expired
from .revocations import Revocations

DEFAULT_CACHE_SIZE = 100_000
#: Distinct shared values remembered for de-duplication; the pool is simply reset when full.
POOL_LIMIT = 4096
#: Distinct claim-name sets remembered; more (unusual) shapes are still cached, unshared.
SHAPE_LIMIT = 256


class _Shape:
    """The claim names of a family of tokens and where the claims the cache needs are."""

    __slots__ = ("names", "nested", "exp", "iat", "jti", "client_id")

    def __init__(self, names: tuple[str, ...], nested: tuple[int, ...]) -> None:
        self.names, self.nested = names, nested
        position = {name: i + 1 for i, name in enumerate(names)}  # values start at entry[1]
        self.exp, self.iat = position["exp"], position["iat"]
        self.jti, self.client_id = position["jti"], position["client_id"]

    def claims(self, entry: tuple[Any, ...]) -> dict[str, Any]:
        claims = dict(zip(self.names, entry[1:]))
        for i in self.nested:  # lists and objects: a fresh copy per hit, never shared state
            name = self.names[i]
            claims[name] = json.loads(claims[name])
        return claims


def token_key(token: str) -> bytes:
    """The cache key: SHA-256 of the token (FIPS 180-4); the token is never kept."""
    return hashlib.sha256(token.encode()).digest()


class TokenCache:
    """LRU map ``sha256(token) -> compact claims``, exp- and revocation-aware."""

    def __init__(
        self, *, max_entries: int = DEFAULT_CACHE_SIZE, now: Callable[[], float] = time.time,
        leeway: float = 30, revocations: Revocations | None = None,
    ) -> None:
        if max_entries < 0:
            raise ValueError("max_entries must be >= 0")
        self.max_entries, self._now, self._leeway = max_entries, now, leeway
        self.revocations = revocations
        self._entries: OrderedDict[bytes, tuple[Any, ...]] = OrderedDict()
        self._shapes: dict[tuple[tuple[str, ...], tuple[int, ...]], _Shape] = {}
        self._pool: dict[Any, Any] = {}
        self.hits = self.misses = self.evictions = 0

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()

    def get(self, token: str) -> dict[str, Any] | None:
        """The cached claims, ``None`` on a miss; ``InvalidToken`` if expired or revoked."""
        key = token_key(token)
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        shape: _Shape = entry[0]
        if expired(entry[shape.exp], self._now(), self._leeway):
            del self._entries[key]
            raise InvalidToken("token expired")
        if self.revocations is not None:
            reason = self.revocations.reason(entry[shape.jti], entry[shape.client_id], entry[shape.iat])
            if reason is not None:
                del self._entries[key]
                raise InvalidToken(reason)
        self._entries.move_to_end(key)
        self.hits += 1
        return shape.claims(entry)

    def put(self, token: str, claims: Mapping[str, Any]) -> None:
        """Remember verified ``claims``; they must carry ``exp``, ``iat``, ``jti``, ``client_id``."""
        if self.max_entries == 0:
            return
        names = tuple(claims)
        values: list[Any] = [self._pooled(name, claims[name]) for name in names]
        nested = tuple(i for i, v in enumerate(values) if isinstance(v, (list, dict)))
        for i in nested:
            values[i] = json.dumps(values[i], separators=(",", ":"))
        entries = self._entries
        key = token_key(token)
        entries[key] = (self._shape(names, nested), *values)
        entries.move_to_end(key)
        while len(entries) > self.max_entries:
            entries.popitem(last=False)
            self.evictions += 1

    def _shape(self, names: tuple[str, ...], nested: tuple[int, ...]) -> _Shape:
        shape = self._shapes.get((names, nested))
        if shape is None:
            names = tuple(self._pooled("", name) for name in names)
            shape = _Shape(names, nested)
            if len(self._shapes) < SHAPE_LIMIT:
                self._shapes[(names, nested)] = shape
        return shape

    def _pooled(self, name: str, value: Any) -> Any:
        """One shared object per equal ``str``/``int`` value (``jti`` is unique: not pooled)."""
        if name == "jti" or (type(value) is not str and type(value) is not int):
            return value
        pooled = self._pool.get(value)
        if pooled is not None:
            return pooled
        if len(self._pool) >= POOL_LIMIT:
            self._pool.clear()
        self._pool[value] = value
        return value
