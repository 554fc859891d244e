"""RFC 7523 client assertions at the token endpoint: client_secret_jwt and private_key_jwt, each
rejection rule its own test. Assertions are built with PyJWT, independently of the AM (joserfc),
and sent over real sockets; the AM runs on SQLite and on PostgreSQL."""

import base64
import hashlib
import hmac
import json

import aiohttp
import jwt as pyjwt
import pytest
from amkit import register, request_token
from jwtkit import add_key, assertion_form, claims, key_client, key_jwt, post_form, secret_jwt, token_with
from signers import sign_9421, token_form
from sqlalchemy import select

from authmanager.storage import client_keys as client_key_repo
from authmanager.storage.models import AccessToken, Nonce

REFUSED = {"error": "invalid_client", "error_description": "client authentication failed"}


@pytest.fixture
async def world(am):
    realm = await am.create_realm("photos", resource="http://127.0.0.1:1/", scopes=["read", "write", "admin"])
    await am.add_policy("photos", "permit", ["read", "write"])
    async with aiohttp.ClientSession() as http:
        client = await register(http, am)
        device = await key_client(am)
        await add_key(am, device, "ES256")
        yield am, realm, http, client, device


async def token_row(am, access_token_jti):
    async with am.ctx.sessions() as session:
        return await session.get(AccessToken, access_token_jti)


def jti_of(token):
    return pyjwt.decode(token, options={"verify_signature": False})["jti"]


async def refused(http, am, assertion, sph, scope="read", **params):
    status, body = await token_with(http, am, assertion, sph, scope, **params)
    assert (status, body) == (401, REFUSED)


# --- success ---------------------------------------------------------------------------------


async def test_client_secret_jwt_gets_a_token_with_the_cks(world):
    am, realm, http, client, _ = world
    status, body = await token_with(http, am, secret_jwt(am, client), realm.sph, "read write")
    assert status == 200 and body["scope"] == "read write", body
    row = await token_row(am, jti_of(body["access_token"]))
    assert row.client_id == client["client_id"] and row.client_key_id is None


async def test_a_consumer_registered_for_client_secret_jwt_uses_it(world):
    am, realm, http, _, _ = world
    async with http.post(am.url("/register"), json={"client_name": "jwt", "token_endpoint_auth_method":
                                                    "client_secret_jwt"}) as r:
        assert r.status == 201
        client = await r.json()
    assert client["token_endpoint_auth_method"] == "client_secret_jwt" and client["client_secret"]
    status, body = await token_with(http, am, secret_jwt(am, client), realm.sph)
    assert status == 200, body


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "PS256", "RS256"])
async def test_private_key_jwt_gets_a_token_naming_the_key(world, alg):
    am, realm, http, _, _ = world
    device = await key_client(am, name=f"{alg} device")
    key = await add_key(am, device, alg)
    status, body = await token_with(http, am, key_jwt(am, device), realm.sph, "read")
    assert status == 200, body
    row = await token_row(am, jti_of(body["access_token"]))
    assert row.client_id == device.client_id and row.client_key_id == key.id


@pytest.mark.parametrize("aud", ["issuer", "token endpoint", "both in an array"])
async def test_aud_may_be_the_issuer_or_the_token_endpoint(world, aud):
    am, realm, http, client, device = world
    value = {"issuer": am.issuer, "token endpoint": am.issuer + "/token",
             "both in an array": [am.issuer, am.issuer + "/token"]}[aud]
    assert (await token_with(http, am, secret_jwt(am, client, aud=value), realm.sph))[0] == 200
    assert (await token_with(http, am, key_jwt(am, device, aud=value), realm.sph))[0] == 200


async def test_no_kid_is_the_only_key_and_a_client_id_equal_to_sub_is_fine(world):
    am, realm, http, _, device = world
    status, body = await token_with(http, am, key_jwt(am, device, kid=None), realm.sph, client_id=device.client_id)
    assert status == 200, body


async def test_typ_jwt_is_accepted(world):
    am, realm, http, client, _ = world
    assert (await token_with(http, am, secret_jwt(am, client, headers={"typ": "JWT"}), realm.sph))[0] == 200


# --- each rejection rule ---------------------------------------------------------------------


async def test_replayed_jti_is_refused_even_after_the_signature_window(world):
    am, realm, http, client, device = world
    for assertion in (secret_jwt(am, client), key_jwt(am, device)):
        assert (await token_with(http, am, assertion, realm.sph))[0] == 200
        await refused(http, am, assertion, realm.sph)
    am.clock.advance(1000)  # past the ±300 s window, before exp: still spent
    await refused(http, am, assertion, realm.sph)


async def test_a_jti_is_spent_whatever_the_answer_and_kept_until_exp_plus_skew(world):
    am, realm, http, client, _ = world
    assertion = secret_jwt(am, client)
    status, body = await token_with(http, am, assertion, realm.sph, "nonsense")
    assert status == 400 and body["error"] == "invalid_scope"
    await refused(http, am, assertion, realm.sph, "read")
    exp = pyjwt.decode(assertion, options={"verify_signature": False})["exp"]
    async with am.ctx.sessions() as session:
        row = (await session.scalars(select(Nonce).where(Nonce.client_id == client["client_id"]))).one()
    assert row.expires_at == exp + am.settings.signature_window + 1


async def test_wrong_aud_is_refused(world):
    am, realm, http, client, device = world
    for aud in ("https://elsewhere.example/token", am.issuer + "/introspect", [am.issuer, "https://other.example"],
                [], 7):
        await refused(http, am, secret_jwt(am, client, aud=aud), realm.sph)
        await refused(http, am, key_jwt(am, device, aud=aud), realm.sph)


async def test_no_aud_is_refused(world):
    am, realm, http, client, _ = world
    assertion = pyjwt.encode({k: v for k, v in claims(am, client["client_id"]).items() if k != "aud"},
                             client["client_secret"].encode(), algorithm="HS256")
    await refused(http, am, assertion, realm.sph)


async def test_exp_in_the_past_is_refused(world):
    am, realm, http, client, device = world
    first, second = secret_jwt(am, client, exp=int(am.clock()) + 60), key_jwt(am, device, exp=int(am.clock()) + 60)
    am.clock.advance(60 + am.settings.signature_window + 1)
    await refused(http, am, first, realm.sph)
    await refused(http, am, second, realm.sph)


async def test_exp_within_the_skew_is_still_accepted(world):
    am, realm, http, client, _ = world
    assertion = secret_jwt(am, client, exp=int(am.clock()) + 60)
    am.clock.advance(60 + am.settings.signature_window - 5)
    assert (await token_with(http, am, assertion, realm.sph))[0] == 200


async def test_exp_too_far_ahead_is_refused(world):
    am, realm, http, client, device = world
    far = int(am.clock()) + 3600 + am.settings.signature_window + 5
    await refused(http, am, secret_jwt(am, client, exp=far), realm.sph)
    await refused(http, am, key_jwt(am, device, exp=far), realm.sph)


async def test_no_exp_is_refused(world):
    am, realm, http, client, _ = world
    await refused(http, am, secret_jwt(am, client, exp=None), realm.sph)


async def test_iat_or_nbf_in_the_future_is_refused(world):
    am, realm, http, client, _ = world
    future = int(am.clock()) + am.settings.signature_window + 30
    await refused(http, am, secret_jwt(am, client, iat=future), realm.sph)
    await refused(http, am, secret_jwt(am, client, nbf=future), realm.sph)


async def test_no_jti_is_refused(world):
    am, realm, http, client, device = world
    await refused(http, am, secret_jwt(am, client, jti=None), realm.sph)
    await refused(http, am, key_jwt(am, device, jti=None), realm.sph)
    await refused(http, am, secret_jwt(am, client, jti="x" * 129), realm.sph)


async def test_alg_none_is_refused(world):
    am, realm, http, client, device = world
    for who in (client["client_id"], device.client_id):
        unsigned = pyjwt.encode(claims(am, who), None, algorithm="none", headers={"kid": device.keys[0].kid})
        await refused(http, am, unsigned, realm.sph)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def test_hs256_keyed_with_the_public_key_is_refused_for_private_key_jwt(world):
    am, realm, http, _, device = world
    key = device.keys[0]
    # The classic confusion attack (RFC 8725 §2.1): HMAC keyed with the registered public key,
    # as PEM and as the JWK's JSON (PyJWT itself refuses a PEM as HMAC key, so done by hand).
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": key.kid}).encode())
    body = _b64(json.dumps(claims(am, device.client_id)).encode())
    async with am.ctx.sessions() as session:
        jwk = (await client_key_repo.get(session, device.client_id, key.kid)).jwk
    for secret in (key.public_pem, json.dumps(jwk).encode()):
        mac = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
        await refused(http, am, f"{head}.{body}.{_b64(mac)}", realm.sph)


async def test_an_algorithm_the_key_or_method_does_not_have_is_refused(world):
    am, realm, http, client, device = world
    other = await add_key(am, await key_client(am), "ES256")
    # an ES256 assertion from a consumer registered with no key (a cks consumer)
    await refused(http, am, pyjwt.encode(claims(am, client["client_id"]), other.private, algorithm="ES256"),
                  realm.sph)
    # PS256 claimed for an EC key
    rsa_device = await key_client(am)
    rsa_key = await add_key(am, rsa_device, "PS256")
    forged = pyjwt.encode(claims(am, device.client_id), rsa_key.private, algorithm="PS256",
                          headers={"kid": device.keys[0].kid})
    await refused(http, am, forged, realm.sph)


async def test_a_key_in_the_header_is_never_used(world):
    am, realm, http, _, device = world
    attacker = await add_key(am, await key_client(am), "ES256")
    from authmanager.clients.keys import public_jwk
    embedded = public_jwk(attacker.public_pem)
    forged = pyjwt.encode(claims(am, device.client_id), attacker.private, algorithm="ES256",
                          headers={"jwk": embedded})
    await refused(http, am, forged, realm.sph)
    named = pyjwt.encode(claims(am, device.client_id), device.keys[0].private, algorithm="ES256",
                         headers={"kid": device.keys[0].kid, "jku": "https://attacker.example/jwks"})
    await refused(http, am, named, realm.sph)


async def test_unknown_kid_is_refused(world):
    am, realm, http, _, device = world
    await refused(http, am, key_jwt(am, device, kid="no-such-key"), realm.sph)


async def test_no_kid_with_two_keys_is_refused(world):
    am, realm, http, _, device = world
    second = await add_key(am, device, "EdDSA")
    await refused(http, am, key_jwt(am, device, kid=None), realm.sph)
    await refused(http, am, key_jwt(am, device, second, kid=None), realm.sph)
    assert (await token_with(http, am, key_jwt(am, device, second), realm.sph))[0] == 200  # with its kid


async def test_sub_other_than_iss_is_refused(world):
    am, realm, http, client, device = world
    await refused(http, am, secret_jwt(am, client, sub=device.client_id), realm.sph)
    await refused(http, am, key_jwt(am, device, iss=client["client_id"]), realm.sph)


async def test_client_id_other_than_sub_is_refused(world):
    am, realm, http, client, device = world
    await refused(http, am, secret_jwt(am, client), realm.sph, client_id=device.client_id)
    await refused(http, am, key_jwt(am, device), realm.sph, client_id=client["client_id"])


async def test_wrong_or_missing_assertion_type_is_refused(world):
    am, realm, http, client, _ = world
    for kind in ("urn:ietf:params:oauth:client-assertion-type:saml2-bearer", "jwt-bearer", ""):
        form = {**assertion_form(secret_jwt(am, client), grant_type="client_credentials", sph=realm.sph,
                                 scope="read"), "client_assertion_type": kind}
        assert await post_form(http, am, form) == (401, REFUSED)
    form = {"grant_type": "client_credentials", "sph": realm.sph, "scope": "read",
            "client_assertion": secret_jwt(am, client)}
    assert await post_form(http, am, form) == (401, REFUSED)
    form = {"grant_type": "client_credentials", "sph": realm.sph, "scope": "read",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}
    assert await post_form(http, am, form) == (401, REFUSED)


async def test_the_wrong_secret_or_a_tampered_assertion_is_refused(world):
    am, realm, http, client, device = world
    await refused(http, am, secret_jwt(am, {**client, "client_secret": "not the cks, though long enough for HS256"}), realm.sph)
    head, body, sig = key_jwt(am, device).split(".")
    await refused(http, am, f"{head}.{_b64(json.dumps(claims(am, device.client_id, scope='x')).encode())}.{sig}",
                  realm.sph)
    await refused(http, am, "not.a.jwt", realm.sph)
    await refused(http, am, "x" * 9000, realm.sph)


async def test_a_revoked_key_is_refused_and_the_others_still_work(world):
    am, realm, http, _, device = world
    laptop = device.keys[0]
    phone = await add_key(am, device, "EdDSA")
    captured = key_jwt(am, device, laptop)
    async with am.ctx.sessions.begin() as session:
        assert await client_key_repo.mark_revoked(session, laptop.id, now=int(am.clock()))
    await refused(http, am, captured, realm.sph)
    assert (await token_with(http, am, key_jwt(am, device, phone), realm.sph))[0] == 200
    # no kid now means the one live key
    assert (await token_with(http, am, key_jwt(am, device, phone, kid=None), realm.sph))[0] == 200


async def test_two_methods_in_one_request_are_refused(world):
    am, realm, http, client, _ = world
    form = assertion_form(secret_jwt(am, client), grant_type="client_credentials", sph=realm.sph, scope="read")
    body = token_form(realm.sph, "read").decode() + "&" + "&".join(
        f"{k}={v}" for k, v in form.items() if k.startswith("client_assertion"))
    headers = sign_9421(am.url("/token"), body.encode(), client["client_id"], client["client_secret"])
    async with http.post(am.url("/token"), data=body.encode(), headers=headers) as r:
        assert (r.status, await r.json()) == (401, REFUSED)
    basic = {"Authorization": aiohttp.encode_basic_auth(client["client_id"], client["client_secret"])}
    assert await post_form(http, am, form, headers=basic) == (401, REFUSED)


async def test_a_private_key_jwt_consumer_cannot_sign_with_an_hmac(world):
    am, realm, http, _, device = world
    status, body, _ = await request_token(http, am, {"client_id": device.client_id, "client_secret": ""},
                                          realm.sph, "read")
    assert (status, body) == (401, REFUSED)


# --- scope ceilings --------------------------------------------------------------------------


async def test_a_ceiling_caps_the_granted_scope_whatever_the_policies_permit(world):
    am, realm, http, _, device = world
    capped = await add_key(am, device, "EdDSA", ceiling=["read"])
    status, body = await token_with(http, am, key_jwt(am, device, capped), realm.sph, "read write")
    assert status == 200 and body["scope"] == "read", body
    assert (await token_row(am, jti_of(body["access_token"]))).client_key_id == capped.id
    status, body = await token_with(http, am, key_jwt(am, device, capped), realm.sph, "write")
    assert status == 403 and body["error"] == "request_denied"
    # the consumer's other key has no ceiling: it follows the consumer
    status, body = await token_with(http, am, key_jwt(am, device), realm.sph, "read write")
    assert status == 200 and body["scope"] == "read write"


async def test_a_scope_the_realm_lacks_is_still_invalid_scope_under_a_ceiling(world):
    am, realm, http, _, device = world
    capped = await add_key(am, device, "ES256", ceiling=["read"])
    status, body = await token_with(http, am, key_jwt(am, device, capped), realm.sph, "read nosuch")
    assert status == 400 and body["error"] == "invalid_scope"
