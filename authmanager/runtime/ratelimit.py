"""Rate limits on the endpoints anyone on the internet can hit: consumer-key registration and
token requests (the 2009 ProtectServe note: the AM "should take steps to prevent denial of
service attacks from spurious consumer key and access token requests").

Each protected operation has a per-client-IP quota and a global one, in the ``limits`` library's
notation (``"20/minute"``). Storage is ``memory://`` for one process, or a shared store such as
``redis://127.0.0.1:6379`` when several AM processes run. Over a quota the answer is
``429`` with ``Retry-After`` (RFC 6585 §4) *before* the request body is read or anything stored.
"""

from __future__ import annotations

import inspect
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from ..errors import OAuthError


class TooManyRequests(OAuthError):
    """RFC 6585 §4; ``slow_down`` is the OAuth code for "ask less often" (RFC 8628 §3.5)."""

    error = "slow_down"
    status_code = 429

    def __init__(self, retry_after: int):
        super().__init__("too many requests; retry later", headers={"Retry-After": str(retry_after)})


@dataclass(frozen=True, slots=True)
class Quota:
    per_ip: RateLimitItem
    overall: RateLimitItem


class RateLimiter:
    def __init__(self, *, storage_uri: str, quotas: dict[str, tuple[str, str]], namespace: str):
        """``namespace`` (the issuer) keeps AMs that share a store apart, while the processes of
        one AM (one issuer) share their counters."""
        self._namespace = namespace
        # the asyncio flavour of each storage: memory:// -> async+memory://, redis:// -> async+redis://
        uri = storage_uri if storage_uri.startswith("async+") else f"async+{storage_uri}"
        self._storage = storage_from_string(uri)
        self._limiter = MovingWindowRateLimiter(self._storage)
        self._quotas = {op: Quota(parse(per_ip), parse(overall)) for op, (per_ip, overall) in quotas.items()}

    async def aclose(self) -> None:
        """Close the store's connections (Redis: its connection pool; memory: nothing to close)."""
        bridge = getattr(self._storage, "bridge", None)
        pool = getattr(getattr(bridge, "storage", None), "connection_pool", None)
        if pool is not None:
            result = pool.disconnect()
            if inspect.isawaitable(result):
                await result

    async def take(self, operation: str, key: str) -> int | None:
        """Count one event against ``key``'s per-key quota if it has room, atomically (one locked
        step in memory, one Lua script on Redis): ``None`` when counted, else the seconds until
        ``key`` may ``operation`` again (and nothing is counted). Concurrent callers can never
        take more than the quota between them."""
        quota = self._quotas.get(operation)
        if quota is None or await self._limiter.hit(quota.per_ip, self._namespace, operation, key):
            return None
        return await self._wait(quota.per_ip, operation, key)

    async def forgive(self, operation: str, key: str) -> None:
        """Forget every event counted against ``key`` for ``operation`` (``limits``' ``clear``:
        the window's entries in memory, one ``DEL`` on Redis)."""
        quota = self._quotas.get(operation)
        if quota is not None:
            await self._limiter.clear(quota.per_ip, self._namespace, operation, key)

    async def _wait(self, item: RateLimitItem, operation: str, key: str) -> int:
        stats = await self._limiter.get_window_stats(item, self._namespace, operation, key)
        return max(1, math.ceil(stats.reset_time - time.time()))

    async def exhausted(self, operation: str, key: str) -> int | None:
        """Seconds until ``key`` may ``operation`` again if its per-key quota is used up, else None
        (counts nothing)."""
        quota = self._quotas.get(operation)
        if quota is None or await self._limiter.test(quota.per_ip, self._namespace, operation, key):
            return None
        return await self._wait(quota.per_ip, operation, key)

    async def spend(self, operation: str, key: str) -> None:
        """Count one event against ``key``'s quota without refusing anything."""
        quota = self._quotas.get(operation)
        if quota is not None:
            await self._limiter.hit(quota.per_ip, self._namespace, operation, key)

    async def check(self, operation: str, client_ip: str) -> None:
        """Count one request; raise ``TooManyRequests`` if either quota is exhausted."""
        quota = self._quotas.get(operation)
        if quota is None:
            return
        for item, key in ((quota.per_ip, client_ip), (quota.overall, "*")):
            if not await self._limiter.hit(item, self._namespace, operation, key):
                raise TooManyRequests(await self._wait(item, operation, key))
