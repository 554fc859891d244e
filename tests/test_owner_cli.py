"""The owner's commands, through the real CLI against the running AM's database (SQLite and
PostgreSQL): realm create with documented scopes, scope set/list, policy add/list/move/remove/
explain, requests list/approve/deny and grants list/revoke."""

import asyncio
import json

import aiohttp
import pytest
from click.testing import CliRunner

from amkit import poll, register, request_token
from authmanager.cli import main


async def _cli(am, *args):
    """Run the CLI in a thread (it runs its own event loop) while the AM serves on this one."""
    result = await asyncio.to_thread(CliRunner().invoke, main, ["--database", am.settings.database_url, *args])
    return result.exit_code, result.stdout, result.stderr


async def _ok(am, *args):
    code, out, err = await _cli(am, *args)
    assert code == 0, err
    return out


@pytest.fixture
async def photos(am):
    out = await _ok(am, "realm", "create", "photos", "--resource", "http://127.0.0.1:9/", "--scope", "read",
                    "--scope", "write", "--scope-title", "read=Read photos", "--scope-description",
                    "read=List and view every photo.", "--scope-title", "write=Upload photos", "--json")
    return json.loads(out)


async def test_documented_scopes_are_created_set_listed_and_published(am, photos):
    code, _, err = await _cli(am, "realm", "create", "x", "--resource", "http://127.0.0.1:9/x/", "--scope", "a",
                              "--scope-title", "b=B")
    assert code == 1 and "documented scopes that are not --scope: b" in err
    await _ok(am, "scope", "set", "photos", "write", "--description", "Add photos.", "--icon-uri",
              "https://icons.example/up.svg")
    code, _, err = await _cli(am, "scope", "set", "photos", "admin", "--title", "Admin")
    assert code == 1 and "has no scope 'admin'" in err
    listed = json.loads(await _ok(am, "scope", "list", "photos", "--json"))
    assert listed == [
        {"name": "read", "title": "Read photos", "description": "List and view every photo.", "icon_uri": None},
        {"name": "write", "title": "Upload photos", "description": "Add photos.",
         "icon_uri": "https://icons.example/up.svg"}]
    async with aiohttp.ClientSession() as http:
        async with http.get(am.url("/realms/photos/scopes")) as r:
            assert (await r.json())["scopes"] == listed


async def test_policy_add_list_move_remove_and_explain(am, photos):
    out = await _ok(am, "policy", "add", "photos", "--effect", "permit", "--scope", "read", "--max-ttl", "60")
    assert out.strip() == "policy 1 added to photos"  # the old form still works
    await _ok(am, "policy", "add", "photos", "--effect", "ask", "--scope", "write", "--not-before",
              "2020-01-01T00:00:00Z", "--not-after", "4102444800")
    await _ok(am, "policy", "add", "photos", "--effect", "deny", "--scope", "write", "--subject",
              "https://bob.example")
    listed = json.loads(await _ok(am, "policy", "list", "photos", "--json"))
    assert [(p["id"], p["effect"], p["consumer"]) for p in listed] == [
        (1, "permit", "*"), (2, "ask", "*"), (3, "deny", "subject:https://bob.example/")]
    assert (listed[1]["not_before"], listed[1]["not_after"]) == (1577836800, 4102444800)
    for bad, message in ((["--subject", "ftp://bob/"], "--subject must be"),
                         (["--not-before", "yesterday"], "--not-before must be unix seconds or an ISO 8601"),
                         (["--not-before", "20", "--not-after", "10"], "earlier than --not-after"),
                         (["--consumer", "ck", "--subject", "https://bob.example/"], "not both")):
        code, _, err = await _cli(am, "policy", "add", "photos", "--effect", "permit", "--scope", "read", *bad)
        assert code == 1 and message in err, err

    async with aiohttp.ClientSession() as http:
        client = await register(http, am, "printer")
    ck = client["client_id"]
    explained = json.loads(await _ok(am, "policy", "explain", "photos", "--consumer", ck, "--scope", "read",
                                     "--scope", "write", "--json"))
    assert explained["outcome"] == "ask" and explained["granted"] == ["read"] and explained["ask"] == ["write"]
    assert explained["ttl"] == 60 and explained["judged_as"] == ck
    assert [s["by"] for s in explained["scopes"]] == ["policy 1", "policy 2"]
    assert explained["policies"][0] == "policy 1: permit read for any consumer, max_ttl 60 s"
    text = await _ok(am, "policy", "explain", "photos", "--subject", "https://bob.example/", "--scope", "write")
    assert "-> deny" in text and "write: denied by policy 3 (deny overrides)" in text

    assert (await _ok(am, "policy", "move", "3", "--to", "1")).strip() == "order: 3 1 2"
    code, _, err = await _cli(am, "policy", "move", "3", "--to", "9")
    assert code == 1 and "--to must be between 1 and 3" in err
    assert (await _ok(am, "policy", "remove", "2")).strip() == "policy 2 removed from photos"
    listed = json.loads(await _ok(am, "policy", "list", "photos", "--json"))
    assert [(p["id"], p["position"]) for p in listed] == [(3, 1), (1, 2)]
    code, _, err = await _cli(am, "policy", "remove", "2")
    assert code == 1 and "no policy 2" in err
    text = await _ok(am, "policy", "explain", "photos", "--consumer", ck, "--scope", "write")
    assert "write: no policy covers it: deny" in text


async def test_requests_list_approve_deny_and_grants_list_revoke(am, photos):
    await _ok(am, "policy", "add", "photos", "--effect", "ask", "--scope", "read", "--scope", "write")
    async with aiohttp.ClientSession() as http:
        printer = await register(http, am, "printer")
        viewer = await register(http, am, "viewer")
        _, asked, _ = await request_token(http, am, printer, photos["sph"], "read write")
        _, other, _ = await request_token(http, am, viewer, photos["sph"], "read")
        assert asked["error"] == other["error"] == "request_submitted"

        rows = json.loads(await _ok(am, "requests", "list", "--json"))
        assert [(r["consumer"], r["realm"], r["ask"]) for r in rows] == [
            ("printer", "photos", ["read", "write"]), ("viewer", "photos", ["read"])]
        assert rows[0]["scopes"][0] == {"name": "read", "title": "Read photos",
                                        "description": "List and view every photo.", "icon_uri": None, "ask": True}
        text = await _ok(am, "requests", "list")
        assert f"request {rows[0]['id']}: printer ({printer['client_id']}) asks realm photos" in text
        assert "ask read: Read photos — List and view every photo." in text and "ask write: Upload photos" in text

        code, _, err = await _cli(am, "requests", "approve", str(rows[0]["id"]), "--scope", "admin")
        assert code == 1 and "--scope must be among the scopes asked for: read write" in err
        out = await _ok(am, "requests", "approve", str(rows[0]["id"]), "--scope", "read")
        assert out.strip().startswith(f"request {rows[0]['id']} approved: read; refused write (grant ")
        out = await _ok(am, "requests", "deny", str(rows[1]["id"]))
        assert f"request {rows[1]['id']} denied: read" in out
        code, _, err = await _cli(am, "requests", "deny", str(rows[1]["id"]))
        assert code == 1 and "was already denied" in err
        assert json.loads(await _ok(am, "requests", "list", "--json")) == []

        status, token, _ = await poll(http, am, printer, asked["ticket"])
        assert status == 200 and token["scope"] == "read"
        status, denied, _ = await poll(http, am, viewer, other["ticket"])
        assert status == 403 and denied["error"] == "request_denied"

        grants = json.loads(await _ok(am, "grants", "list", "photos", "--json"))
        assert [(g["consumer"], g["scopes"], g["refused"]) for g in grants] == [
            ("printer", ["read"], ["write"]), ("viewer", [], ["read"])]
        assert "printer (" in await _ok(am, "grants", "list")
        out = await _ok(am, "grants", "revoke", str(grants[0]["id"]))
        assert out.strip() == f"grant {grants[0]['id']} revoked; revoked 1 live token(s)"
        code, _, err = await _cli(am, "grants", "revoke", str(grants[0]["id"]))
        assert code == 1 and "no live grant" in err
        basic = {"Authorization": aiohttp.encode_basic_auth(photos["sph"], photos["sph_secret"])}
        async with http.post(am.url("/introspect"), data={"token": token["access_token"]}, headers=basic) as r:
            assert await r.json() == {"active": False}
    assert [g["consumer"] for g in json.loads(await _ok(am, "grants", "list", "--json"))] == ["viewer"]
