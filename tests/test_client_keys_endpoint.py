"""The self-service key endpoint (``GET /keys``, ``POST /keys``, ``POST /keys/revoke``), called
by a consumer signing with RFC 9421 (independent signer, tests/signers.py) over real sockets, on
SQLite and PostgreSQL: list, add (form and JSON), revoke with its tokens and feed events, the
last-key refusal, the ceiling rules, and refusals that keep the nonce spent."""

import json
from urllib.parse import urlencode

import aiohttp
import pytest
from amkit import register
from keykit import feed_jtis, insert_token, jwk_of, private_key, public_jwk, token_states
from signers import sign_5849, sign_9421

from authmanager.operations import client_keys as ops
from authmanager.storage import client_keys as key_repo

FORM = "application/x-www-form-urlencoded"


async def call(http, am, client, path, *, method="POST", form=None, body=None, signer=sign_9421, replay=None):
    """A signed request; returns (status, json, (url, body, headers)) so a test can replay it."""
    url = am.url(path)
    if replay is not None:
        url, data, headers = replay
    else:
        if body is not None:
            data, content_type = json.dumps(body).encode(), "application/json"
        else:
            data, content_type = (urlencode(form).encode() if form is not None else b""), FORM
        if signer is sign_9421:
            headers = sign_9421(url, data, client["client_id"], client["client_secret"], method=method)
        else:  # RFC 5849 signs a form only: for a JSON body, the (empty) form is what it covers
            headers = signer(url, data if body is None else b"", client["client_id"], client["client_secret"])
        headers["Content-Type"] = content_type
    async with http.request(method, url, data=data, headers=headers) as r:
        return r.status, await r.json(), (url, data, headers)


@pytest.fixture
async def world(am):
    await am.create_realm("photos", resource="http://127.0.0.1:1/", scopes=["read", "write"])
    async with aiohttp.ClientSession() as http:
        yield am, http, await register(http, am)


async def test_list_add_by_form_and_json_and_revoke(world):
    am, http, me = world
    status, answer, _ = await call(http, am, me, "/keys", method="GET")
    assert (status, answer) == (200, {"keys": []})

    laptop = public_jwk("ed25519", kid="laptop")
    status, added, _ = await call(http, am, me, "/keys", form={"jwk": json.dumps(laptop), "scope": "read",
                                                                "name": "my laptop"})
    assert status == 201, added
    assert (added["kid"], added["name"], added["scope_ceiling"], added["jwk"]) == \
        ("laptop", "my laptop", ["read"], laptop)
    phone = public_jwk("ec")
    status, added, _ = await call(http, am, me, "/keys", body={"jwk": phone, "scope": ["write", "read"]})
    assert status == 201, added
    assert added["scope_ceiling"] == ["read", "write"] and added["kid"] and added["revoked_at"] is None

    status, listed, _ = await call(http, am, me, "/keys", method="GET")
    assert status == 200 and [k["kid"] for k in listed["keys"]] == ["laptop", added["kid"]]
    assert not any(m in k["jwk"] for k in listed["keys"] for m in ("d", "p", "q"))

    async with am.ctx.sessions() as session:
        laptop_row = await key_repo.get(session, me["client_id"], "laptop")
    mine = [await insert_token(am, client_id=me["client_id"], realm="photos", client_key_id=laptop_row.id)
            for _ in range(2)]
    spared = await insert_token(am, client_id=me["client_id"], realm="photos", client_key_id=None)
    status, answer, _ = await call(http, am, me, "/keys/revoke", form={"kid": "laptop"})
    assert (status, answer) == (200, {"kid": "laptop", "tokens_revoked": 2})
    assert await token_states(am, [*mine, spared]) == {mine[0]: True, mine[1]: True, spared: False}
    assert sorted(await feed_jtis(am)) == sorted(mine)
    status, listed, _ = await call(http, am, me, "/keys", method="GET")
    assert [k["revoked_at"] is not None for k in listed["keys"]] == [True, False]


async def test_the_last_key_cannot_be_revoked_by_the_consumer(world):
    am, http, me = world
    kid = (await call(http, am, me, "/keys", body={"jwk": public_jwk("ec", kid="only")}))[1]["kid"]
    status, answer, _ = await call(http, am, me, "/keys/revoke", form={"kid": kid})
    assert (status, answer["error"]) == (400, "invalid_request")
    assert "last key" in answer["error_description"]
    async with am.ctx.sessions() as session:
        assert [k.kid for k in await key_repo.live(session, me["client_id"])] == ["only"]


@pytest.mark.parametrize("request_kw, error", [
    ({"form": {"jwk": json.dumps(jwk_of(private_key("ec"), private=True))}}, "invalid_request"),
    ({"form": {"jwk": json.dumps(public_jwk("rsa1024"))}}, "invalid_request"),
    ({"form": {"jwk": json.dumps(public_jwk("p384"))}}, "invalid_request"),
    ({"form": {"jwk": '{"kty": "oct", "k": "c2VjcmV0"}'}}, "invalid_request"),
    ({"form": {"jwk": "not a key"}}, "invalid_request"),
    ({"form": {}}, "invalid_request"),
    ({"form": {"jwk": json.dumps(public_jwk("ec")), "scope": "admin"}}, "invalid_scope"),
    ({"form": {"jwk": json.dumps(public_jwk("ec")), "scope": "read  write"}}, "invalid_scope"),
    ({"body": {"jwk": public_jwk("ec"), "scope": 7}}, "invalid_scope"),
    ({"body": {"jwk": public_jwk("ec"), "name": ["x"]}}, "invalid_request"),
    ({"body": [1]}, "invalid_request"),
])
async def test_bad_additions_are_refused_store_nothing_and_spend_the_nonce(world, request_kw, error):
    am, http, me = world
    status, answer, sent = await call(http, am, me, "/keys", **request_kw)
    assert (status, answer["error"]) == (400, error), answer
    async with am.ctx.sessions() as session:
        assert await key_repo.list_all(session, me["client_id"]) == []
    status, answer, _ = await call(http, am, me, "/keys", replay=sent)
    assert (status, answer["error"]) == (401, "invalid_client")


async def test_duplicate_kid_and_unknown_kid(world):
    am, http, me = world
    key = public_jwk("ed25519", kid="k1")
    assert (await call(http, am, me, "/keys", body={"jwk": key}))[0] == 201
    status, answer, _ = await call(http, am, me, "/keys", body={"jwk": key})
    assert (status, answer["error"]) == (400, "invalid_request") and "k1" in answer["error_description"]
    status, answer, _ = await call(http, am, me, "/keys/revoke", form={"kid": "nope"})
    assert (status, answer["error"]) == (400, "invalid_request")
    status, answer, _ = await call(http, am, me, "/keys/revoke", form={})
    assert (status, answer["error"]) == (400, "invalid_request")


async def test_authentication_is_required_and_never_crosses_consumers(world):
    am, http, me = world
    other = await register(http, am, "other")
    assert (await call(http, am, other, "/keys", body={"jwk": public_jwk("ec", kid="theirs")}))[0] == 201
    assert (await call(http, am, other, "/keys", body={"jwk": public_jwk("ec", kid="theirs-2")}))[0] == 201
    async with http.get(am.url("/keys")) as r:
        assert (r.status, (await r.json())["error"]) == (401, "invalid_client")
    async with http.post(am.url("/keys"), data={"jwk": json.dumps(public_jwk("ec"))}) as r:
        assert (r.status, (await r.json())["error"]) == (401, "invalid_client")
    status, listed, _ = await call(http, am, me, "/keys", method="GET")
    assert listed == {"keys": []}
    status, answer, _ = await call(http, am, me, "/keys/revoke", form={"kid": "theirs"})
    assert status == 400  # not my key: no such live key of mine
    async with am.ctx.sessions() as session:
        assert len(await key_repo.live(session, other["client_id"])) == 2
    wrong = {**me, "client_secret": other["client_secret"]}
    status, answer, _ = await call(http, am, wrong, "/keys", method="GET")
    assert (status, answer["error"]) == (401, "invalid_client")


async def test_rfc5849_signs_forms_only(world):
    am, http, me = world
    status, _, _ = await call(http, am, me, "/keys", form={"jwk": json.dumps(public_jwk("ec"))}, signer=sign_5849)
    assert status == 201
    status, answer, _ = await call(http, am, me, "/keys", body={"jwk": public_jwk("ec")}, signer=sign_5849)
    assert (status, answer["error"]) == (401, "invalid_client")  # a JSON body is not what 5849 signs


async def test_public_clients_and_grasshopper_keys_hold_no_keys(world):
    am, http, me = world
    body = urlencode({"ttl": "60"}).encode()
    headers = sign_9421(am.url("/grasshopper"), body, me["client_id"], me["client_secret"])
    headers["Content-Type"] = FORM
    async with http.post(am.url("/grasshopper"), data=body, headers=headers) as r:
        sub = await r.json()
    status, answer, _ = await call(http, am, sub, "/keys", method="GET")
    assert (status, answer["error"]) == (400, "unauthorized_client")


async def test_a_query_is_refused(world):
    am, http, me = world
    status, answer, _ = await call(http, am, me, "/keys?x=1", method="GET")
    assert (status, answer["error"]) == (400, "invalid_request")


async def test_ceilings_never_widen(am):
    """The rule a key with a ceiling meets at /keys (the RFC 7523 verifier names the key; today's
    signatures carry no key, so the rule is exercised on the operation the endpoint calls)."""
    await am.create_realm("photos", resource="http://127.0.0.1:1/", scopes=["read", "write"])
    async with am.ctx.sessions() as session:
        assert await ops.ceiling_for_added_key(session, ["read"], ["read", "write"]) == ["read"]
        assert await ops.ceiling_for_added_key(session, None, ["write", "read"]) == ["read", "write"]
        assert await ops.ceiling_for_added_key(session, None, None) is None
        assert await ops.ceiling_for_added_key(session, ["write", "read"], None) == ["read", "write"]
        with pytest.raises(ops.CeilingWidened):
            await ops.ceiling_for_added_key(session, ["read", "write"], ["read"])
        with pytest.raises(ops.BadScope):
            await ops.ceiling_for_added_key(session, ["admin"], None)


async def test_a_key_with_a_ceiling_revokes_only_keys_within_it(world):
    am, http, me = world
    for kid, scope in (("wide", None), ("narrow", ["read"]), ("narrow2", ["read"])):
        assert (await call(http, am, me, "/keys", body={"jwk": public_jwk("ec", kid=kid),
                                                        **({"scope": scope} if scope else {})}))[0] == 201
    async with am.ctx.sessions.begin() as session:
        with pytest.raises(ops.CeilingWidened):
            await ops.revoke_key(session, me["client_id"], "wide", now=int(am.clock()), actor="t",
                                 keep_one=True, bound=["read"])
    async with am.ctx.sessions.begin() as session:
        assert await ops.revoke_key(session, me["client_id"], "narrow2", now=int(am.clock()), actor="t",
                                    keep_one=True, bound=["read"]) == 0
