"""Grasshopper keys: short-lived, non-renewable sub-keys — each rule."""

import aiohttp
import pytest
from amkit import register, request_token
from joserfc import jwt
from joserfc.jwk import KeySet
from signers import sign_9421

RESOURCE = "http://127.0.0.1:1/"


@pytest.fixture
async def world(am):
    realm = await am.create_realm("photos", resource=RESOURCE, scopes=["read", "write", "admin"])
    await am.add_policy("photos", "permit", ["read", "write"])
    async with aiohttp.ClientSession() as http:
        parent = await register(http, am)
        yield am, realm, parent, http


async def mint(http, am, key, **form):
    body = "&".join(f"{k}={v}" for k, v in form.items()).encode()
    url = am.url("/grasshopper")
    headers = sign_9421(url, body, key["client_id"], key["client_secret"])
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    async with http.post(url, data=body, headers=headers) as r:
        return r.status, await r.json()


async def claims(http, am, token):
    async with http.get(am.url("/jwks.json")) as r:
        return jwt.decode(token, KeySet.import_key_set(await r.json()), algorithms=["ES256"]).claims


async def test_ttl_is_capped_by_the_server(world):
    am, _, parent, http = world
    status, sub = await mint(http, am, parent, ttl=10**6)
    assert status == 201 and sub["expires_in"] == am.settings.grasshopper_max_ttl == 900
    assert sub["parent_client_id"] == parent["client_id"] and sub["client_secret"]
    status, short = await mint(http, am, parent, ttl=60)
    assert short["expires_in"] == 60
    status, body = await mint(http, am, parent, ttl=0)
    assert status == 400 and body["error"] == "invalid_request"


async def test_sub_key_cannot_mint_sub_keys(world):
    am, _, parent, http = world
    _, sub = await mint(http, am, parent)
    status, body = await mint(http, am, sub)
    assert status == 400 and body["error"] == "unauthorized_client"


async def test_tokens_never_outlive_the_sub_key(world):
    am, realm, parent, http = world
    _, sub = await mint(http, am, parent, ttl=120)
    status, body, _ = await request_token(http, am, sub, realm.sph, "read")
    assert status == 200 and body["expires_in"] == 120
    assert (await claims(http, am, body["access_token"]))["parent_client_id"] == parent["client_id"]
    am.clock.advance(121)
    status, body, _ = await request_token(http, am, sub, realm.sph, "read")
    assert status == 401 and body["error"] == "invalid_client"  # expired: cannot be renewed or reused


async def test_scopes_never_beyond_the_parents(world):
    am, realm, parent, http = world
    await am.add_policy("photos", "deny", ["write"], consumer=parent["client_id"])
    _, sub = await mint(http, am, parent)
    status, body, _ = await request_token(http, am, sub, realm.sph, "read write admin")
    assert status == 200 and body["scope"] == "read"  # as the parent: write denied, admin never permitted
    _, narrow = await mint(http, am, parent, scope="admin")
    status, body, _ = await request_token(http, am, narrow, realm.sph, "read")
    assert status == 403 and body["error"] == "request_denied"


async def test_sub_key_dies_with_its_parent(world):
    from authmanager.operations.revocation import revoke_consumer

    am, realm, parent, http = world
    _, sub = await mint(http, am, parent)
    status, body, _ = await request_token(http, am, sub, realm.sph, "read")
    live = body["access_token"]
    async with am.ctx.sessions.begin() as session:
        assert await revoke_consumer(session, parent["client_id"], now=int(am.clock()), delete=True) == 1
    status, body, _ = await request_token(http, am, sub, realm.sph, "read")
    assert status == 401
    basic = {"Authorization": aiohttp.encode_basic_auth(realm.sph, realm.sph_secret)}
    async with http.post(am.url("/introspect"), data={"token": live}, headers=basic) as r:
        assert await r.json() == {"active": False}


async def test_realm_can_forbid_sub_keys(world):
    from authmanager.operations.realms import set_subkeys

    am, realm, parent, http = world
    _, sub = await mint(http, am, parent)
    await set_subkeys(am.ctx.sessions, realm="photos", allow=False)
    status, body, _ = await request_token(http, am, sub, realm.sph, "read")
    assert status == 403 and body["error"] == "request_denied"
    status, body, _ = await request_token(http, am, parent, realm.sph, "read")
    assert status == 200  # the master key itself is unaffected
