"""Throw-away PostgreSQL databases on the local server, always dropped afterwards.

Names carry the harness's process id (``protectserve_bench_<pid>_<random>``), so a later run can
tell the leftovers of a killed run (its process is gone) from a concurrent run's, and drops only
the former.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import sys
from contextlib import asynccontextmanager
from typing import AsyncIterator

ADMIN_DSN = os.environ.get("PROTECTSERVE_BENCH_PG", os.environ.get("PROTECTSERVE_TEST_PG",
                                                                     "postgresql://postgres@127.0.0.1:5432/test"))
PREFIX = "protectserve_bench_"


class Unavailable(RuntimeError):
    pass


def server_dsn(name: str, admin_dsn: str = ADMIN_DSN) -> str:
    """The plain DSN of database ``name`` on the admin DSN's server."""
    return admin_dsn.rsplit("/", 1)[0] + f"/{name}"


def sqlalchemy_url(name: str, admin_dsn: str = ADMIN_DSN) -> str:
    return server_dsn(name, admin_dsn).replace("postgresql://", "postgresql+asyncpg://", 1)


async def _admin():  # type: ignore[no-untyped-def]
    import asyncpg

    try:
        return await asyncpg.connect(ADMIN_DSN, timeout=5)
    except (OSError, asyncpg.PostgresError, asyncio.TimeoutError) as exc:
        raise Unavailable(f"PostgreSQL unreachable at {ADMIN_DSN}: {exc}") from exc


async def _drop_leftovers(conn) -> None:  # type: ignore[no-untyped-def]
    for row in await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE $1", PREFIX + "%"):
        match = re.fullmatch(PREFIX + r"(\d+)_[0-9a-f]+", row["datname"])
        if match and not _alive(int(match.group(1))):
            await conn.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@asynccontextmanager
async def databases(count: int) -> AsyncIterator[list[str]]:
    """``count`` new empty databases (their names); dropped on exit, whatever happened."""
    names: list[str] = []
    try:
        conn = await _admin()
        try:
            await _drop_leftovers(conn)
            for _ in range(count):
                name = f"{PREFIX}{os.getpid()}_{secrets.token_hex(4)}"
                names.append(name)
                await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        yield names
    finally:
        if names:
            await _drop(names)


async def _drop(names: list[str]) -> None:
    try:
        conn = await _admin()
    except Unavailable as exc:
        print(f"warning: could not drop {names}: {exc}", file=sys.stderr)
        return
    try:
        for name in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def copy(source: str, target: str) -> None:
    """Replace database ``target`` by a copy of ``source`` (which nobody may be connected to)."""
    conn = await _admin()
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{target}" TEMPLATE "{source}"')
    finally:
        await conn.close()
