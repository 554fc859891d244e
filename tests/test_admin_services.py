"""The service functions added for the console and the API (also used by the CLI): editing a
policy in place, listing and revoking live tokens by jti, and their audit events."""

import aiohttp
import pytest
from amkit import register, request_token
from sqlalchemy import select

from authmanager.operations.policies import list_policies, update_policy
from authmanager.operations.realms import AdminError, list_live_tokens, revoke_token_by_jti
from authmanager.storage.models import AuditEvent, RevocationEvent

RESOURCE = "http://127.0.0.1:1/"


async def test_update_policy_keeps_id_and_position_and_audits_before_and_after(am):
    await am.create_realm("photos", resource=RESOURCE, scopes=["read", "write"])
    first = await am.add_policy("photos", "permit", ["read"])
    second = await am.add_policy("photos", "ask", ["write"])
    now = int(am.clock())
    updated = await update_policy(am.ctx.sessions, first, effect="deny", scopes=["read", "write"],
                                  subject="https://eve.example", max_ttl=30, now=now, actor="admin:alice")
    assert (updated["id"], updated["position"], updated["consumer"]) == (first, 1, "subject:https://eve.example/")
    assert [p["id"] for p in await list_policies(am.ctx.sessions, realm="photos")] == [first, second]
    with pytest.raises(AdminError):
        await update_policy(am.ctx.sessions, second, effect="permit", scopes=["nope"], now=now)
    with pytest.raises(AdminError):
        await update_policy(am.ctx.sessions, 999, effect="permit", scopes=["read"], now=now)
    policies = await list_policies(am.ctx.sessions, realm="photos")
    assert (policies[1]["effect"], policies[1]["scopes"]) == ("ask", ["write"])  # the refused edit changed nothing
    async with am.ctx.sessions() as session:
        [event] = (await session.scalars(select(AuditEvent).where(AuditEvent.action == "policy.update"))).all()
    assert event.actor == "admin:alice" and event.target == f"policy {first}"
    assert event.detail["before"]["effect"] == "permit" and event.detail["after"]["max_ttl"] == 30


async def test_live_tokens_are_listed_without_values_and_revoked_by_jti(am):
    await am.create_realm("photos", resource=RESOURCE, scopes=["read"])
    await am.create_realm("music", resource="http://127.0.0.1:2/", scopes=["listen"])
    await am.add_policy("photos", "permit", ["read"], max_ttl=60)
    await am.add_policy("music", "permit", ["listen"])
    async with aiohttp.ClientSession() as http:
        client = await register(http, am)
        photo = (await request_token(http, am, client, am.realms["photos"].sph, "read"))[1]["access_token"]
        await request_token(http, am, client, am.realms["music"].sph, "listen")
    now = int(am.clock())
    live = await list_live_tokens(am.ctx.sessions, now=now)
    assert sorted(t["realm"] for t in live) == ["music", "photos"] and photo not in str(live)
    assert set(live[0]) == {"jti", "client_id", "realm", "scope", "issued_at", "expires_at"}
    music_id = 2
    assert [t["realm"] for t in await list_live_tokens(am.ctx.sessions, now=now, realm_ids=frozenset({music_id}))] \
        == ["music"]
    assert [t["realm"] for t in await list_live_tokens(am.ctx.sessions, now=now + 61)] == ["music"]  # expired
    jti = next(t["jti"] for t in live if t["realm"] == "photos")
    assert await revoke_token_by_jti(am.ctx.sessions, jti, now=now, actor="admin:alice") is True
    assert await revoke_token_by_jti(am.ctx.sessions, jti, now=now, actor="admin:alice") is False
    with pytest.raises(AdminError):
        await revoke_token_by_jti(am.ctx.sessions, "nope", now=now)
    assert [t["realm"] for t in await list_live_tokens(am.ctx.sessions, now=now)] == ["music"]
    async with am.ctx.sessions() as session:
        revocations = (await session.scalars(select(AuditEvent).where(AuditEvent.action == "token.revoke"))).all()
        feed = (await session.scalars(select(RevocationEvent).where(RevocationEvent.jti == jti))).all()
    assert [(e.actor, e.target) for e in revocations] == [("admin:alice", jti)] and len(feed) == 1
