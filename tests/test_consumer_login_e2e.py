"""consumer_sdk's login (RFC 8252) against the real AM, end to end over real sockets on 127.0.0.1.

The real AM (tests/conftest.py), the example service protected by rs_middleware, an account
created with ``create_admin``, and ``dialogkit.approve`` as the injected ``open_browser``: it
signs in and approves over plain HTTP, then follows the redirect to the loopback receiver.

(Pending until /authorize, the dialog, the code and refresh grants and /register for public
clients are merged: the lead renames this file to tests/test_consumer_login_e2e.py.)
"""

import json
import stat
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from adminkit import jar
from authmanager.admin.auth import create_admin
from authmanager.serving import bound_socket, serve
from consumer_sdk import FileStore, LoginRequired, MemoryStore, ProtectServeAuth, log_in
from consumer_sdk.errors import AuthorizationError
from dialogkit import approve
from rs_middleware.example import create_example_app

NAME, PASSWORD = "alice", "a long enough password"


@pytest.fixture
async def service(am, clock):
    sock = bound_socket()
    resource = "http://127.0.0.1:%d/" % sock.getsockname()[1]
    realm = await am.create_realm("photos", resource=resource, scopes=["read", "write"])
    await am.add_policy("photos", "permit", ["read", "write"])
    await create_admin(am.ctx.sessions, name=NAME, password=PASSWORD, now=int(am.clock()))
    app = create_example_app(realm="photos", resource=resource, authorization_manager=am.issuer, sph=realm.sph,
                             sph_secret=realm.sph_secret, mode="jwks", now=clock)
    async with serve(app, sock) as url:
        yield url + "/"


def person(http, opened, *, scopes=None, deny=False):
    """The injected browser: the dialog through dialogkit, then the redirect to the loopback receiver."""
    async def open_browser(url):
        opened.append(url)
        location = await approve(http, url, name=NAME, password=PASSWORD, scopes=scopes, deny=deny)
        async with http.get(location, allow_redirects=False) as r:
            assert r.status == 200 and "close this window" in await r.text()
    return open_browser


async def test_login_then_the_service_answers_and_refresh_rotates(am, service, clock, tmp_path):
    path = tmp_path / "credentials.json"
    store, opened = FileStore(path), []
    async with aiohttp.ClientSession(cookie_jar=jar()) as http:  # the person's browser
        token = await log_in(service + "photos/", store=store, open_browser=person(http, opened), scopes=["read"],
                             now=clock)
    query = parse_qs(urlsplit(opened[0]).query)
    assert query["code_challenge_method"] == ["S256"] and query["resource"] == [service]
    assert urlsplit(query["redirect_uri"][0]).hostname == "127.0.0.1"
    assert token.issuer == am.issuer and token.scope == frozenset({"read"}) and token.refresh_token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["public_clients"][am.issuer]["client_id"] == token.client_id

    steps = []
    auth = ProtectServeAuth(store=store, now=clock, on_step=steps.append)
    async with aiohttp.ClientSession(middlewares=[auth]) as http:
        async with http.get(service + "photos/") as r:
            assert r.status == 200
        assert [s.name for s in steps] == ["request"]  # the login's token, no handshake

        clock.advance(token.expires_at - clock() + 1)  # expired: refreshed before sending
        async with http.get(service + "photos/") as r:
            assert r.status == 200
        rotated = store.get_token(service)
        assert rotated.refresh_token != token.refresh_token and rotated.access_token != token.access_token

        # the old refresh token presented again: invalid_grant, and the whole family is revoked (RFC 9700 §4.14.2)
        async with http.post(am.url("/token"), data={"grant_type": "refresh_token", "client_id": token.client_id,
                                                     "refresh_token": token.refresh_token}) as r:
            assert r.status == 400 and (await r.json())["error"] == "invalid_grant"
        clock.advance(rotated.expires_at - clock() + 1)
        with pytest.raises(LoginRequired, match="log in again: python -m consumer_sdk login"):
            async with http.get(service + "photos/"):
                pass


async def test_a_second_login_reuses_the_registered_public_client(am, service, clock):
    store = MemoryStore()
    async with aiohttp.ClientSession(cookie_jar=jar()) as http:  # the person's browser
        first = await log_in(service + "photos/", store=store, open_browser=person(http, []), scopes=["read"], now=clock)
        second = await log_in(service + "photos/", store=store, open_browser=person(http, []), scopes=["read", "write"],
                              now=clock)
    assert first.client_id == second.client_id
    assert second.scope == frozenset({"read", "write"})


async def test_denied_in_the_dialog(am, service, clock):
    store = MemoryStore()
    async with aiohttp.ClientSession(cookie_jar=jar()) as http:  # the person's browser
        with pytest.raises(AuthorizationError) as denied:
            await log_in(service + "photos/", store=store, open_browser=person(http, [], deny=True), now=clock)
    assert denied.value.error == "access_denied"
    assert store.tokens() == []
