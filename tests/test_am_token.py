"""Step 5 and 6: the signed token request, policy decision and the RFC 9068 token."""

import asyncio
import secrets

import aiohttp
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from amkit import counts, register, request_token
from signers import FORM, sign_5849, sign_9421, token_form

RESOURCE = "http://127.0.0.1:1/"
SIGNERS = ["rfc9421", "rfc5849"]


@pytest.fixture
async def setup(am):
    realm = await am.create_realm("photos", resource=RESOURCE, scopes=["read", "write", "admin"])
    async with aiohttp.ClientSession() as http:
        client = await register(http, am)
        yield am, realm, client, http


@pytest.mark.parametrize("signer", SIGNERS)
async def test_signed_request_gets_an_rfc9068_token(setup, signer):
    am, realm, client, http = setup
    await am.add_policy("photos", "permit", ["read", "write"])
    status, body, headers = await request_token(http, am, client, realm.sph, "read", signer=signer)
    assert status == 200, body
    assert headers["Cache-Control"] == "no-store"
    assert body["token_type"] == "Bearer" and body["scope"] == "read" and body["expires_in"] == 900
    async with http.get(am.url("/jwks.json")) as r:
        keys = KeySet.import_key_set(await r.json())
    token = jwt.decode(body["access_token"], keys, algorithms=["ES256"])
    assert token.header["typ"] == "at+jwt" and token.header["kid"] == keys.keys[0].kid
    claims = token.claims
    assert claims["iss"] == am.issuer and claims["aud"] == RESOURCE
    assert claims["sub"] == claims["client_id"] == client["client_id"]
    assert claims["scope"] == "read" and claims["exp"] - claims["iat"] == 900 and claims["jti"]


async def test_granted_scope_is_requested_intersect_permitted(setup):
    am, realm, client, http = setup
    await am.add_policy("photos", "permit", ["read"])
    status, body, _ = await request_token(http, am, client, realm.sph, "read write")
    assert status == 200 and body["scope"] == "read"


async def test_deny_overrides_a_permit_listed_before_it(setup):
    am, realm, client, http = setup
    await am.add_policy("photos", "permit", ["read", "write"])
    await am.add_policy("photos", "deny", ["write"], consumer=client["client_id"])
    status, body, _ = await request_token(http, am, client, realm.sph, "read write")
    assert status == 200 and body["scope"] == "read"
    status, body, _ = await request_token(http, am, client, realm.sph, "write")
    assert status == 403 and body["error"] == "request_denied"


async def test_policy_for_another_consumer_does_not_apply(setup):
    am, realm, client, http = setup
    other = await register(http, am, "other")
    await am.add_policy("photos", "permit", ["read"], consumer=other["client_id"])
    status, body, _ = await request_token(http, am, client, realm.sph, "read")
    assert status == 403 and body["error"] == "request_denied"
    status, body, _ = await request_token(http, am, other, realm.sph, "read")
    assert status == 200


async def test_max_ttl_caps_the_lifetime(setup):
    am, realm, client, http = setup
    await am.add_policy("photos", "permit", ["read"], max_ttl=60)
    status, body, _ = await request_token(http, am, client, realm.sph, "read")
    assert status == 200 and body["expires_in"] == 60


async def test_no_policy_means_denied_and_nothing_stored_but_the_nonce(setup):
    am, realm, client, http = setup
    before = await counts(am)
    status, body, headers = await request_token(http, am, client, realm.sph, "read")
    assert status == 403 and body["error"] == "request_denied" and headers["Cache-Control"] == "no-store"
    assert await counts(am) == {**before, "nonces": before["nonces"] + 1}  # spent: it cannot be replayed


@pytest.mark.parametrize("signer", SIGNERS)
async def test_every_client_authentication_failure_is_one_identical_401(setup, signer):
    am, realm, client, http = setup
    await am.add_policy("photos", "permit", ["read"])
    before = await counts(am)
    wrong_secret = dict(client, client_secret=secrets.token_urlsafe(32))
    unknown_ck = dict(client, client_id="nobody")
    now = am.clock()
    stamp = {"rfc9421": "created", "rfc5849": "timestamp"}[signer]
    cases = {
        "bad signature": (wrong_secret, {}),
        "unknown ck": (unknown_ck, {}),
        "stale": (client, {stamp: now - am.settings.signature_window - 5}),
        "future": (client, {stamp: now + am.settings.signature_window + 5}),
    }
    bodies = set()
    for name, (who, kw) in cases.items():
        status, body, headers = await request_token(http, am, who, realm.sph, "read", signer=signer, **kw)
        assert status == 401, name
        assert headers["Cache-Control"] == "no-store"
        bodies.add(str(body))
    async with http.post(am.url("/token"), data=token_form(realm.sph, "read"), headers={"Content-Type": FORM}) as r:
        assert r.status == 401
        bodies.add(str(await r.json()))
    assert bodies == {str({"error": "invalid_client", "error_description": "client authentication failed"})}
    assert await counts(am) == before


@pytest.mark.parametrize("signer", SIGNERS)
async def test_replayed_request_is_refused(setup, signer):
    am, realm, client, http = setup
    await am.add_policy("photos", "permit", ["read"])
    body = token_form(realm.sph, "read")
    sign = {"rfc9421": sign_9421, "rfc5849": sign_5849}[signer]
    headers = sign(am.url("/token"), body, client["client_id"], client["client_secret"])
    async with http.post(am.url("/token"), data=body, headers=headers) as r:
        assert r.status == 200
    after_first = await counts(am)
    async with http.post(am.url("/token"), data=body, headers=headers) as r:
        assert r.status == 401 and (await r.json())["error"] == "invalid_client"
    assert await counts(am) == after_first


@pytest.mark.parametrize("signer", SIGNERS)
async def test_twenty_concurrent_copies_give_exactly_one_token(setup, signer):
    am, realm, client, http = setup
    await am.add_policy("photos", "permit", ["read"])
    body = token_form(realm.sph, "read")
    sign = {"rfc9421": sign_9421, "rfc5849": sign_5849}[signer]
    headers = sign(am.url("/token"), body, client["client_id"], client["client_secret"])

    async def once() -> int:
        async with http.post(am.url("/token"), data=body, headers=headers) as r:
            return r.status

    statuses = await asyncio.gather(*(once() for _ in range(20)))
    assert sorted(statuses) == [200] + [401] * 19
    assert (await counts(am))["access_tokens"] == 1


async def test_rfc9421_tampered_body_and_thin_coverage_fail(setup):
    am, realm, client, http = setup
    await am.add_policy("photos", "permit", ["read", "admin"])
    url = am.url("/token")
    body = token_form(realm.sph, "read")
    headers = sign_9421(url, body, client["client_id"], client["client_secret"])
    tampered = token_form(realm.sph, "admin")
    async with http.post(url, data=tampered, headers=headers) as r:
        assert r.status == 401
    thin = sign_9421(url, body, client["client_id"], client["client_secret"], components=("@method",))
    thin["Content-Digest"] = headers["Content-Digest"]
    async with http.post(url, data=body, headers=thin) as r:
        assert r.status == 401
    other_uri = sign_9421("http://127.0.0.1:9/token", body, client["client_id"], client["client_secret"])
    async with http.post(url, data=body, headers=other_uri) as r:
        assert r.status == 401
    assert (await counts(am))["nonces"] == 0


async def test_rfc5849_duplicated_protocol_parameter_fails(setup):
    am, realm, client, http = setup
    await am.add_policy("photos", "permit", ["read"])
    body = token_form(realm.sph, "read")
    headers = sign_5849(am.url("/token"), body, client["client_id"], client["client_secret"])
    headers["Authorization"] += ', oauth_nonce="again"'
    async with http.post(am.url("/token"), data=body, headers=headers) as r:
        assert r.status == 401
    assert (await counts(am))["nonces"] == 0


@pytest.mark.parametrize("form, error", [
    ({"grant_type": "client_credentials", "sph": "nope", "scope": "read"}, "invalid_request"),
    ({"grant_type": "client_credentials", "scope": "read"}, "invalid_request"),
    ({"grant_type": "client_credentials", "sph": None, "scope": "read delete"}, "invalid_scope"),
    ({"grant_type": "client_credentials", "sph": None, "scope": ""}, "invalid_scope"),
    ({"grant_type": "client_credentials", "sph": None, "scope": "read  write"}, "invalid_scope"),
    ({"grant_type": "password", "sph": None, "scope": "read"}, "unsupported_grant_type"),
])
async def test_bad_parameters_get_standard_errors_and_store_nothing_but_the_nonce(setup, form, error):
    from urllib.parse import urlencode

    am, realm, client, http = setup
    await am.add_policy("photos", "permit", ["read"])
    before = await counts(am)
    body = urlencode({k: (realm.sph if v is None else v) for k, v in form.items()}).encode()
    headers = sign_9421(am.url("/token"), body, client["client_id"], client["client_secret"])
    async with http.post(am.url("/token"), data=body, headers=headers) as r:
        assert r.status == 400
        assert (await r.json())["error"] == error
        assert r.headers["Cache-Control"] == "no-store"
    assert await counts(am) == {**before, "nonces": before["nonces"] + 1}  # the signature verified: spent
    async with http.post(am.url("/token"), data=body, headers=headers) as r:  # the same bytes again
        assert r.status == 401 and (await r.json())["error"] == "invalid_client"


async def test_non_form_duplicated_and_oversized_bodies(setup):
    am, realm, client, http = setup
    before = await counts(am)
    url = am.url("/token")
    async with http.post(url, json={"grant_type": "client_credentials"}) as r:
        assert r.status == 400 and (await r.json())["error"] == "invalid_request"
    dup = b"grant_type=client_credentials&sph=" + realm.sph.encode() + b"&scope=read&scope=write"
    headers = sign_9421(url, dup, client["client_id"], client["client_secret"])
    async with http.post(url, data=dup, headers=headers) as r:
        assert r.status == 400 and (await r.json())["error"] == "invalid_request"
    huge = b"scope=" + b"a" * (am.settings.max_body + 1)
    async with http.post(url, data=huge, headers={"Content-Type": FORM}) as r:
        assert r.status == 413 and (await r.json())["error"] == "invalid_request"
    assert await counts(am) == before
