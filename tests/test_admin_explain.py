"""``policy explain`` and consumer keys (SQLite and PostgreSQL): consumer keys are for admins of
every realm, so a realm-limited admin's explanation — in the console and through the API — is the
same whether the key exists or not, is a grasshopper key or not, and never names a master; an
admin of every realm and the CLI keep the full explanation."""

import asyncio
import json
import re

import aiohttp
from click.testing import CliRunner

from adminkit import Browser, api, jar, make_admin, make_token
from amkit import register
from authmanager.cli import main
from signers import sign_9421

RESOURCE = "http://127.0.0.1:1/"
EXPLAIN = re.compile(r'<section class="card" id="explain">.*?</section>', re.S)


async def _grasshopper(http, am, master):
    body = b"ttl=600"
    url = am.url("/grasshopper")
    headers = {**sign_9421(url, body, master["client_id"], master["client_secret"]),
               "Content-Type": "application/x-www-form-urlencoded"}
    async with http.post(url, data=body, headers=headers) as r:
        assert r.status == 201
        return await r.json()


def _blind(value, key):
    """``value`` with the key asked about written as KEY (the one thing an answer may echo)."""
    if isinstance(value, dict):
        return {k: _blind(v, key) for k, v in value.items()}
    if isinstance(value, list):
        return [_blind(v, key) for v in value]
    return value.replace(key, "KEY") if isinstance(value, str) else value


async def test_a_realm_limited_admin_learns_nothing_about_consumer_keys(am):
    await am.create_realm("photos", resource=RESOURCE, scopes=["read", "write"])
    async with aiohttp.ClientSession() as http:
        master, other = await register(http, am, "master"), await register(http, am, "other")
        sub = (await _grasshopper(http, am, master))["client_id"]
    await am.add_policy("photos", "permit", ["read"], consumer=master["client_id"])
    await am.add_policy("photos", "ask", ["read", "write"])
    unknown = ("A" if master["client_id"][0] != "A" else "B") + master["client_id"][1:]  # never issued
    keys = (sub, unknown, other["client_id"])
    await make_admin(am, "root")
    await make_admin(am, "bob", realms=("photos",))
    root, bob = await make_token(am, "root"), await make_token(am, "bob")

    async with aiohttp.ClientSession() as http:
        async def explained(token, key):
            status, body = await api(http, am, "POST", "/realms/photos/explain", token,
                                     {"consumer": key, "scopes": ["read"]})
            assert status == 200, body
            return body

        limited = [_blind(await explained(bob, key), key) for key in keys]
        assert limited[0] == limited[1] == limited[2]
        assert limited[0]["judged_as"] == "KEY" and limited[0]["outcome"] == "ask"
        assert master["client_id"] not in str(limited), limited
        full = await explained(root, sub)  # as the token endpoint judges it: as its master
        assert (full["judged_as"], full["outcome"]) == (master["client_id"], "permit")
        assert full["note"] == f"a grasshopper key, judged as its master {master['client_id']}"
        assert (await explained(root, unknown))["note"].startswith("unknown consumer key")

    async with aiohttp.ClientSession(cookie_jar=jar()) as http:
        browser = Browser(http, am)
        assert (await browser.login("bob")).status == 303

        async def section(key):
            status, html = await browser.get(f"/admin/realms/photos?consumer={key}&scope=read")
            assert status == 200
            return _blind(EXPLAIN.search(html).group(0), key)

        pages = [await section(key) for key in keys]
        assert pages[0] == pages[1] == pages[2] and "Outcome: <span class=\"effect ask\">ask" in pages[0]
        assert master["client_id"] not in "".join(pages)
    async with aiohttp.ClientSession(cookie_jar=jar()) as http:
        browser = Browser(http, am)
        assert (await browser.login("root")).status == 303
        status, html = await browser.get(f"/admin/realms/photos?consumer={sub}&scope=read")
        assert f"judged as its master {master['client_id']}" in EXPLAIN.search(html).group(0)
    cli = await asyncio.to_thread(CliRunner().invoke, main, ["--database", am.settings.database_url, "policy",
                                                             "explain", "photos", "--consumer", sub, "--scope",
                                                             "read", "--json"])
    assert cli.exit_code == 0, cli.stderr
    assert json.loads(cli.stdout) == full
