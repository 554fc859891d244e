"""The realm admin's side of "applications I allowed" (issue 12 §3, "the decision is saved as the
grant"; §5, refresh tokens "revocable ... by the realm admin"), on SQLite and PostgreSQL.

A person (an account that administers nothing) approves an application in the real dialog over
HTTP, the application exchanges the code at the real token endpoint, and then the realm's admin
lists the consent and revokes it, through the admin API, the console (a cookie-keeping HTTP
client, CSRF token scraped from the page, as a browser without JavaScript) and the CLI: the
person's access token introspects inactive and the refresh token is ``invalid_grant``. An admin
of another realm sees nothing and can revoke nothing; an account that administers nothing is
refused. Last, a code redemption or a refresh rotation held open while the consent is revoked
cannot leave a live token behind once the revocation has answered."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from adminkit import PASSWORD, Browser, api, jar, make_admin, make_token
from authmanager.accounts import create_account
from authmanager.cli import main
from authmanager.grants import authorization_code, refresh_token
from authmanager.grants.person_tokens import Lifetimes
from authmanager.secretbox import digest
from authmanager.storage.models import Account, AdminToken, AuditEvent, Consent, RevocationEvent
from codekit import introspect, post, refresh
from dialogkit import approve, authorize_url, pkce, public_client, query_of
from test_am_revocation_races import Hold, blocked_or_done

RESOURCE = "http://127.0.0.1:1/photos/"
CB = "https://printer.example/cb"


@pytest.fixture
async def setup(am):
    """Realm photos (bob uses it), realm music; olga administers photos, eve music, root every realm."""
    await am.create_realm("photos", resource=RESOURCE, scopes=["view", "print", "delete"])
    await am.add_policy("photos", "permit", ["view", "print"])
    await am.add_policy("photos", "deny", ["delete"])
    await am.create_realm("music", resource="http://127.0.0.1:1/music/", scopes=["listen"])
    await create_account(am.ctx.sessions, name="bob", password=PASSWORD, administers=False, now=int(am.clock()))
    await make_admin(am, "olga", realms=("photos",))
    await make_admin(am, "eve", realms=("music",))
    await make_admin(am, "root")
    return am, await public_client(am)


async def _code(am, client_id: str, *, scopes: list[str]) -> tuple[str, str]:
    """bob approves ``scopes`` of "view print" in the dialog; the code and its PKCE verifier."""
    verifier, challenge = pkce()
    async with aiohttp.ClientSession(cookie_jar=jar()) as http:
        location = await approve(http, authorize_url(am, client_id, scope="view print", challenge=challenge),
                                 name="bob", password=PASSWORD, scopes=scopes)
    assert location.startswith(CB), location
    return query_of(location)["code"], verifier


def _form(code: str, verifier: str, client_id: str) -> dict[str, str]:
    return {"grant_type": "authorization_code", "code": code, "redirect_uri": CB, "code_verifier": verifier,
            "client_id": client_id}


async def _login(am, client_id: str, http: aiohttp.ClientSession, *, scopes: list[str] | None = None) -> dict:
    """bob allows the application, which redeems its code: access and refresh tokens."""
    code, verifier = await _code(am, client_id, scopes=scopes or ["view"])
    status, tokens, _ = await post(http, am, _form(code, verifier, client_id))
    assert status == 200, tokens
    return tokens


async def _consent(am) -> Consent:
    async with am.ctx.sessions() as session:
        [row] = (await session.scalars(select(Consent).execution_options(populate_existing=True))).all()
        return row


async def _still_works(http, am, client_id: str, tokens: dict) -> dict:
    """The access token is active and the refresh token rotates; the new pair."""
    assert (await introspect(http, am, am.realms["photos"], tokens["access_token"]))["active"] is True
    status, body, _ = await refresh(http, am, tokens["refresh_token"], client_id)
    assert status == 200, body
    return body


async def _is_dead(http, am, client_id: str, tokens: dict) -> None:
    assert await introspect(http, am, am.realms["photos"], tokens["access_token"]) == {"active": False}
    status, body, _ = await refresh(http, am, tokens["refresh_token"], client_id)
    assert status == 400 and body["error"] == "invalid_grant", body


async def test_realm_admin_lists_and_revokes_a_persons_consent_through_the_api(setup):
    am, client_id = setup
    olga, eve, root = await make_token(am, "olga"), await make_token(am, "eve"), await make_token(am, "root")
    async with aiohttp.ClientSession() as http:
        tokens = await _still_works(http, am, client_id, await _login(am, client_id, http, scopes=["view"]))
        consent = await _consent(am)

        status, listed = await api(http, am, "GET", "/consents", olga)
        assert status == 200 and [(c["id"], c["realm"], c["account"], c["client_name"], c["scopes"], c["refused"])
                                  for c in listed] == [(consent.id, "photos", "bob", "Photo Printer", ["view"],
                                                        ["print"])]
        assert listed[0]["client_id"] == client_id and listed[0]["updated_at"] == consent.updated_at
        assert (await api(http, am, "GET", "/consents?realm=photos", olga)) == (200, listed)
        assert (await api(http, am, "GET", "/consents", root)) == (200, listed)  # every realm
        status, body = await api(http, am, "GET", "/consents?realm=nowhere", olga)
        assert status == 404 and body["error"] == "not_found"

        # eve administers music only: she sees nothing of photos and revokes nothing there
        assert await api(http, am, "GET", "/consents", eve) == (200, [])
        status, body = await api(http, am, "GET", "/consents?realm=photos", eve)
        assert status == 403 and body["error"] == "access_denied"
        status, body = await api(http, am, "POST", f"/consents/{consent.id}/revoke", eve)
        assert status == 404 and body == {"error": "not_found", "error_description": f"no consent {consent.id}"}
        # unknown: 404 with the same body shape; malformed: 400
        status, body = await api(http, am, "POST", "/consents/2000000000/revoke", olga)
        assert status == 404 and body["error"] == "not_found"
        for bad in ("abc", "0", "-1", "1.5", "99999999999999999999"):
            status, body = await api(http, am, "POST", f"/consents/{bad}/revoke", olga)
            assert status == 400 and body["error"] == "invalid_request", (bad, body)
        # no token, or an account that administers nothing: 401
        async with am.ctx.sessions.begin() as session:
            bob = await session.scalar(select(Account).where(Account.name == "bob"))
            session.add(AdminToken(admin_id=bob.id, token_hash=digest("bob-token"), created_at=int(am.clock())))
        for token in (None, "bob-token"):
            for method, path in (("GET", "/consents"), ("POST", f"/consents/{consent.id}/revoke")):
                status, body = await api(http, am, method, path, token)
                assert status == 401 and body["error"] == "invalid_token", (token, path)
        tokens = await _still_works(http, am, client_id, tokens)  # nothing above changed anything

        status, body = await api(http, am, "POST", f"/consents/{consent.id}/revoke", olga)
        assert status == 200, body
        assert body == {"id": consent.id, "client_id": client_id, "client_name": "Photo Printer",
                        "account_id": bob.id, "tokens_revoked": 3, "refresh_tokens_revoked": 3}
        await _is_dead(http, am, client_id, tokens)
        assert await api(http, am, "GET", "/consents", olga) == (200, [])
        status, body = await api(http, am, "POST", f"/consents/{consent.id}/revoke", olga)
        assert status == 404  # already revoked
    async with am.ctx.sessions() as session:
        [event] = (await session.scalars(select(AuditEvent).where(AuditEvent.action == "consent.revoke"))).all()
        fed = (await session.scalars(select(RevocationEvent.jti).where(RevocationEvent.kind == "token_revoked"))).all()
    assert event.actor == "admin:olga" and event.target == f"consent {consent.id}"
    assert len(fed) == 3  # every access token of the family (rotation leaves the earlier ones live)


async def test_the_realm_page_has_a_consents_card_with_a_revoke_button(setup):
    am, client_id = setup
    async with aiohttp.ClientSession() as http:
        tokens = await _login(am, client_id, http, scopes=["view", "print"])
    consent = await _consent(am)
    button = f'action="/admin/realms/photos/consents/{consent.id}/revoke"'
    async with aiohttp.ClientSession(cookie_jar=jar()) as http:
        eve = Browser(http, am)
        await eve.login("eve")
        status, _ = await eve.get("/admin/realms/photos")
        assert status == 403
        status, page = await eve.get("/admin/realms/music")
        assert status == 200 and 'id="consents"' in page and "No one has allowed an application" in page
        assert (await eve.post(f"/admin/realms/photos/consents/{consent.id}/revoke")).status == 403
        # through her own realm's route, a consent of another realm is not hers to revoke
        text = await eve.follow(await eve.post(f"/admin/realms/music/consents/{consent.id}/revoke"))
        assert f"no consent {consent.id}" in text
    async with aiohttp.ClientSession(cookie_jar=jar()) as http:
        bob = Browser(http, am)
        await bob.login("bob")
        assert (await bob.get("/admin/realms/photos"))[0] == 403
        assert (await bob.post(f"/admin/realms/photos/consents/{consent.id}/revoke")).status == 403
    assert (await _consent(am)).revoked_at is None

    async with aiohttp.ClientSession(cookie_jar=jar()) as http:
        olga = Browser(http, am)
        await olga.login("olga")
        status, page = await olga.get("/admin/realms/photos")
        assert status == 200
        card = page.split('id="consents"', 1)[1].split("</section>", 1)[0]
        assert "Photo Printer" in card and client_id in card and ">bob<" in card and ">print view<" in card
        assert button in card and 'name="csrf_token"' in card and "Revoke" in card
        response = await olga.post(f"/admin/realms/photos/consents/{consent.id}/revoke", csrf=False)
        assert response.status == 403  # no CSRF token: refused, nothing changed
        assert (await _consent(am)).revoked_at is None
        text = await olga.follow(await olga.post(f"/admin/realms/photos/consents/{consent.id}/revoke"))
        assert f"Consent {consent.id} revoked" in text and "1 token(s) and 1 refresh token(s) revoked" in text
        assert button not in text and "No one has allowed an application" in text
    async with aiohttp.ClientSession() as http:
        await _is_dead(http, am, client_id, tokens)


async def _cli(am, *args):
    """The real CLI in a thread (it runs its own event loop) against the running AM's database."""
    result = await asyncio.to_thread(CliRunner().invoke, main, ["--database", am.settings.database_url,
                                                                "--key-file", str(am.settings.key_file), *args])
    return result.exit_code, result.stdout, result.stderr


async def test_cli_lists_and_revokes_consents(setup):
    am, client_id = setup
    async with aiohttp.ClientSession() as http:
        tokens = await _login(am, client_id, http)
    consent = await _consent(am)
    code, out, err = await _cli(am, "consents", "list", "--json")
    assert code == 0, err
    [row] = json.loads(out)
    assert (row["id"], row["realm"], row["account"], row["scopes"], row["refused"]) == \
        (consent.id, "photos", "bob", ["view"], ["print"])
    code, out, _ = await _cli(am, "consents", "list", "photos")
    assert code == 0 and out.split()[:3] == [str(consent.id), "photos", "bob"] and "approved=view" in out
    assert "refused=print" in out
    assert (await _cli(am, "consents", "list", "music"))[:2] == (0, "")
    code, out, err = await _cli(am, "consents", "list", "nowhere")
    assert code == 1 and err.strip() == "Error: no realm named 'nowhere'"
    code, out, err = await _cli(am, "consents", "revoke", str(consent.id))
    assert code == 0, err
    assert out.strip() == f"consent {consent.id} revoked; revoked 1 live token(s) and 1 refresh token(s)"
    code, out, err = await _cli(am, "consents", "revoke", str(consent.id))
    assert code == 1 and err.strip() == f"Error: no consent {consent.id}" and len(err.strip().splitlines()) == 1
    code, _, err = await _cli(am, "consents", "revoke", "x")
    assert code == 2 and "Traceback" not in err  # a usage error, as for every ID argument
    async with aiohttp.ClientSession() as http:
        await _is_dead(http, am, client_id, tokens)
    async with am.ctx.sessions() as session:
        assert await session.scalar(select(AuditEvent.actor).where(AuditEvent.action == "consent.revoke")) == "cli"


def _lifetimes(am) -> Lifetimes:
    s = am.settings
    return Lifetimes(access=s.token_ttl, refresh_idle=s.refresh_idle_ttl, refresh_absolute=s.refresh_absolute_ttl)


async def _revoke_while_held(am, issue) -> None:
    """Run ``issue(session)`` (a redemption or a rotation) in a transaction held before its
    commit; revoke the consent through the admin API meanwhile (shown blocked, or done); then
    release: once the revocation has answered, what ``issue`` minted is dead."""
    token = await make_token(am, "olga")
    consent = await _consent(am)
    hold = Hold()

    async def held():
        async with am.ctx.sessions.begin() as session:
            issued = await issue(session)
            await hold.here()
        return issued

    issuing = asyncio.create_task(held())
    await hold.reached.wait()
    async with aiohttp.ClientSession() as http:
        revocation = asyncio.create_task(api(http, am, "POST", f"/consents/{consent.id}/revoke", token))
        await blocked_or_done(am, revocation)
        hold.release.set()
        issued = await issuing
        status, body = await revocation
        assert status == 200, body
        await _is_dead(http, am, issued.claims["client_id"], issued.body())


async def test_a_redemption_in_flight_cannot_outlive_the_consents_revocation(setup):
    am, client_id = setup
    code, verifier = await _code(am, client_id, scopes=["view"])
    client = await am.ctx.clients.find(client_id)
    request = authorization_code.parse(_form(code, verifier, client_id))
    await _revoke_while_held(am, lambda session: authorization_code.redeem(
        session, client=client, request=request, keyring=am.ctx.keyring, issuer=am.issuer, now=int(am.clock()),
        lifetimes=_lifetimes(am)))


async def test_a_rotation_in_flight_cannot_outlive_the_consents_revocation(setup):
    am, client_id = setup
    async with aiohttp.ClientSession() as http:
        tokens = await _login(am, client_id, http)
    client = await am.ctx.clients.find(client_id)
    await _revoke_while_held(am, lambda session: refresh_token.refresh(
        session, client=client, request=refresh_token.Request(tokens["refresh_token"], None), keyring=am.ctx.keyring,
        issuer=am.issuer, now=int(am.clock()), lifetimes=_lifetimes(am)))


async def test_a_person_still_revokes_only_their_own_consent(setup):
    """The applications page keeps its rule: a person revokes their own consent, not another's
    (an admin's own applications page included: it is not the realm page)."""
    am, client_id = setup
    async with aiohttp.ClientSession() as http:
        tokens = await _login(am, client_id, http)
    consent = await _consent(am)
    async with aiohttp.ClientSession(cookie_jar=jar()) as http:
        olga = Browser(http, am)
        await olga.login("olga")
        await olga.get("/admin/applications")
        text = await olga.follow(await olga.post(f"/admin/applications/{consent.id}/revoke"))
        assert f"no consent {consent.id}" in text
    async with aiohttp.ClientSession() as http:
        tokens = await _still_works(http, am, client_id, tokens)
    async with aiohttp.ClientSession(cookie_jar=jar()) as http:
        bob = Browser(http, am)
        await bob.login("bob")
        await bob.get("/admin/applications")
        text = await bob.follow(await bob.post(f"/admin/applications/{consent.id}/revoke"))
        assert "may no longer act for you" in text
    async with aiohttp.ClientSession() as http:
        await _is_dead(http, am, client_id, tokens)
