"""A signed request spends its nonce whatever the answer (issue 11, item 7), on SQLite and
PostgreSQL: a captured request that was refused — denied by policy, put to the owner, polled too
early, refused as another's — and replayed byte for byte once the owner or a policy has changed
gets the identical ``401 invalid_client``, never a token for whoever replayed it. A refusal
stores nothing but the nonce (and what the answer itself records: a pending request, the audit
row of a denial). Only a transaction that fails as a whole (``503``) leaves the nonce unspent."""

from __future__ import annotations

from urllib.parse import urlencode

import aiohttp
import pytest
from amkit import UMA_TICKET, counts, register, request_token
from signers import FORM, SIGNERS
from sqlalchemy import exc as sa_exc
from sqlalchemy import func, select
from test_am_identifiers import basic

from authmanager.operations.approvals import (
    approve_request,
    deny_request,
    list_requests,
)
from authmanager.operations.policies import update_policy
from authmanager.storage.models import AccessRequest

RESOURCE = "http://127.0.0.1:1/"
REFUSED = (401, {"error": "invalid_client", "error_description": "client authentication failed"})


class Captured:
    """One signed request, kept as bytes so that it can be sent again exactly."""

    def __init__(self, am, http, path: str, form: dict[str, str], client, signer: str = "rfc9421"):
        self.http, self.url, self.body = http, am.url(path), urlencode(form).encode()
        created = am.clock()  # the AM's (movable) clock, so that a replay is still fresh
        kw = {"created": created} if signer == "rfc9421" else {"timestamp": created}
        self.headers = {**SIGNERS[signer](self.url, self.body, client["client_id"], client["client_secret"], **kw),
                        "Content-Type": FORM}

    async def send(self) -> tuple[int, dict]:
        async with self.http.post(self.url, data=self.body, headers=self.headers) as r:
            return r.status, await r.json()


@pytest.fixture
async def world(am):
    realm = await am.create_realm("photos", resource=RESOURCE, scopes=["read", "write", "admin"])
    deny = await am.add_policy("photos", "deny", ["read"])
    await am.add_policy("photos", "ask", ["write"])
    async with aiohttp.ClientSession() as http:
        client = await register(http, am, "printer")
        yield am, realm, client, http, deny


@pytest.mark.parametrize("signer", ["rfc9421", "rfc5849"])
async def test_a_denied_request_replayed_after_the_policy_changed_gets_401_not_a_token(world, signer):
    am, realm, client, http, deny = world
    form = {"grant_type": "client_credentials", "sph": realm.sph, "scope": "read"}
    captured = Captured(am, http, "/token", form, client, signer)
    before = await counts(am)
    status, body = await captured.send()
    assert status == 403 and body["error"] == "request_denied"
    assert await counts(am) == {**before, "nonces": before["nonces"] + 1}  # the nonce, nothing else
    await update_policy(am.ctx.sessions, deny, effect="permit", scopes=["read"], now=int(am.clock()))
    assert await captured.send() == REFUSED
    assert (await counts(am))["access_tokens"] == 0
    assert (await request_token(http, am, client, realm.sph, "read", signer=signer))[0] == 200  # a fresh one


async def test_every_answer_of_the_token_endpoint_spends_the_nonce(world):
    am, realm, client, http, _ = world
    forms = {
        "invalid_request": {"grant_type": "client_credentials", "sph": "x" * 22, "scope": "read"},
        "invalid_scope": {"grant_type": "client_credentials", "sph": realm.sph, "scope": "delete"},
        "request_submitted": {"grant_type": "client_credentials", "sph": realm.sph, "scope": "write"},
        "unsupported_grant_type": {"grant_type": "password", "sph": realm.sph, "scope": "read"},
    }
    for error, form in forms.items():
        captured = Captured(am, http, "/token", form, client)
        before = await counts(am)
        status, body = await captured.send()
        assert body["error"] == error, body
        assert await counts(am) == {**before, "nonces": before["nonces"] + 1}, error
        assert await captured.send() == REFUSED, error
    async with am.ctx.sessions() as session:  # the replay of request_submitted put nothing to the owner again
        assert await session.scalar(select(func.count()).select_from(AccessRequest)) == 1


async def test_every_answer_of_a_poll_spends_the_nonce(world):
    am, realm, client, http, _ = world
    status, body, _ = await request_token(http, am, client, realm.sph, "write", created=am.clock())
    assert status == 403 and body["error"] == "request_submitted"
    ticket = body["ticket"]
    poll = {"grant_type": UMA_TICKET, "ticket": ticket}

    early = Captured(am, http, "/token", poll, client)  # within the interval: slow_down
    assert (await early.send())[1]["error"] == "slow_down"
    am.clock.advance(5)
    pending = Captured(am, http, "/token", poll, client)
    assert (await pending.send())[1]["error"] == "request_submitted"
    unknown = Captured(am, http, "/token", {**poll, "ticket": "t" * 43}, client)
    assert (await unknown.send())[1]["error"] == "invalid_grant"
    request_id = (await _pending_ids(am))[0]
    await approve_request(am.ctx.sessions, request_id, now=int(am.clock()))
    am.clock.advance(5)
    before = await counts(am)
    for captured in (early, pending, unknown):  # now a poll would get the token: the captured ones do not
        assert await captured.send() == REFUSED
    assert await counts(am) == before
    status, body = await Captured(am, http, "/token", poll, client).send()
    assert status == 200 and body["scope"] == "write"

    # A request the owner denies: request_denied, spent too.
    status, body, _ = await request_token(http, am, client, realm.sph, "write admin", created=am.clock())
    assert status == 200  # write is saved as granted now, admin is not a scope anyone is asked about
    await am.add_policy("photos", "ask", ["admin"])
    status, body, _ = await request_token(http, am, client, realm.sph, "admin", created=am.clock())
    assert body["error"] == "request_submitted"
    await deny_request(am.ctx.sessions, (await _pending_ids(am))[0], now=int(am.clock()))
    am.clock.advance(5)
    denied = Captured(am, http, "/token", {**poll, "ticket": body["ticket"]}, client)
    assert (await denied.send())[1]["error"] == "request_denied"
    assert await denied.send() == REFUSED


async def _pending_ids(am):
    return [row["id"] for row in await list_requests(am.ctx.sessions, now=int(am.clock()))]


async def test_grasshopper_and_revoke_refusals_spend_the_nonce_and_change_nothing(world):
    am, realm, client, http, deny = world
    await update_policy(am.ctx.sessions, deny, effect="permit", scopes=["read"], now=int(am.clock()))
    async with http.post(am.url("/grasshopper"), data=b"ttl=60", headers={
            **SIGNERS["rfc9421"](am.url("/grasshopper"), b"ttl=60", client["client_id"], client["client_secret"]),
            "Content-Type": FORM}) as r:
        sub = await r.json()
    cases = [Captured(am, http, "/grasshopper", {"ttl": "60"}, sub),  # unauthorized_client: a sub-key
             Captured(am, http, "/grasshopper", {"ttl": "0"}, client)]  # invalid_request
    other = await register(http, am, "other")
    _, issued, _ = await request_token(http, am, other, realm.sph, "read")
    cases.append(Captured(am, http, "/revoke", {"token": issued["access_token"]}, client))  # another's token
    for captured, error in zip(cases, ("unauthorized_client", "invalid_request", "unauthorized_client")):
        before = await counts(am)
        status, body = await captured.send()
        assert status == 400 and body["error"] == error, body
        assert await counts(am) == {**before, "nonces": before["nonces"] + 1}, error
        assert await captured.send() == REFUSED, error
    async with http.post(am.url("/introspect"), data={"token": issued["access_token"]},
                         headers=basic(realm.sph, realm.sph_secret)) as r:
        assert (await r.json())["active"] is True  # the refused revocation revoked nothing


async def test_only_a_transaction_that_fails_as_a_whole_leaves_the_nonce_unspent(world):
    am, realm, client, http, deny = world
    await update_policy(am.ctx.sessions, deny, effect="permit", scopes=["read"], now=int(am.clock()))
    captured = Captured(am, http, "/token", {"grant_type": "client_credentials", "sph": realm.sph,
                                             "scope": "read"}, client)

    class Unavailable:
        async def __call__(self, fn, *args):
            raise sa_exc.OperationalError("SELECT 1", {}, ConnectionRefusedError("the database is down"))

        async def close(self):
            pass

    inner, am.ctx.transact = am.ctx.transact, Unavailable()
    try:
        status, body = await captured.send()
    finally:
        am.ctx.transact = inner
    assert status == 503 and body["error"] == "temporarily_unavailable"
    status, body = await captured.send()  # the client may send it again
    assert status == 200 and body["scope"] == "read"
    assert await captured.send() == REFUSED
