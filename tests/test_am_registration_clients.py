"""Issue 12 §6: RFC 7591 registration of clients that send a person to the authorization
endpoint — redirect URIs, grant and response types, display URLs, and public clients (``none``)
that get no secret and can never sign."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from amkit import counts, register, request_token
from click.testing import CliRunner
from signers import SIGNERS, token_form

from authmanager.cli import main
from authmanager.operations.realms import revoke_consumer_key
from authmanager.secretbox import random_secret

MCP_LIKE = {  # what the MCP Python SDK's OAuthClientProvider registers
    "client_name": "Notes app",
    "redirect_uris": ["http://localhost:3030/callback"],
    "grant_types": ["authorization_code", "refresh_token"],
    "response_types": ["code"],
    "application_type": "native",  # unknown here: ignored (RFC 7591 §2)
    "logo_uri": "https://notes.example/logo.png",
    "client_uri": "https://notes.example/",
    "scope": "read",
}


async def post(http: aiohttp.ClientSession, am: Any, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    async with http.post(am.url("/register"), json=body) as r:
        return r.status, await r.json()


async def test_an_authorization_code_registration_without_a_method_is_a_public_client(am):
    async with aiohttp.ClientSession() as http:
        status, reg = await post(http, am, MCP_LIKE)
    assert status == 201
    assert reg["token_endpoint_auth_method"] == "none"
    assert "client_secret" not in reg and "client_secret_expires_at" not in reg  # §3.2.1: only with a secret
    assert reg["grant_types"] == ["authorization_code", "refresh_token"] and reg["response_types"] == ["code"]
    assert reg["redirect_uris"] == ["http://localhost:3030/callback"]
    assert reg["logo_uri"] == MCP_LIKE["logo_uri"] and reg["client_uri"] == MCP_LIKE["client_uri"]
    assert "application_type" not in reg
    client = await am.ctx.clients.find(reg["client_id"])
    assert client is not None and client.public and client.source == "registered"
    assert client.redirect_uris == ("http://localhost:3030/callback",)
    assert client.grant_types == ("authorization_code", "refresh_token")
    assert (client.client_name, client.logo_uri, client.verified_origin) == ("Notes app", MCP_LIKE["logo_uri"],
                                                                             "localhost")


async def test_grant_types_default_to_authorization_code_when_redirect_uris_are_named(am):
    async with aiohttp.ClientSession() as http:
        status, reg = await post(http, am, {"redirect_uris": ["https://app.example/cb"]})
    assert status == 201
    assert (reg["grant_types"], reg["response_types"], reg["token_endpoint_auth_method"]) == (
        ["authorization_code"], ["code"], "none")


@pytest.mark.parametrize("method", ["http_message_signature_hmac_sha256", "oauth1_hmac_sha256"])
async def test_a_client_that_asks_for_a_signing_method_gets_a_secret(am, method):
    async with aiohttp.ClientSession() as http:
        status, reg = await post(http, am, {**MCP_LIKE, "token_endpoint_auth_method": method})
    assert status == 201
    assert reg["token_endpoint_auth_method"] == method
    assert len(reg["client_secret"]) >= 43 and reg["client_secret_expires_at"] == 0
    client = await am.ctx.clients.find(reg["client_id"])
    assert client is not None and not client.public and client.auth_method == method


async def test_machine_to_machine_registration_is_unchanged(am):
    async with aiohttp.ClientSession() as http:
        reg = await register(http, am, "printer")
    assert reg["grant_types"] == ["client_credentials"] and "response_types" not in reg
    assert reg["token_endpoint_auth_method"] == "http_message_signature_hmac_sha256" and reg["client_secret"]
    client = await am.ctx.clients.find(reg["client_id"])
    assert client is not None and not client.public and client.redirect_uris == ()


@pytest.mark.parametrize(("change", "error", "says"), [
    ({"redirect_uris": None}, "invalid_redirect_uri", "redirect_uris must be a list"),
    ({"redirect_uris": []}, "invalid_redirect_uri", "redirect_uris must be a list"),
    ({"redirect_uris": ["http://app.example/cb"]}, "invalid_redirect_uri", "loopback"),
    ({"redirect_uris": ["https://app.example/cb#frag"]}, "invalid_redirect_uri", "fragment"),
    ({"redirect_uris": ["javascript:alert(1)"]}, "invalid_redirect_uri", "absolute URI"),
    ({"redirect_uris": ["https://user@app.example/cb"]}, "invalid_redirect_uri", "user information"),
    ({"redirect_uris": "https://app.example/cb"}, "invalid_redirect_uri", "redirect_uris must be a list"),
    ({"grant_types": ["refresh_token"], "response_types": []}, "invalid_client_metadata", "only issued with"),
    ({"grant_types": ["authorization_code", "implicit"]}, "invalid_client_metadata", "grant_types may hold"),
    ({"grant_types": []}, "invalid_client_metadata", "grant_types may hold"),
    ({"response_types": ["token"]}, "invalid_client_metadata", "response_types"),
    ({"response_types": ["code", "token"]}, "invalid_client_metadata", "response_types"),
    ({"grant_types": ["client_credentials"], "response_types": ["code"]}, "invalid_client_metadata",
     "response_types"),
    ({"grant_types": ["authorization_code", "client_credentials"], "token_endpoint_auth_method": "none"},
     "invalid_client_metadata", "cannot use the client_credentials grant"),
    ({"token_endpoint_auth_method": "client_secret_basic"}, "invalid_client_metadata", "must be one of"),
    ({"token_endpoint_auth_method": 7}, "invalid_client_metadata", "must be one of"),
    ({"logo_uri": "javascript:alert(1)"}, "invalid_client_metadata", "logo_uri must be an https URL"),
    ({"logo_uri": "data:image/png;base64,AAAA"}, "invalid_client_metadata", "logo_uri must be an https URL"),
    ({"logo_uri": "http://notes.example/logo.png"}, "invalid_client_metadata", "logo_uri must be an https URL"),
    ({"client_uri": "https://user:pw@notes.example/"}, "invalid_client_metadata", "client_uri must be an https"),
    ({"client_uri": "https://notes.example/\u202e"}, "invalid_client_metadata", "printable ASCII"),
])
async def test_bad_values_are_refused_and_nothing_is_stored(am, change, error, says):
    body = {**MCP_LIKE, **change}
    body = {k: v for k, v in body.items() if v is not None}
    async with aiohttp.ClientSession() as http:
        status, answer = await post(http, am, body)
    assert (status, answer["error"]) == (400, error)
    assert says in answer["error_description"]
    assert (await counts(am))["consumers"] == 0


async def test_authorization_code_without_redirect_uris_is_invalid_redirect_uri(am):
    async with aiohttp.ClientSession() as http:
        for body in ({"grant_types": ["authorization_code"]}, {"token_endpoint_auth_method": "none"}):
            status, answer = await post(http, am, body)
            assert (status, answer["error"]) == (400, "invalid_redirect_uri")
    assert (await counts(am))["consumers"] == 0


async def test_a_machine_registration_may_name_no_response_types(am):
    async with aiohttp.ClientSession() as http:
        status, reg = await post(http, am, {"client_name": "printer", "response_types": []})
    assert status == 201 and reg["grant_types"] == ["client_credentials"] and reg["client_secret"]
    assert "response_types" not in reg


async def test_loopback_display_urls_are_accepted(am):
    async with aiohttp.ClientSession() as http:
        status, reg = await post(http, am, {**MCP_LIKE, "logo_uri": "http://127.0.0.1:8080/logo.png"})
    assert status == 201 and reg["logo_uri"] == "http://127.0.0.1:8080/logo.png"


# --- a public client can never sign --------------------------------------------------------


async def _signed(http: aiohttp.ClientSession, am: Any, path: str, body: bytes, ck: str, cks: str,
                  signer: str) -> tuple[int, str, str | None]:
    url = am.url(path)
    async with http.post(url, data=body, headers=SIGNERS[signer](url, body, ck, cks)) as r:
        return r.status, await r.text(), r.headers.get("WWW-Authenticate")


@pytest.mark.parametrize("signer", ["rfc9421", "rfc5849"])
async def test_a_public_clients_signed_request_is_the_same_401_as_an_unknown_keys(am, signer):
    """Its row holds a sealed empty secret; a signature made with the empty key (what anyone
    knowing only the client_id could compute) gets exactly the unknown key's answer, at every
    signed endpoint."""
    realm = await am.create_realm("photos", resource="http://127.0.0.1:1/", scopes=["read"])
    await am.add_policy("photos", "permit", ["read"])
    async with aiohttp.ClientSession() as http:
        _, public = await post(http, am, MCP_LIKE)
        unknown = random_secret(16)
        for path, body in (("/token", token_form(realm.sph, "read")),
                           ("/grasshopper", b"scope=read"),
                           ("/revoke", b"token=whatever")):
            mine = await _signed(http, am, path, body, public["client_id"], "", signer)
            theirs = await _signed(http, am, path, body, unknown, "", signer)
            assert mine[0] == 401 and json.loads(mine[1])["error"] == "invalid_client", path
            assert mine == theirs, path
    assert (await counts(am))["access_tokens"] == 0


async def test_the_key_cache_holds_no_secret_for_a_public_client(am):
    async with aiohttp.ClientSession() as http:
        _, public = await post(http, am, MCP_LIKE)
    key = await am.ctx.consumer_keys.get(public["client_id"])
    assert key is not None and key.public and key.secret == ""


# --- the registry --------------------------------------------------------------------------


async def test_the_registry_answers_none_for_a_revoked_or_unknown_key(am):
    async with aiohttp.ClientSession() as http:
        _, public = await post(http, am, MCP_LIKE)
    assert await am.ctx.clients.find(public["client_id"]) is not None
    await am.ctx.consumer_keys.get(public["client_id"])  # in the per-process cache...
    await revoke_consumer_key(am.ctx.sessions, public["client_id"], now=int(am.clock()))
    assert await am.ctx.clients.find(public["client_id"]) is None  # ...yet revoked at once
    assert await am.ctx.clients.find(random_secret(16)) is None
    assert await am.ctx.clients.find("not a key") is None


async def test_a_grasshopper_sub_key_is_not_a_public_client(am):
    """Sub-keys (and keys registered before issue 12) carry no auth method: they sign."""
    async with aiohttp.ClientSession() as http:
        master = await register(http, am, "printer")
        url, body = am.url("/grasshopper"), b"ttl=60"
        async with http.post(url, data=body, headers=SIGNERS["rfc9421"](url, body, master["client_id"],
                                                                         master["client_secret"])) as r:
            assert r.status == 201
            sub = await r.json()
    client = await am.ctx.clients.find(sub["client_id"])
    assert client is not None and not client.public
    am.clock.advance(61)
    assert await am.ctx.clients.find(sub["client_id"]) is None  # expired


# --- out-of-band registration: ``authmanager consumer create`` -----------------------------


async def _cli(am: Any, *args: str) -> tuple[int, str, str]:
    result = await asyncio.to_thread(CliRunner().invoke, main, [
        "--database", am.settings.database_url, "--key-file", str(am.settings.key_file), "consumer", "create", *args])
    return result.exit_code, result.stdout, result.stderr


async def test_the_cli_creates_a_public_client_with_redirect_uris(am):
    code, out, err = await _cli(am, "Notes app", "--redirect-uri", "http://127.0.0.1/cb",
                                "--redirect-uri", "https://notes.example/cb", "--public", "--json")
    assert code == 0, err
    made = json.loads(out)
    assert made["token_endpoint_auth_method"] == "none" and "client_secret" not in made
    client = await am.ctx.clients.find(made["client_id"])
    assert client is not None and client.public and client.client_name == "Notes app"
    assert client.redirect_uris == ("http://127.0.0.1/cb", "https://notes.example/cb")
    assert client.grant_types == ("authorization_code", "refresh_token")


async def test_the_cli_creates_a_signing_machine_key_that_can_get_a_token(am):
    realm = await am.create_realm("photos", resource="http://127.0.0.1:1/", scopes=["read"])
    await am.add_policy("photos", "permit", ["read"])
    code, out, err = await _cli(am, "printer", "--json")
    assert code == 0, err
    made = json.loads(out)
    assert made["grant_types"] == ["client_credentials"] and made["client_secret"]
    async with aiohttp.ClientSession() as http:
        assert (await request_token(http, am, made, realm.sph, "read"))[0] == 200


@pytest.mark.parametrize(("args", "says"), [
    (("x", "--public"), "needs at least one --redirect-uri"),
    (("x", "--redirect-uri", "http://app.example/cb"), "invalid_redirect_uri"),
    (("x", "--redirect-uri", "https://app.example/cb#f", "--public"), "fragment"),
])
async def test_the_cli_refuses_what_registration_refuses(am, args, says):
    code, _, err = await _cli(am, *args)
    assert code == 2 and says in err
    assert (await counts(am))["consumers"] == 0


async def test_registration_responses_conform_to_the_published_openapi_schema(am):
    """What ``.ci/fuzz`` checks (response_schema_conformance) for both kinds of client."""
    jsonschema = pytest.importorskip("jsonschema")
    async with aiohttp.ClientSession() as http:
        async with http.get(am.url("/openapi.json")) as r:
            register_op = (await r.json())["paths"]["/register"]["post"]
        request_schema = register_op["requestBody"]["content"]["application/json"]["schema"]
        response_schema = register_op["responses"]["201"]["content"]["application/json"]["schema"]
        for body in (MCP_LIKE, {"client_name": "printer"}):
            jsonschema.validate(body, request_schema)
            status, reg = await post(http, am, body)
            assert status == 201
            jsonschema.validate(reg, response_schema)
