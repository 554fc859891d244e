"""Step 8: RFC 7662 introspection, and RFC 7009 revocation as seen through it."""

import aiohttp
import pytest

from amkit import register, request_token
from signers import FORM, sign_9421

RESOURCE = "http://127.0.0.1:1/"


@pytest.fixture
async def issued(am):
    realm = await am.create_realm("photos", resource=RESOURCE, scopes=["read", "write"])
    other_realm = await am.create_realm("notes", resource="http://127.0.0.1:2/", scopes=["read"])
    await am.add_policy("photos", "permit", ["read"])
    async with aiohttp.ClientSession() as http:
        client = await register(http, am)
        status, body, _ = await request_token(http, am, client, realm.sph, "read")
        assert status == 200
        yield am, realm, other_realm, client, body["access_token"], http


async def introspect(http, am, realm, token, *, secret=None):
    auth = {"Authorization": aiohttp.encode_basic_auth(realm.sph, secret or realm.sph_secret)}
    async with http.post(am.url("/introspect"), data={"token": token}, headers=auth) as r:
        return r.status, await r.json(), r.headers


async def test_active_token_metadata(issued):
    am, realm, _, client, token, http = issued
    status, body, headers = await introspect(http, am, realm, token)
    assert status == 200 and headers["Cache-Control"] == "no-store"
    assert body["active"] is True
    assert body["scope"] == "read" and body["client_id"] == body["sub"] == client["client_id"]
    assert body["aud"] == RESOURCE and body["iss"] == am.issuer and body["token_type"] == "Bearer"
    assert body["exp"] - body["iat"] == 900


async def test_bad_credentials_are_401_invalid_client(issued):
    am, realm, _, _, token, http = issued
    status, body, headers = await introspect(http, am, realm, token, secret="wrong")
    assert status == 401 and body["error"] == "invalid_client"
    assert headers["WWW-Authenticate"].startswith("Basic")
    async with http.post(am.url("/introspect"), data={"token": token}) as r:
        assert r.status == 401


@pytest.mark.parametrize("case", ["unknown", "expired", "revoked", "other realm"])
async def test_inactive_is_exactly_active_false(issued, case):
    am, realm, other_realm, _, token, http = issued
    caller = realm
    if case == "unknown":
        token = token[:-4] + "AAAA"
    elif case == "expired":
        am.clock.advance(901)
    elif case == "revoked":
        async with http.post(am.url("/revoke"), data={"token": token},
                             headers={"Authorization": aiohttp.encode_basic_auth(realm.sph, realm.sph_secret)}) as r:
            assert r.status == 200
    elif case == "other realm":
        caller = other_realm
    status, body, _ = await introspect(http, am, caller, token)
    assert status == 200 and body == {"active": False}


async def test_missing_token_parameter_is_invalid_request(issued):
    am, realm, *_ , http = issued
    async with http.post(am.url("/introspect"), data={}, headers={"Authorization": aiohttp.encode_basic_auth(realm.sph, realm.sph_secret)}) as r:
        assert r.status == 400 and (await r.json())["error"] == "invalid_request"


async def test_consumer_revokes_its_own_token_but_not_anothers(issued):
    am, realm, _, client, token, http = issued
    other = await register(http, am, "other")
    url = am.url("/revoke")
    body = f"token={token}".encode()
    async with http.post(url, data=body, headers=sign_9421(url, body, other["client_id"], other["client_secret"])) as r:
        assert r.status == 400 and (await r.json())["error"] == "unauthorized_client"
    assert (await introspect(http, am, realm, token))[1]["active"] is True
    async with http.post(url, data=body, headers=sign_9421(url, body, client["client_id"], client["client_secret"])) as r:
        assert r.status == 200
    assert (await introspect(http, am, realm, token))[1] == {"active": False}
    unknown = b"token=never-issued"
    async with http.post(url, data=unknown,
                         headers=sign_9421(url, unknown, client["client_id"], client["client_secret"])) as r:
        assert r.status == 200
    async with http.post(url, data=body, headers={"Content-Type": FORM}) as r:
        assert r.status == 401


async def test_fishing_with_random_tokens_is_throttled_per_realm(clock, tmp_path):
    from conftest import running_am

    async with running_am(f"sqlite+aiosqlite:///{tmp_path / 'f.db'}", clock, tmp_path,
                          introspection_miss_limit="5/minute") as am:
        realm = await am.create_realm("photos", resource=RESOURCE, scopes=["read"])
        await am.add_policy("photos", "permit", ["read"])
        async with aiohttp.ClientSession() as http:
            client = await register(http, am)
            _, body, _ = await request_token(http, am, client, realm.sph, "read")
            answers = [await introspect(http, am, realm, f"random-{i}") for i in range(6)]
            assert [a[1] for a in answers[:5]] == [{"active": False}] * 5
            status, error, headers = answers[5]
            assert status == 429 and error["error"] == "slow_down" and int(headers["Retry-After"]) >= 1
            status, _, _ = await introspect(http, am, realm, body["access_token"])
            assert status == 429  # throttled as a whole until the window passes


async def test_refresh_token_hint_looks_further_for_an_access_token(issued):
    """Refresh tokens are issued now (issue 12): the hint only orders the search (RFC 7009 §2.1:
    "it MUST extend its search across all of its supported token types")."""
    am, realm, _, _, token, http = issued
    basic = {"Authorization": aiohttp.encode_basic_auth(realm.sph, realm.sph_secret)}
    async with http.post(am.url("/revoke"), data={"token": "x", "token_type_hint": "refresh_token"},
                         headers=basic) as r:
        assert r.status == 200
    assert (await introspect(http, am, realm, token))[1]["active"] is True
    async with http.post(am.url("/revoke"), data={"token": token, "token_type_hint": "refresh_token"},
                         headers=basic) as r:
        assert r.status == 200
    assert (await introspect(http, am, realm, token))[1] == {"active": False}
    async with http.post(am.url("/revoke"), data={"token": "x", "token_type_hint": "something_else"},
                         headers=basic) as r:
        assert r.status == 200  # RFC 7009 §2.1: an unknown hint is ignored
