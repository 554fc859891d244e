"""The authorization dialog (issue 12 §1, §3) over plain HTTP against a real AM, SQLite and
PostgreSQL: people who administer nothing, partial approval and the code it buys, deny, what the
realm's policies offer (``ask`` for an owner versus anyone else, ``account:`` policies), the
session binding of the form, and revoking a consent."""

from __future__ import annotations

import aiohttp
import pytest
from sqlalchemy import func, select

from adminkit import PASSWORD, Browser, jar, make_admin
from authmanager.accounts import create_account, subject_of
from authmanager.admin.auth import create_token
from authmanager.operations.approvals import approve_request
from authmanager.operations.realms import AdminError
from authmanager.secretbox import digest, random_secret
from authmanager.storage.models import (
    AccessRequest,
    Account,
    AdminToken,
    AccessToken,
    AuditEvent,
    AuthorizationCode,
    Consent,
    RefreshToken,
    RevocationEvent,
)
from dialogkit import approve, authorize_url, dialog_form, pkce, public_client, query_of

RESOURCE = "http://127.0.0.1:1/photos/"
CB = "https://printer.example/cb"


@pytest.fixture
async def setup(am):
    await am.create_realm("photos", resource=RESOURCE, scopes=["view", "print", "delete", "share"])
    await am.add_policy("photos", "permit", ["view", "print"])
    await am.add_policy("photos", "ask", ["share"])
    await am.add_policy("photos", "deny", ["delete"])
    await create_account(am.ctx.sessions, name="bob", password=PASSWORD, administers=False, now=int(am.clock()))
    return am, await public_client(am)


async def _rows(am, model, *where):
    async with am.ctx.sessions() as session:
        return list((await session.scalars(select(model).where(*where))).all())


def test_subject_of_is_the_issuer_people_id():
    assert subject_of("https://am.example", 7) == "https://am.example/people/7"
    assert subject_of("https://am.example/", 7) == "https://am.example/people/7"


async def test_a_person_who_administers_nothing_gets_only_their_applications_page(setup):
    am, _ = setup
    async with aiohttp.ClientSession(cookie_jar=jar()) as http:
        browser = Browser(http, am)
        response = await browser.login("bob")
        assert response.headers["Location"] == "/admin/applications"
        status, page = await browser.get("/admin/applications")
        assert status == 200 and "Applications I allowed" in page and "Realms</a>" not in page
        for path in ("/admin/", "/admin/requests", "/admin/grants", "/admin/tokens", "/admin/consumers",
                     "/admin/audit", "/admin/realms/photos"):
            status, page = await browser.get(path)
            assert status == 403 and "administers no realm" in page, path
        response = await browser.post("/admin/realms", {"name": "x", "resource": "http://127.0.0.1:1/x/",
                                                        "scopes": "a"})
        assert response.status == 403
    with pytest.raises(AdminError, match="administers no realm"):  # the admin API is closed to it too
        await create_token(am.ctx.sessions, name="bob", now=int(am.clock()))
    async with am.ctx.sessions.begin() as session:  # and a token it somehow held would be refused
        bob = await session.scalar(select(Account).where(Account.name == "bob"))
        session.add(AdminToken(admin_id=bob.id, token_hash=digest("bob-token"), created_at=int(am.clock())))
    async with aiohttp.ClientSession() as http, http.get(am.url("/admin/api/realms"),
                                                          headers={"Authorization": "Bearer bob-token"}) as r:
        assert r.status == 401


async def test_partial_approval_saves_a_partial_consent_and_a_code_bound_to_the_approved_scopes(setup):
    am, client_id = setup
    verifier, challenge = pkce()
    url = authorize_url(am, client_id, scope="view print delete", challenge=challenge, state="s-42")
    async with aiohttp.ClientSession(cookie_jar=jar()) as http:
        location = await approve(http, url, name="bob", password=PASSWORD, scopes=["view", "delete"])
    got = query_of(location)
    assert location.startswith(CB + "?") and got["state"] == "s-42" and got["iss"] == am.issuer
    [code] = await _rows(am, AuthorizationCode)
    assert code.code_hash == digest(got["code"]) and got["code"] not in code.code_hash
    assert code.scopes == ["view"]  # delete was never offered (deny policy), print was unticked
    assert (code.client_id, code.redirect_uri, code.code_challenge, code.resource) == (client_id, CB, challenge,
                                                                                       RESOURCE)
    assert code.expires_at - code.created_at <= 60 and code.used_at is None
    [consent] = await _rows(am, Consent)
    assert (consent.scopes, consent.refused_scopes, consent.client_name) == (["view"], ["print"], "Photo Printer")
    assert consent.account_id == code.account_id

    # the next dialog shows what was allowed, for confirmation, and a later decision updates the row
    async with aiohttp.ClientSession(cookie_jar=jar()) as http:
        browser = Browser(http, am)
        await browser.login("bob")
        async with http.get(authorize_url(am, client_id, scope="view print")) as r:
            page = await r.text()
        assert "Already allowed" in page and "You refused this before." in page
        location = await approve(http, authorize_url(am, client_id, scope="view print"), name="bob",
                                 password=PASSWORD, scopes=["print"])
    assert "code" in query_of(location)
    [consent] = await _rows(am, Consent)
    assert (consent.scopes, consent.refused_scopes) == (["print"], ["view"])
    actions = [e.action for e in await _rows(am, AuditEvent, AuditEvent.action.like("consent.%"))]
    assert actions == ["consent.approve", "consent.approve"]


async def test_deny_redirects_access_denied_with_state_and_iss(setup):
    am, client_id = setup
    async with aiohttp.ClientSession(cookie_jar=jar()) as http:
        location = await approve(http, authorize_url(am, client_id, state="d1"), name="bob", password=PASSWORD,
                                 deny=True)
    got = query_of(location)
    assert got["error"] == "access_denied" and got["state"] == "d1" and got["iss"] == am.issuer
    assert "code" not in got and await _rows(am, AuthorizationCode) == [] and await _rows(am, Consent) == []
    assert [e.action for e in await _rows(am, AuditEvent, AuditEvent.action == "consent.deny")] == ["consent.deny"]


async def test_ask_scopes_become_an_owner_request_for_anyone_but_a_realm_admin(setup):
    am, client_id = setup
    # bob administers nothing: share is put to the owner, view is approved
    async with aiohttp.ClientSession(cookie_jar=jar()) as http:
        await Browser(http, am).login("bob")
        async with http.get(authorize_url(am, client_id, scope="view share")) as r:
            page = await r.text()
        assert "Needs the realm owner&#39;s approval" in page or "Needs the realm owner's approval" in page
        _, inputs = dialog_form(page)
        assert {(i["name"], i["value"]) for i in inputs if i.get("type") == "checkbox"} == {
            ("approve_scope", "view"), ("ask_scope", "share")}
        # showing the dialog stores nothing: no request, code, consent or decision yet
        assert await _rows(am, AccessRequest) == [] and await _rows(am, AuthorizationCode) == []
        assert await _rows(am, Consent) == [] and await _rows(am, AuditEvent, AuditEvent.action.like("consent.%")) == []
        location = await approve(http, authorize_url(am, client_id, scope="view share"), name="bob",
                                 password=PASSWORD)
    [code] = await _rows(am, AuthorizationCode)
    assert code.scopes == ["view"] and query_of(location)["code"]
    [pending] = await _rows(am, AccessRequest)
    assert (pending.status, pending.client_id, pending.ask_scopes) == ("pending", client_id, ["share"])
    # asking again does not pile up requests; asking for share alone says the owner was asked
    async with aiohttp.ClientSession(cookie_jar=jar()) as http:
        location = await approve(http, authorize_url(am, client_id, scope="share"), name="bob", password=PASSWORD)
    got = query_of(location)
    assert got["error"] == "access_denied" and "owner has been asked" in got["error_description"]
    assert len(await _rows(am, AccessRequest)) == 1

    # an admin of the realm is offered share: their approval is the owner's answer
    await make_admin(am, "olivia", realms=("photos",))
    async with aiohttp.ClientSession(cookie_jar=jar()) as http:
        await Browser(http, am).login("olivia")
        async with http.get(authorize_url(am, client_id, scope="view share")) as r:
            page = await r.text()
        assert "your approval is the owner" in page
        location = await approve(http, authorize_url(am, client_id, scope="view share"), name="olivia",
                                 password=PASSWORD)
    codes = [c.scopes for c in await _rows(am, AuthorizationCode)]
    assert sorted(codes) == [["share", "view"], ["view"]] and query_of(location)["code"]
    assert len(await _rows(am, AccessRequest)) == 1

    # the owner answers bob's request like any other (the UMA path): the answer is the
    # application's saved grant, so bob's next dialog offers share
    await approve_request(am.ctx.sessions, pending.id, now=int(am.clock()), actor="cli")
    async with aiohttp.ClientSession(cookie_jar=jar()) as http:
        location = await approve(http, authorize_url(am, client_id, scope="share"), name="bob", password=PASSWORD)
    assert "code" in query_of(location)
    assert sorted(c.scopes for c in await _rows(am, AuthorizationCode)) == [["share"], ["share", "view"], ["view"]]


async def test_policies_may_name_an_account(setup):
    am, client_id = setup
    await create_account(am.ctx.sessions, name="carol", password=PASSWORD, administers=False, now=int(am.clock()))
    await am.add_policy("photos", "deny", ["print"], consumer="account:bob")
    await am.add_policy("photos", "permit", ["share"], consumer="account:carol")
    async with aiohttp.ClientSession(cookie_jar=jar()) as http:
        await approve(http, authorize_url(am, client_id, scope="view print share"), name="bob", password=PASSWORD)
    async with aiohttp.ClientSession(cookie_jar=jar()) as http:
        await approve(http, authorize_url(am, client_id, scope="view print share"), name="carol", password=PASSWORD)
    rows = await _rows(am, AuthorizationCode)
    assert sorted(r.scopes for r in rows) == [["print", "share", "view"], ["view"]]


async def test_the_form_is_bound_to_the_session_and_csrf_protected(setup):
    am, client_id = setup
    url = authorize_url(am, client_id, scope="view print")
    async with aiohttp.ClientSession(cookie_jar=jar()) as http:
        await Browser(http, am).login("bob")
        async with http.get(url) as r:
            action, inputs = dialog_form(await r.text())
        hidden = {i["name"]: i["value"] for i in inputs if i.get("type") == "hidden"}
        # a scope that was never offered (delete: denied) is ignored even if posted
        fields = [*hidden.items(), ("approve_scope", "view"), ("approve_scope", "delete"), ("decision", "approve")]
        # no CSRF token: refused, page, nothing issued
        async with http.post(am.url(action), data=[f for f in fields if f[0] != "csrf_token"],
                             allow_redirects=False) as r:
            assert r.status == 403 and "Location" not in r.headers
        # another request_id (not shown in this session): refused
        forged = [(k, random_secret(16) if k == "request_id" else v) for k, v in fields]
        async with http.post(am.url(action), data=forged, allow_redirects=False) as r:
            assert r.status == 400 and "Location" not in r.headers
        async with http.post(am.url(action), data=fields, allow_redirects=False) as r:
            assert r.status == 303 and "code" in query_of(r.headers["Location"])
        async with http.post(am.url(action), data=fields, allow_redirects=False) as r:  # spent
            assert r.status == 400
        # the same request_id for another request (the URL changed) is refused too
        async with http.get(url) as r:
            action, inputs = dialog_form(await r.text())
        hidden = {i["name"]: i["value"] for i in inputs if i.get("type") == "hidden"}
        other = action.replace("scope=view+print", "scope=view")
        assert other != action
        async with http.post(am.url(other), data=[*hidden.items(), ("approve_scope", "view"),
                                                  ("decision", "approve")], allow_redirects=False) as r:
            assert r.status == 400
    [code] = await _rows(am, AuthorizationCode)
    assert code.scopes == ["view"]


async def test_revoking_a_consent_revokes_that_persons_tokens_for_that_application(setup):
    am, client_id = setup
    async with aiohttp.ClientSession(cookie_jar=jar()) as http:
        await approve(http, authorize_url(am, client_id, scope="view"), name="bob", password=PASSWORD)
    await create_account(am.ctx.sessions, name="carol", password=PASSWORD, administers=False, now=int(am.clock()))
    async with aiohttp.ClientSession(cookie_jar=jar()) as http:
        await approve(http, authorize_url(am, client_id, scope="view"), name="carol", password=PASSWORD)
    bob_id, carol_id = sorted(c.account_id for c in await _rows(am, Consent))
    now = int(am.clock())
    realm_id = (await _rows(am, Consent))[0].realm_id
    async with am.ctx.sessions.begin() as session:  # what the token endpoint issues for a person
        for jti, account in (("jti-bob", bob_id), ("jti-carol", carol_id)):
            session.add(AccessToken(jti=jti, token_hash=digest(jti), client_id=client_id, realm_id=realm_id,
                                    scope="view", issued_at=now, expires_at=now + 600, account_id=account,
                                    family_id="fam-" + jti))
            session.add(RefreshToken(token_hash=digest("rt-" + jti), family_id="fam-" + jti, client_id=client_id,
                                     account_id=account, realm_id=realm_id, resource=RESOURCE, scopes=["view"],
                                     created_at=now, expires_at=now + 3600, absolute_expires_at=now + 86400))
    async with aiohttp.ClientSession(cookie_jar=jar()) as http:
        browser = Browser(http, am)
        await browser.login("bob")
        status, page = await browser.get("/admin/applications")
        assert status == 200 and "Photo Printer" in page
        [bob_consent] = await _rows(am, Consent, Consent.account_id == bob_id)
        [carol_consent] = await _rows(am, Consent, Consent.account_id == carol_id)
        assert (await browser.post(f"/admin/applications/{carol_consent.id}/revoke")).status == 303
        status, page = await browser.get("/admin/applications")
        assert f"no consent {carol_consent.id}" in page  # not bob's to revoke
        assert (await browser.post(f"/admin/applications/{bob_consent.id}/revoke")).status == 303
        status, page = await browser.get("/admin/applications")
        assert "1 token(s) and 1 refresh token(s) revoked" in page and "Photo Printer" not in page.split("</p>", 2)[-1]
    tokens = {t.jti: t.revoked_at for t in await _rows(am, AccessToken)}
    assert tokens["jti-bob"] is not None and tokens["jti-carol"] is None
    refresh = {r.account_id: r.revoked_at for r in await _rows(am, RefreshToken)}
    assert refresh[bob_id] is not None and refresh[carol_id] is None
    assert [e.jti for e in await _rows(am, RevocationEvent, RevocationEvent.kind == "token_revoked")] == ["jti-bob"]
    [consent] = await _rows(am, Consent, Consent.account_id == bob_id)
    assert consent.revoked_at is not None
    async with am.ctx.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "consent.revoke")) == 1
    # bob's unredeemed code died with the consent; carol's did not
    codes = {c.account_id: c.expires_at for c in await _rows(am, AuthorizationCode)}
    assert codes[bob_id] == consent.revoked_at and codes[carol_id] > consent.revoked_at


async def test_a_metadata_document_client_shows_its_origin_and_cannot_ask_the_owner(clock, tmp_path):
    """A client ID metadata document client (http on loopback: allow_private_targets): its name
    and verified origin come from the document; an ``ask`` scope cannot become an owner request
    (requests name a registered consumer key), and the dialog says so."""
    from aiohttp import web

    from authmanager.serving import bound_socket, serve
    from conftest import running_am

    doc_app, served = web.Application(), {}

    async def document(request: web.Request) -> web.Response:
        return web.json_response(served["doc"])

    doc_app.router.add_get("/client.json", document)
    async with serve(doc_app, bound_socket()) as base, \
            running_am(f"sqlite+aiosqlite:///{tmp_path / 'am.db'}", clock, tmp_path, allow_private_targets=True) as am:
        client_id = base + "/client.json"
        served["doc"] = {"client_id": client_id, "client_name": "Doc App", "redirect_uris": ["http://127.0.0.1/cb"],
                         "token_endpoint_auth_method": "none", "grant_types": ["authorization_code"],
                         "response_types": ["code"]}
        await am.create_realm("photos", resource=RESOURCE, scopes=["view", "share"])
        await am.add_policy("photos", "permit", ["view"])
        await am.add_policy("photos", "ask", ["share"])
        await create_account(am.ctx.sessions, name="bob", password=PASSWORD, administers=False, now=int(am.clock()))
        url = authorize_url(am, client_id, redirect_uri="http://127.0.0.1:4711/cb", scope="view share")
        async with aiohttp.ClientSession(cookie_jar=jar()) as http:
            await Browser(http, am).login("bob")
            async with http.get(url) as r:
                page = await r.text()
            assert r.status == 200 and "Doc App" in page and "<strong>127.0.0.1</strong>" in page
            assert "the owner cannot be asked for it" in page
            _, inputs = dialog_form(page)
            assert [(i["name"], i["value"]) for i in inputs if i.get("type") == "checkbox"] == [("approve_scope", "view")]
            location = await approve(http, url, name="bob", password=PASSWORD)
        assert location.startswith("http://127.0.0.1:4711/cb?") and "code" in query_of(location)
        assert [c.scopes for c in await _rows(am, AuthorizationCode)] == [["view"]]
        assert await _rows(am, AccessRequest) == []
        [consent] = await _rows(am, Consent)
        assert (consent.client_id, consent.client_name) == (client_id, "Doc App")
