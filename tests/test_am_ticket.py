"""The ticket grant at the AM (docs/protocol.md §12): single use, reuse revokes, expiry, 20
concurrent redemptions, no client authentication; and ``share`` stores nothing on bad input."""

import asyncio
import hashlib

import aiohttp
import pytest
from bobkit import RecordingEndpoint, bob_site
from sqlalchemy import func, select

from authmanager.operations.realms import AdminError
from authmanager.outbound.guard import permissive
from authmanager.sharing.share import ShareFailed, list_shares, share
from authmanager.storage.models import AccessToken, RevocationEvent, SavedGrant, Ticket
from consumer_sdk import TicketEndpoint

RESOURCE = "http://127.0.0.1:9/"  # never contacted in these tests


async def _shared(am, clock, *, scopes=("read",), max_ttl=None, status=202):
    """Share 'photos' with a recording Bob; return (Bob's URL, the delivered form)."""
    if "photos" not in am.realms:
        await am.create_realm("photos", resource=RESOURCE, scopes=["read", "write"])
    recorder = RecordingEndpoint(status)
    async with bob_site(endpoint=recorder) as (bob, _):
        result = await share(am.ctx.sessions, realm="photos", subject=bob, scopes=list(scopes), max_ttl=max_ttl,
                             policy=permissive, now=clock)
        form = await recorder.next()
    return bob, form, result


async def _redeem(http, am, ticket):
    async with http.post(am.url("/token"), data={"grant_type": "ticket", "ticket": ticket}) as r:
        return r.status, await r.json(), r.headers


async def _rows(am, model):
    async with am.ctx.sessions() as session:
        return list((await session.scalars(select(model))).all())


async def test_the_delivered_form_and_only_a_hash_at_rest(am, clock):
    bob, form, result = await _shared(am, clock)
    assert set(form) == {"ticket", "resource", "subject"}
    assert form["resource"] == RESOURCE and form["subject"] == bob
    assert len(form["ticket"]) >= 43  # 256 random bits, base64url
    [ticket] = await _rows(am, Ticket)
    assert ticket.ticket_hash == hashlib.sha256(form["ticket"].encode()).hexdigest()
    assert form["ticket"] not in repr([getattr(ticket, c.key) for c in Ticket.__table__.columns])
    assert ticket.expires_at - ticket.created_at == 60 and ticket.delivery == "delivered"
    assert result.as_dict()["status"] == 202


async def test_redeem_once_then_reuse_is_invalid_grant_and_revokes_the_first_token(am, clock):
    bob, form, _ = await _shared(am, clock, max_ttl=120)
    async with aiohttp.ClientSession() as http:
        status, body, headers = await _redeem(http, am, form["ticket"])
        assert status == 200 and headers["Cache-Control"] == "no-store"
        assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
        assert body["token_type"] == "Bearer" and body["scope"] == "read" and body["expires_in"] == 120
        verify = {"Authorization": f"Bearer {body['access_token']}", "Accept": "application/json"}
        async with http.get(am.url("/token"), headers=verify) as r:
            assert r.status == 200 and (await r.json())["client_id"] == bob

        status, error, _ = await _redeem(http, am, form["ticket"])
        assert status == 400 and error["error"] == "invalid_grant"
        async with http.get(am.url("/token"), headers=verify) as r:
            assert r.status == 401  # the first redemption's token is revoked
    [token] = await _rows(am, AccessToken)
    assert token.revoked_at is not None and token.client_id == bob
    [event] = await _rows(am, RevocationEvent)
    assert event.kind == "token_revoked" and event.jti == token.jti  # pushed to the SPs' feed


async def test_expired_unknown_and_missing_tickets(am, clock):
    _, form, _ = await _shared(am, clock)
    clock.advance(61)
    async with aiohttp.ClientSession() as http:
        for ticket in (form["ticket"], "not-a-ticket", "x" * 600):
            status, error, _ = await _redeem(http, am, ticket)
            assert (status, error["error"]) == (400, "invalid_grant")
        async with http.post(am.url("/token"), data={"grant_type": "ticket"}) as r:
            assert r.status == 400 and (await r.json())["error"] == "invalid_request"
    [ticket] = await _rows(am, Ticket)
    assert ticket.used_at is None and await _rows(am, AccessToken) == []


async def test_twenty_concurrent_redemptions_give_exactly_one_token(am, clock):
    _, form, _ = await _shared(am, clock)
    async with aiohttp.ClientSession() as http:
        results = await asyncio.gather(*(_redeem(http, am, form["ticket"]) for _ in range(20)))
    statuses = sorted(status for status, _, _ in results)
    assert statuses == [200] + [400] * 19
    assert all(body["error"] == "invalid_grant" for status, body, _ in results if status == 400)
    [token] = await _rows(am, AccessToken)
    assert token.revoked_at is not None  # the losers were reuses: the winner's token is revoked


async def test_client_credentials_still_needs_a_signature(am, clock):
    async with aiohttp.ClientSession() as http:
        async with http.post(am.url("/token"), data={"grant_type": "client_credentials", "sph": "x",
                                                     "scope": "read"}) as r:
            assert r.status == 401 and (await r.json())["error"] == "invalid_client"
        async with http.post(am.url("/token"), data={"grant_type": "password"}) as r:
            assert r.status == 401  # authentication still comes first for every other grant


async def test_a_ticket_for_another_subject_is_refused_and_never_redeemed(am, clock):
    await am.create_realm("photos", resource=RESOURCE, scopes=["read"])
    async with bob_site(endpoint=lambda bob: TicketEndpoint(subject=bob)) as (bob, endpoint):
        async with aiohttp.ClientSession() as http:
            form = {"ticket": "t" * 43, "resource": RESOURCE, "subject": "https://mallory.example/"}
            async with http.post(bob + "ticket", data=form) as r:
                assert r.status == 400 and "accepts tickets for" in (await r.json())["error_description"]
            async with http.post(bob + "ticket", data={**form, "subject": bob[:-1]}) as r:
                assert r.status == 202  # the same subject, without the trailing "/"
            async with http.post(bob + "ticket", data={"ticket": "t", "resource": RESOURCE}) as r:
                assert r.status == 400
        [outcome] = await endpoint.join()  # only the one for Bob was attempted
    assert outcome.token is None and outcome.error


async def test_the_subject_of_the_token_is_the_ticket_subject_not_the_redeemer(am, clock):
    bob, form, _ = await _shared(am, clock)
    async with aiohttp.ClientSession() as http:
        status, body, _ = await _redeem(http, am, form["ticket"])
        basic = aiohttp.encode_basic_auth(am.realms["photos"].sph, am.realms["photos"].sph_secret)
        async with http.post(am.url("/introspect"), data={"token": body["access_token"]},
                             headers={"Authorization": basic}) as r:
            info = await r.json()
    assert status == 200 and info["active"] and info["sub"] == bob and info["client_id"] == bob


BAD_INPUT = [
    ({"realm": "nope"}, "no realm"),
    ({"scopes": ["admin"]}, "--scope"),
    ({"scopes": []}, "--scope"),
    ({"max_ttl": 0}, "--max-ttl"),
    ({"subject": "ftp://bob.example/"}, "--with"),
    ({"subject": "https://u:p@bob.example/"}, "--with"),
    ({"subject": "https://bob.example/#me"}, "--with"),
    ({"subject": "https://bob.example/a/../b"}, "--with"),
    ({"subject": "https://bob.example/" + "x" * 600}, "--with"),
]


async def test_bad_input_stores_nothing(am, clock):
    await am.create_realm("photos", resource=RESOURCE, scopes=["read"])
    for kwargs, message in BAD_INPUT:
        args = {"realm": "photos", "subject": "https://bob.example/", "scopes": ["read"], "max_ttl": None, **kwargs}
        with pytest.raises(AdminError, match=message):
            await share(am.ctx.sessions, policy=permissive, now=clock, **args)
    assert await _rows(am, SavedGrant) == [] and await _rows(am, Ticket) == []


async def test_no_ticket_endpoint_stores_nothing_and_a_failed_delivery_is_recorded(am, clock):
    await am.create_realm("photos", resource=RESOURCE, scopes=["read"])
    async with bob_site() as (bob, _):
        with pytest.raises(ShareFailed, match="nothing was stored"):
            await share(am.ctx.sessions, realm="photos", subject=bob + "missing", scopes=["read"], max_ttl=None,
                        policy=permissive, now=clock)
    assert await _rows(am, Ticket) == []
    _, _, result = await _shared(am, clock, status=500)
    assert not result.delivered and result.error == "HTTP 500"
    [row] = await list_shares(am.ctx.sessions)
    assert (row["delivery"], row["http_status"], row["error"]) == ("failed", 500, "HTTP 500")


async def test_sharing_again_updates_the_one_saved_grant(am, clock):
    await am.create_realm("photos", resource=RESOURCE, scopes=["read", "write"])
    async with bob_site() as (bob, recorder):
        for scopes, max_ttl in ((["read"], None), (["write", "read"], 60)):
            await share(am.ctx.sessions, realm="photos", subject=bob, scopes=scopes, max_ttl=max_ttl,
                        policy=permissive, now=clock)
            await recorder.next()
    async with am.ctx.sessions() as session:
        grants = (await session.scalars(select(SavedGrant))).all()
        assert await session.scalar(select(func.count()).select_from(Ticket)) == 2
    assert len(grants) == 1 and grants[0].scopes == ["read", "write"] and grants[0].max_ttl == 60


async def test_subject_policies_apply_to_the_ticket_grant(am, clock):
    """Policies match the verified subject URL: a deny for Bob overrides the share, a permit's
    max_ttl caps his tokens, and revoking the saved grant revokes his tokens and his tickets."""
    from authmanager.operations.approvals import list_grants, revoke_grant

    await am.create_realm("photos", resource=RESOURCE, scopes=["read", "write"])
    async with bob_site() as (bob, recorder), aiohttp.ClientSession() as http:
        async def send() -> str:
            await share(am.ctx.sessions, realm="photos", subject=bob, scopes=["read", "write"], max_ttl=None,
                        policy=permissive, now=clock)
            return (await recorder.next())["ticket"]

        first = await send()
        await am.add_policy("photos", "deny", ["write"], subject=bob)
        await am.add_policy("photos", "permit", ["read"], subject=bob, max_ttl=90)
        await am.add_policy("photos", "deny", ["read"], subject="https://eve.example/")
        status, body, _ = await _redeem(http, am, first)
        assert status == 200 and body["scope"] == "read" and body["expires_in"] == 90
        [grant] = await list_grants(am.ctx.sessions, realm="photos")
        assert grant["subject"] == bob and grant["client_id"] is None
        second = await send()
        result = await revoke_grant(am.ctx.sessions, grant["id"], now=int(clock()))
        assert result["tokens_revoked"] == 1
        status, error, _ = await _redeem(http, am, second)
        assert status == 400 and error["error"] == "invalid_grant"  # the grant behind it is revoked
        await am.add_policy("photos", "deny", ["read"], subject=bob)
        third = await send()  # sharing again revives the grant, but the policies still apply
        status, error, _ = await _redeem(http, am, third)
        assert status == 403 and error["error"] == "request_denied"
