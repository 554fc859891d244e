"""The admin JSON API (/admin/api/) over real sockets, SQLite and PostgreSQL: Bearer admin tokens
(missing, unknown, revoked -> 401), every operation, realm limits (403), JSON errors in the AM's
style, nothing stored on bad input, audit paging."""

import aiohttp
import pytest
from sqlalchemy import func, select

from adminkit import api, make_admin, make_token
from amkit import register, request_token
from authmanager.admin.auth import revoke_token
from authmanager.storage.models import AccessRequest, AdminToken, AuditEvent, Base

RESOURCE = "http://127.0.0.1:1/"


async def _counts(am):
    async with am.ctx.sessions() as session:
        return {t.name: await session.scalar(select(func.count()).select_from(t)) for t in Base.metadata.sorted_tables}


@pytest.fixture
async def client(am):
    await make_admin(am)
    token = await make_token(am)
    async with aiohttp.ClientSession() as http:
        async def call(method, path, body=None, *, as_token=token):
            return await api(http, am, method, path, as_token, body)
        yield am, http, call, token


async def test_missing_unknown_and_revoked_tokens_get_401_with_the_bearer_challenge(client):
    am, http, call, token = client
    for value in (None, "", "x" * 43, token[:-1] + ("A" if token[-1] != "A" else "B")):
        headers = {} if value is None else {"Authorization": f"Bearer {value}"}
        async with http.get(am.url("/admin/api/realms"), headers=headers) as r:
            assert r.status == 401 and (await r.json())["error"] == "invalid_token"
            assert r.headers["WWW-Authenticate"].startswith("Bearer") and r.headers["Cache-Control"] == "no-store"
    async with http.get(am.url("/admin/api/realms"), headers={"Authorization": f"Basic {token}"}) as r:
        assert r.status == 401
    assert (await call("GET", "/realms"))[0] == 200
    async with am.ctx.sessions() as session:
        row = await session.scalar(select(AdminToken))
    assert row.token_hash != token and token not in str(await _counts(am))
    await revoke_token(am.ctx.sessions, row.id, now=int(am.clock()))
    assert await call("GET", "/realms") == (401, {"error": "invalid_token",
                                                  "error_description": "a valid admin API token is required"})
    assert (await call("POST", "/realms", {"name": "x", "resource": RESOURCE, "scopes": ["a"]}))[0] == 401
    assert (await _counts(am))["realms"] == 0


async def test_every_operation(client):
    am, http, call, _ = client
    status, created = await call("POST", "/realms", {"name": "photos", "resource": RESOURCE, "scopes": [
        "read", {"name": "write", "title": "Upload photos", "description": "Add photos."}]})
    assert status == 201 and set(created) == {"realm", "sph", "sph_secret", "resource"}
    status, listed = await call("GET", "/realms")
    assert [r["realm"] for r in listed] == ["photos"] and "sph_secret" not in str(listed)
    assert listed[0]["scopes"][1] == {"name": "write", "title": "Upload photos", "description": "Add photos.",
                                      "icon_uri": None}
    status, scope = await call("PUT", "/realms/photos/scopes/read", {"title": "Read photos"})
    assert status == 200 and scope["title"] == "Read photos"
    status, p1 = await call("POST", "/realms/photos/policies", {"effect": "permit", "scopes": ["read"]})
    assert status == 201 and p1["effect"] == "permit" and p1["position"] == 1
    status, p2 = await call("POST", "/realms/photos/policies", {"effect": "ask", "scopes": ["write"], "max_ttl": 300})
    assert status == 201
    status, p3 = await call("POST", "/realms/photos/policies", {"effect": "deny", "scopes": ["write"],
                                                                "subject": "https://eve.example/"})
    assert status == 201 and p3["consumer"] == "subject:https://eve.example/"
    assert await call("POST", f"/policies/{p3['id']}/move", {"to": 1}) == (200, {"order": [p3["id"], p1["id"],
                                                                                           p2["id"]]})
    status, updated = await call("PUT", f"/policies/{p1['id']}", {"effect": "permit", "scopes": ["read"],
                                                                   "max_ttl": 60, "not_after": "2100-01-01T00:00:00Z"})
    assert status == 200 and updated["max_ttl"] == 60 and updated["not_after"] == 4102444800
    assert (await call("DELETE", f"/policies/{p3['id']}"))[1] == {"removed": p3["id"], "realm": "photos"}
    status, realm = await call("GET", "/realms/photos")
    assert [p["id"] for p in realm["policies"]] == [p1["id"], p2["id"]]

    consumer = await register(http, am, "printer")
    sph = created["sph"]
    assert (await request_token(http, am, consumer, sph, "read write"))[1]["error"] == "request_submitted"
    status, why = await call("POST", "/realms/photos/explain", {"consumer": consumer["client_id"],
                                                                "scopes": ["read", "write"]})
    assert status == 200 and why["outcome"] == "ask" and why["granted"] == ["read"]
    status, pending = await call("GET", "/requests")
    assert [r["scopes"][1]["title"] for r in pending] == ["Upload photos"]
    status, answer = await call("POST", f"/requests/{pending[0]['id']}/approve", {"scopes": ["write"]})
    assert status == 200 and answer["approved"] == ["write"]
    status, token, _ = await request_token(http, am, consumer, sph, "read write")
    assert status == 200
    status, live = await call("GET", "/tokens")
    assert [t["scope"] for t in live] == ["read write"] and token["access_token"] not in str(live)
    assert await call("POST", f"/tokens/{live[0]['jti']}/revoke") == (200, {"jti": live[0]["jti"], "revoked": True})
    assert (await call("GET", "/tokens"))[1] == []
    status, grants = await call("GET", "/grants?realm=photos")
    assert [g["scopes"] for g in grants] == [["write"]]
    status, revoked = await call("POST", f"/grants/{grants[0]['id']}/revoke")
    assert status == 200 and revoked["tokens_revoked"] == 0
    assert (await request_token(http, am, consumer, sph, "write"))[1]["error"] == "request_submitted"
    status, pending = await call("GET", "/requests")
    assert (await call("POST", f"/requests/{pending[0]['id']}/deny"))[1]["refused"] == ["write"]
    status, consumers = await call("GET", "/consumers")
    assert [c["client_id"] for c in consumers] == [consumer["client_id"]]
    assert (await call("POST", f"/consumers/{consumer['client_id']}/revoke"))[1]["deleted"] is False
    assert (await call("DELETE", f"/consumers/{consumer['client_id']}"))[1]["deleted"] is True
    assert (await call("GET", "/consumers"))[1] == []

    status, page = await call("GET", "/audit?limit=5")
    assert status == 200 and len(page["events"]) == 5 and page["next_before"] == page["events"][-1]["id"]
    seen = page["events"]
    while page["next_before"] is not None:
        page = (await call("GET", f"/audit?limit=5&before={page['next_before']}"))[1]
        seen += page["events"]
    ids = [e["id"] for e in seen]
    assert ids == sorted(ids, reverse=True) and len(ids) == len(set(ids))
    actions = {(e["action"], e["actor"]) for e in seen}
    for action in ("realm.create", "scope.set", "policy.add", "policy.move", "policy.update", "policy.remove",
                   "request.approve", "token.revoke", "grant.revoke", "request.deny", "consumer.revoke",
                   "consumer.delete"):
        assert (action, "admin:alice") in actions, action
    assert ("admin.token_create", "cli") in actions
    status, only = await call("GET", "/audit?action=policy.add")
    assert [e["action"] for e in only["events"]] == ["policy.add"] * 3


async def test_errors_are_json_and_bad_input_stores_nothing(client):
    am, http, call, _ = client
    await call("POST", "/realms", {"name": "photos", "resource": RESOURCE, "scopes": ["read"]})
    before = await _counts(am)
    for method, path, body, status, error in (
        ("POST", "/realms", {"name": "photos", "resource": RESOURCE, "scopes": ["read"]}, 400, "invalid_request"),
        ("POST", "/realms", {"name": "x", "resource": "ftp://x/", "scopes": ["read"]}, 400, "invalid_request"),
        ("POST", "/realms", [1, 2], 400, "invalid_request"),
        ("POST", "/realms/photos/policies", {"effect": "permit", "scopes": ["nope"]}, 400, "invalid_request"),
        ("POST", "/realms/photos/policies", {"effect": "permit", "scopes": "read"}, 400, "invalid_request"),
        ("POST", "/realms/photos/policies", {"effect": "permit", "scopes": ["read"], "max_ttl": "9"}, 400,
         "invalid_request"),
        ("POST", "/realms/nope/policies", {"effect": "permit", "scopes": ["read"]}, 404, "not_found"),
        ("PUT", "/policies/99", {"effect": "permit", "scopes": ["read"]}, 404, "not_found"),
        ("PUT", "/policies/abc", {"effect": "permit", "scopes": ["read"]}, 404, "not_found"),
        ("POST", "/requests/5/approve", {}, 404, "not_found"),
        ("POST", "/grants/5/revoke", None, 404, "not_found"),
        ("POST", "/tokens/nope/revoke", None, 404, "not_found"),
        ("POST", "/consumers/nope/revoke", None, 400, "invalid_request"),
        ("PUT", "/realms/photos/scopes/read", {"icon_uri": "javascript:alert(1)"}, 400, "invalid_request"),
        ("GET", "/audit?limit=0", None, 400, "invalid_request"),
        ("GET", "/audit?action=nope", None, 400, "invalid_request"),
    ):
        got, answer = await call(method, path, body)
        assert (got, answer["error"]) == (status, error), (method, path, answer)
    async with http.post(am.url("/admin/api/realms"), data=b"{not json",
                         headers={"Authorization": f"Bearer {client[3]}", "Content-Type": "application/json"}) as r:
        assert r.status == 400 and (await r.json())["error"] == "invalid_request"
    assert await _counts(am) == before


async def test_realm_limits_apply_to_the_api(client):
    am, http, call, _ = client
    await call("POST", "/realms", {"name": "photos", "resource": RESOURCE, "scopes": ["read"]})
    await call("POST", "/realms", {"name": "music", "resource": "http://127.0.0.1:2/", "scopes": ["listen"]})
    _, music_policy = await call("POST", "/realms/music/policies", {"effect": "ask", "scopes": ["listen"]})
    consumer = await register(http, am, "player")
    status, realms = await call("GET", "/realms")
    music_sph = next(r["sph"] for r in realms if r["realm"] == "music")
    assert (await request_token(http, am, consumer, music_sph, "listen"))[0] == 403
    await make_admin(am, "bob", realms=("photos",))
    bob = await make_token(am, "bob")
    before = await _counts(am)
    async with am.ctx.sessions() as session:
        music_request = await session.scalar(select(AccessRequest.id))
    assert [r["realm"] for r in (await call("GET", "/realms", as_token=bob))[1]] == ["photos"]
    assert (await call("GET", "/requests", as_token=bob))[1] == []
    for method, path, body in (("GET", "/realms/music", None), ("GET", "/realms/music/policies", None),
                               ("POST", "/realms/music/policies", {"effect": "permit", "scopes": ["listen"]}),
                               ("PUT", f"/policies/{music_policy['id']}", {"effect": "permit", "scopes": ["listen"]}),
                               ("DELETE", f"/policies/{music_policy['id']}", None),
                               ("POST", f"/requests/{music_request}/approve", {}),
                               ("PUT", "/realms/music/scopes/listen", {"title": "x"}),
                               ("POST", "/realms", {"name": "x", "resource": RESOURCE, "scopes": ["a"]}),
                               ("GET", "/consumers", None),
                               ("POST", f"/consumers/{consumer['client_id']}/revoke", None)):
        status, answer = await call(method, path, body, as_token=bob)
        assert (status, answer["error"]) == (403, "access_denied"), (method, path)
    assert await _counts(am) == before
    photos_id = next(r["id"] for r in realms if r["realm"] == "photos")
    events = (await call("GET", "/audit", as_token=bob))[1]["events"]
    assert [(e["action"], e["realm_id"]) for e in events] == [("realm.create", photos_id)]  # no music, no global
    async with am.ctx.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(AuditEvent)) > 5
