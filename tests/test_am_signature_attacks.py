"""Hostile signed requests (issue 7): every case gets one identical ``401 invalid_client`` body and
writes no nonce row, on both signature methods."""

import base64
import hashlib
import hmac
import secrets

import aiohttp
import pytest
from sqlalchemy import select

from amkit import counts, register
from authmanager.storage.models import Nonce
from signers import FORM, sign_5849, sign_9421, token_form

IDENTICAL = {"error": "invalid_client", "error_description": "client authentication failed"}


@pytest.fixture
async def world(am):
    realm = await am.create_realm("photos", resource="http://127.0.0.1:1/", scopes=["read"])
    await am.add_policy("photos", "permit", ["read"])
    async with aiohttp.ClientSession() as http:
        mine, theirs = await register(http, am, "mine"), await register(http, am, "theirs")
        yield am, realm, mine, theirs, http


def _cases_9421(url, body, mine, theirs, now):
    good = sign_9421(url, body, mine["client_id"], mine["client_secret"], created=now)
    yield "no components", sign_9421(url, body, mine["client_id"], mine["client_secret"], created=now,
                                     components=())
    yield "no Signature", {k: v for k, v in good.items() if k != "Signature"}
    yield "no Signature-Input", {k: v for k, v in good.items() if k != "Signature-Input"}
    yield "other algorithm", {**good, "Signature-Input": good["Signature-Input"].replace('alg="hmac-sha256"',
                                                                                          'alg="hmac-sha512"')}
    yield "no alg but wrong key", sign_9421(url, body, mine["client_id"], theirs["client_secret"], created=now)
    yield "another consumer's key id", sign_9421(url, body, theirs["client_id"], mine["client_secret"], created=now)
    sig_input, sig = good["Signature-Input"], good["Signature"]
    yield "duplicated signature", {**good, "Signature-Input": f"{sig_input}, {sig_input.replace('pyhms', 'b')}",
                                   "Signature": f"{sig}, {sig.replace('pyhms', 'b')}"}
    yield "too old", sign_9421(url, body, mine["client_id"], mine["client_secret"], created=now - 301)
    yield "too new", sign_9421(url, body, mine["client_id"], mine["client_secret"], created=now + 301)


def _cases_5849(url, body, mine, theirs, now):
    good = sign_5849(url, body, mine["client_id"], mine["client_secret"], timestamp=now)
    auth = good["Authorization"]
    yield "no signature", {**good, "Authorization": ", ".join(p for p in auth.split(", ")
                                                                if not p.startswith("oauth_signature="))}
    yield "no Authorization", {k: v for k, v in good.items() if k != "Authorization"}
    yield "other algorithm", {**good, "Authorization": auth.replace("HMAC-SHA256", "HMAC-SHA1")}
    yield "plaintext", {**good, "Authorization": auth.replace("HMAC-SHA256", "PLAINTEXT")}
    yield "wrong key", sign_5849(url, body, mine["client_id"], theirs["client_secret"], timestamp=now)
    yield "another consumer's key id", sign_5849(url, body, theirs["client_id"], mine["client_secret"],
                                                 timestamp=now)
    yield "duplicated parameter", {**good, "Authorization": auth + ', oauth_consumer_key="' + theirs["client_id"]
                                   + '"'}
    yield "too old", sign_5849(url, body, mine["client_id"], mine["client_secret"], timestamp=now - 301)
    yield "too new", sign_5849(url, body, mine["client_id"], mine["client_secret"], timestamp=now + 301)


@pytest.mark.parametrize("cases", [_cases_9421, _cases_5849], ids=["rfc9421", "rfc5849"])
async def test_each_attack_is_one_identical_401_and_writes_no_nonce(world, cases):
    am, realm, mine, theirs, http = world
    am.clock.freeze()  # "too old" and "too new" sit one second outside the window
    url, body = am.url("/token"), token_form(realm.sph, "read")
    before = await counts(am)
    seen = []
    for name, headers in cases(url, body, mine, theirs, int(am.clock())):
        headers = {"Content-Type": FORM, **{k: v for k, v in headers.items() if k.lower() != "content-type"}}
        async with http.post(url, data=body, headers=headers) as r:
            seen.append((name, r.status, await r.json()))
    assert [s for s in seen if s[1:] != (401, IDENTICAL)] == []
    assert await counts(am) == before


def _hand_signed_9421(url, body, ck, cks, *, created, expires):
    """RFC 9421 §2.5 by hand (an independent implementation, for parameter values the library will
    not sign): the signature base over @method, @target-uri and content-digest, HMAC-SHA256."""
    digest = "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"
    params = f'("@method" "@target-uri" "content-digest");created={created};expires={expires};nonce="{secrets.token_urlsafe(16)}";keyid="{ck}";alg="hmac-sha256"'
    base = f'"@method": POST\n"@target-uri": {url}\n"content-digest": {digest}\n"@signature-params": {params}'
    mac = base64.b64encode(hmac.new(cks.encode(), base.encode(), hashlib.sha256).digest()).decode()
    return {"Content-Digest": digest, "Signature-Input": f"sig1={params}", "Signature": f"sig1=:{mac}:"}


async def test_rfc9421_expires_is_enforced_against_the_am_clock(world):
    """Issue 11, item 6: ``expires`` at or before the AM's now, or not an integer, is the identical
    401 and stores nothing; a live one is kept as a nonce no longer than it can be used."""
    am, realm, mine, _, http = world
    am.clock.freeze()
    now, url, body = int(am.clock()), am.url("/token"), token_form(realm.sph, "read")
    ck, cks = mine["client_id"], mine["client_secret"]

    async def send(headers):
        async with http.post(url, data=body, headers={"Content-Type": FORM, **headers}) as r:
            return r.status, await r.json()

    before = await counts(am)
    later = sign_9421(url, body, ck, cks, created=now, expires=now + 10)  # captured, used too late
    refused = [sign_9421(url, body, ck, cks, created=now - 5, expires=now - 4),
               sign_9421(url, body, ck, cks, created=now, expires=now),
               _hand_signed_9421(url, body, ck, cks, created=now, expires=f"{now + 60}.5"),
               _hand_signed_9421(url, body, ck, cks, created=now, expires=f'"{now + 60}"')]
    assert [await send(headers) for headers in refused] == [(401, IDENTICAL)] * len(refused)
    assert await counts(am) == before
    # The hand-built signature is right: with an integer expires it is accepted.
    status, _ = await send(_hand_signed_9421(url, body, ck, cks, created=now, expires=now + 60))
    assert status == 200
    status, _ = await send(sign_9421(url, body, ck, cks, created=now, expires=now + 1, nonce="short-lived"))
    assert status == 200
    async with am.ctx.sessions() as session:  # kept until it expires, not for the whole window
        assert await session.scalar(select(Nonce.expires_at).where(Nonce.nonce == "short-lived")) == now + 1
    am.clock.advance(10)
    assert await send(later) == (401, IDENTICAL)
