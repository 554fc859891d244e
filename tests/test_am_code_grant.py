"""Issue 12 §4: ``grant_type=authorization_code`` at the token endpoint (RFC 6749 §4.1.3, §5.2;
OAuth 2.1; RFC 7636 §4.6; RFC 8707), for public and confidential clients. Codes are made with
``authorize.codes.issue`` as the dialog makes them; every request goes over a real socket."""

import asyncio
from urllib.parse import urlencode

import aiohttp
import pytest
from sqlalchemy import select

from authmanager.storage.models import AccessToken, AuthorizationCode, RefreshToken
from codekit import (REDIRECT, RESOURCE, account, claims, code_form, confidential_client, introspect, make_code,
                     post, public_client, refresh, subject)
from signers import FORM, sign_9421


@pytest.fixture
async def setup(am):
    realm = await am.create_realm("photos", resource=RESOURCE, scopes=["read", "write"])
    person = await account(am)
    client_id = await public_client(am)
    async with aiohttp.ClientSession() as http:
        yield am, realm, person, client_id, http


async def test_public_client_exchanges_a_code_for_a_person_token(setup):
    am, realm, person, client_id, http = setup
    code, verifier = await make_code(am, client_id=client_id, account_id=person)
    status, body, headers = await post(http, am, code_form(code, verifier, client_id))
    assert status == 200, body
    assert set(body) == {"access_token", "token_type", "expires_in", "scope", "refresh_token"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == am.settings.token_ttl
    assert body["scope"] == "read write" and headers["Cache-Control"] == "no-store"
    header, got = await claims(http, am, body["access_token"])
    assert header["typ"] == "at+jwt" and header["alg"] == "ES256"
    assert got["sub"] == subject(am, person) != client_id
    assert got["client_id"] == client_id and got["aud"] == RESOURCE and got["iss"] == am.issuer
    assert got["scope"] == "read write" and got["realm"] == "photos"
    async with am.ctx.sessions() as session:
        token = await session.get(AccessToken, got["jti"])
        family = await session.scalar(select(RefreshToken.family_id))
        used = await session.scalar(select(AuthorizationCode.used_at))
    assert token.account_id == person and token.family_id == family and used is not None
    assert body["refresh_token"] not in str(token.__dict__)  # stored by digest only


@pytest.mark.parametrize("signer", ["rfc9421", "rfc5849"])
async def test_confidential_client_redeems_a_code_with_its_signature(setup, signer):
    am, realm, person, _, http = setup
    client = await confidential_client(http, am)
    code, verifier = await make_code(am, client_id=client["client_id"], account_id=person)
    status, body, _ = await post(http, am, code_form(code, verifier, None), signed_by=client, signer=signer)
    assert status == 200, body
    _, got = await claims(http, am, body["access_token"])
    assert got["sub"] == subject(am, person) and got["client_id"] == client["client_id"]
    # The same client without its signature is not authenticated (RFC 6749 §5.2 invalid_client).
    code, verifier = await make_code(am, client_id=client["client_id"], account_id=person)
    status, body, _ = await post(http, am, code_form(code, verifier, client["client_id"]))
    assert status == 401 and body["error"] == "invalid_client"
    # ... nor with a signature made with the wrong secret, nor naming another client_id.
    status, body, _ = await post(http, am, code_form(code, verifier, None),
                                 signed_by={**client, "client_secret": "wrong"})
    assert status == 401 and body["error"] == "invalid_client"
    status, body, _ = await post(http, am, code_form(code, verifier, "someone-else"), signed_by=client)
    assert status == 401 and body["error"] == "invalid_client"
    status, body, _ = await post(http, am, code_form(code, verifier, client["client_id"]), signed_by=client)
    assert status == 200, body  # the code survived the refusals: none of them reached it


@pytest.mark.parametrize("case", ["no code", "no redirect_uri", "no code_verifier", "short verifier",
                                  "bad verifier characters", "duplicate code"])
async def test_malformed_requests_are_invalid_request_and_leave_the_code_alone(setup, case):
    am, _, person, client_id, http = setup
    code, verifier = await make_code(am, client_id=client_id, account_id=person)
    form = code_form(code, verifier, client_id)
    body = None
    if case.startswith("no "):
        del form[case[3:]]
    elif case == "short verifier":
        form["code_verifier"] = verifier[:42]
    elif case == "bad verifier characters":
        form["code_verifier"] = verifier[:42] + "+/"
    else:
        body = (urlencode(form) + "&" + urlencode({"code": code})).encode()
    status, answer, _ = await post(http, am, body or form)
    assert status == 400 and answer["error"] == "invalid_request"
    status, answer, _ = await post(http, am, code_form(code, verifier, client_id))
    assert status == 200, answer


@pytest.mark.parametrize("case", ["no client_id", "unknown client_id", "public client signing with no secret",
                                  "malformed client_id"])
async def test_unauthenticated_clients_are_invalid_client(setup, case):
    am, _, person, client_id, http = setup
    code, verifier = await make_code(am, client_id=client_id, account_id=person)
    form = code_form(code, verifier, None if case == "no client_id" else client_id)
    signed_by = None
    if case == "unknown client_id":
        form["client_id"] = "nobody-registered-this"
    elif case == "malformed client_id":
        form["client_id"] = "a\x00b"
    elif case == "public client signing with no secret":
        signed_by = {"client_id": client_id, "client_secret": ""}  # HMAC keyed with "" proves nothing
    status, body, headers = await post(http, am, form, signed_by=signed_by)
    assert status == 401 and body == {"error": "invalid_client", "error_description": "client authentication failed"}
    assert headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("case", ["unknown code", "expired code", "redirect_uri mismatch", "pkce mismatch",
                                  "code of another client"])
async def test_bad_codes_are_invalid_grant(setup, case):
    am, _, person, client_id, http = setup
    other = await public_client(am)
    code, verifier = await make_code(am, client_id=other if case == "code of another client" else client_id,
                                     account_id=person)
    form = code_form(code, verifier, client_id)
    if case == "unknown code":
        form["code"] = "not-a-code-anyone-issued"
    elif case == "expired code":
        am.clock.advance(61)
    elif case == "redirect_uri mismatch":
        form["redirect_uri"] = REDIRECT + "/other"
    elif case == "pkce mismatch":
        form["code_verifier"] = ("x" + verifier)[:len(verifier)]
    status, body, _ = await post(http, am, form)
    assert status == 400 and body["error"] == "invalid_grant"
    async with am.ctx.sessions() as session:
        assert await session.scalar(select(AccessToken.jti)) is None  # nothing was issued
    if case in ("redirect_uri mismatch", "pkce mismatch", "code of another client"):
        # The failed attempt burnt the code: even the right request cannot use it now.
        right = code_form(code, verifier, other if case == "code of another client" else client_id)
        status, body, _ = await post(http, am, right)
        assert status == 400 and body["error"] == "invalid_grant"


async def test_a_reused_code_is_refused_and_revokes_what_it_issued(setup):
    am, realm, person, client_id, http = setup
    code, verifier = await make_code(am, client_id=client_id, account_id=person)
    status, first, _ = await post(http, am, code_form(code, verifier, client_id))
    assert status == 200
    assert (await introspect(http, am, realm, first["access_token"]))["active"] is True
    status, body, _ = await post(http, am, code_form(code, verifier, client_id))
    assert status == 400 and body["error"] == "invalid_grant"
    assert await introspect(http, am, realm, first["access_token"]) == {"active": False}
    status, body, _ = await refresh(http, am, first["refresh_token"], client_id)
    assert status == 400 and body["error"] == "invalid_grant"


async def test_concurrent_redemptions_have_exactly_one_winner(setup):
    am, _, person, client_id, http = setup
    code, verifier = await make_code(am, client_id=client_id, account_id=person)
    answers = await asyncio.gather(*(post(http, am, code_form(code, verifier, client_id)) for _ in range(2)))
    assert sorted(status for status, _, _ in answers) == [200, 400]


async def test_a_client_without_the_grant_is_unauthorized_client(setup):
    am, _, person, _, http = setup
    client = await confidential_client(http, am, code_grant=False)  # registered for client_credentials
    code, verifier = await make_code(am, client_id=client["client_id"], account_id=person)
    status, body, _ = await post(http, am, code_form(code, verifier, None), signed_by=client)
    assert status == 400 and body["error"] == "unauthorized_client"


async def test_public_clients_cannot_use_the_signed_grants(setup):
    """A public client may use only the code and refresh grants: every other grant needs client
    authentication, which it cannot give (no secret), so it is invalid_client (RFC 6749 §5.2)."""
    am, realm, _, client_id, http = setup
    for form in ({"grant_type": "client_credentials", "sph": realm.sph, "scope": "read", "client_id": client_id},
                 {"grant_type": "urn:ietf:params:oauth:grant-type:uma-ticket", "ticket": "t", "client_id": client_id},
                 {"grant_type": "password", "username": "a", "password": "b", "client_id": client_id}):
        status, body, _ = await post(http, am, form)
        assert status == 401 and body["error"] == "invalid_client", form


async def test_unsupported_grant_type_for_an_authenticated_client(setup):
    am, _, _, _, http = setup
    client = await confidential_client(http, am)
    status, body, _ = await post(http, am, {"grant_type": "password", "username": "a", "password": "b"},
                                 signed_by=client)
    assert status == 400 and body["error"] == "unsupported_grant_type"


async def test_resource_must_be_the_codes(setup):
    am, _, person, client_id, http = setup
    code, verifier = await make_code(am, client_id=client_id, account_id=person)
    status, body, _ = await post(http, am, code_form(code, verifier, client_id, resource="http://127.0.0.1:2/"))
    assert status == 400 and body["error"] == "invalid_target"
    code, verifier = await make_code(am, client_id=client_id, account_id=person)
    status, body, _ = await post(http, am, code_form(code, verifier, client_id, resource=RESOURCE))
    assert status == 200, body


async def test_scope_may_narrow_the_code_never_widen_it(setup):
    am, _, person, client_id, http = setup
    code, verifier = await make_code(am, client_id=client_id, account_id=person, scopes=["read"])
    status, body, _ = await post(http, am, code_form(code, verifier, client_id, scope="read write"))
    assert status == 400 and body["error"] == "invalid_scope"
    code, verifier = await make_code(am, client_id=client_id, account_id=person)
    status, body, _ = await post(http, am, code_form(code, verifier, client_id, scope="read"))
    assert status == 200 and body["scope"] == "read"
    # The refresh token holds the whole grant (RFC 6749 §6): a refresh may ask for all of it.
    status, again, _ = await refresh(http, am, body["refresh_token"], client_id)
    assert status == 200 and again["scope"] == "read write"


async def test_a_code_for_a_signed_form_cannot_be_replayed_with_its_nonce(setup):
    """A confidential client's signed request spends its nonce, whatever the answer."""
    am, _, person, _, http = setup
    client = await confidential_client(http, am)
    code, verifier = await make_code(am, client_id=client["client_id"], account_id=person)
    body = urlencode(code_form(code, verifier, None, scope="nope")).encode()
    headers = {"Content-Type": FORM, **sign_9421(am.url("/token"), body, client["client_id"], client["client_secret"])}
    async with http.post(am.url("/token"), data=body, headers=headers) as r:
        assert r.status == 400 and (await r.json())["error"] == "invalid_scope"
    async with http.post(am.url("/token"), data=body, headers=headers) as r:
        assert r.status == 401 and (await r.json())["error"] == "invalid_client"


@pytest.mark.parametrize("case", ["no method registered", "grasshopper sub-key"])
async def test_only_a_key_registered_as_none_skips_its_signature(setup, case):
    """``from_registration`` reads a key that names no auth method as ``none``; the token endpoint
    takes a registered key for a public client only if it registered ``none`` itself."""
    from sqlalchemy import update

    from authmanager.storage.models import Consumer

    am, _, person, _, http = setup
    client = await confidential_client(http, am)
    client_id = client["client_id"]
    if case == "grasshopper sub-key":
        status, sub, _ = await post(http, am, {"ttl": "600"}, path="/grasshopper", signed_by=client)
        assert status == 201
        client_id = sub["client_id"]
    else:
        async with am.ctx.sessions.begin() as session:
            row = await session.get(Consumer, client_id)
            metadata = {k: v for k, v in row.client_metadata.items() if k != "token_endpoint_auth_method"}
            await session.execute(update(Consumer).where(Consumer.client_id == client_id).values(
                client_metadata=metadata))
    code, verifier = await make_code(am, client_id=client_id, account_id=person)
    status, body, _ = await post(http, am, code_form(code, verifier, client_id))
    assert status == 401 and body["error"] == "invalid_client"
