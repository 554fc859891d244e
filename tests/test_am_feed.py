"""The revocation feed: SSE, resumable from a cursor, pushed within the poll interval."""

import asyncio

import aiohttp
import pytest
from amkit import register, request_token
from signers import sign_9421
from sse import SSE

from authmanager.storage.events import GRACE

RESOURCE = "http://127.0.0.1:1/"


@pytest.fixture
async def world(am):
    realm = await am.create_realm("photos", resource=RESOURCE, scopes=["read"])
    await am.add_policy("photos", "permit", ["read"])
    async with aiohttp.ClientSession() as http:
        client = await register(http, am)
        yield am, realm, client, http


def basic(realm):
    return {"Authorization": aiohttp.encode_basic_auth(realm.sph, realm.sph_secret)}


async def token(http, am, client, realm):
    status, body, _ = await request_token(http, am, client, realm.sph, "read")
    assert status == 200
    return body["access_token"]


async def revoke(http, am, realm, value):
    async with http.post(am.url("/revoke"), data={"token": value}, headers=basic(realm)) as r:
        assert r.status == 200


async def test_feed_requires_sph_credentials(world):
    am, realm, _, http = world
    async with http.get(am.url("/feed")) as r:
        assert r.status == 401 and (await r.json())["error"] == "invalid_client"
    async with http.get(am.url("/feed"), headers={
            "Authorization": aiohttp.encode_basic_auth(realm.sph, "wrong")}) as r:
        assert r.status == 401


async def test_live_revocation_is_pushed_and_resumable(world):
    am, realm, client, http = world
    first, second = await token(http, am, client, realm), await token(http, am, client, realm)
    async with http.get(am.url("/feed"), headers=basic(realm)) as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/event-stream")
        feed = SSE(r)
        ready = await feed.until("ready")
        await revoke(http, am, realm, first)
        event = await feed.next()
        assert event["event"] == "token_revoked" and int(event["id"]) > ready["data"]["cursor"]
        assert set(event["data"]) == {"jti", "exp"}
        cursor = event["id"]
    # disconnected: a revocation happens; resuming from the cursor delivers it, and only it
    await revoke(http, am, realm, second)
    async with http.get(am.url("/feed"), headers={**basic(realm), "Last-Event-ID": cursor}) as r:
        feed = SSE(r)
        missed = await feed.next()
        assert missed["event"] == "token_revoked" and int(missed["id"]) > int(cursor)
        assert (await feed.next())["event"] == "ready"


async def test_fresh_subscriber_gets_every_relevant_revocation_then_ready(world):
    am, realm, client, http = world
    values = [await token(http, am, client, realm) for _ in range(3)]
    for value in values[:2]:
        await revoke(http, am, realm, value)
    async with http.get(am.url("/feed"), headers=basic(realm)) as r:
        feed = SSE(r)
        got = [await feed.next(), await feed.next()]
        assert [e["event"] for e in got] == ["token_revoked", "token_revoked"]
        assert (await feed.next())["event"] == "ready"
    am.clock.advance(901 + GRACE)  # expired, and past any SP leeway: a fresh subscriber no longer needs them
    async with http.get(am.url("/feed"), headers=basic(realm)) as r:
        assert (await SSE(r).next())["event"] == "ready"


async def test_other_realms_events_are_not_sent(world):
    am, realm, client, http = world
    other = await am.create_realm("notes", resource="http://127.0.0.1:2/", scopes=["read"])
    await am.add_policy("notes", "permit", ["read"])
    status, body, _ = await request_token(http, am, client, other.sph, "read")
    async with http.get(am.url("/feed"), headers=basic(realm)) as r:
        feed = SSE(r)
        await feed.until("ready")
        await revoke(http, am, other, body["access_token"])
        mine = await token(http, am, client, realm)
        await revoke(http, am, realm, mine)
        event = await feed.next()
        assert event["event"] == "token_revoked"
        async with am.ctx.sessions() as session:
            from authmanager.secretbox import digest
            from authmanager.storage import tokens as token_repo
            assert event["data"]["jti"] == (await token_repo.by_hash(session, digest(mine))).jti


async def test_consumer_revocation_and_indieauth_revoke_reach_the_feed(world):
    am, realm, client, http = world
    value = await token(http, am, client, realm)
    async with http.get(am.url("/feed"), headers=basic(realm)) as r:
        feed = SSE(r)
        await feed.until("ready")
        async with http.post(am.url("/token"), data={"action": "revoke", "token": value}) as resp:
            assert resp.status == 200
        assert (await feed.next())["event"] == "token_revoked"
        from authmanager.operations.revocation import revoke_consumer
        await token(http, am, client, realm)
        async with am.ctx.sessions.begin() as session:
            assert await revoke_consumer(session, client["client_id"], now=int(am.clock())) == 1
        event = await feed.next()
        assert event["event"] == "client_revoked" and event["data"]["client_id"] == client["client_id"]


async def test_idle_feed_sends_keepalives(clock, tmp_path):
    from conftest import running_am

    async with running_am(f"sqlite+aiosqlite:///{tmp_path / 'k.db'}", clock, tmp_path, feed_keepalive=0.05) as fast:
        realm = await fast.create_realm("photos", resource=RESOURCE, scopes=["read"])
        async with aiohttp.ClientSession() as http:
            async with http.get(fast.url("/feed"), headers=basic(realm)) as r:
                feed = SSE(r)
                await feed.until("ready")
                with pytest.raises(asyncio.TimeoutError):
                    await feed.next(timeout=0.3)
                assert feed.comments >= 2


async def test_consumer_revoked_by_signed_request_for_its_own_token(world):
    am, realm, client, http = world
    value = await token(http, am, client, realm)
    body = f"token={value}".encode()
    url = am.url("/revoke")
    async with http.post(url, data=body, headers=sign_9421(url, body, client["client_id"],
                                                           client["client_secret"])) as r:
        assert r.status == 200
    async with http.post(am.url("/introspect"), data={"token": value}, headers=basic(realm)) as r:
        assert await r.json() == {"active": False}


async def test_revocation_stays_relevant_through_the_sps_leeway(world):
    am, realm, client, http = world
    value = await token(http, am, client, realm)
    await revoke(http, am, realm, value)
    am.clock.advance(901)  # expired, but an SP may still accept it for its leeway: still replayed
    async with http.get(am.url("/feed"), headers=basic(realm)) as r:
        assert (await SSE(r).next())["event"] == "token_revoked"
