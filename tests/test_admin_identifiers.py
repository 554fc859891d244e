"""The admin API, the console and the CLI check what they are given against its character set
before it is looked up or stored (issue 11, item 2a): a NUL (PostgreSQL text cannot hold it), a
lone surrogate (a non-UTF-8 byte of a command line or a JSON ``\\udcff``), an over-long value or an
id beyond the ``INTEGER`` columns gets the answer a wrong value gets — ``400 invalid_request``,
``404``, a flashed error, one ``Error:`` line and exit status 1 — never a 500 or a traceback, on
SQLite and PostgreSQL, and nothing is stored."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

import aiohttp
import pytest
from adminkit import Browser, api, make_admin, make_token
from click.testing import CliRunner
from sqlalchemy import func, select

from authmanager.cli import main
from authmanager.storage.models import AuditEvent, Base

RESOURCE = "http://127.0.0.1:1/"
NUL, SURROGATE = "\x00", "\udcff"


async def _counts(am):
    async with am.ctx.sessions() as session:
        return {t.name: await session.scalar(select(func.count()).select_from(t)) for t in Base.metadata.sorted_tables}


@pytest.fixture
async def admin(am):
    await am.create_realm("photos", resource=RESOURCE, scopes=["read"])
    await make_admin(am)
    token = await make_token(am)
    async with aiohttp.ClientSession() as http:
        yield am, http, token


async def test_the_admin_api_refuses_nul_non_utf8_and_out_of_range_values(admin):
    am, http, token = admin
    before = await _counts(am)
    calls = []
    for bad in (NUL, "a" + NUL, SURROGATE):
        calls += [
            ("POST", "/realms", {"name": "r" + bad, "resource": RESOURCE, "scopes": ["read"]}, 400),
            ("POST", "/realms", {"name": "r", "resource": RESOURCE + bad, "scopes": ["read"]}, 400),
            ("POST", "/realms", {"name": "r", "resource": RESOURCE, "scopes": ["read" + bad]}, 400),
            ("POST", "/realms", {"name": "r", "resource": RESOURCE, "scopes": ["read"], "resource_name": bad}, 400),
            ("POST", "/realms", {"name": "r", "resource": RESOURCE, "scopes": [{"name": "read", "title": bad}]}, 400),
            ("PUT", "/realms/photos/scopes/read", {"description": bad}, 400),
            ("PUT", "/realms/photos/scopes/read", {"icon_uri": "https://i.example/" + bad}, 400),
            ("POST", "/realms/photos/policies", {"effect": "permit", "scopes": ["read"], "consumer": bad}, 400),
            ("POST", "/realms/photos/policies", {"effect": "permit", "scopes": ["read"],
                                                 "subject": "https://bob.example/" + bad}, 400),
            ("POST", "/realms/photos/policies", {"effect": "permit", "scopes": ["read"], "not_before": "1" + bad}, 400),
            ("POST", "/realms/photos/explain", {"scopes": ["read"], "consumer": bad}, 400),
            ("POST", "/realms/photos/explain", {"scopes": ["read"], "subject": "https://b.example/" + bad}, 400),
        ]
    quoted = [quote(NUL), "a" + quote(NUL), quote("é" * 101)]
    for bad in quoted:
        calls += [("GET", f"/realms/{bad}", None, 404), ("GET", f"/realms/{bad}/policies", None, 404),
                  ("PUT", f"/realms/photos/scopes/{bad}", {"title": "x"}, 400),
                  ("GET", f"/grants?realm={bad}", None, 400), ("POST", f"/consumers/{bad}/revoke", None, 400),
                  ("DELETE", f"/consumers/{bad}", None, 400), ("POST", f"/tokens/{bad}/revoke", None, 404),
                  ("GET", f"/audit?before={bad}", None, 400), ("GET", f"/audit?action={bad}", None, 400)]
    calls += [("POST", "/realms/photos/policies", {"effect": "permit", "scopes": ["read"], "max_ttl": 2**31}, 400),
              ("POST", "/realms/photos/policies", {"effect": "permit", "scopes": ["read"], "not_after": 2**63}, 400),
              ("POST", "/realms/photos/policies", {"effect": "permit", "scopes": ["read"],
                                                   "not_before": "9" * 20}, 400),
              ("GET", "/audit?before=99999999999", None, 400), ("GET", "/audit?before=%C2%B2", None, 400),
              ("POST", "/policies/99999999999/move", {"to": 1}, 404), ("POST", "/requests/2147483648/deny", None, 404),
              ("POST", "/grants/%C2%B2/revoke", None, 404)]
    for method, path, body, expected in calls:
        status, answer = await api(http, am, method, path, token, body)
        assert status == expected, (method, path, body, status, answer)
        assert answer["error"] in ("invalid_request", "not_found"), answer
    assert await _counts(am) == before
    async with http.get(am.url("/admin/api/realms"), headers={"Authorization": "Bearer " + token[:-1] + "é"}) as r:
        assert r.status == 401


async def test_the_console_refuses_nul_and_out_of_range_values(admin):
    am, http, _ = admin
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        browser = Browser(session, am)
        assert (await browser.login("alice" + NUL)).status == 403  # no such account, and the failure is audited
        async with am.ctx.sessions() as db:
            target = await db.scalar(select(AuditEvent.target).where(AuditEvent.action == "admin.login_failed"))
        assert target == "admin:'alice\\x00'"
        assert (await browser.login()).status == 303
        before = await _counts(am)
        for path in (f"/admin/realms/{quote(NUL)}", "/admin/realms/a%00/policies/1/edit",
                     "/admin/realms/photos/policies/99999999999/edit"):
            assert (await browser.get(path))[0] == 404, path
        for path, fields in (
                ("/admin/realms", {"name": "r" + NUL, "resource": RESOURCE, "scopes": "read"}),
                ("/admin/realms", {"name": "r", "resource": RESOURCE + NUL, "scopes": "read"}),
                ("/admin/realms", {"name": "r", "resource": RESOURCE, "scopes": "read" + NUL}),
                ("/admin/realms/photos/scopes/read", {"title": "t" + NUL}),
                ("/admin/realms/photos/scopes/r%00", {"title": "t"}),
                ("/admin/realms/photos/policies", {"effect": "permit", "scope": "read", "who": "consumer",
                                                   "consumer": "c" + NUL}),
                ("/admin/realms/photos/policies", {"effect": "permit", "scope": "read", "who": "subject",
                                                   "subject": "https://b.example/" + NUL}),
                ("/admin/realms/photos/policies", {"effect": "permit", "scope": "read", "not_before": "1" + NUL}),
                ("/admin/realms/photos/policies", {"effect": "permit", "scope": "read", "max_ttl": "99999999999"}),
                ("/admin/consumers/a%00/revoke", {})):
            response = await browser.post(path, fields)
            assert response.status == 303, (path, fields, response.status)
        assert await _counts(am) == before
        for path in ("/admin/tokens/a%00/revoke", "/admin/requests/99999999999/deny", "/admin/grants/%C2%B2/revoke"):
            assert (await browser.post(path, {})).status == 404, path
        status, page = await browser.get(f"/admin/realms/photos?consumer={quote(NUL)}&scope=read")
        assert status == 200 and "consumer key" in page
        for query in ("before=%00", "before=99999999999", "action=%00"):
            assert (await browser.get("/admin/audit?" + query))[0] == 200, query
        assert await _counts(am) == before


async def _cli(am, *args: str) -> tuple[int, str]:
    result = await asyncio.to_thread(CliRunner().invoke, main, ["--database", am.settings.database_url, *args])
    return result.exit_code, result.stderr


async def test_the_cli_answers_non_utf8_arguments_with_one_line(admin):
    """A command line's non-UTF-8 bytes reach Python as lone surrogates (``surrogateescape``)."""
    am, _, _ = admin
    before = await _counts(am)
    for args in (("consumer", "revoke", "ck" + SURROGATE), ("scope", "list", "photos" + SURROGATE),
                 ("realm", "create", "r", "--resource", RESOURCE + SURROGATE, "--scope", "read"),
                 ("scope", "set", "photos", "read", "--title", SURROGATE),
                 ("policy", "add", "photos", "--effect", "permit", "--scope", "read", "--consumer", SURROGATE),
                 ("policy", "explain", "photos", "--scope", "read", "--subject", "https://b.example/" + SURROGATE),
                 ("grants", "list", "photos" + SURROGATE), ("policy", "remove", "99999999999"),
                 ("admin", "token", "create", "alice" + SURROGATE)):
        code, err = await _cli(am, *args)
        assert code == 1 and err.startswith("Error: ") and err.count("\n") == 1, (args, code, err)
    assert await _counts(am) == before
