"""Asking the realm owner at the token endpoint (docs/protocol.md §13): request_submitted, the UMA
ticket grant's polling (pending, slow_down, denied, expired, another consumer's ticket), partial
approval, saved grants, grant revocation, subject policies, validity windows and scope documents."""

import asyncio
import hashlib

import aiohttp
import pytest
from amkit import counts, poll, register, request_token
from sqlalchemy import select

from authmanager.operations.approvals import approve_request, deny_request, list_grants, list_requests, revoke_grant
from authmanager.storage.models import AccessRequest, AccessToken, RevocationEvent

RESOURCE = "http://127.0.0.1:1/"


@pytest.fixture
async def asking(am):
    """Realm photos: read permitted to anyone, write and admin put to the owner."""
    realm = await am.create_realm("photos", resource=RESOURCE, scopes=["read", "write", "admin"])
    await am.add_policy("photos", "permit", ["read"])
    await am.add_policy("photos", "ask", ["write", "admin"], max_ttl=300)
    async with aiohttp.ClientSession() as http:
        client = await register(http, am, "printer")
        yield am, realm, client, http


async def _rows(am, model):
    async with am.ctx.sessions() as session:
        return list((await session.scalars(select(model).order_by(model.__table__.primary_key.columns[0]))).all())


async def _submitted(http, am, client, realm, scope="read write"):
    status, body, headers = await request_token(http, am, client, realm.sph, scope)
    assert status == 403 and body["error"] == "request_submitted", body
    assert body["interval"] == 5 and len(body["ticket"]) >= 43 and headers["Cache-Control"] == "no-store"
    [request] = [r for r in await _rows(am, AccessRequest) if r.ticket_hash == _hash(body["ticket"])]
    return body["ticket"], request


def _hash(value):
    return hashlib.sha256(value.encode()).hexdigest()


async def test_ask_records_a_pending_request_by_its_hash_and_issues_nothing(asking):
    am, realm, client, http = asking
    ticket, request = await _submitted(http, am, client, realm)
    assert request.client_id == client["client_id"] and request.status == "pending"
    assert request.scopes == ["read", "write"] and request.ask_scopes == ["write"]
    assert request.expires_at - request.created_at == 900
    assert ticket not in repr([getattr(request, c.key) for c in AccessRequest.__table__.columns])
    assert (await counts(am))["access_tokens"] == 0 and (await counts(am))["nonces"] == 1


async def test_pending_then_slow_down_then_partial_approval_gives_only_approved_plus_permitted(asking):
    am, realm, client, http = asking
    ticket, request = await _submitted(http, am, client, realm, "read write admin")
    status, body, _ = await poll(http, am, client, ticket)
    assert status == 400 and body["error"] == "slow_down"  # polled within the interval
    am.clock.advance(5)
    status, body, _ = await poll(http, am, client, ticket)
    assert status == 403 and body["error"] == "request_submitted" and body["ticket"] == ticket
    status, body, _ = await poll(http, am, client, ticket)
    assert status == 400 and body["error"] == "slow_down"

    answer = await approve_request(am.ctx.sessions, request.id, scopes=["write"], now=int(am.clock()))
    assert answer["approved"] == ["write"] and answer["refused"] == ["admin"]
    status, body, _ = await poll(http, am, client, ticket)  # decided: no interval to respect
    assert status == 200 and body["scope"] == "read write" and body["expires_in"] == 300
    status, body, _ = await poll(http, am, client, ticket)
    assert status == 400 and body["error"] == "invalid_grant"  # spent

    # The saved grant answers from now on: write without asking, admin refused, nothing pending.
    status, body, _ = await request_token(http, am, client, realm.sph, "read write admin")
    assert status == 200 and body["scope"] == "read write"
    assert len(await _rows(am, AccessRequest)) == 1
    [grant] = await list_grants(am.ctx.sessions, realm="photos")
    assert grant["client_id"] == client["client_id"] and grant["consumer"] == "printer"
    assert grant["scopes"] == ["write"] and grant["refused"] == ["admin"]


async def test_a_new_scope_asks_only_about_the_new_scope(am):
    realm = await am.create_realm("photos", resource=RESOURCE, scopes=["read", "write"])
    await am.add_policy("photos", "ask", ["read", "write"])
    async with aiohttp.ClientSession() as http:
        client = await register(http, am)
        _, first = await _submitted(http, am, client, realm, "read")
        await approve_request(am.ctx.sessions, first.id, now=int(am.clock()))
        _, second = await _submitted(http, am, client, realm, "read write")
    assert second.ask_scopes == ["write"] and second.scopes == ["read", "write"]


async def test_answering_one_request_settles_its_duplicates(asking):
    am, realm, client, http = asking
    first, request = await _submitted(http, am, client, realm, "write")
    second, _ = await _submitted(http, am, client, realm, "read write")
    third, _ = await _submitted(http, am, client, realm, "write admin")
    answer = await approve_request(am.ctx.sessions, request.id, now=int(am.clock()))
    assert len(answer["settled"]) == 1  # the second asked only about write; the third also about admin
    assert [r["ask"] for r in await list_requests(am.ctx.sessions, now=int(am.clock()))] == [["admin", "write"]]
    am.clock.advance(5)
    for ticket, scope in ((first, "write"), (second, "read write")):
        status, body, _ = await poll(http, am, client, ticket)
        assert status == 200 and body["scope"] == scope
    status, body, _ = await poll(http, am, client, third)
    assert status == 403 and body["error"] == "request_submitted"


async def test_denied_request_is_request_denied_and_remembered(asking):
    am, realm, client, http = asking
    ticket, request = await _submitted(http, am, client, realm, "write")
    await deny_request(am.ctx.sessions, request.id, now=int(am.clock()))
    am.clock.advance(5)
    status, body, _ = await poll(http, am, client, ticket)
    assert status == 403 and body["error"] == "request_denied"
    status, body, _ = await request_token(http, am, client, realm.sph, "write")
    assert status == 403 and body["error"] == "request_denied"  # refused, not asked again
    status, body, _ = await request_token(http, am, client, realm.sph, "read write")
    assert status == 200 and body["scope"] == "read"


async def test_expired_unknown_and_foreign_tickets_are_invalid_grant(asking):
    am, realm, client, http = asking
    other = await register(http, am, "other")
    ticket, request = await _submitted(http, am, client, realm)
    before = await counts(am)
    for who, value in ((other, ticket), (client, "x" * 43), (client, "y" * 600)):
        status, body, _ = await poll(http, am, who, value)
        assert status == 400 and body["error"] == "invalid_grant"
    assert await counts(am) == {**before, "nonces": before["nonces"] + 3}  # a refused poll stores only its nonce
    await approve_request(am.ctx.sessions, request.id, now=int(am.clock()))
    am.clock.advance(900)  # approved, but the ticket expired before it was used
    status, body, _ = await poll(http, am, client, ticket, created=am.clock())
    assert status == 400 and body["error"] == "invalid_grant"


async def test_a_poll_must_be_signed(asking):
    am, realm, client, http = asking
    ticket, _ = await _submitted(http, am, client, realm)
    async with http.post(am.url("/token"), data={"grant_type": "urn:ietf:params:oauth:grant-type:uma-ticket",
                                                 "ticket": ticket}) as r:
        assert r.status == 401 and (await r.json())["error"] == "invalid_client"


async def test_concurrent_polls_after_approval_give_exactly_one_token(asking):
    am, realm, client, http = asking
    ticket, request = await _submitted(http, am, client, realm)
    await approve_request(am.ctx.sessions, request.id, now=int(am.clock()))
    results = await asyncio.gather(*(poll(http, am, client, ticket) for _ in range(10)))
    assert sorted(status for status, _, _ in results) == [200] + [400] * 9
    assert len(await _rows(am, AccessToken)) == 1


async def test_revoking_a_grant_revokes_live_tokens_with_feed_events_and_asks_again(asking):
    am, realm, client, http = asking
    ticket, request = await _submitted(http, am, client, realm)
    answer = await approve_request(am.ctx.sessions, request.id, now=int(am.clock()))
    _, first, _ = await poll(http, am, client, ticket)
    _, second, _ = await request_token(http, am, client, realm.sph, "write")
    result = await revoke_grant(am.ctx.sessions, answer["grant_id"], now=int(am.clock()))
    assert result["tokens_revoked"] == 2
    events = [e for e in await _rows(am, RevocationEvent) if e.kind == "token_revoked"]
    assert {e.jti for e in events} == {t.jti for t in await _rows(am, AccessToken)}
    basic = {"Authorization": aiohttp.encode_basic_auth(realm.sph, realm.sph_secret)}
    for token in (first, second):
        async with http.post(am.url("/introspect"), data={"token": token["access_token"]}, headers=basic) as r:
            assert await r.json() == {"active": False}
    assert await list_grants(am.ctx.sessions) == []
    status, body, _ = await request_token(http, am, client, realm.sph, "write")
    assert status == 403 and body["error"] == "request_submitted"


async def test_validity_window_uses_the_am_clock(am):
    realm = await am.create_realm("photos", resource=RESOURCE, scopes=["read"])
    start = int(am.clock())
    await am.add_policy("photos", "permit", ["read"], not_before=str(start + 60), not_after=str(start + 120))
    async with aiohttp.ClientSession() as http:
        client = await register(http, am)
        status, body, _ = await request_token(http, am, client, realm.sph, "read")
        assert status == 403 and body["error"] == "request_denied"
        am.clock.advance(90)
        status, body, _ = await request_token(http, am, client, realm.sph, "read", created=am.clock())
        assert status == 200 and body["expires_in"] <= 30


async def test_scope_documents_are_published(am):
    from authmanager.operations.realms import ScopeText, set_scope

    await am.create_realm("photos", resource=RESOURCE, scopes=["read", "write"])
    await set_scope(am.ctx.sessions, realm="photos", name="read",
                    text=ScopeText(title="Read photos", description="List and view photos.",
                                   icon_uri="https://icons.example/read.svg"))
    async with aiohttp.ClientSession() as http:
        async with http.get(am.url("/realms/photos/scopes")) as r:
            assert r.status == 200 and r.headers["Cache-Control"] == "public, max-age=60"
            doc = await r.json()
        async with http.get(am.url("/realms/nope/scopes")) as r:
            assert r.status == 404 and (await r.json())["error"] == "not_found"
    assert doc == {"realm": "photos", "scopes": [
        {"name": "read", "title": "Read photos", "description": "List and view photos.",
         "icon_uri": "https://icons.example/read.svg"},
        {"name": "write", "title": "write", "description": "", "icon_uri": None}]}
