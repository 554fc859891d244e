"""``authmanager admin …`` through the real CLI, and the audit trail of decisions made outside the
console: the owner's CLI commands (actor ``cli``), RFC 7009 revocation (``consumer:<ck>`` or
``sp:<realm>``) and sharing; a refused decision leaves no audit row (same transaction)."""

import asyncio
import json

import aiohttp
import pytest
from adminkit import PASSWORD, Browser, jar
from amkit import register, request_token
from bobkit import RecordingEndpoint, bob_site
from click.testing import CliRunner
from signers import sign_9421
from sqlalchemy import func, select

from authmanager.cli import main
from authmanager.operations.approvals import approve_request
from authmanager.operations.realms import AdminError
from authmanager.outbound.guard import permissive
from authmanager.sharing.share import share
from authmanager.storage.models import Admin, AdminRealm, AuditEvent

RESOURCE = "http://127.0.0.1:1/"


async def _cli(am, *args, stdin=None):
    result = await asyncio.to_thread(CliRunner().invoke, main, ["--database", am.settings.database_url, *args],
                                     input=stdin)
    return result.exit_code, result.stdout, result.stderr


async def _events(am):
    async with am.ctx.sessions() as session:
        return list((await session.scalars(select(AuditEvent).order_by(AuditEvent.id))).all())


async def test_admin_create_list_and_tokens_through_the_cli(am):
    await am.create_realm("photos", resource=RESOURCE, scopes=["read"])
    code, out, _ = await _cli(am, "admin", "create", "alice", "--password-stdin", stdin=PASSWORD + "\n")
    assert code == 0 and "every realm" in out
    code, out, _ = await _cli(am, "admin", "create", "bob", "--realm", "photos", "--password-stdin",
                              stdin=PASSWORD + "\n")
    assert code == 0 and "realms photos" in out
    for args, stdin, message in ((["carol"], "short\n", "10 to 1024 characters"),
                                 (["carol", "--realm", "nope"], PASSWORD + "\n", "no realm named 'nope'"),
                                 (["alice"], PASSWORD + "\n", "already exists"),
                                 (["bad name"], PASSWORD + "\n", "admin name")):
        code, _, err = await _cli(am, "admin", "create", *args, "--password-stdin", stdin=stdin)
        assert code == 1 and message in err, err
    code, out, _ = await _cli(am, "admin", "list", "--json")
    assert [(a["name"], a["realms"]) for a in json.loads(out)] == [("alice", "*"), ("bob", ["photos"])]
    async with am.ctx.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Admin)) == 2
        assert await session.scalar(select(func.count()).select_from(AdminRealm)) == 1
    code, out, _ = await _cli(am, "admin", "token", "create", "bob", "--label", "CI", "--json")
    token = json.loads(out)
    assert code == 0 and len(token["token"]) == 43
    async with aiohttp.ClientSession() as http:
        async with http.get(am.url("/admin/api/realms"), headers={"Authorization": f"Bearer {token['token']}"}) as r:
            assert r.status == 200 and [x["realm"] for x in await r.json()] == ["photos"]
        code, out, _ = await _cli(am, "admin", "token", "list")
        assert "CI" in out and token["token"] not in out
        assert (await _cli(am, "admin", "token", "revoke", str(token["id"])))[0] == 0
        code, _, err = await _cli(am, "admin", "token", "revoke", str(token["id"]))
        assert code == 1 and "no live admin token" in err
        async with http.get(am.url("/admin/api/realms"), headers={"Authorization": f"Bearer {token['token']}"}) as r:
            assert r.status == 401
    async with aiohttp.ClientSession(cookie_jar=jar()) as http:  # the CLI-made password signs in
        assert (await Browser(http, am).login("alice", PASSWORD)).status == 303
    events = [(e.action, e.actor, e.target) for e in await _events(am)]
    assert ("admin.create", "cli", "admin:alice") in events and ("admin.token_create", "cli", "admin:bob") in events
    assert ("admin.token_revoke", "cli", "admin:bob") in events
    assert [e for e in events if e[0] == "admin.create"] == [("admin.create", "cli", "admin:alice"),
                                                              ("admin.create", "cli", "admin:bob")]
    assert PASSWORD not in str([(e.detail, e.target) for e in await _events(am)])


async def test_the_owner_cli_decisions_are_audited_with_actor_cli(am):
    async def ok(*args):
        code, out, err = await _cli(am, *args)
        assert code == 0, err
        return out

    sph = json.loads(await ok("realm", "create", "photos", "--resource", RESOURCE, "--scope", "read", "--scope",
                              "write", "--json"))["sph"]
    await ok("scope", "set", "photos", "read", "--title", "Read photos")
    await ok("policy", "add", "photos", "--effect", "ask", "--scope", "read", "--scope", "write")
    await ok("policy", "add", "photos", "--effect", "deny", "--scope", "write", "--subject", "https://eve.example/")
    await ok("policy", "move", "2", "--to", "1")
    await ok("policy", "remove", "2")
    async with aiohttp.ClientSession() as http:
        client = await register(http, am, "printer")
        assert (await request_token(http, am, client, sph, "read write"))[0] == 403
        await ok("requests", "approve", "1", "--scope", "read")
        assert (await request_token(http, am, client, sph, "read"))[0] == 200
        await ok("grants", "revoke", "1")
        other = await register(http, am, "other")
        assert (await request_token(http, am, other, sph, "write"))[0] == 403
        await ok("requests", "deny", "2")
        await ok("consumer", "revoke", client["client_id"])
        await ok("consumer", "delete", other["client_id"])
    events = [e for e in await _events(am) if e.actor == "cli"]  # the token endpoint records its own
    assert [(e.action, e.actor) for e in events] == [
        ("realm.create", "cli"), ("scope.set", "cli"), ("policy.add", "cli"), ("policy.add", "cli"),
        ("policy.move", "cli"), ("policy.remove", "cli"), ("request.approve", "cli"), ("grant.revoke", "cli"),
        ("request.deny", "cli"), ("consumer.revoke", "cli"), ("consumer.delete", "cli")]
    approve = events[6]
    assert approve.detail["approved"] == ["read"] and approve.detail["refused"] == ["write"]
    assert approve.target == "request 1" and approve.realm_id == events[0].realm_id
    assert events[7].detail["tokens_revoked"] == 1
    assert events[9].target == client["client_id"]


async def test_rfc7009_revocations_are_audited_with_the_caller(am):
    realm = await am.create_realm("photos", resource=RESOURCE, scopes=["read"])
    await am.add_policy("photos", "permit", ["read"])
    async with aiohttp.ClientSession() as http:
        client = await register(http, am, "printer")
        tokens = [(await request_token(http, am, client, realm.sph, "read"))[1]["access_token"] for _ in range(2)]
        url = am.url("/revoke")
        body = f"token={tokens[0]}".encode()
        async with http.post(url, data=body, headers=sign_9421(url, body, client["client_id"],
                                                               client["client_secret"])) as r:
            assert r.status == 200
        async with http.post(url, data=body, headers=sign_9421(url, body, client["client_id"],
                                                               client["client_secret"])) as r:
            assert r.status == 200  # already revoked: nothing decided, nothing recorded
        async with http.post(url, data={"token": tokens[1]},
                             headers={"Authorization": aiohttp.encode_basic_auth(realm.sph, realm.sph_secret)}) as r:
            assert r.status == 200
    revocations = [(e.action, e.actor) for e in await _events(am) if e.action == "token.revoke"]
    assert revocations == [("token.revoke", f"consumer:{client['client_id']}"), ("token.revoke", "sp:photos")]
    recorded = str([(e.target, e.detail) for e in await _events(am)])
    assert not any(t in recorded for t in tokens)


async def test_share_is_audited_and_a_refused_decision_records_nothing(am, clock):
    await am.create_realm("photos", resource=RESOURCE, scopes=["read"])
    recorder = RecordingEndpoint(202)
    async with bob_site(endpoint=recorder) as (bob, _):
        await share(am.ctx.sessions, realm="photos", subject=bob, scopes=["read"], max_ttl=None, policy=permissive,
                    now=clock, actor="admin:alice")
        await recorder.next()
    [event] = [e for e in await _events(am) if e.action == "share.create"]
    assert (event.actor, event.target, event.detail["scopes"]) == ("admin:alice", bob, ["read"])
    before = len(await _events(am))
    with pytest.raises(AdminError):
        await approve_request(am.ctx.sessions, 42, now=int(clock()), actor="admin:alice")
    assert len(await _events(am)) == before
