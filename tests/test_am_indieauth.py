"""IndieAuth token endpoint: access token verification (GET) and revocation (action=revoke)."""

from urllib.parse import parse_qs

import aiohttp
import pytest

from amkit import register, request_token

RESOURCE = "http://127.0.0.1:1/"


@pytest.fixture
async def issued(am):
    realm = await am.create_realm("photos", resource=RESOURCE, scopes=["read", "write"])
    await am.add_policy("photos", "permit", ["read", "write"])
    async with aiohttp.ClientSession() as http:
        client = await register(http, am)
        status, body, _ = await request_token(http, am, client, realm.sph, "read write")
        assert status == 200
        yield am, client, body["access_token"], http


async def test_verification_in_json(issued):
    am, client, token, http = issued
    async with http.get(am.url("/token"), headers={"Authorization": f"Bearer {token}",
                                                   "Accept": "application/json"}) as r:
        assert r.status == 200 and r.content_type == "application/json"
        assert await r.json() == {"me": RESOURCE, "client_id": client["client_id"], "scope": "read write"}


async def test_verification_form_encoded_by_default(issued):
    am, client, token, http = issued
    async with http.get(am.url("/token"), headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status == 200 and r.content_type == "application/x-www-form-urlencoded"
        assert parse_qs(await r.text()) == {"me": [RESOURCE], "client_id": [client["client_id"]],
                                            "scope": ["read write"]}


@pytest.mark.parametrize("case", ["missing", "garbage", "expired", "revoked", "basic"])
async def test_invalid_tokens_are_401(issued, case):
    am, _, token, http = issued
    headers = {"Authorization": f"Bearer {token}"}
    if case == "missing":
        headers = {}
    elif case == "garbage":
        headers = {"Authorization": "Bearer not-a-token"}
    elif case == "expired":
        am.clock.advance(901)
    elif case == "revoked":
        async with http.post(am.url("/token"), data={"action": "revoke", "token": token}) as r:
            assert r.status == 200
    elif case == "basic":
        headers = {"Authorization": aiohttp.encode_basic_auth("a", "b")}
    async with http.get(am.url("/token"), headers=headers) as r:
        assert r.status == 401
        assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]


async def test_indieauth_revoke_of_unknown_token_is_200(issued):
    am, _, _, http = issued
    async with http.post(am.url("/token"), data={"action": "revoke", "token": "never-issued"}) as r:
        assert r.status == 200
    async with http.post(am.url("/token"), data={"action": "revoke"}) as r:
        assert r.status == 400 and (await r.json())["error"] == "invalid_request"
