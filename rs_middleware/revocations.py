"""Revocations the resource server has learnt from the AM's feed (docs/protocol.md §11).

* ``token_revoked {jti, exp}`` — refuse the token whose RFC 9068 §2.2 ``jti`` this is.
* ``client_revoked {client_id, issued_before, exp}`` — refuse every token of ``client_id``
  with ``iat <= issued_before``.

Both sets are bounded by expiry: an entry is dropped once ``claims.expired(exp, now, leeway)``
holds, i.e. from the moment every token it names would be refused as expired anyway (the same
leeway as first-sight verification, so no revoked token slips through in the leeway window).
A later event for the same ``jti`` / ``client_id`` only ever widens the entry (largest
``issued_before``, latest ``exp``), which covers the union of both revocations.

Pure: no I/O, no aiohttp.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable

from .claims import expired

REVOKED = "token revoked"
_TOKEN, _CLIENT = 0, 1


class Revocations:
    """The revoked ``jti`` and ``client_id`` sets, with an expiry heap for purging."""

    def __init__(self, *, now: Callable[[], float] = time.time, leeway: float = 30) -> None:
        self._now, self._leeway = now, leeway
        self._tokens: dict[str, float] = {}  # jti -> exp
        self._clients: dict[str, tuple[float, float]] = {}  # client_id -> (issued_before, exp)
        self._heap: list[tuple[float, int, str]] = []  # (exp, kind, key); stale items skipped

    def __len__(self) -> int:
        return len(self._tokens) + len(self._clients)

    def revoke_token(self, jti: str, exp: float) -> None:
        """Remember that ``jti`` is revoked until ``exp`` (+ leeway)."""
        self.purge()
        if expired(exp, self._now(), self._leeway):
            return
        if exp > self._tokens.get(jti, float("-inf")):
            self._tokens[jti] = exp
            heapq.heappush(self._heap, (exp, _TOKEN, jti))

    def revoke_client(self, client_id: str, issued_before: float, exp: float) -> None:
        """Remember that ``client_id``'s tokens with ``iat <= issued_before`` are revoked."""
        self.purge()
        if expired(exp, self._now(), self._leeway):
            return
        old_before, old_exp = self._clients.get(client_id, (float("-inf"), float("-inf")))
        self._clients[client_id] = (max(old_before, issued_before), max(old_exp, exp))
        if exp > old_exp:
            heapq.heappush(self._heap, (exp, _CLIENT, client_id))

    def reason(self, jti: str, client_id: str, iat: float) -> str | None:
        """``"token revoked"`` if a known revocation names this token, else ``None``."""
        if jti in self._tokens:
            return REVOKED
        client = self._clients.get(client_id)
        if client is not None and iat <= client[0]:
            return REVOKED
        return None

    def purge(self) -> int:
        """Drop the entries that can no longer matter; returns how many were dropped."""
        now, dropped, heap = self._now(), 0, self._heap
        while heap and expired(heap[0][0], now, self._leeway):
            exp, kind, key = heapq.heappop(heap)
            if kind == _TOKEN and self._tokens.get(key) == exp:
                del self._tokens[key]
                dropped += 1
            elif kind == _CLIENT and key in self._clients and self._clients[key][1] == exp:
                del self._clients[key]
                dropped += 1
        return dropped
