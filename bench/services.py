"""Real processes for the benchmarks: AMs (``authmanager serve``) and a protected service.

The AM is a black box here: configured only through its command line and environment, with its
per-IP rate limits lifted (one load generator on one IP would otherwise hit them).
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable

import aiohttp

from .procs import PY, free_port, run, server

#: Lifted so they never cap a figure (one load generator, one IP).
UNLIMITED = {"AUTHMANAGER_TOKEN_LIMIT_PER_IP": "1000000/second", "AUTHMANAGER_TOKEN_LIMIT": "1000000/second",
             "AUTHMANAGER_REGISTRATION_LIMIT_PER_IP": "1000000/minute",
             "AUTHMANAGER_REGISTRATION_LIMIT": "1000000/minute",
             "AUTHMANAGER_INTROSPECTION_MISS_LIMIT": "1000000/second"}


#: No access-log line per request, like gunicorn's default for the Authlib reference: the rows
#: compare the servers' work, not their logging (docs/performance.md says what the line costs).
QUIET = {"AUTHMANAGER_ACCESS_LOG": "0"}


def am_env(workdir: Path, database_url: str | None = None) -> dict[str, str]:
    return {**os.environ, **UNLIMITED, **QUIET,
            "AUTHMANAGER_DATABASE_URL": database_url or f"sqlite+aiosqlite:///{workdir}/am.db",
            "AUTHMANAGER_KEY_FILE": str(workdir / "am.key")}


async def create_realm(env: dict[str, str], name: str, resource: str) -> dict[str, str]:
    """A realm whose policy permits read and write to any consumer (also creates the schema)."""
    realm = json.loads(await run(PY, "-m", "authmanager.cli", "realm", "create", name, "--resource", resource,
                                 "--scope", "read", "--scope", "write", "--json", env=env))
    await run(PY, "-m", "authmanager.cli", "policy", "add", realm["realm"], "--effect", "permit",
              "--scope", "read", "--scope", "write", env=env)
    return realm


@dataclass
class AM:
    issuer: str
    realm: dict[str, str]
    env: dict[str, str]
    workdir: Path
    log: Path

    @property
    def database_url(self) -> str:
        return self.env["AUTHMANAGER_DATABASE_URL"]

    async def register(self, http: aiohttp.ClientSession, name: str = "bench") -> dict[str, str]:
        async with http.post(self.issuer + "/register", json={"client_name": name}) as r:
            if r.status not in (200, 201):
                raise RuntimeError(f"registration failed: {r.status} {await r.text()}")
            return await r.json()


async def prepare_am(workdir: Path, *, database_url: str | None = None, resource: str = "http://127.0.0.1:9/",
                     name: str = "am") -> AM:
    """Schema, one realm permitting read and write, a port: everything but the running server."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = am_env(workdir, database_url)
    port = free_port()
    realm = await create_realm(env, f"bench{port}", resource)
    return AM(issuer=f"http://127.0.0.1:{port}", realm=realm, env=env, workdir=workdir, log=workdir / f"{name}.log")


@asynccontextmanager
async def serve_am(am: AM, *, cpu: int | None = None) -> AsyncIterator[AM]:
    """``authmanager serve`` for a prepared AM (pinned to ``cpu``), stopped on exit."""
    port = am.issuer.rsplit(":", 1)[1]
    async with server([PY, "-m", "authmanager.cli", "serve", "--port", port], env=am.env, log=am.log,
                      ready_url=am.issuer + "/health/alive", cpu=cpu):
        yield am


@asynccontextmanager
async def authmanager(workdir: Path, *, database_url: str | None = None, cpu: int | None = None,
                      resource: str = "http://127.0.0.1:9/", name: str = "am",
                      before_start: Callable[[AM], Awaitable[None]] | None = None) -> AsyncIterator[AM]:
    """One ``authmanager serve`` process with one realm; ``before_start`` runs once the schema and
    realm exist and before the server starts (e.g. to prefill the database)."""
    am = await prepare_am(workdir, database_url=database_url, resource=resource, name=name)
    if before_start is not None:
        await before_start(am)
    async with serve_am(am, cpu=cpu):
        yield am


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
        sp_port = free_port()
        resource = f"http://127.0.0.1:{sp_port}/"
        async with authmanager(Path(tmp), database_url=database_url, cpu=am_cpu, resource=resource) as am:
            realm = am.realm
            async with server([PY, "-m", sp_module, "--port", str(sp_port), "--authorization-manager", am.issuer,
                               "--realm", realm["realm"], "--sph", realm["sph"], "--sph-secret", realm["sph_secret"],
                               "--resource", resource], env=am.env, log=Path(tmp) / "sp.log",
                              ready_url=resource + "open/1", cpu=sp_cpu):
                yield Deployment(issuer=am.issuer, resource=resource, realm=realm, env=am.env)


async def clone_am(source: AM, workdir: Path, *, database_url: str | None = None) -> AM:
    """A second AM with a copy of ``source``'s database and server key (``source`` not running):
    the same schema, realm and policy without running the CLI again. SQLite: the file is copied;
    PostgreSQL: pass the URL of a database already created from ``source``'s as a template."""
    import shutil

    workdir.mkdir(parents=True, exist_ok=True)
    env = am_env(workdir, database_url)
    if Path(source.env["AUTHMANAGER_KEY_FILE"]).exists():  # made when first needed (by serve)
        shutil.copyfile(source.env["AUTHMANAGER_KEY_FILE"], env["AUTHMANAGER_KEY_FILE"])
    if database_url is None:
        src = Path(source.database_url.removeprefix("sqlite+aiosqlite:///"))
        dst = Path(env["AUTHMANAGER_DATABASE_URL"].removeprefix("sqlite+aiosqlite:///"))
        for suffix in ("", "-wal"):
            if Path(f"{src}{suffix}").exists():
                shutil.copyfile(f"{src}{suffix}", f"{dst}{suffix}")
    port = free_port()
    return AM(issuer=f"http://127.0.0.1:{port}", realm=dict(source.realm), env=env, workdir=workdir,
              log=workdir / "am.log")
