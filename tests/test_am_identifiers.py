"""Every identifier a request carries is checked against its character set before it is queued or
looked up (issue 11, item 2a): a NUL (which PostgreSQL text cannot hold) or a lone surrogate (what
a non-UTF-8 byte of a header decodes to, which no driver can send) gets the answer any unknown
value gets — ``400 invalid_request``, the identical ``401 invalid_client`` where it is a
client-authentication identifier, ``404`` for a path — never a 500, on SQLite and PostgreSQL,
and stores nothing (but the nonce of a request whose signature verified).

Headers with raw non-UTF-8 bytes are written on a raw socket: an HTTP client would refuse them."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from urllib.parse import quote, urlencode

import aiohttp
import pytest
from amkit import UMA_TICKET, counts, register
from signers import FORM, sign_5849, sign_9421

from authmanager.identifiers import (
    is_b64token,
    is_key,
    is_name,
    is_nonce,
    is_scope_token,
    is_text,
    is_url_text,
)
from authmanager.operations.realms import list_consumers


async def raw(am, method: str, target: str, headers: list[tuple[bytes, bytes]], body: bytes = b"") -> tuple[int, dict]:
    """One request written byte for byte; its status and JSON body."""
    port = int(am.base.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [f"{method} {target} HTTP/1.1".encode(), b"Host: 127.0.0.1", b"Connection: close",
             b"Content-Length: " + str(len(body)).encode(), *(k + b": " + v for k, v in headers)]
    try:
        writer.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    head, _, payload = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(payload or b"null")


def basic(login: str, password: str = "x" * 43) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{login}:{password}".encode("latin-1")).decode()}


def test_the_character_sets():
    assert is_key("Ab0-_" * 12) and not is_key("A" * 65) and not is_key("") and not is_key("a=") \
        and not is_key("a\x00") and not is_key("\udcff") and not is_key("ab+/")
    assert is_nonce("a b~") and is_nonce("x" * 128) and not is_nonce("x" * 129) and not is_nonce("") \
        and not is_nonce("a\x00") and not is_nonce("\udcff") and not is_nonce("é") and not is_nonce("a\tb")
    assert is_name("photos-2.x_y") and is_name("fotos-ñ") and not is_name("a b") and not is_name("a\x00") \
        and not is_name("\udcff") and not is_name("x" * 101)
    assert is_scope_token("read:all") and not is_scope_token('a"b') and not is_scope_token("a\\b") \
        and not is_scope_token("a b") and not is_scope_token("x" * 101)
    assert is_b64token("eyJ.a-b_c~+/==") and not is_b64token("a\udcff") and not is_b64token("a b")
    assert is_url_text("https://x.example/a?b") and not is_url_text("https://x/\x00") \
        and not is_url_text("https://x/ a") and not is_url_text("https://x/é")
    assert is_text("Réglages\n\t🙂", max_len=20) and not is_text("a\x00", max_len=20) \
        and not is_text("a\udcff", max_len=20) and not is_text("x" * 21, max_len=20)


@pytest.fixture
async def world(am):
    realm = await am.create_realm("photos", resource="http://127.0.0.1:1/", scopes=["read"])
    await am.add_policy("photos", "permit", ["read"])
    async with aiohttp.ClientSession() as http:
        client = await register(http, am)
        yield am, realm, client, http


async def test_signed_endpoints_refuse_nul_and_non_utf8_identifiers(world):
    am, realm, client, http = world
    ck, cks = client["client_id"], client["client_secret"]
    before = await counts(am)

    async def post(path: str, form: dict[str, str], headers: dict[str, str]) -> tuple[int, dict]:
        async with http.post(am.url(path), data=urlencode(form).encode(),
                             headers={"Content-Type": FORM, **headers}) as r:
            return r.status, await r.json()

    token_form = {"grant_type": "client_credentials", "sph": realm.sph, "scope": "read"}
    body = urlencode(token_form).encode()
    answers = {}
    for path, form in (("/token", token_form), ("/grasshopper", {"ttl": "60"}), ("/revoke", {"token": "x"}),
                       ("/token", {"grant_type": UMA_TICKET, "ticket": "t" * 43})):
        signed = urlencode(form).encode()
        answers[path, "nul ck", form.get("grant_type")] = await post(
            path, form, sign_5849(am.url(path), signed, "\x00", cks))
        answers[path, "nul in ck", form.get("grant_type")] = await post(
            path, form, sign_5849(am.url(path), signed, ck + "\x00", cks))
        answers[path, "nul nonce", form.get("grant_type")] = await post(
            path, form, sign_5849(am.url(path), signed, ck, cks, nonce="n\x00"))
    refused = (401, {"error": "invalid_client", "error_description": "client authentication failed"})
    assert all(answer == refused for answer in answers.values()), answers
    assert await counts(am) == before  # not one nonce: none of them authenticated

    now = str(int(time.time()))
    oauth_ff = (b'OAuth oauth_consumer_key="\xff", oauth_nonce="n1", oauth_timestamp="' + now.encode()
                + b'", oauth_signature_method="HMAC-SHA256", oauth_signature="c2ln"')
    oauth_ff_nonce = (b'OAuth oauth_consumer_key="' + ck.encode() + b'", oauth_nonce="n\xff", oauth_timestamp="'
                      + now.encode() + b'", oauth_signature_method="HMAC-SHA256", oauth_signature="c2ln"')
    sig_input = b'sig=("@method" "@target-uri" "content-digest");keyid="\xff";nonce="n";created=' + now.encode()
    for auth in ([(b"Authorization", oauth_ff)], [(b"Authorization", oauth_ff_nonce)],
                 [(b"Signature-Input", sig_input), (b"Signature", b"sig=:c2ln:")]):
        for path in ("/token", "/grasshopper", "/revoke"):
            assert await raw(am, "POST", path, [(b"Content-Type", FORM.encode()), *auth], body) == refused, \
                (path, auth)

    # A verified request naming a realm by an impossible sph: the refusal any unknown sph gets.
    for sph in ("\x00", "a\x00b", "é", "x" * 65, "a b"):
        form = {**token_form, "sph": sph}
        for signer in (sign_9421, sign_5849):
            status, answer = await post("/token", form, signer(am.url("/token"), urlencode(form).encode(), ck, cks))
            assert (status, answer) == (400, {"error": "invalid_request", "error_description": "unknown sph"}), sph
    assert await counts(am) == {**before, "nonces": before["nonces"] + 10}  # their signatures verified: spent
    assert (await post("/token", token_form, sign_9421(am.url("/token"), body, ck, cks)))[0] == 200


async def test_realm_credentials_bearer_values_and_paths_refuse_nul_and_non_utf8(world):
    am, realm, client, http = world
    before = await counts(am)
    for login in ("\x00", realm.sph + "\x00", "é", "x" * 65):
        for path in ("/introspect", "/revoke"):
            async with http.post(am.url(path), data={"token": "x"}, headers=basic(login)) as r:
                assert r.status == 401 and (await r.json())["error"] == "invalid_client", (path, login)
        async with http.get(am.url("/feed"), headers=basic(login)) as r:
            assert r.status == 401, login
    sp = basic(realm.sph, realm.sph_secret)
    async with http.post(am.url("/introspect"), data={"token": "x\x00"}, headers=sp) as r:
        assert r.status == 200 and await r.json() == {"active": False}
    for cursor in ("%00", "1%00", "%C3%A9"):
        async with http.get(am.url("/feed?after=" + cursor), headers=sp) as r:
            assert r.status == 400 and (await r.json())["error"] == "invalid_request"
    sp_raw = [(b"Authorization", sp["Authorization"].encode())]
    assert (await raw(am, "GET", "/feed", [*sp_raw, (b"Last-Event-ID", b"1\xff")]))[0] == 400
    for bearer in (b"a\xffb", b"eyJ\xc3\xa9"):
        status, answer = await raw(am, "GET", "/token", [(b"Authorization", b"Bearer " + bearer)])
        assert (status, answer) == (401, {"error": "invalid_token"})
    for name in ("%00", "a%00b", quote("é" * 101)):
        async with http.get(am.url(f"/realms/{name}/scopes")) as r:
            assert r.status == 404 and (await r.json())["error"] == "not_found", name
    for metadata in ({"client_name": "\udcff"}, {"client_name": "a\x00"}, {"contacts": ["\x00"]},
                     {"contacts": ["a\udcff"]}, {"client_uri": "\udcff"}):
        async with http.post(am.url("/register"), data=json.dumps(metadata), headers={
                "Content-Type": "application/json"}) as r:
            assert r.status == 400 and (await r.json())["error"] == "invalid_client_metadata", metadata
    assert await counts(am) == before


async def test_a_sub_key_of_a_long_named_consumer_fits_its_column(world):
    """A grasshopper key's name is its master's plus " (grasshopper)": a 200-character master name
    made it 214 characters, which PostgreSQL's VARCHAR(200) refused with a 500."""
    am, realm, client, http = world
    parent = await register(http, am, "n" * 200)
    body = b"ttl=60"
    headers = sign_9421(am.url("/grasshopper"), body, parent["client_id"], parent["client_secret"])
    async with http.post(am.url("/grasshopper"), data=body, headers={**headers, "Content-Type": FORM}) as r:
        assert r.status == 201, await r.text()
        sub = await r.json()
    keys = {c["client_id"]: c for c in await list_consumers(am.ctx.sessions)}
    assert keys[sub["client_id"]]["client_name"] == "n" * 186 + " (grasshopper)"
