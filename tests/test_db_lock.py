"""Database down (issue 7): SQLite exclusively locked by another process. Answers are 503 with
Retry-After within the configured database timeout, readiness reports it, the resource server
keeps validating offline throughout, and the AM recovers without a restart."""

import asyncio
import sys
import time

import aiohttp

from authmanager.serving import bound_socket, serve
from conftest import running_am
from consumer_sdk import MemoryStore, ProtectServeAuth
from rs_middleware.example import create_example_app

LOCKER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("ROLLBACK")
"""


async def test_locked_sqlite_gives_503_then_recovers_while_the_sp_keeps_serving(clock, tmp_path):
    db = tmp_path / "am.db"
    async with running_am(f"sqlite+aiosqlite:///{db}", clock, tmp_path, db_timeout=0.5) as am:
        sock = bound_socket()
        resource = "http://127.0.0.1:%d/" % sock.getsockname()[1]
        realm = await am.create_realm("photos", resource=resource, scopes=["read"])
        await am.add_policy("photos", "permit", ["read"])
        app = create_example_app(realm="photos", resource=resource, authorization_manager=am.issuer, sph=realm.sph,
                                 sph_secret=realm.sph_secret, now=clock)
        async with serve(app, sock), aiohttp.ClientSession() as http:
            store = MemoryStore()
            async with aiohttp.ClientSession(middlewares=[ProtectServeAuth(store=store, scopes=["read"])]) as c:
                async with c.get(resource + "photos/1") as r:
                    assert r.status == 200
            bearer = {"Authorization": f"Bearer {next(iter(store.tokens())).access_token}"}

            locker = await asyncio.create_subprocess_exec(sys.executable, "-c", LOCKER, str(db),
                                                          stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
            try:
                assert (await asyncio.wait_for(locker.stdout.readline(), 10)).strip() == b"locked"
                started = time.monotonic()
                async with http.post(am.url("/register"), json={"client_name": "during"}) as r:
                    assert r.status == 503 and int(r.headers["Retry-After"]) >= 1
                    assert (await r.json())["error"] == "temporarily_unavailable"
                assert time.monotonic() - started < 3  # bounded by db_timeout, not a hang
                async with http.get(am.url("/health/ready")) as r:
                    assert r.status == 503
                async with http.get(am.url("/health/alive")) as r:
                    assert r.status == 200
                async with http.get(resource + "photos/1", headers=bearer) as r:
                    assert r.status == 200  # offline validation needs no AM database
            finally:
                locker.stdin.write(b"release\n")
                await locker.stdin.drain()
                await asyncio.wait_for(locker.wait(), 10)
            async with http.post(am.url("/register"), json={"client_name": "after"}) as r:
                assert r.status == 201  # recovered without a restart
            async with http.get(am.url("/health/ready")) as r:
                assert r.status == 200
