"""Shared fixtures: a real AM on 127.0.0.1 over a real SQLite file or the real PostgreSQL.

PostgreSQL runs are skipped (visibly) when the server is unreachable, unless
``PROTECTSERVE_REQUIRE_POSTGRES=1`` (set by ``.ci/run``), which turns that into a failure.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import AsyncIterator

import pytest
from aiohttp import web

from authmanager.app import create_app
from authmanager.context import CONTEXT, Context
from authmanager.operations.policies import add_policy
from authmanager.operations.realms import NewRealm, create_realm
from authmanager.serving import bound_socket, serve
from authmanager.settings import Settings

PG_ADMIN_DSN = os.environ.get("PROTECTSERVE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("PROTECTSERVE_REQUIRE_POSTGRES") == "1"


class Clock:
    """An injectable clock: real time plus an offset the test moves forward."""

    def __init__(self) -> None:
        import time

        self._time = time.time
        self.offset = 0.0
        self.frozen: float | None = None

    def __call__(self) -> float:
        return (self._time() if self.frozen is None else self.frozen) + self.offset

    def freeze(self) -> None:
        """Stop the clock where it is (for tests at an exact boundary); ``advance`` still moves it."""
        self.frozen = self._time()

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _run_in_thread(coro_fn) -> None:  # type: ignore[no-untyped-def]
    """Run a one-off coroutine on its own loop (fixtures may be set up inside a running loop)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        pool.submit(lambda: asyncio.run(coro_fn())).result()


def _pg_database() -> str | None:
    """Create a throw-away database for this test session; None if PostgreSQL is unreachable."""
    import asyncpg

    name = f"protectserve_test_{secrets.token_hex(4)}"

    async def create() -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    try:
        _run_in_thread(create)
    except (OSError, asyncpg.PostgresError, asyncio.TimeoutError):
        return None
    return name


def _pg_drop(name: str) -> None:
    import asyncpg

    async def drop() -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    _run_in_thread(drop)


@pytest.fixture(scope="session")
def pg_database() -> str | None:
    name = _pg_database()
    yield name
    if name:
        _pg_drop(name)


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'am.db'}"
        return
    yield await _fresh_pg_url(request.getfixturevalue("pg_database"))


async def _fresh_pg_url(name: str | None) -> str:
    """The session's PostgreSQL database, emptied; skip (or fail under CI) if unreachable."""
    if name is None:
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL is required but unreachable at {PG_ADMIN_DSN}")
        pytest.skip(f"PostgreSQL unreachable at {PG_ADMIN_DSN}")
    url = PG_ADMIN_DSN.replace("postgresql://", "postgresql+asyncpg://").rsplit("/", 1)[0] + f"/{name}"
    await _reset_schema(url)
    return url


@pytest.fixture
async def pg_url(pg_database: str | None) -> str:
    return await _fresh_pg_url(pg_database)


async def _reset_schema(url: str) -> None:
    from authmanager.storage.db import make_engine
    from authmanager.storage.models import Base

    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
        await conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    await engine.dispose()


@dataclass
class AM:
    """A running authorization manager and handles to administer it."""

    issuer: str
    app: web.Application
    settings: Settings
    clock: Clock
    realms: dict[str, NewRealm] = field(default_factory=dict)
    #: Where it listens, when that differs from the issuer (several instances of one AM).
    base: str = ""

    @property
    def ctx(self) -> Context:
        return self.app[CONTEXT]

    def url(self, path: str) -> str:
        return (self.base or self.issuer) + path

    async def create_realm(self, name: str, *, resource: str, scopes: list[str]) -> NewRealm:
        new = await create_realm(self.ctx.sessions, name=name, resource=resource, scopes=scopes,
                                 now=int(self.clock()))
        self.realms[name] = new
        return new

    async def add_policy(self, realm: str, effect: str, scopes: list[str], *, consumer: str = "*",
                         max_ttl: int | None = None, **window: object) -> int:
        """``window``: ``subject``, ``not_before``, ``not_after`` (policy_admin.add_policy)."""
        return await add_policy(self.ctx.sessions, realm=realm, effect=effect, scopes=scopes, consumer=consumer,
                                max_ttl=max_ttl, now=int(self.clock()), **window)  # type: ignore[arg-type]


@asynccontextmanager
async def running_am(database_url: str, clock: Clock, tmp_path: Path, **overrides: object) -> AsyncIterator[AM]:
    sock = bound_socket()
    base = "http://127.0.0.1:%d" % sock.getsockname()[1]
    issuer = str(overrides.pop("issuer", base))
    settings = Settings(database_url=database_url, issuer=issuer, key_file=tmp_path / "server.key", now=clock,
                        **overrides)  # type: ignore[arg-type]
    app = create_app(settings)
    async with serve(app, sock):
        yield AM(issuer=issuer, app=app, settings=settings, clock=clock, base=base)


@pytest.fixture
async def am(database_url: str, clock: Clock, tmp_path: Path) -> AsyncIterator[AM]:
    async with running_am(database_url, clock, tmp_path) as handle:
        yield handle


@pytest.fixture
async def sqlite_am(clock: Clock, tmp_path: Path) -> AsyncIterator[AM]:
    """An AM on a SQLite file only, for tests about the file itself."""
    async with running_am(f"sqlite+aiosqlite:///{tmp_path / 'am.db'}", clock, tmp_path) as handle:
        yield handle
