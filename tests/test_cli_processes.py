"""The operator's path with real processes: the ``authmanager`` CLI on a SQLite file, ``authmanager
serve``, ``python -m rs_middleware.example`` and ``python -m consumer_sdk get``."""

import asyncio
import json
import os
import socket
import sys
from contextlib import asynccontextmanager

import pytest

PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def run(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(*args, env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, out.decode(), err.decode()


@asynccontextmanager
async def server(*args: str, env: dict[str, str]):
    """Start a server process and wait until it says it is listening (aiohttp's banner)."""
    proc = await asyncio.create_subprocess_exec(*args, env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    try:
        async def banner() -> None:
            while line := await proc.stdout.readline():
                if b"Running on" in line:
                    return
            raise AssertionError(f"{args} exited before listening")

        await asyncio.wait_for(banner(), 30)
        drain = asyncio.create_task(proc.stdout.read())  # keep the pipe from filling up
        yield proc
    finally:
        if proc.returncode is None:
            proc.terminate()
        await proc.wait()
        if "drain" in locals():
            await drain


@pytest.fixture
def env(tmp_path):
    return {**os.environ, "AUTHMANAGER_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'am.db'}",
            "HOME": str(tmp_path)}


async def test_cli_realm_policy_serve_example_and_consumer(env, tmp_path):
    am_port, sp_port = free_port(), free_port()
    resource = f"http://127.0.0.1:{sp_port}/"
    rc, out, err = await run(PY, "-m", "authmanager.cli", "realm", "create", "photos", "--resource", resource,
                             "--scope", "read", "--scope", "write", "--json", env=env)
    assert rc == 0, err
    realm = json.loads(out)
    assert set(realm) == {"realm", "sph", "sph_secret", "resource"} and realm["resource"] == resource
    rc, out, err = await run(PY, "-m", "authmanager.cli", "policy", "add", "photos", "--effect", "permit",
                             "--scope", "read", "--consumer", "*", "--max-ttl", "120", env=env)
    assert rc == 0, err
    rc, out, _ = await run(PY, "-m", "authmanager.cli", "policy", "list", "photos", "--json", env=env)
    assert json.loads(out) == [{"id": 1, "position": 1, "effect": "permit", "scopes": ["read"], "consumer": "*",
                                "max_ttl": 120, "not_before": None, "not_after": None,
                                "description": "policy 1: permit read for any consumer, max_ttl 120 s"}]

    async with server(PY, "-m", "authmanager.cli", "serve", "--port", str(am_port), env=env):
        assert oct((tmp_path / "am.db.key").stat().st_mode)[-3:] == "600"
        async with server(PY, "-m", "rs_middleware.example", "--port", str(sp_port), "--authorization-manager",
                          f"http://127.0.0.1:{am_port}", "--realm", "photos", "--sph", realm["sph"],
                          "--sph-secret", realm["sph_secret"], "--resource", resource, env=env):
            store = tmp_path / "store.json"
            rc, out, err = await run(PY, "-m", "consumer_sdk", "get", resource + "photos/1", "-v",
                                     "--store", str(store), env=env)
            assert rc == 0, err
            assert json.loads(out)["id"] == "1"
            assert "expires_in=120" in err  # the policy's max-ttl reached the token
            rc, out, err = await run(PY, "-m", "consumer_sdk", "get", resource + "photos/", "--store", str(store),
                                     env=env)
            assert rc == 0 and "photos" in json.loads(out)  # the stored token is reused
            rc, out, err = await run(PY, "-m", "consumer_sdk", "get", resource + "photos/", "--scope", "write",
                                     "--store", str(tmp_path / "fresh.json"), env=env)
            assert rc != 0 and "request_denied" in err  # no policy permits write


async def test_cli_refuses_bad_admin_input_cleanly(env):
    rc, _, err = await run(PY, "-m", "authmanager.cli", "realm", "create", "x", "--resource", "ftp://nope",
                           "--scope", "read", env=env)
    assert rc == 1 and "Error:" in err and "Traceback" not in err
    rc, _, err = await run(PY, "-m", "authmanager.cli", "policy", "add", "missing", "--effect", "permit",
                           "--scope", "read", env=env)
    assert rc == 1 and "no realm named 'missing'" in err and "Traceback" not in err


@pytest.mark.parametrize("access_log", ["1", "0"])
async def test_serve_writes_an_access_log_line_per_request_unless_turned_off(env, access_log):
    import aiohttp

    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        PY, "-m", "authmanager.cli", "serve", "--port", str(port), env={**env, "AUTHMANAGER_ACCESS_LOG": access_log},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        async def banner() -> None:
            while line := await proc.stdout.readline():
                if b"Running on" in line:
                    return
            raise AssertionError("serve exited before listening")

        await asyncio.wait_for(banner(), 30)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/health/alive?probe=42") as r:
                assert r.status == 200
    finally:
        proc.terminate()
        output = (await asyncio.wait_for(proc.communicate(), 30))[0].decode()
    assert ("GET /health/alive?probe=42" in output) == (access_log == "1")
