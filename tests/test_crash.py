"""Crash safety: ``kill -9`` the AM at a random moment during a load of registrations, token
issuances and revocations; after a restart every 2xx-acknowledged consumer, token and revocation
is still there, used nonces are still refused, and revoked tokens stay revoked."""

import asyncio
import json
import os
import random
import signal
import sys

import aiohttp
import pytest

from conftest import _fresh_pg_url
from signers import sign_9421, token_form
from test_cli_processes import free_port, run, server

PY = sys.executable


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_kill_dash_nine_loses_nothing_acknowledged(backend, tmp_path, pg_database):
    db = f"sqlite+aiosqlite:///{tmp_path / 'am.db'}" if backend == "sqlite" else await _fresh_pg_url(pg_database)
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = {**os.environ, "AUTHMANAGER_DATABASE_URL": db, "AUTHMANAGER_KEY_FILE": str(tmp_path / "am.key"),
           "AUTHMANAGER_REGISTRATION_LIMIT_PER_IP": "100000/minute"}
    code, out, err = await run(PY, "-m", "authmanager.cli", "realm", "create", "photos", "--resource",
                               "http://127.0.0.1:1/", "--scope", "read", "--json", env=env)
    assert code == 0, err
    realm = json.loads(out)
    await run(PY, "-m", "authmanager.cli", "policy", "add", "photos", "--effect", "permit", "--scope", "read",
              env=env)
    basic = {"Authorization": aiohttp.encode_basic_auth(realm["sph"], realm["sph_secret"])}
    consumers, tokens, revoked, attempted, signed = [], [], [], set(), []
    warmed_up = asyncio.Event()  # every kind of write has been acknowledged at least once
    async with aiohttp.ClientSession() as http:
        async with server(PY, "-m", "authmanager.cli", "serve", "--port", str(port), env=env) as am:
            async def load() -> None:
                while True:
                    async with http.post(issuer + "/register", json={"client_name": "crash"}) as r:
                        if r.status == 201:
                            consumers.append(await r.json())
                    client = consumers[-1]
                    body = token_form(realm["sph"], "read")
                    headers = sign_9421(issuer + "/token", body, client["client_id"], client["client_secret"])
                    async with http.post(issuer + "/token", data=body, headers=headers) as r:
                        if r.status == 200:
                            tokens.append((await r.json())["access_token"])
                            signed.append((body, headers))
                    if len(tokens) % 3 == 0 and tokens:
                        victim = tokens[-1]
                        attempted.add(victim)  # in flight at the kill, it may or may not have landed
                        async with http.post(issuer + "/revoke", data={"token": victim}, headers=basic) as r:
                            if r.status == 200:
                                revoked.append(victim)
                                warmed_up.set()

            workers = [asyncio.create_task(load()) for _ in range(4)]
            await asyncio.wait_for(warmed_up.wait(), 30)
            await asyncio.sleep(random.uniform(0.0, 0.7))  # then a random moment in the load, not synchronisation
            os.kill(am.pid, signal.SIGKILL)
            await am.wait()
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        assert consumers and tokens and revoked, "the load did not get going before the kill"

        async with server(PY, "-m", "authmanager.cli", "serve", "--port", str(port), env=env):
            for token in tokens:
                async with http.post(issuer + "/introspect", data={"token": token}, headers=basic) as r:
                    active = (await r.json())["active"]
                if token in revoked:
                    assert active is False  # acknowledged revocations survive
                elif token not in attempted:
                    assert active is True  # acknowledged tokens survive
            for body, headers in signed:  # every used nonce is still refused
                async with http.post(issuer + "/token", data=body, headers=headers) as r:
                    assert r.status == 401
            code, out, _ = await run(PY, "-m", "authmanager.cli", "consumer", "list", "--json", env=env)
            known = {c["client_id"] for c in json.loads(out)}
            assert {c["client_id"] for c in consumers} <= known
