"""Lifecycle hygiene: expired tokens, spent nonces, stale events and unused keys are purged."""

import aiohttp
from amkit import counts, register, request_token
from sqlalchemy import insert

from authmanager.runtime.purge import purge
from authmanager.secretbox import digest
from authmanager.storage import realms as realm_repo
from authmanager.storage.models import AccessToken


async def test_ten_thousand_expired_tokens_leave_no_rows(am):
    realm = await am.create_realm("photos", resource="http://127.0.0.1:1/", scopes=["read"])
    await am.add_policy("photos", "permit", ["read"], max_ttl=60)
    async with aiohttp.ClientSession() as http:
        client = await register(http, am)
        status, body, _ = await request_token(http, am, client, realm.sph, "read")  # one nonce, one token
        assert status == 200
        revoke = {"Authorization": aiohttp.encode_basic_auth(realm.sph, realm.sph_secret)}
        async with http.post(am.url("/revoke"), data={"token": body["access_token"]}, headers=revoke) as r:
            assert r.status == 200  # one feed event
    now = int(am.clock())
    async with am.ctx.sessions.begin() as session:  # 10,000 more issued tokens, inserted in bulk
        realm_id = (await realm_repo.by_sph(session, realm.sph)).id
        await session.execute(insert(AccessToken), [
            {"jti": f"j{i}", "token_hash": digest(f"token-{i}"), "client_id": client["client_id"],
             "realm_id": realm_id, "scope": "read", "issued_at": now, "expires_at": now + 60}
            for i in range(10_000)])
    before = await counts(am)
    assert before["access_tokens"] == 10_001 and before["nonces"] == 1
    report = await purge(am.ctx.sessions, now=now + 30, unused_consumer_ttl=3600)
    assert report.tokens == 0 and (await counts(am))["access_tokens"] == 10_001  # none expired yet
    report = await purge(am.ctx.sessions, now=now + am.settings.signature_window + 61,
                         unused_consumer_ttl=3600)
    assert (report.tokens, report.nonces, report.events) == (10_001, 1, 1)
    after = await counts(am)
    assert after["access_tokens"] == 0 and after["nonces"] == 0
    assert after["consumers"] == 1  # it was used: kept


async def test_unused_consumer_keys_are_purged(am):
    async with aiohttp.ClientSession() as http:
        await register(http, am)
    report = await purge(am.ctx.sessions, now=int(am.clock()) + 3601, unused_consumer_ttl=3600)
    assert report.consumers == 1 and (await counts(am))["consumers"] == 0
