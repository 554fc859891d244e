"""The password sign-in throttle: a per-client-IP quota (every attempt counts) and a per-account
quota (consecutive failures count), shared by every page that checks a password.

Each attempt is *spent before its password is checked*, with ``limits``' atomic moving-window
``hit`` (:meth:`RateLimiter.take`): first the IP's quota, then the account's. Over either, the
attempt is refused with ``429`` + ``Retry-After`` and no password is checked, so N concurrent
attempts can never get more password checks than the quotas allow — in one process
(``memory://``) or across every AM process sharing a Redis store.

The refund: ``limits`` has no decrement, and a refund of one entry would leave an attacker's
failures in the window anyway, so a correct password *clears the account's window*
(:meth:`RateLimiter.forgive`, one ``DEL`` on Redis). The account quota therefore bounds
consecutive failed attempts, as NIST SP 800-63B §5.2.2 words it ("consecutive failed
authentication attempts on a single account"): the account's holder is not locked out by their
own typos, and an attacker who does not know the password can never clear it (each sign-in of
the holder gives an attacker at most one more quota of guesses). The per-IP quota
is never refunded: it bounds how fast one address may try at all. No aiohttp here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from .ratelimit import RateLimiter, TooManyRequests

T = TypeVar("T")
IP, ACCOUNT = "signin_ip", "signin_account"
#: Account names are compared as the quota's key in lower case, at most this long.
MAX_ACCOUNT = 100


class SignInThrottle:
    def __init__(self, *, storage_uri: str, per_ip: str, per_account: str, namespace: str):
        """``per_ip`` and ``per_account`` in ``limits`` notation (``"5/minute"``); ``namespace``
        keeps AMs sharing a store apart (the processes of one AM share their counters)."""
        self._limiter = RateLimiter(storage_uri=storage_uri, namespace=namespace,
                                    quotas={IP: (per_ip, per_ip), ACCOUNT: (per_account, per_account)})

    async def aclose(self) -> None:
        await self._limiter.aclose()

    @staticmethod
    def account_key(name: str) -> str:
        return name.strip().lower()[:MAX_ACCOUNT]

    async def attempt(self, *, ip: str, account: str, check: Callable[[], Awaitable[T | None]]) -> T | None:
        """Spend one attempt of ``ip`` and of ``account``, then run ``check`` (the password check:
        a result on success, ``None`` on failure) and return its result; a success clears the
        account's failures. Raises :class:`TooManyRequests` (``check`` never runs) when either
        quota is used up. An attempt refused by the account's quota still counts for the IP."""
        key = self.account_key(account)
        for operation, who in ((IP, ip), (ACCOUNT, key)):
            wait = await self._limiter.take(operation, who)
            if wait is not None:
                raise TooManyRequests(wait)
        result = await check()
        if result is not None:
            await self._limiter.forgive(ACCOUNT, key)
        return result
