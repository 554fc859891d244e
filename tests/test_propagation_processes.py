"""Revocation reaches a middleware running in another process within 1 s, and a revocation
made while its feed was down is enforced after it reconnects, resuming from its cursor."""

import asyncio
import os
import socket
import sys
import time
from contextlib import AsyncExitStack

import aiohttp
from aiohttp import web
from amkit import register, request_token
from conftest import AM, Clock
from test_cli_processes import free_port, server

from authmanager.app import create_app
from authmanager.operations.revocation import revoke_token
from authmanager.secretbox import digest
from authmanager.serving import bound_socket, serve
from authmanager.settings import Settings
from authmanager.storage import tokens as token_repo
from authmanager.storage.db import make_engine, make_sessionmaker


async def _status(http, url, token):
    async with http.get(url, headers={"Authorization": f"Bearer {token}"}) as r:
        return r.status


async def _until_rejected(http, url, token, deadline_s):
    """Poll the SP until it answers 401; return the elapsed time (bounded by ``deadline_s``)."""
    start = time.perf_counter()
    while time.perf_counter() - start < deadline_s:
        if await _status(http, url, token) == 401:
            return time.perf_counter() - start
        await asyncio.sleep(0.01)  # measurement granularity while polling another process
    raise AssertionError(f"still accepted after {deadline_s} s")


def _socket_at(port: int) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


async def test_revocation_reaches_another_process_and_survives_a_feed_outage(tmp_path):
    sock = bound_socket()
    port = sock.getsockname()[1]
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'am.db'}", issuer=f"http://127.0.0.1:{port}",
                        key_file=tmp_path / "am.key")
    sp_port = free_port()
    resource, url = f"http://127.0.0.1:{sp_port}/", f"http://127.0.0.1:{sp_port}/photos/1"
    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(aiohttp.ClientSession())
        first_am = AsyncExitStack()
        app = create_app(settings)
        issuer = await first_am.enter_async_context(serve(app, sock))
        am = AM(issuer=issuer, app=app, settings=settings, clock=Clock())
        realm = await am.create_realm("photos", resource=resource, scopes=["read"])
        await am.add_policy("photos", "permit", ["read"])
        env = {**os.environ, "PROTECTSERVE_SPH_SECRET": realm.sph_secret}
        await stack.enter_async_context(server(
            sys.executable, "-m", "rs_middleware.example", "--port", str(sp_port), "--authorization-manager", issuer,
            "--realm", "photos", "--sph", realm.sph, "--resource", resource, env=env))
        client = await register(http, am)
        tokens = [(await request_token(http, am, client, realm.sph, "read"))[1]["access_token"] for _ in range(3)]
        assert [await _status(http, url, t) for t in tokens] == [200, 200, 200]  # all cached at the SP

        # 1. Revoke at the AM: the SP in the other process rejects it within a second.
        basic = {"Authorization": aiohttp.encode_basic_auth(realm.sph, realm.sph_secret)}
        async with http.post(am.url("/revoke"), data={"token": tokens[0]}, headers=basic) as r:
            assert r.status == 200
        assert await _until_rejected(http, url, tokens[0], deadline_s=1.0) < 1.0

        # 2. The AM (and so the feed) goes down; a revocation is written to the database meanwhile.
        await first_am.aclose()
        engine = make_engine(settings.database_url)
        async with make_sessionmaker(engine).begin() as session:
            await revoke_token(session, await token_repo.by_hash(session, digest(tokens[1])), now=int(time.time()))
        await engine.dispose()

        # 3. The AM comes back on the same address; the SP reconnects with its cursor and enforces it.
        resumed_from: list[str] = []

        @web.middleware
        async def record(request, handler):
            if request.path == "/feed":
                resumed_from.append(request.headers.get("Last-Event-ID", ""))
            return await handler(request)

        second = create_app(settings)
        second.middlewares.insert(0, record)
        await stack.enter_async_context(serve(second, _socket_at(port)))
        assert await _until_rejected(http, url, tokens[1], deadline_s=10.0) < 10.0
        assert resumed_from and resumed_from[0].isdigit() and int(resumed_from[0]) > 0
        assert await _status(http, url, tokens[2]) == 200  # the unrevoked token still works
