"""``authmanager share`` and ``authmanager share list`` (the real CLI) against the AM's SQLite
file; Bob's site runs in the test on 127.0.0.1. Private targets need AUTHMANAGER_ALLOW_PRIVATE_TARGETS=1."""

import asyncio
import json

import aiohttp
from bobkit import bob_site
from click.testing import CliRunner

from authmanager.cli import main


async def _cli(am, *args, allow_private=True):
    """Run the CLI in a thread (its own event loop), while Bob's site is served on this one."""
    env = {"AUTHMANAGER_ALLOW_PRIVATE_TARGETS": "1" if allow_private else None}
    result = await asyncio.to_thread(CliRunner().invoke, main, ["--database", am.settings.database_url, *args],
                                     env=env)
    return result.exit_code, result.stdout, result.stderr


async def test_share_delivers_a_ticket_and_list_shows_the_outcome(sqlite_am):
    await sqlite_am.create_realm("photos", resource="http://127.0.0.1:9/", scopes=["read", "write"])
    async with bob_site() as (bob, recorder):
        code, out, err = await _cli(sqlite_am, "share", "photos", "--with", bob, "--scope", "read", "--max-ttl", "300",
                                    "--json")
        assert code == 0, err
        form = await recorder.next()
    result = json.loads(out)
    assert result["delivered"] and result["status"] == 202 and result["endpoint"] == bob + "ticket"
    assert form["ticket"] not in out + err  # the ticket is never printed
    async with aiohttp.ClientSession() as http:
        async with http.post(sqlite_am.url("/token"), data={"grant_type": "ticket", "ticket": form["ticket"]}) as r:
            assert r.status == 200 and (await r.json())["expires_in"] == 300

    code, out, err = await _cli(sqlite_am, "share", "list", "--json")
    [row] = json.loads(out)
    assert code == 0 and row["subject"] == bob and row["delivery"] == "delivered" and row["redeemed_at"]
    code, out, _ = await _cli(sqlite_am, "share", "list")
    assert "delivered" in out and "redeemed=yes" in out


async def test_share_refuses_a_private_subject_unless_allowed(sqlite_am):
    await sqlite_am.create_realm("photos", resource="http://127.0.0.1:9/", scopes=["read"])
    async with bob_site() as (bob, recorder):
        code, out, err = await _cli(sqlite_am, "share", "photos", "--with", bob, "--scope", "read",
                                    allow_private=False)
        assert code == 1 and "refused to connect to 127.0.0.1 (loopback)" in err and "nothing was stored" in err
        assert recorder.received.empty()
        code, out, err = await _cli(sqlite_am, "share", "photos", "--with", bob, "--scope", "admin")
        assert code == 1 and "--scope" in err
    code, out, _ = await _cli(sqlite_am, "share", "list", "--json")
    assert json.loads(out) == []
