"""RFC 7591 registration of RFC 7523 clients: ``private_key_jwt`` with ``jwks`` (public keys only,
stored as ``client_keys`` rows with the consumer) and ``client_secret_jwt`` (cks issued once).
Bad keys, ``jwks_uri`` and ``private_key_jwt`` without ``jwks`` are refused with nothing stored."""

import aiohttp
import pytest
from keykit import jwk_of, private_key, public_jwk
from sqlalchemy import func, select

from authmanager.storage import client_keys as key_repo
from authmanager.storage.models import ClientKey, Consumer

PRIVATE = ("d", "p", "q", "dp", "dq", "qi")


async def _register(am, body):
    async with aiohttp.ClientSession() as http:
        async with http.post(am.url("/register"), json=body) as r:
            return r.status, await r.json()


async def _rows(am):
    async with am.ctx.sessions() as session:
        return (await session.scalar(select(func.count()).select_from(Consumer)),
                await session.scalar(select(func.count()).select_from(ClientKey)))


@pytest.mark.parametrize("kind", ["ec", "ed25519", "rsa"])
async def test_private_key_jwt_with_jwks_is_registered_and_its_keys_stored(am, kind):
    key = public_jwk(kind, kid=f"{kind}-1")
    status, reg = await _register(am, {"client_name": "m2m", "token_endpoint_auth_method": "private_key_jwt",
                                       "jwks": {"keys": [key]}})
    assert status == 201, reg
    assert reg["token_endpoint_auth_method"] == "private_key_jwt"
    assert reg["grant_types"] == ["client_credentials"]
    assert "client_secret" not in reg and "client_secret_expires_at" not in reg
    assert reg["jwks"] == {"keys": [key]}
    async with am.ctx.sessions() as session:
        rows = await key_repo.live(session, reg["client_id"])
        consumer = await session.get(Consumer, reg["client_id"])
    assert [(r.kid, r.jwk, r.scope_ceiling, r.revoked_at) for r in rows] == [(f"{kind}-1", key, None, None)]
    assert "jwks" not in consumer.client_metadata  # the keys live in client_keys only
    assert am.ctx.box.open(consumer.secret_sealed, aad=consumer.client_id) == b""  # no secret issued


async def test_keys_without_kid_get_their_thumbprint_and_private_members_are_never_echoed(am):
    keys = [public_jwk("ec"), public_jwk("ed25519", use="sig", alg="EdDSA")]
    status, reg = await _register(am, {"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": keys}})
    assert status == 201, reg
    echoed = reg["jwks"]["keys"]
    assert len(echoed) == 2 and all(k["kid"] for k in echoed)
    assert echoed[1]["alg"] == "EdDSA" and "use" not in echoed[1]
    assert not any(m in k for k in echoed for m in PRIVATE)
    assert await _rows(am) == (1, 2)


async def test_client_secret_jwt_issues_cks_once(am):
    status, reg = await _register(am, {"client_name": "jwt", "token_endpoint_auth_method": "client_secret_jwt"})
    assert status == 201, reg
    assert reg["token_endpoint_auth_method"] == "client_secret_jwt"
    assert len(reg["client_secret"]) >= 43 and reg["client_secret_expires_at"] == 0
    assert "jwks" not in reg
    assert await _rows(am) == (1, 0)


@pytest.mark.parametrize("body, says", [
    ({"token_endpoint_auth_method": "private_key_jwt"}, "needs jwks"),
    ({"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [jwk_of(private_key("ec"), private=True)]}},
     "private"),
    ({"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [public_jwk("rsa1024")]}}, "2048"),
    ({"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [public_jwk("p384")]}}, "P-256"),
    ({"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}},
     "oct"),
    ({"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://client.example/jwks"},
     "jwks_uri is not fetched"),
    ({"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [public_jwk("ec")]},
      "jwks_uri": "https://client.example/jwks"}, "jwks_uri is not fetched"),
    ({"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": []}}, "JWK Set"),
    ({"token_endpoint_auth_method": "private_key_jwt", "jwks": [public_jwk("ec")]}, "JWK Set"),
    ({"token_endpoint_auth_method": "private_key_jwt",  # one good key, one bad: nothing stored
      "jwks": {"keys": [public_jwk("ec"), public_jwk("rsa1024")]}}, "2048"),
    ({"token_endpoint_auth_method": "private_key_jwt",
      "jwks": {"keys": [public_jwk("ec", kid="same"), public_jwk("ed25519", kid="same")]}}, "kid"),
    ({"token_endpoint_auth_method": "client_secret_jwt", "jwks": {"keys": [public_jwk("ec")]}}, "only with"),
    ({"jwks": {"keys": [public_jwk("ec")]}}, "only with"),
    ({"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [public_jwk("ec", use="enc")]}}, "sig"),
])
async def test_bad_keys_are_refused_and_nothing_is_stored(am, body, says):
    status, answer = await _register(am, {"client_name": "bad", **body})
    assert status == 400
    assert answer["error"] == "invalid_client_metadata"
    assert says in answer["error_description"], answer
    assert await _rows(am) == (0, 0)


async def test_a_public_client_still_cannot_use_client_credentials_but_jwt_clients_can(am):
    status, answer = await _register(am, {"token_endpoint_auth_method": "none", "grant_types": ["client_credentials"]})
    assert (status, answer["error"]) == (400, "invalid_client_metadata")
    for method, extra in (("client_secret_jwt", {}), ("private_key_jwt", {"jwks": {"keys": [public_jwk("ec")]}})):
        status, reg = await _register(am, {"token_endpoint_auth_method": method,
                                           "grant_types": ["client_credentials"], **extra})
        assert status == 201, reg
        assert reg["grant_types"] == ["client_credentials"]


async def test_an_authorization_code_client_may_use_private_key_jwt(am):
    status, reg = await _register(am, {"token_endpoint_auth_method": "private_key_jwt",
                                       "redirect_uris": ["http://127.0.0.1:9/cb"],
                                       "jwks": {"keys": [public_jwk("ed25519")]}})
    assert status == 201, reg
    assert reg["grant_types"] == ["authorization_code"] and "client_secret" not in reg
