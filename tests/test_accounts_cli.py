"""``authmanager admin create NAME --no-admin`` (an account that administers no realm) and
policies naming it (``authmanager policy add … --consumer account:NAME``), through the real CLI."""

import asyncio
import json

import aiohttp
from click.testing import CliRunner
from sqlalchemy import select

from adminkit import PASSWORD, Browser, jar
from authmanager.cli import main
from authmanager.storage.models import Account, AuditEvent, Policy

RESOURCE = "http://127.0.0.1:1/"


async def _cli(am, *args, stdin=None):
    result = await asyncio.to_thread(CliRunner().invoke, main, ["--database", am.settings.database_url, *args],
                                     input=stdin)
    return result.exit_code, result.stdout, result.stderr


async def test_no_admin_accounts_and_account_policies_through_the_cli(am):
    await am.create_realm("photos", resource=RESOURCE, scopes=["read", "write"])
    code, out, _ = await _cli(am, "admin", "create", "bob", "--no-admin", "--password-stdin", stdin=PASSWORD + "\n")
    assert code == 0 and "administers no realm" in out
    code, _, err = await _cli(am, "admin", "create", "carol", "--no-admin", "--realm", "photos", "--password-stdin",
                              stdin=PASSWORD + "\n")
    assert code == 1 and "takes no --realm" in err
    code, out, _ = await _cli(am, "admin", "list", "--json")
    assert [(a["name"], a["realms"], a["administers"]) for a in json.loads(out)] == [("bob", [], False)]
    async with am.ctx.sessions() as session:
        bob = await session.scalar(select(Account))
        event = await session.scalar(select(AuditEvent).where(AuditEvent.action == "admin.create"))
    assert bob.administers is False and bob.all_realms is False
    assert event.detail == {"realms": [], "administers": False}

    code, out, _ = await _cli(am, "policy", "add", "photos", "--effect", "permit", "--scope", "read",
                              "--consumer", "account:bob")
    assert code == 0, out
    code, _, err = await _cli(am, "policy", "add", "photos", "--effect", "permit", "--scope", "read",
                              "--consumer", "account:bad name")
    assert code == 1 and "account:NAME" in err
    async with am.ctx.sessions() as session:
        assert (await session.scalars(select(Policy.consumer))).all() == ["account:bob"]
    code, out, _ = await _cli(am, "policy", "explain", "photos", "--consumer", "account:bob", "--scope", "read",
                              "--scope", "write", "--json")
    assert code == 0 and json.loads(out)["granted"] == ["read"] and json.loads(out)["denied"] == ["write"]

    async with aiohttp.ClientSession(cookie_jar=jar()) as http:  # bob signs in; the console is closed to him
        browser = Browser(http, am)
        assert (await browser.login("bob")).headers["Location"] == "/admin/applications"
        assert (await browser.get("/admin/"))[0] == 403
