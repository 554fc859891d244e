"""Database down (issue 7), for real: a private PostgreSQL cluster (``tests/pgcluster.py``) is
stopped under a running ``authmanager serve`` process — ``pg_ctl stop -m immediate`` (a crash:
backends killed, no checkpoint) and ``-m fast`` (clients disconnected, clean shutdown).

While it is down, the token, introspection, registration, revocation and IndieAuth verification
endpoints answer ``503`` with ``Retry-After`` within the database timeout, never a 500 (introspection
and verification of a token the AM remembers, once its feed poller has missed four intervals); readiness
is 503 and liveness 200; a service protected by rs_middleware keeps validating tokens offline,
tokens it has seen and tokens it has not. When PostgreSQL is started again, the same AM process serves again: no restart."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from conftest import REQUIRE_PG
from pgcluster import ClusterUnavailable, PgCluster, find_bindir, private_cluster
from signers import sign_9421, token_form
from test_cli_processes import free_port, server

from authmanager.operations.policies import add_policy
from authmanager.operations.realms import create_realm
from authmanager.serving import bound_socket, serve
from authmanager.storage.db import make_engine, make_sessionmaker
from rs_middleware.example import create_example_app

DB_TIMEOUT = 1.0
#: An answer "within the pool timeout": the database timeout plus the request's own work.
WITHIN = DB_TIMEOUT + 1.5
#: The AM's feed poll interval: it answers introspection from memory only while the poller keeps up.
POLL = 0.05


@pytest.fixture
def bindir() -> Path:
    try:
        return find_bindir()
    except ClusterUnavailable as exc:  # no server binaries on this machine
        if REQUIRE_PG:
            pytest.fail(str(exc))
        pytest.skip(str(exc))


async def test_postgresql_stopped_then_started_again_under_a_running_am(bindir: Path, tmp_path: Path) -> None:
    async with private_cluster(bindir) as pg:
        await _scenario(pg, tmp_path)


async def _scenario(pg: PgCluster, tmp_path: Path) -> None:
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = {**os.environ, "AUTHMANAGER_DATABASE_URL": pg.url, "AUTHMANAGER_KEY_FILE": str(tmp_path / "am.key"),
           "AUTHMANAGER_DB_TIMEOUT": str(DB_TIMEOUT), "AUTHMANAGER_FEED_POLL_INTERVAL": str(POLL),
           "HOME": str(tmp_path)}
    async with server(sys.executable, "-m", "authmanager.cli", "serve", "--port", str(port), env=env) as am:
        sock = bound_socket()
        resource = "http://127.0.0.1:%d/" % sock.getsockname()[1]
        engine = make_engine(pg.url)
        try:
            sessions = make_sessionmaker(engine)
            realm = await create_realm(sessions, name="photos", resource=resource, scopes=["read"],
                                       now=int(time.time()))
            await add_policy(sessions, realm="photos", effect="permit", scopes=["read"], now=int(time.time()))
        finally:
            await engine.dispose()
        sp = create_example_app(realm="photos", resource=resource, authorization_manager=issuer, sph=realm.sph,
                                sph_secret=realm.sph_secret)
        basic = {"Authorization": aiohttp.encode_basic_auth(realm.sph, realm.sph_secret)}
        async with serve(sp, sock), aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:

            async def call(method: str, path: str, **kwargs):  # type: ignore[no-untyped-def]
                started = time.monotonic()
                async with http.request(method, issuer + path, **kwargs) as r:
                    body = await r.json() if r.content_type == "application/json" else await r.text()
                    return r.status, body, r.headers, time.monotonic() - started

            async def token_request():  # type: ignore[no-untyped-def]
                body = token_form(realm.sph, "read")
                headers = sign_9421(issuer + "/token", body, client["client_id"], client["client_secret"])
                return await call("POST", "/token", data=body, headers=headers)

            async def from_memory_then_503(ask):  # type: ignore[no-untyped-def]
                """Introspection and verification of a token the AM knows answer from memory while
                its feed poller is keeping up (4 poll intervals, 0.2 s here), then read the
                database like the rest: the last answer, which must be the 503."""
                deadline = time.monotonic() + 4 * POLL + WITHIN
                while True:
                    answer = await ask()
                    if answer[0] != 200:
                        return answer
                    assert time.monotonic() < deadline, "still answering from memory"

            async def photo(token: str) -> int:
                async with http.get(resource + "photos/1", headers={"Authorization": f"Bearer {token}"}) as r:
                    return r.status

            status, client, _, _ = await call("POST", "/register", json={"client_name": "before"})
            assert status == 201
            seen = (await token_request())[1]["access_token"]
            assert await photo(seen) == 200

            for mode in ("immediate", "fast"):
                unseen = (await token_request())[1]["access_token"]  # issued, not yet shown to the SP
                await pg.stop(mode)

                for name, answer in [
                    ("token", await token_request()),
                    ("introspection", await from_memory_then_503(
                        lambda: call("POST", "/introspect", data={"token": seen}, headers=basic))),
                    ("registration", await call("POST", "/register", json={"client_name": "during"})),
                    ("revocation", await call("POST", "/revoke", data={"token": seen}, headers=basic)),
                    ("verification", await from_memory_then_503(
                        lambda: call("GET", "/token", headers={"Authorization": f"Bearer {seen}"}))),
                ]:
                    status, body, headers, elapsed = answer
                    assert status == 503, (mode, name, status, body)
                    assert body["error"] == "temporarily_unavailable" and int(headers["Retry-After"]) >= 1
                    assert elapsed < WITHIN, (mode, name, elapsed)
                status, _, headers, elapsed = await call("GET", "/health/ready")
                assert status == 503 and int(headers["Retry-After"]) >= 1 and elapsed < WITHIN
                assert (await call("GET", "/health/alive"))[0] == 200
                # The protected service needs no AM database: it validates offline, at first sight too.
                assert await photo(seen) == 200 and await photo(unseen) == 200

                await pg.start()
                deadline = time.monotonic() + 15
                while (await call("GET", "/health/ready"))[0] != 200:  # the AM notices by itself
                    assert time.monotonic() < deadline, f"not ready {mode}: {pg.log_tail(5)}"
                assert (await call("POST", "/register", json={"client_name": "after"}))[0] == 201
                status, issued, _, _ = await token_request()
                assert status == 200
                status, info, _, _ = await call("POST", "/introspect", data={"token": issued["access_token"]},
                                                headers=basic)
                assert status == 200 and info["active"] is True
                assert await photo(issued["access_token"]) == 200
                assert am.returncode is None  # the same process throughout: recovered without a restart
