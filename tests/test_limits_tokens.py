"""Oversized tokens (issue 7): a token longer than 8 KiB is refused with ``400 invalid_request``
before it is looked up (at the AM) or decoded (at the SP), everywhere a token comes in:
RFC 7662 introspection, RFC 7009 revocation (SP and consumer callers), IndieAuth revocation and
verification at the token endpoint, and the rs_middleware in front of a service. A token of
exactly 8 KiB is still judged (unknown → inactive / 401). No proof of the refusal relies on
timing: at the AM, oversized tokens never spend the introspection miss quota; at the SP, the
verifier never runs a signature check and the handler never runs."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web

from amkit import register, request_token
from authmanager.serving import bound_socket, serve
from conftest import running_am
from rs_middleware import RUNTIME_KEY, protect, requires
from signers import FORM, sign_9421

MAX_TOKEN = 8192
AT_CAP, OVER_CAP = "t" * MAX_TOKEN, "t" * (MAX_TOKEN + 1)


def basic(realm) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"Authorization": aiohttp.encode_basic_auth(realm.sph, realm.sph_secret)}


async def assert_invalid_request(resp: aiohttp.ClientResponse) -> None:
    assert resp.status == 400, await resp.text()
    body = await resp.json()
    assert body["error"] == "invalid_request" and "too large" in body.get("error_description", "")


@pytest.fixture
async def am_with_realm(database_url, clock, tmp_path):  # type: ignore[no-untyped-def]
    async with running_am(database_url, clock, tmp_path, introspection_miss_limit="2/minute") as am:
        realm = await am.create_realm("photos", resource="http://127.0.0.1:1/", scopes=["read"])
        await am.add_policy("photos", "permit", ["read"])
        async with aiohttp.ClientSession() as http:
            yield am, realm, http


async def test_introspection_refuses_oversized_tokens_without_spending_the_miss_quota(am_with_realm):
    am, realm, http = am_with_realm
    for _ in range(5):
        async with http.post(am.url("/introspect"), data={"token": OVER_CAP}, headers=basic(realm)) as r:
            await assert_invalid_request(r)
    # The quota of 2 misses per minute is intact: the refused tokens were never looked up.
    for _ in range(2):
        async with http.post(am.url("/introspect"), data={"token": AT_CAP}, headers=basic(realm)) as r:
            assert r.status == 200 and await r.json() == {"active": False}
    async with http.post(am.url("/introspect"), data={"token": AT_CAP}, headers=basic(realm)) as r:
        assert r.status == 429


async def test_revocation_refuses_oversized_tokens_from_sps_and_consumers(am_with_realm):
    am, realm, http = am_with_realm
    async with http.post(am.url("/revoke"), data={"token": OVER_CAP}, headers=basic(realm)) as r:
        await assert_invalid_request(r)
    async with http.post(am.url("/revoke"), data={"token": AT_CAP}, headers=basic(realm)) as r:
        assert r.status == 200  # RFC 7009 §2.2: an unknown token is not an error

    client = await register(http, am)
    for token in (OVER_CAP, AT_CAP):
        body = f"token={token}".encode()
        headers = {"Content-Type": FORM,
                   **sign_9421(am.url("/revoke"), body, client["client_id"], client["client_secret"])}
        async with http.post(am.url("/revoke"), data=body, headers=headers) as r:
            if token is OVER_CAP:
                await assert_invalid_request(r)
            else:
                assert r.status == 200


async def test_token_endpoint_refuses_oversized_tokens_in_indieauth_verification_and_revocation(am_with_realm):
    am, _, http = am_with_realm
    async with http.get(am.url("/token"), headers={"Authorization": f"Bearer {OVER_CAP}"}) as r:
        await assert_invalid_request(r)
        assert 'error="invalid_request"' in r.headers["WWW-Authenticate"]
    async with http.get(am.url("/token"), headers={"Authorization": f"Bearer {AT_CAP}"}) as r:
        assert r.status == 401  # judged: unknown
    async with http.post(am.url("/token"), data={"action": "revoke", "token": OVER_CAP}) as r:
        await assert_invalid_request(r)
    async with http.post(am.url("/token"), data={"action": "revoke", "token": AT_CAP}) as r:
        assert r.status == 200


async def test_sp_refuses_oversized_tokens_before_decoding_them(clock, tmp_path):
    async with running_am(f"sqlite+aiosqlite:///{tmp_path / 'am.db'}", clock, tmp_path) as am:
        sock = bound_socket()
        resource = "http://127.0.0.1:%d/" % sock.getsockname()[1]
        realm = await am.create_realm("photos", resource=resource, scopes=["read"])
        await am.add_policy("photos", "permit", ["read"])
        calls = []

        @requires("read")
        async def photo(request: web.Request) -> web.Response:
            calls.append(request.path)
            return web.json_response({"id": 1})

        app = web.Application()
        protect(app, realm="photos", resource=resource, authorization_manager=am.issuer, sph=realm.sph,
                sph_secret=realm.sph_secret, now=clock)
        app.router.add_get("/photo", photo)
        # The service's own server admits big header fields, so the token reaches the middleware.
        async with serve(app, sock, max_field_size=64 * 1024), aiohttp.ClientSession() as http:
            client = await register(http, am)
            status, body, _ = await request_token(http, am, client, realm.sph, "read")
            assert status == 200
            async with http.get(resource + "photo", headers={"Authorization": f"Bearer {body['access_token']}"}) as r:
                assert r.status == 200
            jwks = app[RUNTIME_KEY].verifier.jwks
            checks = jwks.signature_checks
            for token in (OVER_CAP, "eyJ" + "A" * (20 * 1024)):
                async with http.get(resource + "photo", headers={"Authorization": f"Bearer {token}"}) as r:
                    await assert_invalid_request(r)
                    assert r.headers["WWW-Authenticate"].endswith(
                        'error="invalid_request", error_description="token too large"')
            assert jwks.signature_checks == checks  # never decoded
            async with http.get(resource + "photo", headers={"Authorization": f"Bearer {AT_CAP}"}) as r:
                assert r.status == 401  # a token at the cap is decoded (and refused as malformed)
            assert jwks.signature_checks == checks + 1
            assert calls == ["/photo"]
