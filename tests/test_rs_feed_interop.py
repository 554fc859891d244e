"""rs_middleware's feed subscriber against the real authmanager (SQLite, and PostgreSQL when
reachable), over 127.0.0.1 sockets: revocations at the AM reach an SP that serves the token
from its cache, and a key rotation is picked up without a restart.  The AM pushes within its
poll interval; the test waits on ``FeedSubscriber.wait_until``, bounded, never sleeping."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from amkit import register, request_token

from authmanager.operations.revocation import revoke_consumer
from authmanager.runtime.keyring import rotate
from authmanager.serving import bound_socket, serve
from rs_middleware import RUNTIME_KEY, ProtectServeRuntime
from rs_middleware.example import create_example_app


@dataclass
class World:
    am: Any
    realm: Any
    sp: str
    runtime: ProtectServeRuntime
    http: aiohttp.ClientSession
    client: dict[str, Any]

    async def token(self) -> str:
        status, body, _ = await request_token(self.http, self.am, self.client, self.realm.sph, "read")
        assert status == 200
        return str(body["access_token"])

    async def get(self, token: str) -> tuple[int, dict[str, Any]]:
        async with self.http.get(self.sp + "photos/1", headers={"Authorization": f"Bearer {token}"}) as r:
            return r.status, await r.json()

    async def until(self, predicate: Callable[[], bool]) -> None:
        assert self.runtime.feed is not None
        await asyncio.wait_for(self.runtime.feed.wait_until(predicate), 5)

    @property
    def signature_checks(self) -> int:
        return self.runtime.verifier.jwks.signature_checks  # type: ignore[union-attr]


@pytest.fixture
async def world(am: Any, clock: Any) -> AsyncIterator[World]:
    sock = bound_socket()
    resource = "http://127.0.0.1:%d/" % sock.getsockname()[1]
    realm = await am.create_realm("photos", resource=resource, scopes=["read"])
    await am.add_policy("photos", "permit", ["read"])
    app = create_example_app(realm="photos", resource=resource, authorization_manager=am.issuer, sph=realm.sph,
                             sph_secret=realm.sph_secret, now=clock)
    async with serve(app, sock) as url, aiohttp.ClientSession() as http:
        runtime = app[RUNTIME_KEY]
        assert runtime.feed is not None and runtime.feed.caught_up  # subscribed before serving
        yield World(am, realm, url + "/", runtime, http, await register(http, am))


async def test_revoked_token_is_refused_by_the_caching_sp(world: World) -> None:
    token, other = await world.token(), await world.token()
    for _ in range(3):
        assert (await world.get(token))[0] == 200
    assert world.signature_checks == 1  # served from the cache
    cursor = world.runtime.feed.cursor  # type: ignore[union-attr]
    basic = {"Authorization": aiohttp.encode_basic_auth(world.realm.sph, world.realm.sph_secret)}
    async with world.http.post(world.am.url("/revoke"), data={"token": token}, headers=basic) as r:
        assert r.status == 200
    await world.until(lambda: world.runtime.feed.cursor != cursor)  # type: ignore[union-attr]
    status, body = await world.get(token)
    assert (status, body["error_description"]) == (401, "token revoked")
    assert (await world.get(other))[0] == 200


async def test_revoked_consumer_tokens_are_refused(world: World) -> None:
    token = await world.token()
    assert (await world.get(token))[0] == 200
    cursor = world.runtime.feed.cursor  # type: ignore[union-attr]
    async with world.am.ctx.sessions.begin() as session:
        await revoke_consumer(session, world.client["client_id"], now=int(world.am.clock()))
    await world.until(lambda: world.runtime.feed.cursor != cursor)  # type: ignore[union-attr]
    assert (await world.get(token))[0] == 401


async def test_key_rotation_reaches_the_sp_through_keys_changed(world: World) -> None:
    refresher = world.runtime.key_refresher
    assert refresher is not None
    async with world.am.ctx.sessions.begin() as session:
        await rotate(session, world.am.ctx.box, now=int(world.am.clock()), delay=0, max_token_ttl=900)
    await world.until(lambda: refresher.refreshes >= 1)
    token = await world.token()  # signed by the new key: an unknown kid would wait 60 s for a refetch
    assert (await world.get(token))[0] == 200
