"""An RFC 5849 signature covers exactly the form the AM acts on (issue 11, item 1).

oauthlib's ``collect_parameters(body=…)`` reads nothing of a body holding a character outside its
set (``[``, a raw space), while the AM's form parser reads all of it. The AM now hands the form it
parsed to the verifier, so a body swapped under a signature is ``401``, and parameters in the query
of ``/token``, ``/grasshopper`` and ``/revoke`` are ``400 invalid_request`` whatever the
authentication, before anything is stored. On ``/token``, ``/grasshopper`` and ``/revoke``."""

import json
from urllib.parse import urlencode

import aiohttp
import pytest
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA256, SIGNATURE_TYPE_BODY, Client

from amkit import counts, register
from signers import FORM, sign_5849, sign_9421, token_form
from test_limits_headers import raw_request

IDENTICAL = {"error": "invalid_client", "error_description": "client authentication failed"}


@pytest.fixture
async def world(am):
    photos = await am.create_realm("photos", resource="http://127.0.0.1:1/", scopes=["read"])
    other = await am.create_realm("other", resource="http://127.0.0.1:2/", scopes=["read"])
    await am.add_policy("photos", "permit", ["read"])
    await am.add_policy("other", "permit", ["read"])
    async with aiohttp.ClientSession() as http:
        yield am, photos, other, await register(http, am, "mine"), http


async def post(http, url, body, headers):
    headers = {**{k: v for k, v in headers.items() if k.lower() != "content-type"}, "Content-Type": FORM}
    async with http.post(url, data=body, headers=headers) as r:
        return r.status, await r.json()


def header_signed(am, path, key, signed_body: bytes):
    """An ``Authorization: OAuth`` header signed over ``signed_body`` at ``path`` (no query)."""
    return sign_5849(am.url(path), signed_body, key["client_id"], key["client_secret"])


def body_signed(am, path, key, form: dict[str, str]) -> bytes:
    """A §3.5.2 request: the protocol parameters in the form body (oauthlib's signer)."""
    client = Client(key["client_id"], client_secret=key["client_secret"], signature_method=SIGNATURE_HMAC_SHA256,
                    signature_type=SIGNATURE_TYPE_BODY, timestamp=str(int(am.clock())))
    _, _, body = client.sign(am.url(path), "POST", urlencode(form), {"Content-Type": FORM})
    return body.encode()


async def token_of(http, am, token):
    async with http.post(am.url("/introspect"), data={"token": token},
                         headers={"Authorization": aiohttp.encode_basic_auth(am.realms["photos"].sph,
                                                                       am.realms["photos"].sph_secret)}) as r:
        return await r.json()


async def test_token_body_swapped_under_a_signature(world):
    am, photos, other, mine, http = world
    signed = token_form(photos.sph, "read")
    before = await counts(am)
    for junk in ("x=[", "x=a b", "x=%5B&y=]", "x=\\"):  # each makes oauthlib read nothing of the body
        swapped = token_form(other.sph, "read") + b"&" + junk.encode()
        # The reported attack: the signed form moved into the query, another form in the body.
        status, body = await post(http, am.url("/token?" + signed.decode()), swapped,
                                  header_signed(am, "/token", mine, signed))
        assert (status, body["error"]) == (400, "invalid_request"), junk
        # Without a query: a header signed over no body at all, a body added under it.
        status, body = await post(http, am.url("/token"), swapped, header_signed(am, "/token", mine, b""))
        assert (status, body) == (401, IDENTICAL), junk
        # ... or signed over the photos form, the other form (with junk) sent instead.
        status, body = await post(http, am.url("/token"), swapped, header_signed(am, "/token", mine, signed))
        assert (status, body) == (401, IDENTICAL), junk
    assert await counts(am) == before  # refused before any nonce is claimed, nothing issued


async def test_what_still_works_and_what_the_form_parser_refuses(world):
    am, photos, other, mine, http = world
    signed = token_form(photos.sph, "read")
    # Percent-encoding that decodes to the signed values is the same form: it verifies.
    sph = photos.sph.encode()
    odd = signed.replace(b"sph=" + sph, b"sph=%%%02x" % sph[0] + sph[1:]).replace(b"scope=read", b"scope=%72ead")
    status, body = await post(http, am.url("/token"), odd, header_signed(am, "/token", mine, signed))
    assert status == 200, body
    # A form with a space and a bracket, signed over exactly those values, verifies.
    spaced = signed + b"&x=a+b%5B&y=%5D"
    status, body = await post(http, am.url("/token"), spaced, header_signed(am, "/token", mine, spaced))
    assert status == 200, body
    # §3.5.2: the protocol parameters in the body.
    status, body = await post(http, am.url("/token"), body_signed(am, "/token", mine, dict(
        grant_type="client_credentials", sph=photos.sph, scope="read")), {})
    assert status == 200, body
    assert (await token_of(http, am, body["access_token"]))["realm"] == "photos"
    # ... with one parameter changed after signing.
    tampered = body_signed(am, "/token", mine, dict(grant_type="client_credentials", sph=photos.sph, scope="read"))
    status, body = await post(http, am.url("/token"), tampered.replace(photos.sph.encode(), other.sph.encode()), {})
    assert (status, body) == (401, IDENTICAL)
    # Malformed escapes and non-UTF-8 escapes are a form nobody can sign: 400, never "empty".
    before = await counts(am)
    for bad in (b"&x=%zz", b"&x=%f", b"&x=%ff"):
        status, body = await post(http, am.url("/token"), signed + bad, header_signed(am, "/token", mine, signed))
        assert (status, body["error"]) == (400, "invalid_request"), bad
    assert await counts(am) == before


async def test_every_authentication_on_these_endpoints_refuses_a_query(world):
    am, photos, _, mine, http = world
    before = await counts(am)
    form = token_form(photos.sph, "read")
    cases = [
        ("/token?scope=read", form, sign_9421(am.url("/token?scope=read"), form, mine["client_id"],
                                               mine["client_secret"])),
        ("/token?x=1", form, header_signed(am, "/token", mine, form)),
        ("/token?x=1", b"grant_type=ticket&ticket=t", {}),
        ("/token?x=1", b"action=revoke&token=t", {}),
        ("/grasshopper?ttl=30", b"ttl=30", header_signed(am, "/grasshopper", mine, b"ttl=30")),
        ("/revoke?token=t", b"token=t", {"Authorization": aiohttp.encode_basic_auth(photos.sph, photos.sph_secret)}),
        ("/revoke?token=t", b"token=t", header_signed(am, "/revoke", mine, b"token=t")),
    ]
    for path, body, headers in cases:
        status, answer = await post(http, am.url(path), body, headers)
        assert (status, answer["error"]) == (400, "invalid_request"), path
    # An empty query ("?"), which aiohttp's client would trim: written on a raw socket.
    port = int(am.url("").rsplit(":", 1)[1])
    headers = {**header_signed(am, "/token", mine, form), "Content-Type": FORM, "Content-Length": str(len(form)),
               "Connection": "close", "Host": f"127.0.0.1:{port}"}
    head = "POST /token? HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    status, _, answer = await raw_request(port, head.encode() + form)
    assert (status, json.loads(answer)["error"]) == (400, "invalid_request")
    assert await counts(am) == before


async def test_grasshopper_ttl_cannot_be_widened(world):
    am, _, _, mine, http = world
    before = await counts(am)
    status, body = await post(http, am.url("/grasshopper?ttl=30"), b"ttl=900&x=[",
                              header_signed(am, "/grasshopper", mine, b"ttl=30"))
    assert (status, body["error"]) == (400, "invalid_request")
    status, body = await post(http, am.url("/grasshopper"), b"ttl=900&x=[",
                              header_signed(am, "/grasshopper", mine, b"ttl=30"))
    assert (status, body) == (401, IDENTICAL)
    assert await counts(am) == before
    status, body = await post(http, am.url("/grasshopper"), b"ttl=30&x=[",
                              header_signed(am, "/grasshopper", mine, b"ttl=30&x=%5B"))
    assert (status, body["expires_in"]) == (201, 30)


async def test_revoke_cannot_be_pointed_at_another_token(world):
    am, photos, _, mine, http = world
    tokens = []
    for _ in range(2):
        form = token_form(photos.sph, "read")
        status, body = await post(http, am.url("/token"), form, header_signed(am, "/token", mine, form))
        assert status == 200
        tokens.append(body["access_token"])
    first, second = (f"token={t}".encode() for t in tokens)
    for path, sent, signed, refusal in (("/revoke?" + first.decode(), second + b"&x=[", first, 400),
                                        ("/revoke", second + b"&x=[", first, 401),
                                        ("/revoke", second + b"&x=a b", b"", 401)):
        status, body = await post(http, am.url(path), sent, header_signed(am, "/revoke", mine, signed))
        assert status == refusal and body["error"] in ("invalid_request", "invalid_client"), path
    assert (await token_of(http, am, tokens[1]))["active"] is True
    status, _ = await post(http, am.url("/revoke"), second, header_signed(am, "/revoke", mine, second))
    assert status == 200
    assert (await token_of(http, am, tokens[1]))["active"] is False
