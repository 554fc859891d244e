"""The admin console in a real headless Chromium (Debian's ``chromium``, driven by Playwright with
``executable_path``; no browser is downloaded). Against a real AM on 127.0.0.1: sign in, create
a realm and its policies, approve part of a request a real signed consumer submitted, and see a
cross-site form POST from another 127.0.0.1 port refused. Screenshots of the main pages, desktop
and phone, are saved under ``artifacts/browser/``.

Without /usr/bin/chromium the tests are skipped (visibly), unless
``PROTECTSERVE_REQUIRE_BROWSER=1`` (set by ``.ci/run``), which makes that a failure."""

from __future__ import annotations

import os
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select

from adminkit import PASSWORD, make_admin
from amkit import register, request_token
from authmanager.serving import bound_socket, serve
from authmanager.storage.models import AuditEvent, Realm
from conftest import running_am

CHROMIUM = Path("/usr/bin/chromium")
REQUIRE = os.environ.get("PROTECTSERVE_REQUIRE_BROWSER") == "1"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = Path(__file__).resolve().parent.parent / "artifacts" / "browser"
DESKTOP, PHONE = {"width": 1280, "height": 860}, {"width": 390, "height": 844}
RESOURCE = "http://127.0.0.1:1/photos/"


@pytest.fixture
def chromium() -> Path:
    if not CHROMIUM.exists():
        if REQUIRE:
            pytest.fail(f"PROTECTSERVE_REQUIRE_BROWSER=1 but {CHROMIUM} is missing (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} missing: apt-get install chromium")
    if not REQUIRE:
        pytest.importorskip("playwright.async_api")
    return CHROMIUM


@pytest.fixture
async def browser_am(clock, tmp_path, chromium):
    from playwright.async_api import async_playwright

    async with running_am(f"sqlite+aiosqlite:///{tmp_path / 'am.db'}", clock, tmp_path) as am:
        await make_admin(am)
        async with async_playwright() as pw:
            context = await pw.chromium.launch_persistent_context(
                str(tmp_path / "profile"), executable_path=str(chromium), args=ARGS, headless=True,
                viewport=DESKTOP)
            try:
                page = context.pages[0] if context.pages else await context.new_page()
                yield am, page
            finally:
                await context.close()


async def _shoot(page, name: str) -> None:
    """Desktop and phone screenshots of the current page (full height)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}-desktop.png"), full_page=True)
    await page.set_viewport_size(PHONE)
    await page.screenshot(path=str(SHOTS / f"{name}-phone.png"), full_page=True)
    await page.set_viewport_size(DESKTOP)


async def _sign_in(am, page):
    from playwright.async_api import expect

    await page.goto(am.url("/admin/"))
    await expect(page).to_have_url(am.url("/admin/login"))
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await _shoot(page, "01-login")
    await page.get_by_label("Name").fill("alice")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Realms")).to_be_visible()


async def test_sign_in_create_realm_and_policies_approve_part_of_a_request(browser_am):
    from playwright.async_api import expect

    am, page = browser_am
    await _sign_in(am, page)
    await page.get_by_label("Name", exact=True).fill("photos")
    await page.get_by_label("Resource URL").fill(RESOURCE)
    await page.get_by_label("Display name").fill("Family photo album")
    await page.get_by_label("Scopes, one per line").fill("read: Read photos\nwrite: Upload photos\nadmin: Manage the album")
    await page.get_by_role("button", name="Create realm").click()
    await expect(page.get_by_role("heading", name="Realm photos created")).to_be_visible()
    secret = await page.locator("#sph-secret").inner_text()
    sph = await page.locator("#sph").inner_text()
    assert len(secret) == 43
    await page.get_by_role("link", name="Continue to its scopes and policies").click()
    await expect(page.get_by_role("heading", name="Realm photos")).to_be_visible()
    assert secret not in await page.content()  # shown once only

    add = page.locator("#add-policy")
    await add.get_by_label("Effect").select_option("permit")
    await add.get_by_label("Read photos").check()
    await add.get_by_role("button", name="Add policy").click()
    await expect(page.get_by_role("status")).to_have_text("Policy 1 added.")
    await page.get_by_text("Add a policy").click()
    await add.get_by_label("Effect").select_option("ask")
    await add.get_by_label("Upload photos").check()
    await add.get_by_label("Manage the album").check()
    await add.get_by_label("Max token TTL, s").fill("300")
    await add.get_by_role("button", name="Add policy").click()
    await expect(page.get_by_role("status")).to_have_text("Policy 2 added.")
    await page.locator("#scopes form").filter(has_text="write").get_by_label("Description").fill(
        "Add new photos to the album.")
    await page.get_by_role("button", name="Save write").click()
    await expect(page.get_by_role("status")).to_have_text("Scope write updated.")

    async with aiohttp.ClientSession() as http:  # a real consumer, signed requests, an ask policy
        client = await register(http, am, "Photo printer")
        status, body, _ = await request_token(http, am, client, sph, "read write admin")
        assert status == 403 and body["error"] == "request_submitted"
        await page.goto(am.url(f"/admin/realms/photos?consumer={client['client_id']}&scope=read&scope=write"))
        await expect(page.locator("#explain")).to_contain_text("write: policy 2 asks the owner")
        await _shoot(page, "02-realm")

        await page.get_by_role("link", name="Requests").click()
        card = page.locator("#request-1")
        await expect(card).to_contain_text("Photo printer")
        await expect(card).to_contain_text("Add new photos to the album.")
        await _shoot(page, "03-requests")
        await card.get_by_label("Manage the album").uncheck()
        await card.get_by_role("button", name="Approve selected").click()
        await expect(page.get_by_role("status")).to_have_text("Request 1 approved: write; refused admin.")
        status, token, _ = await request_token(http, am, client, sph, "read write")
        assert status == 200 and token["scope"] == "read write"

    await page.get_by_role("link", name="Grants").click()
    await expect(page.locator("table.rows")).to_contain_text("Photo printer")
    await _shoot(page, "04-grants")
    await page.get_by_role("link", name="Tokens").click()
    await expect(page.locator("table.rows")).to_contain_text("read write")
    await _shoot(page, "05-tokens")
    await page.get_by_role("link", name="Audit log").click()
    await expect(page.locator("table.rows")).to_contain_text("request.approve")
    await _shoot(page, "06-audit")
    await page.get_by_role("link", name="Realms").click()
    await _shoot(page, "00-realms")
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    async with am.ctx.sessions() as session:
        actions = [e.action for e in (await session.scalars(select(AuditEvent).where(
            AuditEvent.actor == "admin:alice").order_by(AuditEvent.id))).all()]
    assert actions == ["admin.login", "realm.create", "policy.add", "policy.add", "scope.set", "request.approve",
                       "admin.logout"]


async def test_a_cross_site_form_post_without_the_csrf_token_is_refused(browser_am):
    from playwright.async_api import expect

    am, page = browser_am
    await _sign_in(am, page)
    evil = web.Application()

    async def attack(request: web.Request) -> web.Response:
        return web.Response(content_type="text/html", text=f"""<!doctype html><title>Win a prize</title>
<form method="post" action="{am.url('/admin/realms')}">
<input type="hidden" name="name" value="evil"><input type="hidden" name="resource" value="http://127.0.0.1:2/">
<input type="hidden" name="scopes" value="all"><button type="submit">Claim your prize</button></form>""")

    evil.router.add_get("/", attack)
    sock = bound_socket()
    async with serve(evil, sock) as attacker:
        assert attacker != am.url("")  # another origin (another port), the same site: the cookie goes along
        await page.goto(attacker + "/")
        await page.get_by_role("button", name="Claim your prize").click()
        await expect(page.get_by_role("heading", name="403 · Refused")).to_be_visible()
        await expect(page.locator("main")).to_contain_text("cross-origin form submission refused")
        await _shoot(page, "07-csrf-refused")
    async with am.ctx.sessions() as session:
        assert (await session.scalars(select(Realm.name))).all() == []
    await page.goto(am.url("/admin/"))  # the admin is still signed in and nothing was created
    await expect(page.get_by_role("heading", name="Realms")).to_be_visible()
    await expect(page.locator("main")).to_contain_text("No realm yet")
