"""Database outages are 503 temporarily_unavailable with Retry-After, never a 200 or a 500."""

import aiohttp
import pytest
from amkit import register
from signers import sign_9421, token_form

from authmanager.runtime.known_tokens import KnownTokens
from authmanager.storage.db import make_engine, make_sessionmaker
from authmanager.storage.transact import Transactor

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


async def test_a_client_gone_mid_body_is_not_a_database_outage(caplog):
    """A client that disconnects before sending its whole body (wrk ending a run does) makes the
    body read raise ConnectionResetError; that is not the database, and is not logged as such."""
    import logging
    from unittest import mock

    from aiohttp import web
    from aiohttp.test_utils import make_mocked_request

    from authmanager.app import error_middleware

    async def reading(request):
        raise ConnectionResetError("Connection lost")

    gone = mock.Mock(is_closing=lambda: True)
    with caplog.at_level(logging.ERROR, logger="authmanager"):
        with pytest.raises(web.HTTPBadRequest):
            await error_middleware(make_mocked_request("POST", "/token", transport=gone), reading)
        assert caplog.text == ""
        # the same error with the client still there is the database's (asyncpg, a socket): 503
        with pytest.raises(web.HTTPServiceUnavailable):
            await error_middleware(make_mocked_request("POST", "/token", transport=mock.Mock(is_closing=lambda: False)),
                                   reading)
        assert "database unavailable" in caplog.text
