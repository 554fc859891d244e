"""The revocation feed end to end: a real SP (``protect()``) and a toy AM on 127.0.0.1 sockets.

``ToyAM`` serves RFC 8414 metadata (with ``protectserve_revocation_feed``), a JWKS, RFC 7662
introspection and an SSE feed per docs/protocol.md §11, and records what it is asked (the
``Last-Event-ID`` of every feed request included).  Token time and staleness time are injected
clocks; the tests wait on ``FeedSubscriber.wait_until`` and cut backoff pauses short with
``wake()`` (or inject ``sleep``) — nothing sleeps.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from joserfc import jwt
from joserfc.jwk import ECKey

from rs_middleware import RUNTIME_KEY, AMUnavailable, ProtectServeConfig, ProtectServeRuntime, protect, requires
from rs_middleware.am_client import new_session
from rs_middleware.feed import FeedSubscriber
from rs_middleware.key_refresher import KeyRefresher
from rs_middleware.middleware import token_claims
from rs_middleware.revocations import Revocations

RESOURCE = "http://127.0.0.1:8080/"
SPH, SPH_SECRET = "sph-123", "s3cret-sph"
T0 = 1_700_000_000


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def new_key(kid: str) -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": kid})


def frame(event_id: int | None, kind: str, data: dict[str, Any]) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data)}\n\n".encode()


@dataclass
class ToyAM:
    """Just enough authorization manager for the SP's feed, keys and introspection."""

    keys: list[ECKey]
    issuer: str = ""
    advertise_feed: bool = True
    advertise_introspection: bool = True
    feed_status: int = 200
    drop_after_ready: bool = False
    events: list[tuple[int, bytes]] = field(default_factory=list)
    feed_requests: list[dict[str, Any]] = field(default_factory=list)
    live: list[asyncio.Queue[bytes | None]] = field(default_factory=list)
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    introspections: list[str] = field(default_factory=list)
    jwks_fetches: int = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/.well-known/oauth-authorization-server", self.metadata)
        app.router.add_get("/jwks.json", self.jwks)
        app.router.add_post("/introspect", self.introspect)
        app.router.add_get("/feed", self.feed)
        app.on_shutdown.append(self.on_shutdown)
        return app

    async def on_shutdown(self, app: web.Application) -> None:
        self.drop()

    async def metadata(self, request: web.Request) -> web.Response:
        doc = {"issuer": self.issuer, "jwks_uri": f"{self.issuer}/jwks.json"}
        if self.advertise_introspection:
            doc["introspection_endpoint"] = f"{self.issuer}/introspect"
        if self.advertise_feed:
            doc["protectserve_revocation_feed"] = f"{self.issuer}/feed"
        return web.json_response(doc)

    async def jwks(self, request: web.Request) -> web.Response:
        self.jwks_fetches += 1
        return web.json_response({"keys": [k.as_dict(private=False) for k in self.keys]})

    async def introspect(self, request: web.Request) -> web.Response:
        token = str((await request.post()).get("token"))
        self.introspections.append(token)
        return web.json_response(self.answers.get(token, {"active": False}))

    async def feed(self, request: web.Request) -> web.StreamResponse:
        cursor = request.headers.get("Last-Event-ID")
        self.feed_requests.append({"last_event_id": cursor, "accept": request.headers.get("Accept"),
                                   "authorization": request.headers.get("Authorization"), "sent": []})
        if request.headers.get("Authorization") != aiohttp.encode_basic_auth(SPH, SPH_SECRET):
            return web.json_response({"error": "invalid_client"}, status=401)
        if self.feed_status != 200:
            return web.json_response({"error": "temporarily_unavailable"}, status=self.feed_status)
        # Snapshot the backlog and subscribe in one step: nothing falls in between.
        backlog = [(i, f) for i, f in self.events if cursor is None or i > int(cursor)]
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.live.append(queue)
        latest = max([int(cursor or 0)] + [i for i, _ in self.events])
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"})
        try:
            await response.prepare(request)
            for event_id, data in backlog:
                self.feed_requests[-1]["sent"].append(event_id)
                await response.write(data)
            await response.write(frame(None, "ready", {"cursor": latest}))
            while not self.drop_after_ready and (item := await queue.get()) is not None:
                await response.write(item)
        except ConnectionResetError:
            pass
        finally:
            if queue in self.live:
                self.live.remove(queue)
        return response

    def publish(self, kind: str, data: dict[str, Any]) -> int:
        event_id = 100 + len(self.events) + 1
        self.push(event_id, frame(event_id, kind, data))
        return event_id

    def push(self, event_id: int, raw: bytes) -> None:
        self.events.append((event_id, raw))
        for queue in self.live:
            queue.put_nowait(raw)

    def keepalive(self) -> None:
        for queue in self.live:
            queue.put_nowait(b": keepalive\n\n")

    def drop(self) -> None:
        """End every open feed response (the connection drops, as when the AM restarts)."""
        for queue in self.live:
            queue.put_nowait(None)
        self.live.clear()

    def token(self, key: ECKey | None = None, **over: Any) -> str:
        key = key or self.keys[0]
        claims = {"iss": self.issuer, "sub": "ck1", "aud": RESOURCE, "client_id": "ck1", "scope": "read",
                  "iat": T0, "exp": T0 + 300, "jti": "jti-1", "realm": "photos", **over}
        return jwt.encode({"typ": "at+jwt", "alg": "ES256", "kid": key.kid}, claims, key, algorithms=["ES256"])


@pytest.fixture
async def toy(aiohttp_server: Any) -> ToyAM:
    am = ToyAM(keys=[new_key("k1")])
    am.issuer = str((await aiohttp_server(am.app())).make_url("")).rstrip("/")
    return am


@dataclass
class SP:
    client: Any
    runtime: ProtectServeRuntime

    @property
    def feed(self) -> FeedSubscriber:
        assert self.runtime.feed is not None
        return self.runtime.feed

    @property
    def signature_checks(self) -> int:
        return self.runtime.verifier.jwks.signature_checks  # type: ignore[union-attr]

    async def get(self, token: str) -> Any:
        return await self.client.get("/r", headers={"Authorization": f"Bearer {token}"})

    async def until(self, predicate: Callable[[], bool]) -> None:
        await asyncio.wait_for(self.feed.wait_until(predicate), 5)


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def mono() -> Clock:
    return Clock(1000.0)


@pytest.fixture
def make_sp(aiohttp_client: Any, toy: ToyAM, clock: Clock, mono: Clock) -> Callable[..., Any]:
    async def make(**options: Any) -> SP:
        app = web.Application()

        @requires("read")
        async def read(request: web.Request) -> web.Response:
            return web.json_response(dict(token_claims(request)))

        app.router.add_get("/r", read)
        settings: dict[str, Any] = dict(realm="photos", resource=RESOURCE, authorization_manager=toy.issuer,
                                        sph=SPH, sph_secret=SPH_SECRET, scopes=("read",), now=clock, monotonic=mono)
        protect(app, **{**settings, **options})
        client = await aiohttp_client(app)
        return SP(client, app[RUNTIME_KEY])

    return make


async def assert_refused(resp: Any, description: str) -> None:
    assert resp.status == 401
    assert (await resp.json())["error_description"] == description


# --- subscription, cache hits ------------------------------------------------------------------


async def test_sp_subscribes_at_start_up_and_serves_repeats_from_the_cache(make_sp: Any, toy: ToyAM) -> None:
    sp = await make_sp()
    assert sp.feed.caught_up and sp.feed.fresh  # start-up waited for the first ready
    assert toy.feed_requests == [{"last_event_id": None, "accept": "text/event-stream", "sent": [],
                                  "authorization": aiohttp.encode_basic_auth(SPH, SPH_SECRET)}]
    token = toy.token()
    for _ in range(3):
        resp = await sp.get(token)
        assert resp.status == 200 and (await resp.json())["jti"] == "jti-1"
    assert sp.signature_checks == 1 and sp.runtime.cache.hits == 2  # type: ignore[union-attr]
    assert toy.introspections == []
    feed = sp.feed
    await sp.client.close()  # cleanup_ctx stops the subscriber
    assert feed._task is not None and feed._task.done()


@pytest.mark.parametrize("case", ["feed=False", "no sph_secret", "not advertised"])
async def test_no_feed_still_caches(make_sp: Any, toy: ToyAM, case: str) -> None:
    options: dict[str, Any] = {"feed=False": {"feed": False}, "no sph_secret": {"sph_secret": None},
                               "not advertised": {}}[case]
    toy.advertise_feed = case != "not advertised"
    sp = await make_sp(**options)
    assert sp.runtime.feed is None and toy.feed_requests == []
    token = toy.token()
    assert [(await sp.get(token)).status for _ in range(3)] == [200] * 3
    assert sp.signature_checks == 1


# --- revocation events --------------------------------------------------------------------------


async def test_token_revoked_event_refuses_a_cached_token(make_sp: Any, toy: ToyAM) -> None:
    sp = await make_sp()
    token, other = toy.token(), toy.token(jti="jti-2")
    assert (await sp.get(token)).status == (await sp.get(other)).status == 200
    event_id = toy.publish("token_revoked", {"jti": "jti-1", "exp": T0 + 300})
    await sp.until(lambda: sp.feed.cursor == str(event_id))
    await assert_refused(await sp.get(token), "token revoked")
    assert sp.signature_checks == 2  # refused at the cache, no signature check
    await assert_refused(await sp.get(token), "token revoked")  # and at first sight
    assert (await sp.get(other)).status == 200


async def test_client_revoked_event_refuses_tokens_issued_up_to_issued_before(make_sp: Any, toy: ToyAM) -> None:
    sp = await make_sp()
    older, later = toy.token(jti="a", iat=T0 - 5), toy.token(jti="b", iat=T0 + 5)
    assert (await sp.get(older)).status == 200
    event_id = toy.publish("client_revoked", {"client_id": "ck1", "issued_before": T0, "exp": T0 + 300})
    await sp.until(lambda: sp.feed.cursor == str(event_id))
    await assert_refused(await sp.get(older), "token revoked")
    assert (await sp.get(later)).status == 200  # issued after the revocation


async def test_malformed_and_unknown_events_are_skipped(make_sp: Any, toy: ToyAM) -> None:
    sp = await make_sp()
    toy.push(101, b"id: 101\nevent: token_revoked\ndata: not json\n\n")
    toy.push(102, b'id: 102\nevent: token_revoked\ndata: {"jti": 5}\n\n')
    toy.push(103, b"id: 103\nevent: realm_renamed\ndata: {}\n\n")
    event_id = toy.publish("token_revoked", {"jti": "jti-1", "exp": T0 + 300})
    await sp.until(lambda: sp.feed.cursor == str(event_id))
    assert len(sp.feed._revocations) == 1 and sp.feed.applied == 1 + 4  # ready + four events
    await assert_refused(await sp.get(toy.token()), "token revoked")


async def test_resume_with_last_event_id_enforces_a_revocation_made_while_disconnected(
    make_sp: Any, toy: ToyAM
) -> None:
    sp = await make_sp()
    first = toy.publish("token_revoked", {"jti": "someone-else", "exp": T0 + 300})
    await sp.until(lambda: sp.feed.cursor == str(first))
    token = toy.token()
    assert (await sp.get(token)).status == 200
    toy.drop()  # the connection ends; the next revocation exists only in the AM's log
    second = toy.publish("token_revoked", {"jti": "jti-1", "exp": T0 + 300})
    sp.feed.wake()  # skip the backoff pause
    await sp.until(lambda: sp.feed.cursor == str(second))
    assert sp.feed.connections == 2
    assert [r["last_event_id"] for r in toy.feed_requests] == [None, str(first)]
    assert toy.feed_requests[1]["sent"] == [second]  # resumed after the cursor, no full replay
    await assert_refused(await sp.get(token), "token revoked")


# --- staleness: fail closed ---------------------------------------------------------------------


async def test_stale_feed_fails_closed_to_introspection_until_ready_again(
    make_sp: Any, toy: ToyAM, mono: Clock
) -> None:
    sp = await make_sp(max_staleness=30)
    token, revoked_at_am = toy.token(), toy.token(jti="gone")
    toy.answers[token] = {"active": True, "iss": toy.issuer, "aud": RESOURCE, "scope": "read",
                          "realm": "photos", "client_id": "ck1", "exp": T0 + 300}
    assert (await sp.get(token)).status == 200
    mono.t += 30  # exactly max_staleness: still fresh
    assert (await sp.get(token)).status == 200 and toy.introspections == []
    mono.t += 0.001
    assert not sp.feed.fresh
    assert (await sp.get(token)).status == 200  # by introspection
    await assert_refused(await sp.get(revoked_at_am), "token is not active")
    assert toy.introspections == [token, revoked_at_am] and sp.signature_checks == 1
    toy.keepalive()  # a byte after the lapse: the SP reconnects to be told ready again
    sp.feed.wake()
    await sp.until(lambda: sp.feed.connections == 2 and sp.feed.caught_up)
    assert toy.feed_requests[1]["last_event_id"] == "0"  # the cursor of the first ready
    assert (await sp.get(token)).status == 200
    assert len(toy.introspections) == 2 and sp.signature_checks == 1  # a cache hit again


async def test_stale_feed_without_introspection_endpoint_is_503(make_sp: Any, toy: ToyAM, mono: Clock) -> None:
    toy.advertise_introspection = False
    sp = await make_sp()
    token = toy.token()
    assert (await sp.get(token)).status == 200
    mono.t += 31
    resp = await sp.get(token)
    assert resp.status == 503 and int(resp.headers["Retry-After"]) >= 1
    assert (await resp.json())["error"] == "temporarily_unavailable"


async def test_never_caught_up_uses_introspection_until_the_feed_is_ready(make_sp: Any, toy: ToyAM) -> None:
    toy.feed_status = 503
    sp = await make_sp()  # start-up does not hang on a refusing feed
    assert not sp.feed.caught_up and sp.feed.attempts >= 1
    token = toy.token()
    toy.answers[token] = {"active": True, "iss": toy.issuer, "aud": RESOURCE, "scope": "read", "realm": "photos"}
    assert (await sp.get(token)).status == 200
    assert toy.introspections == [token] and sp.signature_checks == 0
    toy.feed_status = 200
    sp.feed.wake()
    await sp.until(lambda: sp.feed.caught_up)
    assert (await sp.get(token)).status == 200
    assert toy.introspections == [token] and sp.signature_checks == 1


# --- keys_changed -------------------------------------------------------------------------------


async def test_keys_changed_refetches_the_jwks_and_a_new_kid_is_accepted(make_sp: Any, toy: ToyAM) -> None:
    sp = await make_sp()
    k2 = new_key("k2")
    token2 = toy.token(key=k2)
    await assert_refused(await sp.get(token2), "unknown signing key")
    assert toy.jwks_fetches == 1  # the unknown-kid refetch is rate-limited (clock not moved)
    toy.keys.append(k2)
    toy.publish("keys_changed", {})  # §11: no payload
    refresher = sp.runtime.key_refresher
    assert refresher is not None
    await sp.until(lambda: refresher.refreshes == 1)
    assert toy.jwks_fetches == 2
    assert (await sp.get(token2)).status == 200


async def test_a_lagging_jwks_after_keys_changed_gets_one_early_unknown_kid_refetch(
    make_sp: Any, toy: ToyAM
) -> None:
    sp = await make_sp()
    k2, k3 = new_key("k2"), new_key("k3")
    toy.publish("keys_changed", {})  # ...but this AM process still serves the old JWKS
    refresher = sp.runtime.key_refresher
    assert refresher is not None
    await sp.until(lambda: refresher.refreshes == 1)
    assert toy.jwks_fetches == 2
    toy.keys.append(k2)
    assert (await sp.get(toy.token(key=k2))).status == 200  # one refetch despite the interval
    assert toy.jwks_fetches == 3
    await assert_refused(await sp.get(toy.token(key=k3)), "unknown signing key")
    assert toy.jwks_fetches == 3  # the credit is spent: back to one refetch per interval


async def test_key_refresher_coalesces_rate_limits_and_retries() -> None:
    calls, release, started = [], asyncio.Event(), asyncio.Event()
    pauses: list[float] = []
    paused, gate, changed = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def refresh() -> None:
        calls.append(len(calls))
        started.set()
        if len(calls) == 3:
            raise AMUnavailable("down")
        await release.wait()

    async def sleep(delay: float) -> None:
        pauses.append(delay)
        paused.set()
        await gate.wait()

    refresher = KeyRefresher(refresh, min_interval=1.0, sleep=sleep, notify=changed.set)
    refresher.request()
    await asyncio.wait_for(started.wait(), 5)
    for _ in range(5):  # during the refetch: coalesced into one more
        refresher.request()
    release.set()
    await asyncio.wait_for(paused.wait(), 5)
    assert (len(calls), pauses, refresher.refreshes) == (1, [1.0], 1)
    paused.clear()
    gate.set()
    await asyncio.wait_for(paused.wait(), 5)
    assert (len(calls), refresher.refreshes) == (2, 2)
    gate.clear()
    paused.clear()
    refresher.request()
    gate.set()  # third refetch fails, is retried after a doubled pause, then succeeds
    changed.clear()
    await asyncio.wait_for(changed.wait(), 5)
    assert (len(calls), refresher.refreshes, pauses[2]) == (4, 3, 2.0)
    await refresher.close()


# --- backoff ------------------------------------------------------------------------------------


async def subscriber(toy: ToyAM, session: aiohttp.ClientSession, sleep: Any, jitter: Any) -> FeedSubscriber:
    feed = FeedSubscriber(session=session, url=f"{toy.issuer}/feed", sph=SPH, sph_secret=SPH_SECRET,
                          revocations=Revocations(now=Clock(T0)), sleep=sleep, jitter=jitter,
                          monotonic=Clock(0.0))
    feed.start()
    return feed


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with new_session() as s:
        yield s


async def test_backoff_doubles_to_30s_with_jitter_and_resets_after_ready(toy: ToyAM, session: Any) -> None:
    delays: list[float] = []
    enough, park = asyncio.Event(), asyncio.Event()
    factors = iter([1.0, 0.0] * 20)

    async def sleep(delay: float) -> None:  # records the pause instead of taking it
        delays.append(delay)
        if len(delays) == 9:
            enough.set()
            await park.wait()

    toy.feed_status = 503
    feed = await subscriber(toy, session, sleep, lambda: next(factors))
    await asyncio.wait_for(enough.wait(), 5)
    await feed.close()
    nominal = [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    assert delays == [d * (1.0 if i % 2 == 0 else 0.5) for i, d in enumerate(nominal)]
    assert len(toy.feed_requests) == 9 and feed.connections == 0

    delays.clear()
    enough.clear()
    toy.feed_status, toy.drop_after_ready = 200, True  # each connection reaches ready, then drops
    feed = await subscriber(toy, session, sleep, lambda: 1.0)
    await asyncio.wait_for(enough.wait(), 5)
    await feed.close()
    assert delays == [0.5] * 9 and feed.connections == 9 and feed.caught_up


# --- configuration ------------------------------------------------------------------------------


def test_new_options_are_validated() -> None:
    base: dict[str, Any] = dict(realm="r", resource=RESOURCE, authorization_manager="http://am", sph="s")
    for bad in (dict(cache_size=-1), dict(cache_size="10"), dict(cache_size=True), dict(cache_size=1.5),
                dict(max_staleness=0), dict(max_staleness=-1), dict(max_staleness=math.inf),
                dict(max_staleness=math.nan), dict(max_staleness=True), dict(feed="yes"),
                dict(sph="a:b", sph_secret="x")):
        with pytest.raises(ValueError):
            ProtectServeConfig(**{**base, **bad})
    config = ProtectServeConfig(**base, cache_size=0, max_staleness=0.5, feed=False)
    assert (config.cache_size, config.max_staleness, config.feed) == (0, 0.5, False)
    default = ProtectServeConfig(**base)
    assert (default.cache_size, default.max_staleness, default.feed) == (100_000, 30.0, True)
    assert ProtectServeConfig(**{**base, "sph": "a:b"}, sph_secret="x", feed=False).sph == "a:b"
