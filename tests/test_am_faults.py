"""Database outages are 503 temporarily_unavailable with Retry-After, never a 200 or a 500."""

import aiohttp
import pytest

from amkit import register
from authmanager.known_tokens import KnownTokens
from authmanager.storage.db import make_engine, make_sessionmaker
from authmanager.storage.transact import Transactor
from signers import sign_9421, token_form

DEAD = ["postgresql+asyncpg://nobody@127.0.0.1:1/none", "sqlite+aiosqlite:////nonexistent-dir/x.db"]


@pytest.mark.parametrize("dead_url", DEAD)
async def test_unreachable_database_is_503(sqlite_am, dead_url):
    am = sqlite_am
    realm = await am.create_realm("photos", resource="http://127.0.0.1:1/", scopes=["read"])
    await am.add_policy("photos", "permit", ["read"])
    async with aiohttp.ClientSession() as http:
        client = await register(http, am)
        dead = make_engine(dead_url)
        live = am.ctx.sessions, am.ctx.transact, am.ctx.known
        am.ctx.sessions, am.ctx.transact = make_sessionmaker(dead), Transactor(dead, timeout=2)
        am.ctx.known = KnownTokens(am.ctx.sessions)
        try:
            body = token_form(realm.sph, "read")
            headers = sign_9421(am.url("/token"), body, client["client_id"], client["client_secret"])
            for url, kwargs in [
                (am.url("/token"), {"data": body, "headers": headers}),
                (am.url("/register"), {"json": {"client_name": "x"}}),
                (am.url("/revoke"), {"data": {"token": "t"}, "headers": {
                    "Authorization": aiohttp.encode_basic_auth(realm.sph, realm.sph_secret)}}),
                (am.url("/introspect"), {"data": {"token": "t"}, "headers": {
                    "Authorization": aiohttp.encode_basic_auth(realm.sph, realm.sph_secret)}}),
            ]:
                async with http.post(url, **kwargs) as r:
                    assert r.status == 503, url
                    assert (await r.json())["error"] == "temporarily_unavailable"
                    assert int(r.headers["Retry-After"]) > 0
        finally:
            await am.ctx.transact.close()
            am.ctx.sessions, am.ctx.transact, am.ctx.known = live
            await dead.dispose()
        # the same signed request succeeds once the database is back: nothing was half-stored
        async with http.post(am.url("/token"), data=body, headers=headers) as r:
            assert r.status == 200
