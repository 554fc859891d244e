"""The authorization dialog in a real headless Chromium (Debian's ``chromium`` through Playwright's
``executable_path``; no browser is downloaded), against a real AM and a real client application
on 127.0.0.1: sign in from the authorization request, approve one scope of two, see the client
receive ``code``, ``state`` and ``iss``, exchange the code (PKCE) and get 200 from the example
service protected by rs_middleware; deny and see ``error=access_denied``. Saves
docs/img/dialog.png (desktop) and docs/img/dialog-phone.png (390x844).

Without /usr/bin/chromium the tests are skipped (visibly), unless
``PROTECTSERVE_REQUIRE_BROWSER=1``, which makes that a failure."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from aiohttp import web
from sqlalchemy import select

from adminkit import PASSWORD
from authmanager.accounts import create_account
from authmanager.operations.realms import ScopeText, set_scope
from authmanager.serving import bound_socket, serve
from authmanager.storage.models import AuthorizationCode
from conftest import running_am
from dialogkit import authorize_url, pkce, public_client, query_of
from rs_middleware.example import create_example_app
from test_console_browser import ARGS, DESKTOP, PHONE, chromium  # noqa: F401 - the fixture

DOCS_IMG = Path(__file__).resolve().parent.parent / "docs" / "img"
ICON = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" '
        'fill="{}"/></svg>')


async def test_sign_in_approve_one_of_two_then_deny(clock, tmp_path, chromium):  # noqa: F811
    from playwright.async_api import async_playwright, expect

    received: list[dict[str, str]] = []
    client_app = web.Application()

    async def callback(request: web.Request) -> web.Response:
        received.append(dict(request.query))
        return web.Response(content_type="text/html", text="<!doctype html><title>Printer</title><h1>Back in the app</h1>")

    async def icon(request: web.Request) -> web.Response:
        return web.Response(content_type="image/svg+xml", text=ICON.format(request.match_info["color"]))

    client_app.router.add_get("/cb", callback)
    client_app.router.add_get("/{color}.svg", icon)
    sp_sock = bound_socket()
    resource = "http://127.0.0.1:%d/" % sp_sock.getsockname()[1]
    async with serve(client_app, bound_socket()) as app_url, \
            running_am(f"sqlite+aiosqlite:///{tmp_path / 'am.db'}", clock, tmp_path, allow_private_targets=True) as am:
        realm = await am.create_realm("photos", resource=resource, scopes=["read", "write"])
        for name, title, text, color in (("read", "See your photos", "List and open the photos in your album.",
                                          "%232457c5"),
                                         ("write", "Order prints", "Send photos to the print shop and pay for them.",
                                          "%231f7a4a")):
            await set_scope(am.ctx.sessions, realm="photos", name=name,
                            text=ScopeText(title=title, description=text, icon_uri=f"{app_url}/{color}.svg"),
                            now=int(clock()))
        await am.add_policy("photos", "permit", ["read", "write"])
        await create_account(am.ctx.sessions, name="bob", password=PASSWORD, administers=False, now=int(clock()))
        client_id = await public_client(am, "Photo Printer", redirect_uris=["http://127.0.0.1/cb"],
                                        logo_uri=f"{app_url}/%23b3261e.svg")
        port = app_url.rsplit(":", 1)[1]
        sp = create_example_app(realm="photos", resource=resource, authorization_manager=am.issuer, sph=realm.sph,
                                sph_secret=realm.sph_secret, now=clock)
        verifier, challenge = pkce()
        async with serve(sp, sp_sock), aiohttp.ClientSession() as http, async_playwright() as pw:
            context = await pw.chromium.launch_persistent_context(
                str(tmp_path / "profile"), executable_path=str(chromium), args=ARGS, headless=True, viewport=DESKTOP)
            try:
                page = context.pages[0] if context.pages else await context.new_page()
                await page.goto(authorize_url(am, client_id, redirect_uri=f"http://127.0.0.1:{port}/cb",
                                              scope="read write", state="browser-1", resource=resource,
                                              challenge=challenge))
                await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
                await page.get_by_label("Name").fill("bob")
                await page.get_by_label("Password").fill(PASSWORD)
                await page.get_by_role("button", name="Sign in").click()
                await expect(page.get_by_role("heading", name="Photo Printer wants to use photos")).to_be_visible()
                await expect(page.locator(".origin")).to_contain_text("127.0.0.1")
                DOCS_IMG.mkdir(parents=True, exist_ok=True)
                await page.screenshot(path=str(DOCS_IMG / "dialog.png"), full_page=True)
                await page.set_viewport_size(PHONE)
                await page.screenshot(path=str(DOCS_IMG / "dialog-phone.png"), full_page=True)
                await page.set_viewport_size(DESKTOP)
                await page.get_by_label("Order prints").uncheck()
                await page.get_by_role("button", name="Allow").click()
                await expect(page.get_by_role("heading", name="Back in the app")).to_be_visible()
                assert set(received[0]) == {"code", "state", "iss"}
                assert received[0]["state"] == "browser-1" and received[0]["iss"] == am.issuer
                async with am.ctx.sessions() as session:
                    assert (await session.scalars(select(AuthorizationCode.scopes))).all() == [["read"]]
                # The client application exchanges the code (PKCE) and calls the service.
                async with http.post(am.url("/token"), data={
                        "grant_type": "authorization_code", "code": received[0]["code"], "client_id": client_id,
                        "redirect_uri": f"http://127.0.0.1:{port}/cb", "code_verifier": verifier}) as r:
                    assert r.status == 200, await r.text()
                    token = await r.json()
                assert token["scope"] == "read" and token["refresh_token"]
                bearer = {"Authorization": f"Bearer {token['access_token']}"}
                async with http.get(resource + "photos/", headers=bearer) as r:
                    assert r.status == 200 and "photos" in await r.json()
                async with http.post(resource + "photos/", json={"title": "x"}, headers=bearer) as r:
                    assert r.status == 403  # "write" was unticked

                await page.goto(authorize_url(am, client_id, redirect_uri=f"http://127.0.0.1:{port}/cb",
                                              scope="read write", state="browser-2", resource=resource))
                await expect(page.get_by_role("heading", name="Already allowed")).to_be_visible()
                await page.get_by_role("button", name="Deny").click()
                await expect(page.get_by_role("heading", name="Back in the app")).to_be_visible()
                assert received[1]["error"] == "access_denied" and received[1]["state"] == "browser-2"
                assert received[1]["iss"] == am.issuer and "code" not in received[1]
                assert query_of(page.url)["error"] == "access_denied"
            finally:
                await context.close()
