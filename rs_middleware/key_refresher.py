"""``keys_changed`` (docs/protocol.md §11) → a JWKS refetch, without restarting the SP.

``KeyRefresher.request()`` may be called for every event; refetches are coalesced: one runs at
a time (``JWKSVerifier.refresh`` is single-flight as well), at most one starts per
``min_interval`` seconds, and a request made while one runs or while rate-limited is never
lost — it causes exactly one more refetch afterwards.  A failed refetch is retried after a
pause doubling up to 30 s (the unknown-``kid`` refetch of §7 keeps working meanwhile).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from .am_client import AMUnavailable

log = logging.getLogger("rs_middleware")
MAX_RETRY_DELAY = 30.0


class KeyRefresher:
    """Turns ``keys_changed`` into JWKS refetches: coalesced, rate-limited, retried on failure."""

    def __init__(self, refresh: Callable[[], Awaitable[None]], *, min_interval: float = 1.0,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 notify: Callable[[], None] = lambda: None) -> None:
        self._refresh, self._min_interval, self._sleep, self._notify = refresh, min_interval, sleep, notify
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.refreshes = 0  # successful refetches

    def request(self) -> None:
        self._dirty.set()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="protectserve-jwks-refresher")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        delay = self._min_interval
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                await self._refresh()
            except (AMUnavailable, TimeoutError) as exc:
                log.warning("JWKS refetch after keys_changed failed: %s", str(exc) or type(exc).__name__)
                self._dirty.set()  # try again after the (growing) pause
                delay = min(delay * 2, MAX_RETRY_DELAY)
            else:
                self.refreshes += 1
                delay = self._min_interval
                self._notify()
            await self._sleep(delay)
