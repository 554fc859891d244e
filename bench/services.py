"""Real processes for the benchmarks: an AM (``authmanager serve``) and a protected service."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import tempfile
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator

PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def run(*args: str, env: dict[str, str]) -> str:
    proc = await asyncio.create_subprocess_exec(*args, env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{args}: {err.decode()}")
    return out.decode()


@asynccontextmanager
async def process(*args: str, env: dict[str, str], cpu: int | None = None) -> AsyncIterator[None]:
    """Start a server process (pinned to ``cpu`` with taskset when given); wait for its banner."""
    if cpu is not None and os.path.exists("/usr/bin/taskset"):
        args = ("taskset", "-c", str(cpu), *args)
    proc = await asyncio.create_subprocess_exec(*args, env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    try:
        async def banner() -> None:
            while line := await proc.stdout.readline():  # type: ignore[union-attr]
                if b"Running on" in line:
                    return
            raise RuntimeError(f"{args} exited before listening")

        await asyncio.wait_for(banner(), 60)
        asyncio.get_running_loop().create_task(_drain(proc))
        yield
    finally:
        proc.terminate()
        await proc.wait()


async def _drain(proc: asyncio.subprocess.Process) -> None:
    while proc.stdout and await proc.stdout.readline():
        pass


@dataclass
class Deployment:
    issuer: str
    resource: str
    realm: dict[str, str]
    env: dict[str, str]


@asynccontextmanager
async def deployment(*, database_url: str | None = None, am_cpu: int | None = None, sp_cpu: int | None = None,
                     sp_module: str = "bench.sp_app") -> AsyncIterator[Deployment]:
    """An AM and a protected service (``sp_module``), each in its own process."""
    with tempfile.TemporaryDirectory(prefix="protectserve-bench-") as tmp:
        env = {**os.environ, "AUTHMANAGER_DATABASE_URL": database_url or f"sqlite+aiosqlite:///{tmp}/am.db",
               "AUTHMANAGER_KEY_FILE": str(Path(tmp) / "am.key"),
               # one load generator on one IP: lift the per-IP quotas so they do not cap the figures
               "AUTHMANAGER_TOKEN_LIMIT_PER_IP": "1000000/second", "AUTHMANAGER_TOKEN_LIMIT": "1000000/second",
               "AUTHMANAGER_REGISTRATION_LIMIT_PER_IP": "1000000/minute"}
        am_port, sp_port = free_port(), free_port()
        issuer, resource = f"http://127.0.0.1:{am_port}", f"http://127.0.0.1:{sp_port}/"
        realm = json.loads(await run(PY, "-m", "authmanager.cli", "realm", "create", f"bench{sp_port}",
                                     "--resource", resource, "--scope", "read", "--scope", "write", "--json",
                                     env=env))
        await run(PY, "-m", "authmanager.cli", "policy", "add", realm["realm"], "--effect", "permit",
                  "--scope", "read", "--scope", "write", env=env)
        async with process(PY, "-m", "authmanager.cli", "serve", "--port", str(am_port), env=env, cpu=am_cpu):
            async with process(PY, "-m", sp_module, "--port", str(sp_port), "--authorization-manager", issuer,
                               "--realm", realm["realm"], "--sph", realm["sph"], "--sph-secret",
                               realm["sph_secret"], "--resource", resource, env=env, cpu=sp_cpu):
                yield Deployment(issuer=issuer, resource=resource, realm=realm, env=env)
