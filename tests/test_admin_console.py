"""The admin console over real sockets (SQLite and PostgreSQL): sign-in and sessions (new
session at sign-in, server-side logout, cookie flags), CSRF, GET never changes state, throttled
sign-in, realm limits, and every console operation with its audit event."""

import re

import aiohttp
import pytest
from sqlalchemy import func, select

from adminkit import PASSWORD, Browser, jar, make_admin
from amkit import register, request_token
from authmanager.storage.models import (AccessRequest, AccessToken, Admin, AdminSession, AuditEvent, Base, Consumer,
                                        Policy, Realm, RealmScope, SavedGrant)
from conftest import running_am

RESOURCE = "http://127.0.0.1:1/"


async def _count(am, model, *where):
    async with am.ctx.sessions() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where))


async def _snapshot(am):
    """Every table's row count, and the content of the ones a GET could plausibly change."""
    async with am.ctx.sessions() as session:
        counts = {t.name: await session.scalar(select(func.count()).select_from(t))
                  for t in Base.metadata.sorted_tables}
        state = [(p.id, p.position, p.effect, p.scopes) for p in (await session.scalars(select(Policy))).all()]
        state += [(r.id, r.status) for r in (await session.scalars(select(AccessRequest))).all()]
        state += [(t.jti, t.revoked_at) for t in (await session.scalars(select(AccessToken))).all()]
    return counts, state


async def _actions(am):
    async with am.ctx.sessions() as session:
        return [(e.action, e.actor) for e in (await session.scalars(select(AuditEvent).order_by(AuditEvent.id))).all()]


@pytest.fixture
async def console(am):
    await make_admin(am)
    async with aiohttp.ClientSession(cookie_jar=jar()) as http:
        browser = Browser(http, am)
        assert (await browser.login()).status == 303
        yield am, browser, http


async def _pending(am, http, realm="photos", scope="read write"):
    """A real consumer asks for ``scope`` under an ask policy: a pending request."""
    client = await register(http, am, "printer")
    status, body, _ = await request_token(http, am, client, am.realms[realm].sph, scope)
    assert status == 403 and body["error"] == "request_submitted", body
    return client


async def test_sign_in_starts_a_new_session_and_logout_kills_the_old_cookie_server_side(am):
    await make_admin(am)
    async with aiohttp.ClientSession(cookie_jar=jar()) as http:
        browser = Browser(http, am)
        async with http.get(am.url("/admin/login")) as r:
            before = r.cookies["protectserve_session"].value  # the pre-sign-in session (CSRF token only)
            assert "HttpOnly" in r.headers["Set-Cookie"] and "SameSite=Lax" in r.headers["Set-Cookie"]
            assert "Path=/;" in r.headers["Set-Cookie"] and "Secure" not in r.headers["Set-Cookie"]
            browser.csrf = re.search(r'name="csrf_token" value="([^"]+)"', await r.text()).group(1)
        signed_in = await browser.post("/admin/login", {"name": "alice", "password": PASSWORD})
        after = signed_in.cookies["protectserve_session"].value
        assert signed_in.status == 303 and after != before
        assert (await browser.get("/admin/"))[0] == 200
        first_csrf = browser.csrf
        assert await _count(am, AdminSession) == 1

    async with aiohttp.ClientSession(cookie_jar=jar()) as other:  # the pre-sign-in cookie is worth nothing
        async with other.get(am.url("/admin/"), cookies={"protectserve_session": before}, allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == "/admin/login"
        async with other.get(am.url("/admin/"), cookies={"protectserve_session": after}, allow_redirects=False) as r:
            assert r.status == 200  # a copy of the live cookie works ...

    async with aiohttp.ClientSession(cookie_jar=jar()) as http:
        browser = Browser(http, am)
        http.cookie_jar.update_cookies({"protectserve_session": after}, aiohttp.client.URL(am.url("/admin/")))
        browser.csrf = first_csrf
        assert (await browser.post("/admin/logout")).status == 303
    assert await _count(am, AdminSession) == 0
    async with aiohttp.ClientSession(cookie_jar=jar()) as other:  # ... until logout, even if copied
        async with other.get(am.url("/admin/"), cookies={"protectserve_session": after}, allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == "/admin/login"
        async with other.post(am.url("/admin/realms"), cookies={"protectserve_session": after},
                              data={"csrf_token": first_csrf, "name": "x", "resource": RESOURCE, "scopes": "a"},
                              allow_redirects=False) as r:
            assert r.status == 403
    assert await _count(am, Realm) == 0
    assert [a for a, _ in await _actions(am)] == ["admin.create", "admin.login", "admin.logout"]


async def test_two_sign_ins_get_distinct_sessions_and_a_forged_cookie_is_ignored(am):
    await make_admin(am)
    cookies = []
    for _ in range(2):
        async with aiohttp.ClientSession(cookie_jar=jar()) as http:
            response = await Browser(http, am).login()
            cookies.append(response.cookies["protectserve_session"].value)
    async with am.ctx.sessions() as session:
        hashes = (await session.scalars(select(AdminSession.id_hash))).all()
    assert len(set(hashes)) == 2 and cookies[0] != cookies[1]
    async with aiohttp.ClientSession(cookie_jar=jar()) as http:
        async with http.get(am.url("/admin/"), cookies={"protectserve_session": cookies[0][:-8] + "AAAAAAA="},
                            allow_redirects=False) as r:
            assert r.status == 303


async def test_secure_cookie_when_the_issuer_is_https(clock, tmp_path):
    async with running_am(f"sqlite+aiosqlite:///{tmp_path / 'am.db'}", clock, tmp_path,
                          issuer="https://am.example") as am:
        async with aiohttp.ClientSession() as http, http.get(am.url("/admin/login")) as r:
            assert r.status == 200 and "Secure" in r.headers["Set-Cookie"]


async def test_wrong_password_unknown_admin_and_scrypt_at_rest(am):
    await make_admin(am)
    async with aiohttp.ClientSession(cookie_jar=jar()) as http:
        browser = Browser(http, am)
        for name, password in (("alice", "wrong password!"), ("mallory", PASSWORD), ("alice", "")):
            assert (await browser.login(name, password)).status == 403
        assert (await browser.get("/admin/"))[0] == 303
    async with am.ctx.sessions() as session:
        admin = await session.scalar(select(Admin))
        raw = " ".join(str(d) for d in (await session.scalars(select(AuditEvent.detail))).all())
    assert admin.password_hash.startswith("scrypt$15$8$1$") and PASSWORD not in admin.password_hash
    assert PASSWORD not in raw
    assert [a for a, _ in await _actions(am)].count("admin.login_failed") == 3
    assert await _count(am, AdminSession) == 0


async def test_csrf_token_and_origin_are_required_on_every_post(console):
    am, browser, http = console
    form = {"name": "photos", "resource": RESOURCE, "scopes": "read"}
    assert (await browser.post("/admin/realms", form, csrf=False)).status == 403
    assert (await browser.post("/admin/realms", [*form.items(), ("csrf_token", "forged")], csrf=False)).status == 403
    refused = await browser.post("/admin/realms", form, headers={"Origin": "http://127.0.0.1:1"})
    assert refused.status == 403
    assert (await browser.post("/admin/realms", form, headers={"Referer": "http://evil.example/x"})).status == 403
    # a rebinding attacker's page: its Origin and the Host it sends agree, but are not the issuer's
    rebound = {"Origin": "http://evil.example", "Host": "evil.example"}
    assert (await browser.post("/admin/realms", form, headers=rebound)).status == 403
    assert (await browser.post("/admin/logout", csrf=False)).status == 403
    assert await _count(am, Realm) == 0 and await _count(am, AdminSession) == 1
    assert (await browser.post("/admin/realms", form, headers={"Origin": am.url("")})).status == 200
    assert await _count(am, Realm) == 1
    async with aiohttp.ClientSession(cookie_jar=jar()) as fresh:  # sign-in is protected too
        assert (await Browser(fresh, am).post("/admin/login", {"name": "alice", "password": PASSWORD},
                                              csrf=False)).status == 403


async def test_get_never_changes_state(console):
    am, browser, http = console
    await am.create_realm("photos", resource=RESOURCE, scopes=["read", "write"])
    await am.add_policy("photos", "permit", ["read"])
    await am.add_policy("photos", "ask", ["write"])
    await _pending(am, http)
    client = await register(http, am, "reader")
    assert (await request_token(http, am, client, am.realms["photos"].sph, "read"))[0] == 200
    before = await _snapshot(am)
    for path in ("/admin/", "/admin/realms/photos", "/admin/realms/photos?consumer=x&scope=read&scope=write",
                 "/admin/realms/photos/policies/1/edit", "/admin/requests", "/admin/grants", "/admin/tokens",
                 "/admin/consumers", "/admin/audit", "/admin/audit?before=3", "/admin/login",
                 "/admin/requests/1/approve", "/admin/requests/1/deny", "/admin/realms/photos/policies/1/delete",
                 f"/admin/consumers/{client['client_id']}/delete", "/admin/logout"):
        status, _ = await browser.get(path)
        assert status in (200, 405), (path, status)
    assert await _snapshot(am) == before


async def test_throttled_per_account_and_per_ip(clock, tmp_path):
    async with running_am(f"sqlite+aiosqlite:///{tmp_path / 'am.db'}", clock, tmp_path,
                          admin_login_limit_per_account="3/minute", admin_login_limit_per_ip="6/minute") as am:
        await make_admin(am)
        await make_admin(am, "bob")
        async with aiohttp.ClientSession(cookie_jar=jar()) as http:
            browser = Browser(http, am)
            for _ in range(3):
                assert (await browser.login("alice", "not the password")).status == 403
            throttled = await browser.login("alice", PASSWORD)  # even the right password waits
            assert throttled.status == 429 and 1 <= int(throttled.headers["Retry-After"]) <= 60
            status, page = await browser.get("/admin/login")
            assert status == 200
            assert (await browser.login("bob", PASSWORD)).status == 303  # another account is not throttled
            # per IP every attempt counts: 3 failed + the throttled one (refused unread) + bob's = 5
            assert (await browser.login("carol", "whatever password")).status == 403  # attempt 6 of 6
            over = await browser.login("dave", "whatever password")
            assert over.status == 429 and "Retry-After" in over.headers
        failed = [a for a, _ in await _actions(am)]
        assert failed.count("admin.login_failed") == 4 and failed.count("admin.login") == 1


async def test_throttled_page_is_readable(clock, tmp_path):
    async with running_am(f"sqlite+aiosqlite:///{tmp_path / 'am.db'}", clock, tmp_path,
                          admin_login_limit_per_account="1/minute") as am:
        await make_admin(am)
        async with aiohttp.ClientSession(cookie_jar=jar()) as http:
            browser = Browser(http, am)
            await browser.login("alice", "not the password")
            await browser.get("/admin/login")
            async with http.post(am.url("/admin/login"), data={"name": "alice", "password": PASSWORD,
                                                               "csrf_token": browser.csrf}) as r:
                assert r.status == 429 and r.content_type == "text/html"
                assert "Too many attempts" in await r.text()


async def test_realm_limited_admin_sees_only_their_realms_and_gets_403_elsewhere(am):
    await am.create_realm("photos", resource=RESOURCE, scopes=["read", "write"])
    await am.create_realm("music", resource="http://127.0.0.1:2/", scopes=["listen"])
    await am.add_policy("photos", "ask", ["write"])
    music_policy = await am.add_policy("music", "ask", ["listen"])
    await make_admin(am, "bob", realms=("photos",))
    async with aiohttp.ClientSession(cookie_jar=jar()) as http:
        await _pending(am, http, "photos", "write")
        await _pending(am, http, "music", "listen")
        async with am.ctx.sessions() as session:
            music_request = await session.scalar(select(AccessRequest.id).where(AccessRequest.realm_id == 2))
        browser = Browser(http, am)
        assert (await browser.login("bob")).status == 303
        status, home = await browser.get("/admin/")
        assert status == 200 and "/admin/realms/photos" in home and "music" not in home
        assert "Create a realm" not in home and "/admin/consumers" not in home
        status, pending = await browser.get("/admin/requests")
        assert "Request 1" in pending and f"Request {music_request}" not in pending
        for path in ("/admin/realms/music", "/admin/consumers", f"/admin/realms/music/policies/{music_policy}/edit"):
            assert (await browser.get(path))[0] == 403, path
        await browser.get("/admin/")
        before = await _snapshot(am)
        for path, form in ((f"/admin/requests/{music_request}/approve", {"all": "1"}),
                           (f"/admin/requests/{music_request}/deny", {}),
                           ("/admin/realms/music/policies", {"effect": "permit", "scope": "listen"}),
                           (f"/admin/realms/music/policies/{music_policy}/delete", {}),
                           (f"/admin/realms/photos/policies/{music_policy}/delete", {}),  # wrong realm: 404
                           ("/admin/realms/music/scopes/listen", {"title": "x"}),
                           ("/admin/realms", {"name": "mine", "resource": RESOURCE, "scopes": "a"})):
            response = await browser.post(path, form)
            assert response.status in (403, 404), (path, response.status)
        assert await _snapshot(am) == before
        status, log = await browser.get("/admin/audit")
        assert "policy 1" in log and f"policy {music_policy}" not in log


async def test_realm_policy_scope_and_request_operations_through_the_console(console):
    am, browser, http = console
    created = await browser.post("/admin/realms", {"name": "photos", "resource": RESOURCE,
                                                   "scopes": "read: Read photos\nwrite: Upload photos\nadmin"})
    assert created.status == 200
    _, page = await browser.get("/admin/realms/photos")  # the secret was shown once, on the POST's answer
    async with am.ctx.sessions() as session:
        realm = await session.scalar(select(Realm))
    assert realm.sph in page and "sph_secret" not in page and realm.sph_secret_hash not in page
    am.realms["photos"] = type("R", (), {"sph": realm.sph})()

    def ok(response):
        assert response.status == 303, response.status
        return response

    ok(await browser.post("/admin/realms/photos/policies", [("effect", "permit"), ("scope", "read"), ("who", "any")]))
    ok(await browser.post("/admin/realms/photos/policies", [("effect", "ask"), ("scope", "write"), ("scope", "admin"),
                                                           ("who", "any"), ("max_ttl", "300")]))
    ok(await browser.post("/admin/realms/photos/policies", [("effect", "deny"), ("scope", "admin"), ("who", "subject"),
                                                           ("subject", "https://eve.example/")]))
    text = await browser.follow(ok(await browser.post("/admin/realms/photos/policies/3/move", {"to": "1"})))
    assert "order: 3 1 2" in text
    text = await browser.follow(ok(await browser.post("/admin/realms/photos/policies/1", [
        ("effect", "permit"), ("scope", "read"), ("who", "any"), ("max_ttl", "60"), ("not_after", "2100-01-01T00:00")])))
    assert "Policy 1 saved" in text
    # bad input: refused with a message, nothing stored
    before = await _snapshot(am)
    for path, form in (("/admin/realms/photos/policies", [("effect", "permit"), ("scope", "nope"), ("who", "any")]),
                       ("/admin/realms/photos/policies/1", [("effect", "permit"), ("scope", "read"), ("who", "any"),
                                                            ("not_before", "2030-01-01"), ("not_after", "2020-01-01")]),
                       ("/admin/realms/photos/policies/1", [("effect", "maybe"), ("scope", "read")]),
                       ("/admin/realms/photos/policies/1/move", {"to": "9"}),
                       ("/admin/realms/photos/scopes/read", {"icon_uri": "javascript:alert(1)"}),
                       ("/admin/realms", {"name": "photos", "resource": RESOURCE, "scopes": "read"}),
                       ("/admin/realms", {"name": "bad name!", "resource": RESOURCE, "scopes": "read"})):
        text = await browser.follow(ok(await browser.post(path, form)))
        assert 'class="flash error"' in text, path
    assert await _snapshot(am) == before
    ok(await browser.post("/admin/realms/photos/scopes/write", {"title": "Upload", "description": "Add photos.",
                                                               "icon_uri": "https://icons.example/up.svg"}))
    async with am.ctx.sessions() as session:
        policies = (await session.scalars(select(Policy).order_by(Policy.position))).all()
        scope = await session.get(RealmScope, (realm.id, "write"))
    assert [(p.id, p.effect, p.max_ttl) for p in policies] == [(3, "deny", None), (1, "permit", 60), (2, "ask", 300)]
    assert policies[1].not_after == 4102444800 and scope.title == "Upload" and scope.description == "Add photos."

    client = await _pending(am, http, scope="read write admin")
    _, page = await browser.get("/admin/requests")
    assert "Upload" in page and "Add photos." in page and "policy 2" in page  # titles, descriptions, why
    assert (await browser.post("/admin/requests/1/approve", {})).status == 303  # nothing selected: refused
    assert (await _count(am, AccessRequest, AccessRequest.status == "pending")) == 1
    text = await browser.follow(ok(await browser.post("/admin/requests/1/approve", [("scope", "write")])))
    assert "approved: write; refused admin" in text
    async with am.ctx.sessions() as session:
        grant = await session.scalar(select(SavedGrant))
    assert (grant.scopes, grant.refused_scopes) == (["write"], ["admin"])
    assert (await request_token(http, am, client, realm.sph, "read write"))[0] == 200
    _, tokens = await browser.get("/admin/tokens")
    async with am.ctx.sessions() as session:
        token = await session.scalar(select(AccessToken))
    assert token.jti in tokens and token.token_hash not in tokens
    text = await browser.follow(ok(await browser.post(f"/admin/tokens/{token.jti}/revoke")))
    assert f"Token {token.jti} revoked" in text
    text = await browser.follow(ok(await browser.post(f"/admin/grants/{grant.id}/revoke")))
    assert f"Grant {grant.id} revoked" in text
    other = await _pending(am, http, scope="write")
    text = await browser.follow(ok(await browser.post("/admin/requests/2/deny")))
    assert "Request 2 denied: write" in text
    ok(await browser.post(f"/admin/consumers/{client['client_id']}/revoke"))
    ok(await browser.post(f"/admin/consumers/{other['client_id']}/delete"))
    ok(await browser.post("/admin/realms/photos/policies/3/delete"))
    async with am.ctx.sessions() as session:
        assert (await session.get(Consumer, client["client_id"])).revoked_at is not None
        assert await session.get(Consumer, other["client_id"]) is None
    assert await _count(am, Policy) == 2
    _, log = await browser.get("/admin/audit")
    actions = await _actions(am)
    for action in ("realm.create", "policy.add", "policy.move", "policy.update", "scope.set", "request.approve",
                   "token.revoke", "grant.revoke", "request.deny", "consumer.revoke", "consumer.delete",
                   "policy.remove"):
        assert (action, "admin:alice") in actions, action
        assert action in log
