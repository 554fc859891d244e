"""Interop with independent libraries, not the project's own code.

* PyJWT verifies an issued token through ``jwks_uri`` (PyJWKClient fetches it over HTTP).
* ``http-message-signatures`` (HTTPMessageSigner) signs a token request the AM accepts.
* ``oauthlib``'s OAuth1 ``Client`` signs a token request the AM accepts.
"""

import asyncio
import secrets
from datetime import datetime, timezone
from urllib.parse import urlencode

import aiohttp
import jwt as pyjwt
from http_message_signatures import HTTPMessageSigner, algorithms
from http_message_signatures.resolvers import MappingKeyResolver
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA256, SIGNATURE_TYPE_AUTH_HEADER, Client

from amkit import register

RESOURCE = "http://127.0.0.1:1/"


async def _setup(am, http):
    realm = await am.create_realm("photos", resource=RESOURCE, scopes=["read"])
    await am.add_policy("photos", "permit", ["read"])
    return realm, await register(http, am, "interop")


async def _metadata(am, http):
    async with http.get(am.url("/.well-known/oauth-authorization-server")) as r:
        return await r.json()


async def test_http_message_signatures_then_pyjwt(am):
    async with aiohttp.ClientSession() as http:
        realm, client = await _setup(am, http)
        meta = await _metadata(am, http)
        body = urlencode({"grant_type": "client_credentials", "sph": realm.sph, "scope": "read"}).encode()

        class Message:
            method = "POST"
            url = meta["token_endpoint"]
            headers = {"Content-Type": "application/x-www-form-urlencoded"}

        signer = HTTPMessageSigner(
            signature_algorithm=algorithms.HMAC_SHA256,
            key_resolver=MappingKeyResolver(public_keys={}, private_keys={
                client["client_id"]: client["client_secret"].encode()}),
        )
        msg = Message()
        signer.sign(msg, key_id=client["client_id"], created=datetime.now(timezone.utc),
                    nonce=secrets.token_urlsafe(16), covered_component_ids=("@method", "@target-uri",
                                                                            "content-digest"), body=body)
        assert "Content-Digest" in msg.headers and "Signature-Input" in msg.headers
        async with http.post(meta["token_endpoint"], data=body, headers=msg.headers) as r:
            assert r.status == 200, await r.text()
            token = (await r.json())["access_token"]

    def verify_with_pyjwt() -> dict:
        jwks = pyjwt.PyJWKClient(meta["jwks_uri"])
        key = jwks.get_signing_key_from_jwt(token)
        return pyjwt.decode(token, key, algorithms=["ES256"], audience=RESOURCE, issuer=am.issuer,
                            options={"require": ["exp", "iat", "jti", "sub"]})

    claims = await asyncio.to_thread(verify_with_pyjwt)
    assert claims["client_id"] == client["client_id"] and claims["scope"] == "read"
    assert pyjwt.get_unverified_header(token)["typ"] == "at+jwt"


async def test_oauthlib_oauth1_client(am):
    async with aiohttp.ClientSession() as http:
        realm, client = await _setup(am, http)
        meta = await _metadata(am, http)
        oauth = Client(client["client_id"], client_secret=client["client_secret"],
                       signature_method=SIGNATURE_HMAC_SHA256, signature_type=SIGNATURE_TYPE_AUTH_HEADER)
        body = urlencode({"grant_type": "client_credentials", "sph": realm.sph, "scope": "read"})
        uri, headers, body = oauth.sign(meta["token_endpoint"], "POST", body,
                                        {"Content-Type": "application/x-www-form-urlencoded"})
        assert 'oauth_signature_method="HMAC-SHA256"' in headers["Authorization"]
        async with http.post(uri, data=body, headers=headers) as r:
            assert r.status == 200, await r.text()
            assert (await r.json())["scope"] == "read"
