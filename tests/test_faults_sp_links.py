"""Slow and broken links between a protected service and the real AM (issue 7).

Every request the middleware makes to the AM — metadata, JWKS, the revocation feed and the
introspection fallback — goes through a fault-injecting TCP proxy (``tests/tcpproxy.py``): the
AM's issuer is the proxy's URL. The test's own calls (registration, tokens, revocations) go to
the AM directly. Each documented behaviour of rs_middleware (README "Protecting an aiohttp
service", ``rs_middleware/{runtime,feed,guarded,verifier}.py``) is checked under delay, resets
and a blackhole. The feed's staleness clock (``monotonic``) and the token clock (``now``, which
also paces unknown-kid JWKS refetches) are injected; outbound requests are bounded by a small
``http_timeout``; nothing sleeps to synchronise (waits are conditions with deadlines)."""

from __future__ import annotations

import asyncio
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from joserfc import jwt
from joserfc.jwk import ECKey

from amkit import register
from authmanager.serving import bound_socket, serve
from conftest import AM, Clock, running_am
from rs_middleware import (
    CONFIG_KEY,
    RUNTIME_KEY,
    FeedSubscriber,
    ProtectServeConfig,
    ProtectServeRuntime,
    protectserve_middleware,
    requires,
)
from signers import sign_9421, token_form
from tcpproxy import FaultProxy

HTTP_TIMEOUT = 0.5  # the middleware's bound on every outbound request
MAX_STALENESS = 30.0
REFETCH_INTERVAL = 60.0
#: Every answer of the service must come within this (a hang fails the test, not the CI job).
BOUND = HTTP_TIMEOUT * 2 + 1.0


class Monotonic:
    """The feed's staleness clock: real monotonic time plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@dataclass
class World:
    am: AM
    proxy: FaultProxy
    realm: Any
    resource: str
    http: aiohttp.ClientSession
    sock: socket.socket
    client: dict[str, Any] = field(default_factory=dict)

    async def token(self) -> str:
        """A fresh access token, asked of the AM directly (signed for its issuer URL)."""
        body = token_form(self.realm.sph, "read")
        headers = sign_9421(self.am.issuer + "/token", body, self.client["client_id"], self.client["client_secret"])
        async with self.http.post(self.am.url("/token"), data=body, headers=headers) as r:
            assert r.status == 200, await r.text()
            return (await r.json())["access_token"]

    async def revoke(self, token: str) -> None:
        basic = {"Authorization": aiohttp.encode_basic_auth(self.realm.sph, self.realm.sph_secret)}
        async with self.http.post(self.am.url("/revoke"), data={"token": token}, headers=basic) as r:
            assert r.status == 200


@dataclass
class SP:
    url: str
    runtime: ProtectServeRuntime
    now: Clock
    mono: Monotonic
    http: aiohttp.ClientSession
    calls: list[str]

    @property
    def feed(self) -> FeedSubscriber:
        assert self.runtime.feed is not None
        return self.runtime.feed

    @property
    def fallbacks(self) -> int:
        return self.runtime.verifier.fallbacks  # type: ignore[union-attr]

    async def get(self, token: str) -> tuple[int, dict[str, Any], dict[str, str], float]:
        """GET the protected resource; status, JSON body, headers and how long it took."""
        started = time.monotonic()
        async with self.http.get(self.url + "photo", headers={"Authorization": f"Bearer {token}"},
                                 timeout=aiohttp.ClientTimeout(total=10)) as r:
            body = await r.json() if r.content_type == "application/json" else {}
            return r.status, body, dict(r.headers), time.monotonic() - started

    async def status(self, token: str) -> int:
        status, _, _, elapsed = await self.get(token)
        assert elapsed < BOUND, f"answered after {elapsed:.2f} s"
        return status

    async def until(self, predicate: Callable[[], bool], deadline: float = 5.0) -> None:
        await asyncio.wait_for(self.feed.wait_until(predicate), deadline)


@pytest.fixture
async def world(clock: Clock, tmp_path: Any, caplog: pytest.LogCaptureFixture) -> AsyncIterator[World]:
    async with FaultProxy() as proxy:
        async with running_am(f"sqlite+aiosqlite:///{tmp_path / 'am.db'}", clock, tmp_path, issuer=proxy.url,
                              feed_keepalive=0.2) as am:
            proxy.target = ("127.0.0.1", int(am.base.rsplit(":", 1)[1]))
            sock = bound_socket()
            resource = "http://127.0.0.1:%d/" % sock.getsockname()[1]
            realm = await am.create_realm("photos", resource=resource, scopes=["read"])
            await am.add_policy("photos", "permit", ["read"])
            async with aiohttp.ClientSession() as http:
                w = World(am=am, proxy=proxy, realm=realm, resource=resource, http=http, sock=sock)
                w.client = await register(http, am)
                yield w
    # Dropped and stalled subscribers are routine for the AM: nothing it logs is an error.
    assert [r.getMessage() for r in caplog.get_records("call") if r.name.startswith("authmanager") and r.levelno >= 40] == []


@asynccontextmanager
async def protected_service(w: World, http_timeout: float = HTTP_TIMEOUT, **options: Any) -> AsyncIterator[SP]:
    """A service with one ``@requires("read")`` route, protected as ``protect()`` does, with the
    middleware's outbound timeout (``http_timeout``) set small."""
    now, mono, calls = Clock(), Monotonic(), []
    config = ProtectServeConfig(realm="photos", resource=w.resource, authorization_manager=w.am.issuer,
                                sph=w.realm.sph, sph_secret=w.realm.sph_secret, now=now, monotonic=mono,
                                http_timeout=http_timeout, max_staleness=MAX_STALENESS,
                                jwks_refetch_interval=REFETCH_INTERVAL, **options)
    runtime = ProtectServeRuntime(config)

    @requires("read")
    async def photo(request: web.Request) -> web.Response:
        calls.append(request.path)
        return web.json_response({"id": 1})

    app = web.Application(middlewares=[protectserve_middleware(config=config, runtime=runtime)])
    app[CONFIG_KEY], app[RUNTIME_KEY] = config, runtime
    app.cleanup_ctx.append(runtime.cleanup_ctx)
    app.router.add_get("/photo", photo)
    async with serve(app, w.sock) as url:
        yield SP(url=url + "/", runtime=runtime, now=now, mono=mono, http=w.http, calls=calls)


def forged(kid: str, issuer: str, audience: str) -> str:
    """A well-formed ES256 access token signed by a key the AM never published."""
    key = ECKey.generate_key("P-256", parameters={"kid": kid})
    now = int(time.time())
    claims = {"iss": issuer, "aud": audience, "sub": "x", "client_id": "x", "scope": "read", "iat": now,
              "exp": now + 300, "jti": secrets.token_hex(8)}
    return jwt.encode({"typ": "at+jwt", "alg": "ES256", "kid": kid}, claims, key, algorithms=["ES256"])


async def test_delay_tokens_validate_and_the_feed_still_delivers_revocations(world: World) -> None:
    w = world
    async with protected_service(w) as sp:
        assert sp.feed.fresh
        a, b = await w.token(), await w.token()
        assert await sp.status(a) == 200

        w.proxy.set("delay", 0.05, cut=False)  # every chunk, both ways, on the open connections too
        assert await sp.status(b) == 200  # first sight: offline, the slow link is not on the path
        jwks_before = len(w.proxy.requested("/jwks.json"))
        sp.now.advance(REFETCH_INTERVAL + 1)  # an unknown kid may refetch the JWKS again
        assert await sp.status(forged("unknown", w.am.issuer, w.resource)) == 401
        assert len(w.proxy.requested("/jwks.json")) == jwks_before + 1  # one refetch, over the slow link

        revocations = sp.runtime.cache.revocations  # type: ignore[union-attr]
        known = len(revocations)
        await w.revoke(a)
        started = time.monotonic()
        await sp.until(lambda: len(revocations) > known)
        assert time.monotonic() - started < 2.0  # the feed still delivers, only later
        assert await sp.status(a) == 401 and await sp.status(b) == 200
        assert sp.feed.fresh and sp.fallbacks == 0  # keepalives kept it fresh: no introspection
        assert sp.calls == ["/photo", "/photo", "/photo"]


async def test_resets_reconnect_with_backoff_and_resume_from_the_cursor(world: World) -> None:
    w = world
    async with protected_service(w) as sp:
        a, b = await w.token(), await w.token()
        assert await sp.status(a) == 200 and await sp.status(b) == 200
        cursor, attempts = sp.feed.cursor, sp.feed.attempts

        w.proxy.set("reset")  # cuts the feed connection; every reconnect is reset
        await sp.until(lambda: sp.feed.attempts > attempts and not sp.feed.connected)
        # Backoff: each failed reconnect doubles the pause (0.5 s doubling to 30 s); the test cuts
        # the pauses short with wake() instead of waiting them out.
        for _ in range(4):
            failed = sp.feed.attempts - attempts
            assert sp.feed.retry_after == min(0.5 * 2 ** failed, 30)
            sp.feed.wake()
            await sp.until(lambda failed=failed: sp.feed.attempts - attempts > failed)
        assert sp.feed.attempts - attempts >= 5 and sp.feed.retry_after >= 16
        assert sp.feed.connections == 1  # none of the reconnects got through
        await w.revoke(a)  # made during the outage

        # Not yet stale: cached tokens keep validating offline, with nothing asked of the AM.
        introspections = len(w.proxy.requested("/introspect"))
        assert await sp.status(b) == 200
        # Stale (max_staleness passed on the feed's clock): fail closed — introspection, which the
        # resetting link refuses too, so 503 + Retry-After, at once; the cache is not trusted.
        sp.mono.advance(MAX_STALENESS + 1)
        assert not sp.feed.fresh
        status, body, headers, elapsed = await sp.get(b)
        assert status == 503 and body["error"] == "temporarily_unavailable" and int(headers["Retry-After"]) >= 1
        assert elapsed < BOUND
        assert len(w.proxy.requested("/introspect")) == introspections + 1

        w.proxy.set("pass")
        sp.feed.wake()
        await sp.until(lambda: sp.feed.fresh)
        resumed = w.proxy.requested("/feed")[-1]
        assert resumed.header("Last-Event-ID") == cursor  # resumed from its cursor...
        assert await sp.status(a) == 401  # ...so the revocation made during the outage is enforced
        status, body, _, _ = await sp.get(a)
        assert body["error_description"] == "token revoked"
        assert await sp.status(b) == 200
        assert sp.calls == ["/photo"] * 4


async def test_blackhole_fails_closed_after_max_staleness_and_recovers(world: World) -> None:
    w = world
    async with protected_service(w) as sp:
        a, b = await w.token(), await w.token()
        assert await sp.status(a) == 200 and await sp.status(b) == 200

        # The feed's link goes silent (no reset, no FIN): the open stream just stops.
        w.proxy.set("blackhole", path="/feed", cut=False)
        await w.revoke(a)  # the SP cannot hear of it
        introspections = len(w.proxy.requested("/introspect"))
        assert await sp.status(b) == 200  # within max_staleness: offline, from the cache
        assert len(w.proxy.requested("/introspect")) == introspections

        sp.mono.advance(MAX_STALENESS + 1)
        assert not sp.feed.fresh
        # Fail closed, by introspection (the AM advertises it and its link is up): the cache is
        # bypassed, so the revoked token is caught and the live one still served.
        assert await sp.status(a) == 401
        assert await sp.status(b) == 200
        assert sp.fallbacks == 2 and len(w.proxy.requested("/introspect")) == introspections + 2

        # Introspection blackholed too: 503 + Retry-After after at most http_timeout, never a hang.
        w.proxy.set("blackhole", path="/introspect", cut=False)
        status, body, headers, elapsed = await sp.get(b)
        assert status == 503 and int(headers["Retry-After"]) >= 1
        assert HTTP_TIMEOUT * 0.9 <= elapsed < BOUND

        # The link heals: the held stream delivers, the subscriber sees it was stale, reconnects
        # (from its cursor) and is current again; validation is offline again.
        w.proxy.set("pass", path="/introspect")
        w.proxy.set("pass", path="/feed", cut=False)
        sp.feed.wake()
        await sp.until(lambda: sp.feed.fresh)
        fallbacks = sp.fallbacks
        assert await sp.status(b) == 200
        status, body, _, _ = await sp.get(a)
        assert status == 401 and body["error_description"] == "token revoked"
        assert sp.fallbacks == fallbacks  # the feed told it, not introspection
        assert sp.calls.count("/photo") == 5


async def test_unknown_kids_cause_at_most_one_jwks_refetch_per_interval_on_a_slow_or_broken_link(
        world: World) -> None:
    w = world
    slow = 1.5  # http_timeout: a wide window in which the known kid must not wait
    async with protected_service(w, http_timeout=slow) as sp:
        good, other = await w.token(), await w.token()
        assert await sp.status(good) == 200
        def jwks() -> int:
            return len(w.proxy.requested("/jwks.json"))

        fetched = jwks()

        async def burst(count: int) -> list[int]:
            """``count`` unknown kids at once, then ``count`` one after the other."""
            tokens = [forged(secrets.token_hex(6), w.am.issuer, w.resource) for _ in range(2 * count)]
            at_once = await asyncio.gather(*(sp.status(t) for t in tokens[:count]))
            return list(at_once) + [await sp.status(t) for t in tokens[count:]]

        # Within the interval of the start-up fetch: no refetch at all.
        assert await burst(3) == [401] * 6
        assert jwks() == fetched

        # A slow JWKS link: the first unknown kid of the next interval refetches, the others
        # share that fetch or are refused without one.
        w.proxy.set("delay", 0.2, path="/jwks.json")
        sp.now.advance(REFETCH_INTERVAL + 1)
        assert await burst(5) == [401] * 10
        assert jwks() == fetched + 1
        sp.now.advance(REFETCH_INTERVAL + 1)
        assert await burst(3) == [401] * 6
        assert jwks() == fetched + 2

        # A resetting JWKS link: one refetch per interval, refused at once. On the wire that one
        # GET is two attempts: aiohttp retries an idempotent request once on a reset connection
        # (RFC 9112 §9.3.1.1).
        w.proxy.set("reset", path="/jwks.json")
        sp.now.advance(REFETCH_INTERVAL + 1)
        assert await burst(3) == [401] * 6
        assert jwks() == fetched + 2 + 2

        # A blackholed JWKS link: the concurrent unknown kids wait on one fetch, at most
        # http_timeout; a token with a known kid is served meanwhile, without waiting for it.
        w.proxy.set("blackhole", path="/jwks.json")
        sp.now.advance(REFETCH_INTERVAL + 1)
        unknown = [forged(secrets.token_hex(6), w.am.issuer, w.resource) for _ in range(5)]
        waiting = asyncio.gather(*(sp.get(t) for t in unknown))

        async def refetching() -> None:
            while jwks() < fetched + 5:
                await asyncio.sleep(0.01)

        await asyncio.wait_for(refetching(), BOUND)  # the one refetch is under way
        status, _, _, _ = await sp.get(other)
        assert status == 200 and not waiting.done()  # answered while the unknown kids still wait
        answers = await waiting
        assert [a[0] for a in answers] == [401] * 5
        assert all(slow * 0.5 <= a[3] < slow + BOUND for a in answers)  # they waited, boundedly
        assert jwks() == fetched + 5
        assert sp.calls == ["/photo", "/photo"]


async def test_an_sp_started_behind_a_blackhole_starts_answers_503_and_recovers(world: World) -> None:
    w = world
    token = await w.token()
    w.proxy.set("blackhole")
    started = time.monotonic()
    async with protected_service(w) as sp:
        assert time.monotonic() - started < BOUND + HTTP_TIMEOUT  # start-up did not hang on the AM
        assert sp.runtime.verifier is None
        status, _, headers, elapsed = await sp.get(token)
        assert status == 503 and int(headers["Retry-After"]) >= 1 and elapsed < BOUND
        async with w.http.get(sp.url + "photo") as r:
            assert r.status == 401  # no token: still the plain challenge

        w.proxy.set("pass")
        sp.runtime.wake()  # cut the start-up retry's backoff short
        await asyncio.wait_for(sp.runtime.wait_ready(), 5)
        await sp.until(lambda: sp.feed.fresh)
        assert await sp.status(token) == 200
        assert sp.calls == ["/photo"]
