"""Lifecycle of the middleware's outbound state: ClientSession, AM metadata, verifier.

``ProtectServeRuntime.cleanup_ctx`` is registered in ``app.cleanup_ctx`` by ``protect()``.  On
start-up it fetches the AM's RFC 8414 metadata and, in ``jwks`` mode, the JWKS (and waits, at
most ``http_timeout``, for the revocation feed's first ``ready`` or first failed connection).  If the AM is
unreachable the app still starts: a background task retries with capped exponential backoff
(0.5 s doubling up to 30 s) until it succeeds or the app shuts down.  Until then
``verifier`` is ``None`` and the middleware answers token-bearing requests to protected routes
with ``503`` + ``Retry-After`` (requests without a token still get the normal 401 challenge).

In ``jwks`` mode the verifier is a ``GuardedVerifier`` (verified-token cache + revocations).
When ``feed`` is on, ``sph_secret`` is set and the AM metadata advertises
``protectserve_revocation_feed`` (docs/protocol.md §11), the runtime also owns the
``FeedSubscriber`` and the ``KeyRefresher`` it drives; both stop in ``close()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from .am_client import AMMetadata, AMUnavailable, fetch_am_metadata, new_session
from .cache import TokenCache
from .config import ProtectServeConfig
from .feed import FeedSubscriber
from .guarded import GuardedVerifier
from .key_refresher import KeyRefresher
from .revocations import Revocations
from .verifier import IntrospectionVerifier, JWKSVerifier, TokenVerifier

log = logging.getLogger("rs_middleware")

INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 30.0


class ProtectServeRuntime:
    """Mutable per-app state behind the frozen ``ProtectServeConfig``."""

    def __init__(self, config: ProtectServeConfig) -> None:
        self.config = config
        self.session: aiohttp.ClientSession | None = None
        self.am: AMMetadata | None = None
        #: Set once verification is possible; ``None`` means "answer 503".
        self.verifier: TokenVerifier | None = None
        self._jwks: JWKSVerifier | None = None
        #: jwks mode: the verified-token cache; with a feed, the subscriber and key refresher.
        self.cache: TokenCache | None = None
        self.feed: FeedSubscriber | None = None
        self.key_refresher: KeyRefresher | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._ready = asyncio.Event()
        self._delay = INITIAL_RETRY_DELAY

    @property
    def issuer(self) -> str:
        """The AM issuer as published in its metadata; the configured URL until then."""
        return self.am.issuer if self.am else self.config.authorization_manager

    @property
    def retry_after(self) -> int:
        """Seconds for ``Retry-After`` while no verifier is available (RFC 9110 §10.2.3)."""
        return max(1, math.ceil(self._delay))

    @property
    def retrying(self) -> bool:
        return self._task is not None and not self._task.done()

    async def wait_ready(self) -> None:
        """Wait until a verifier is installed (callers bound this with their own timeout)."""
        await self._ready.wait()

    def wake(self) -> None:
        """Cut the current backoff delay short and retry now (used by operators and tests)."""
        self._wake.set()

    async def cleanup_ctx(self, app: web.Application) -> AsyncIterator[None]:
        await self.start()
        yield
        await self.close()

    async def start(self) -> None:
        self.session = new_session(self.config.http_timeout)
        if not await self._attempt():
            self._task = asyncio.create_task(self._retry_loop())
        elif self.feed is not None:
            # Like the JWKS: give the feed one bounded chance to catch up before serving, so the
            # first requests are not all sent to introspection.  Never blocks longer.
            feed = self.feed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(feed.wait_until(lambda: feed.caught_up or feed.attempts > 0),
                                       self.config.http_timeout)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.feed is not None:
            await self.feed.close()
        if self.key_refresher is not None:
            await self.key_refresher.close()
        if self._jwks is not None:
            await self._jwks.close()
        if self.session is not None:
            await self.session.close()

    async def _attempt(self) -> bool:
        """One try at making verification possible; logs and returns False on failure."""
        assert self.session is not None
        try:
            if self.am is None:
                self.am = await fetch_am_metadata(self.session, self.config.authorization_manager)
            self.verifier = await self._build_verifier(self.am)
        except (AMUnavailable, TimeoutError) as exc:
            log.warning(
                "authorization manager %s not usable yet (%s); retrying in %.1f s",
                self.config.authorization_manager, str(exc) or type(exc).__name__, self._delay,
            )
            return False
        self._ready.set()
        return True

    async def _build_verifier(self, am: AMMetadata) -> TokenVerifier:
        assert self.session is not None
        cfg = self.config
        if cfg.mode == "introspection":
            if am.introspection_endpoint is None:
                raise AMUnavailable("AM metadata has no introspection_endpoint")
            return self._introspection(am, am.introspection_endpoint)
        if am.jwks_uri is None:
            raise AMUnavailable("AM metadata has no jwks_uri")
        if self._jwks is None:
            self._jwks = JWKSVerifier(
                issuer=am.issuer, audience=cfg.resource, realm=cfg.realm, jwks_uri=am.jwks_uri,
                session=self.session, algorithms=cfg.algorithms, leeway=cfg.leeway,
                refetch_interval=cfg.jwks_refetch_interval, now=cfg.now,
                fetch_timeout=cfg.http_timeout,
            )
        await self._jwks.refresh()
        return self._guarded(am, self._jwks)

    def _introspection(self, am: AMMetadata, endpoint: str) -> IntrospectionVerifier:
        cfg, secret = self.config, self.config.sph_secret
        assert self.session is not None and secret is not None  # enforced by ProtectServeConfig
        return IntrospectionVerifier(
            session=self.session, introspection_endpoint=endpoint, sph=cfg.sph,
            sph_secret=secret, issuer=am.issuer, audience=cfg.resource, realm=cfg.realm,
            leeway=cfg.leeway, now=cfg.now,
        )

    def _guarded(self, am: AMMetadata, jwks: JWKSVerifier) -> GuardedVerifier:
        """The cache, and — when the AM offers a feed and we may use it — the feed and its gate."""
        assert self.session is not None
        cfg = self.config
        revocations = Revocations(now=cfg.now, leeway=cfg.leeway)
        self.cache = TokenCache(max_entries=cfg.cache_size, now=cfg.now, leeway=cfg.leeway,
                                revocations=revocations)
        secret, url = cfg.sph_secret, am.revocation_feed
        if not (cfg.feed and secret and url):
            return GuardedVerifier(jwks=jwks, cache=self.cache)
        feed = FeedSubscriber(
            session=self.session, url=url, sph=cfg.sph, sph_secret=secret,
            revocations=revocations, on_keys_changed=lambda: keys.request(),
            max_staleness=cfg.max_staleness, monotonic=cfg.monotonic, connect_timeout=cfg.http_timeout,
        )
        keys = KeyRefresher(lambda: jwks.refresh(fresh=True), notify=feed.notify)
        self.feed, self.key_refresher = feed, keys
        fallback = self._introspection(am, am.introspection_endpoint) if am.introspection_endpoint else None
        feed.start()
        return GuardedVerifier(jwks=jwks, cache=self.cache, fresh=lambda: feed.fresh,
                               fallback=fallback, retry_after=lambda: feed.retry_after)

    async def _retry_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._delay)
            self._wake.clear()
            self._delay = min(self._delay * 2, MAX_RETRY_DELAY)
            if await self._attempt():
                log.info("authorization manager reachable; protected routes are served again")
                self._delay = INITIAL_RETRY_DELAY
                return



#: App state installed by ``protect()``: the frozen configuration and the runtime object.
CONFIG_KEY = web.AppKey("protectserve_config", ProtectServeConfig)
RUNTIME_KEY = web.AppKey("protectserve_runtime", ProtectServeRuntime)
