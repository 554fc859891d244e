"""``GET /authorize`` (RFC 6749 §4.1, OAuth 2.1, RFC 9700, RFC 7636, RFC 8707, RFC 9207), against a
real AM on 127.0.0.1, over SQLite and PostgreSQL: which failures get an error page without a
Location (unknown client, redirect mismatch, missing redirect_uri) and which are redirected with
``error``, ``state`` and ``iss`` (every §4.1.2.1 error this endpoint can produce)."""

from __future__ import annotations

from urllib.parse import urlencode

import aiohttp
import pytest

from adminkit import PASSWORD, jar
from authmanager.accounts import create_account
from authmanager.authorize.request import error_location
from authmanager.errors import ServerError, TemporarilyUnavailable
from dialogkit import approve, authorize_url, pkce, public_client, query_of

RESOURCE = "http://127.0.0.1:1/photos/"
CB = "https://printer.example/cb"


@pytest.fixture
async def setup(am):
    await am.create_realm("photos", resource=RESOURCE, scopes=["view", "print", "delete"])
    await am.add_policy("photos", "permit", ["view", "print"])
    await create_account(am.ctx.sessions, name="bob", password=PASSWORD, administers=False, now=int(am.clock()))
    return am, await public_client(am)


async def _get(am, url: str, *, cookies: aiohttp.CookieJar | None = None) -> tuple[int, dict, str]:
    async with aiohttp.ClientSession(cookie_jar=cookies or jar()) as http, http.get(url, allow_redirects=False) as r:
        return r.status, dict(r.headers), await r.text()


def _url(am, **params: str | None) -> str:
    return am.url("/authorize?" + urlencode({k: v for k, v in params.items() if v is not None}))


async def test_unknown_client_mismatch_and_missing_redirect_get_a_page_never_a_redirect(setup):
    am, client_id = setup
    cases = {
        "no client_id": _url(
            am, response_type="code", redirect_uri=CB, scope="view", resource=RESOURCE, state="s"),
        "unknown client": authorize_url(am, "no-such-client"),
        "two client_ids": authorize_url(am, client_id) + "&client_id=" + client_id,
        "redirect mismatch": authorize_url(am, client_id, redirect_uri="https://evil.example/cb"),
        "redirect prefix": authorize_url(am, client_id, redirect_uri=CB + "/more"),
        "redirect with extra query": authorize_url(am, client_id, redirect_uri=CB + "?x=1"),
        "missing redirect_uri": authorize_url(am, client_id, redirect_uri=None),
        "bad CIMD URL": authorize_url(am, "https://127.0.0.1:1/client.json"),
    }
    for why, url in cases.items():
        status, headers, body = await _get(am, url)
        assert status == 400, why
        assert "Location" not in headers, why
        assert "cannot continue" in body and "nothing was given" in body, why
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"] and headers["X-Frame-Options"] == "DENY"


async def test_every_redirectable_error_carries_error_state_and_iss(setup):
    am, client_id = setup
    _, challenge = pkce()
    base = {"response_type": "code", "client_id": client_id, "redirect_uri": CB, "scope": "view",
            "resource": RESOURCE, "state": "xyz", "code_challenge": challenge, "code_challenge_method": "S256"}
    cimd_less = await public_client(am, "Machine", grant_types=["client_credentials"])
    cases = [
        ({"response_type": None}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": "code id_token"}, "unsupported_response_type"),
        ({"code_challenge": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"code_challenge": "short"}, "invalid_request"),
        ({"code_challenge": "x" * 129}, "invalid_request"),
        ({"code_challenge": "a" * 42 + "+"}, "invalid_request"),
        ({"scope": None}, "invalid_scope"),
        ({"scope": "view nosuch"}, "invalid_scope"),
        ({"scope": "view  print"}, "invalid_scope"),
        ({"resource": None}, "invalid_target"),
        ({"resource": "http://127.0.0.1:1/other/"}, "invalid_target"),
        ({"resource": "http://127.0.0.1:1/photosx"}, "invalid_target"),
        ({"resource": "not a url"}, "invalid_target"),
        ({"client_id": cimd_less}, "unauthorized_client"),
    ]
    for change, error in cases:
        params = {**base, **change}
        status, headers, _ = await _get(am, _url(am, **params))
        assert status == 303, (change, status)
        location = headers["Location"]
        assert location.startswith(CB + "?"), change
        got = query_of(location)
        assert got["error"] == error, (change, got)
        assert got["state"] == "xyz" and got["iss"] == am.issuer, change
        assert "code" not in got and got.get("error_description")
        assert headers["Cache-Control"] == "no-store" and headers["Referrer-Policy"] == "same-origin"
    # a parameter given twice (RFC 6749 §3.1) and a state that cannot be echoed
    status, headers, _ = await _get(am, _url(am, **base) + "&scope=print")
    assert status == 303 and query_of(headers["Location"])["error"] == "invalid_request"
    status, headers, _ = await _get(am, _url(am, **{**base, "state": "é"}))
    got = query_of(headers["Location"])
    assert got["error"] == "invalid_request" and "state" not in got and got["iss"] == am.issuer


def test_server_error_and_temporarily_unavailable_locations_keep_state_and_iss():
    """The two failures this endpoint cannot be made to produce on demand without breaking it are
    built by the same function as every other error response."""
    for err in (ServerError("boom"), TemporarilyUnavailable("db down")):
        got = query_of(error_location("http://127.0.0.1:5/cb?keep=1", err, state="s", issuer="https://am"))
        assert got == {"keep": "1", "error": err.error, "error_description": err.description, "state": "s",
                       "iss": "https://am"}


async def test_not_signed_in_is_sent_to_sign_in_with_next_and_lands_back_on_the_request(setup):
    am, client_id = setup
    url = authorize_url(am, client_id, scope="view")
    status, headers, _ = await _get(am, url)
    assert status == 303 and headers["Location"].startswith("/admin/login?next=")
    back = query_of(headers["Location"])["next"]
    assert back.startswith("/authorize?") and query_of(back) == query_of(url)  # the request it came from
    async with aiohttp.ClientSession(cookie_jar=jar()) as http:
        async with http.get(am.url(headers["Location"])) as r:
            page = await r.text()
        assert 'name="next" value="/authorize?' in page
        from adminkit import csrf_of

        path = url[len(am.url("")):]
        async with http.post(am.url("/admin/login"), data={"csrf_token": csrf_of(page), "name": "bob",
                                                          "password": PASSWORD, "next": path},
                             allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"].startswith("/authorize?")  # not the console
            assert query_of(r.headers["Location"]) == query_of(url)
        async with http.get(url, allow_redirects=False) as r:
            assert r.status == 200 and "Photo Printer" in await r.text()
            assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
            assert r.headers["X-Frame-Options"] == "DENY" and r.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("bad", ["https://evil.example/authorize?x", "//evil.example/authorize", "/admin/",
                                 "/authorize/../admin/", "/authorizex", "\\\\evil.example/authorize",
                                 "/authorize#frag", "javascript:alert(1)", "/authorize?a\nb"])
async def test_next_refuses_anything_but_an_authorization_request_path(setup, bad):
    am, _ = setup
    async with aiohttp.ClientSession(cookie_jar=jar()) as http:
        async with http.get(am.url("/admin/login")) as r:
            from adminkit import csrf_of

            csrf = csrf_of(await r.text())
        async with http.post(am.url("/admin/login"), data={"csrf_token": csrf, "name": "bob", "password": PASSWORD,
                                                          "next": bad}, allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == "/admin/applications"


async def test_loopback_redirect_any_port_and_state_iss_echoed_on_success(am):
    await am.create_realm("photos", resource=RESOURCE, scopes=["view"])
    await am.add_policy("photos", "permit", ["view"])
    await create_account(am.ctx.sessions, name="bob", password=PASSWORD, administers=False, now=int(am.clock()))
    client_id = await public_client(am, "CLI", redirect_uris=["http://127.0.0.1/callback"])
    async with aiohttp.ClientSession(cookie_jar=jar()) as http:
        location = await approve(http, authorize_url(am, client_id, redirect_uri="http://127.0.0.1:53123/callback",
                                                     scope="view", state="loop"), name="bob", password=PASSWORD)
    assert location.startswith("http://127.0.0.1:53123/callback?")
    got = query_of(location)
    assert got["state"] == "loop" and got["iss"] == am.issuer and got["code"]
    # another path on loopback is still a mismatch: a page, no redirect
    status, headers, _ = await _get(am, authorize_url(am, client_id, redirect_uri="http://127.0.0.1:53123/other"))
    assert status == 400 and "Location" not in headers


async def test_not_you_signs_out_and_back_in_on_the_same_request(setup):
    am, client_id = setup
    from adminkit import Browser

    url = authorize_url(am, client_id, scope="view")
    async with aiohttp.ClientSession(cookie_jar=jar()) as http:
        browser = Browser(http, am)
        await browser.login("bob")
        status, page = await browser.get(url[len(am.url("")):])
        assert status == 200 and "Not bob?" in page
        import html
        import re

        action = html.unescape(re.search(r'name="next" value="([^"]+)"', page).group(1))
        response = await browser.post("/admin/logout", {"next": action})
        assert response.status == 303 and response.headers["Location"].startswith("/admin/login?next=")
        assert query_of(query_of(response.headers["Location"])["next"]) == query_of(url)
        assert (await browser.get(url[len(am.url("")):]))[0] == 303  # signed out


async def test_a_locked_database_is_a_503_page_never_a_redirect_to_an_unverified_client(clock, tmp_path):
    """The client was known a moment ago; the database then becomes unusable (SQLite locked by
    another process). Its liveness is read on every request (a revoked key is unknown at once),
    so it cannot be verified now: the answer is a 503 page with ``Retry-After`` within
    ``db_timeout``, not a hang, and no redirect to a URI the AM could not check. (The redirected
    ``temporarily_unavailable`` of §4.1.2.1 is built by the same Location builder as every
    other redirected error.)"""
    import asyncio
    import sys

    from conftest import running_am
    from test_db_lock import LOCKER

    db = tmp_path / "am.db"
    async with running_am(f"sqlite+aiosqlite:///{db}", clock, tmp_path, db_timeout=0.5) as am:
        await am.create_realm("photos", resource=RESOURCE, scopes=["view"])
        client_id = await public_client(am)
        url = authorize_url(am, client_id, scope="view", state="busy")
        assert (await _get(am, url))[0] == 303  # to sign in: the client is now known
        locker = await asyncio.create_subprocess_exec(sys.executable, "-c", LOCKER, str(db),
                                                      stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        try:
            assert (await asyncio.wait_for(locker.stdout.readline(), 10)).strip() == b"locked"
            status, headers, _ = await _get(am, url)
        finally:
            locker.stdin.write(b"release\n")
            await locker.stdin.drain()
            await asyncio.wait_for(locker.wait(), 10)
        assert status == 503 and "Location" not in headers and int(headers["Retry-After"]) >= 1
