"""The token endpoint's group commit: concurrent requests share one transaction, and each still
gets exactly the answer one transaction of its own would have given — nothing decided on a stale
cache, nothing stored for a refused request but its spent nonce, every decision audited."""

import asyncio

import aiohttp
import pytest
from amkit import counts, register, request_token
from signers import sign_9421, token_form
from sqlalchemy import func, select

from authmanager.operations.realms import revoke_consumer_key
from authmanager.storage.models import AccessRequest, AuditEvent


class CountingTransactor:
    """Wraps the AM's transactor to record how many requests each batch carried; the first batch
    is held until ``release`` is set, so that what arrives meanwhile must share the next one."""

    def __init__(self, inner):
        self.inner, self.sizes, self.release = inner, [], asyncio.Event()

    async def __call__(self, fn, batch, *args):
        self.sizes.append(len(batch))
        if len(self.sizes) == 1:
            await self.release.wait()
        return await self.inner(fn, batch, *args)

    async def close(self):
        await self.inner.close()


@pytest.fixture
async def world(am):
    realm = await am.create_realm("photos", resource="http://127.0.0.1:1/", scopes=["read", "write", "admin"])
    await am.add_policy("photos", "permit", ["read"])
    async with aiohttp.ClientSession() as http:
        yield am, realm, http


async def audit_actions(am):
    async with am.ctx.sessions() as session:
        rows = (await session.execute(select(AuditEvent.action, func.count()).group_by(AuditEvent.action))).all()
    return dict(rows)


async def test_concurrent_mixed_requests_share_batches_and_each_gets_its_own_answer(world):
    am, realm, http = world
    await am.add_policy("photos", "ask", ["write"])
    await am.add_policy("photos", "deny", ["admin"])
    good = [await register(http, am, f"good {i}") for i in range(12)]
    revoked = await register(http, am, "revoked")
    assert (await request_token(http, am, revoked, realm.sph, "read"))[0] == 200  # now cached by the AM
    await revoke_consumer_key(am.ctx.sessions, revoked["client_id"], now=int(am.clock()))
    before = await counts(am)
    replayed_body = token_form(realm.sph, "read")
    replayed = sign_9421(am.url("/token"), replayed_body, good[0]["client_id"], good[0]["client_secret"])

    async def copy_of_one_request():
        async with http.post(am.url("/token"), data=replayed_body, headers=replayed) as r:
            return r.status, await r.json()

    jobs = ([request_token(http, am, c, realm.sph, "read") for c in good[1:]]        # 11 permitted
            + [request_token(http, am, good[1], realm.sph, "admin")]                 # denied by policy
            + [request_token(http, am, good[2], realm.sph, "write")]                 # put to the owner
            + [request_token(http, am, good[3], "no-such-sph", "read")]              # unknown realm
            + [request_token(http, am, good[4], realm.sph, "delete")]                # not a scope of the realm
            + [request_token(http, am, revoked, realm.sph, "read")]                  # a revoked key
            + [copy_of_one_request() for _ in range(5)])                             # one nonce, five copies
    counting = am.ctx.transact = CountingTransactor(am.ctx.transact)
    running = asyncio.gather(*jobs)
    deadline = asyncio.get_running_loop().time() + 10
    while not counting.sizes or counting.sizes[0] + am.ctx.issuance.waiting < len(jobs):  # all queued
        assert asyncio.get_running_loop().time() < deadline, am.ctx.issuance.waiting
        await asyncio.sleep(0.01)  # polling a condition, bounded by the deadline
    counting.release.set()
    answers = await running
    statuses = [a[0] for a in answers]
    assert statuses[:11] == [200] * 11
    assert answers[11][0] == 403 and answers[11][1]["error"] == "request_denied"
    assert answers[12][0] == 403 and answers[12][1]["error"] == "request_submitted"
    assert answers[13][0] == 400 and answers[13][1]["error"] == "invalid_request"
    assert answers[14][0] == 400 and answers[14][1]["error"] == "invalid_scope"
    assert answers[15][0] == 401 and answers[15][1]["error"] == "invalid_client"
    assert sorted(statuses[16:]) == [200] + [401] * 4
    assert len(counting.sizes) == 2 and sum(counting.sizes) == len(jobs), "what queued meanwhile shares one"
    after = await counts(am)
    assert after["access_tokens"] - before["access_tokens"] == 12
    # Every live key's request spent its nonce, whatever its answer: 12 tokens, the request put
    # to the owner, the denied one, the unknown realm, the unknown scope (the revoked key's did not).
    assert after["nonces"] - before["nonces"] == 16
    async with am.ctx.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(AccessRequest)) == 1
    actions = await audit_actions(am)
    assert actions["token.issue"] == 13 and actions["token.deny"] == 1 and actions["request.ask"] == 1


async def test_policy_changes_apply_to_the_very_next_request(world):
    am, realm, http = world
    client = await register(http, am)
    assert (await request_token(http, am, client, realm.sph, "read"))[0] == 200
    await am.add_policy("photos", "deny", ["read"], consumer=client["client_id"])
    status, body, _ = await request_token(http, am, client, realm.sph, "read")
    assert status == 403 and body["error"] == "request_denied"


async def test_a_deleted_or_expired_key_is_refused_although_its_secret_is_cached(world):
    am, realm, http = world
    client = await register(http, am)
    assert (await request_token(http, am, client, realm.sph, "read"))[0] == 200
    await revoke_consumer_key(am.ctx.sessions, client["client_id"], now=int(am.clock()), delete=True)
    before = await counts(am)
    status, body, _ = await request_token(http, am, client, realm.sph, "read")
    assert status == 401 and body["error"] == "invalid_client"
    assert await counts(am) == before

    parent = await register(http, am, "parent")
    body = b"ttl=60"
    headers = sign_9421(am.url("/grasshopper"), body, parent["client_id"], parent["client_secret"])
    async with http.post(am.url("/grasshopper"), data=body,
                         headers={**headers, "Content-Type": "application/x-www-form-urlencoded"}) as r:
        sub = await r.json()
    assert (await request_token(http, am, sub, realm.sph, "read"))[0] == 200
    am.clock.advance(61)
    status, body, _ = await request_token(http, am, sub, realm.sph, "read")
    assert status == 401 and body["error"] == "invalid_client"


async def test_issuance_is_audited_without_the_token(world):
    am, realm, http = world
    client = await register(http, am)
    status, body, _ = await request_token(http, am, client, realm.sph, "read")
    assert status == 200
    async with am.ctx.sessions() as session:
        row = await session.scalar(select(AuditEvent).where(AuditEvent.action == "token.issue"))
    assert row.actor == f"consumer:{client['client_id']}" and row.detail["scope"] == "read"
    assert body["access_token"] not in repr((row.target, row.detail))


async def test_a_batch_in_flight_at_shutdown_is_answered_not_left_hanging(world):
    import asyncio

    from authmanager.errors import TemporarilyUnavailable
    from authmanager.grants import client_credentials

    am, realm, http = world
    client = await register(http, am)
    key = await am.ctx.consumer_keys.get(client["client_id"])
    entered, release = asyncio.Event(), asyncio.Event()

    class Stalling:
        async def __call__(self, fn, *args):
            entered.set()
            await release.wait()  # the transaction never gets to run

        async def close(self):
            pass

    inner, am.ctx.transact = am.ctx.transact, Stalling()
    try:
        waiting = asyncio.create_task(am.ctx.issuance.issue(
            key, client_credentials.Request(sph=realm.sph, scopes=frozenset({"read"})), nonce="n1",
            nonce_expires_at=int(am.clock()) + 600))
        await entered.wait()
        await am.ctx.issuance.close()
        with pytest.raises(TemporarilyUnavailable):
            await asyncio.wait_for(waiting, 5)
    finally:
        am.ctx.transact = inner
