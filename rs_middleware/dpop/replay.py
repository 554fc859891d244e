"""A resource server's memory of spent DPoP proof ``jti`` values (RFC 9449 §11.1).

§11.1: servers "SHOULD store, in the context of the target URI, the jti value of each DPoP
proof for the time window in which the respective DPoP proof JWT would be accepted", and allow
that store to be per server.  This one is per process:

* ``claim(jti, until)`` is True the first time and False for a replay; it awaits nothing, so it
  is atomic within the event loop.  ``until`` is ``Proof.replay_until`` (iat + max_age): after
  it the proof fails its ``iat`` check anyway and the entry is dropped.
* Bounded: at most ``max_entries`` (default 100 000) unexpired entries.  A full cache does not
  forget a live entry (that would re-open its replay window): ``claim`` raises
  ``ReplayCacheFull`` instead, for the middleware to answer 503 with ``Retry-After``.  Size
  it for the peak rate of proofs times the window: 100 000 covers 1 500 proofs/s at the default
  65 s (max_age 60 s + max_ahead 5 s).
* Memory: about 200 bytes per entry, measured with tracemalloc — the 22-character jti string
  (71 bytes), one float, one heap tuple and one dict slot: 100 000 entries take 18.8 MiB
  (``bench.dpop_proof.replay_cache_memory``; tests/test_dpop_proof.py keeps it under 260).
  A longer jti costs one byte more per character (``MAX_JTI_LENGTH`` is 128).

A proof replayed at *another* process or SP is not caught here; the ``iat`` window bounds what
it can do (docs/security.md).  Pure: no I/O, no aiohttp.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable

DEFAULT_REPLAY_ENTRIES = 100_000


class ReplayCacheFull(Exception):
    """Every slot holds a jti still inside its window; refuse the request for now (503)."""


class ReplayCache:
    """``jti -> until``, expired in ``until`` order (a heap), bounded by ``max_entries``."""

    def __init__(self, *, max_entries: int = DEFAULT_REPLAY_ENTRIES,
                 now: Callable[[], float] = time.time) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be >= 1")
        self.max_entries, self._now = max_entries, now
        self._until: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []
        #: Counters for tests and metrics.
        self.replays = self.refusals = 0

    def __len__(self) -> int:
        return len(self._until)

    def _expire(self, now: float) -> None:
        heap, until = self._heap, self._until
        while heap and heap[0][0] < now:
            _, jti = heapq.heappop(heap)
            del until[jti]

    def claim(self, jti: str, until: float) -> bool:
        """Spend ``jti`` until ``until``: True if it was unspent, False for a replay."""
        now = self._now()
        self._expire(now)
        if jti in self._until:
            self.replays += 1
            return False
        if until < now:  # outside every window already: nothing left to remember
            return True
        if len(self._until) >= self.max_entries:
            self.refusals += 1
            raise ReplayCacheFull(f"{self.max_entries} DPoP proofs are inside their window")
        self._until[jti] = until
        heapq.heappush(self._heap, (until, jti))
        return True
