"""What every admin command shares: opening the database, running a coroutine, id arguments.

Errors are not caught here: ``cli.py`` turns those configuration or input can cause (an
``AdminError``, a database it cannot use, …) into one line (``commands/failures.py``)."""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Awaitable, Callable, TypeVar

import click
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from ..settings import Settings
from ..storage.db import check_sqlite_file, make_engine, make_sessionmaker
from ..storage.migrate import prepare

T = TypeVar("T")
Sessions = async_sessionmaker[AsyncSession]

#: A row id argument: a positive 64-bit integer (what both databases store), else a usage error.
ROW_ID = click.IntRange(min=1, max=2**63 - 1)


def engine_for(settings: Settings, *, timeout: float | None = None) -> AsyncEngine:
    """The configured database's engine (waits bounded by ``timeout``, default ``db_timeout``); a
    SQLite file that cannot be used is refused first."""
    check_sqlite_file(settings.database_url)
    return make_engine(settings.database_url, timeout=settings.db_timeout if timeout is None else timeout)


@asynccontextmanager
async def open_db(settings: Settings) -> AsyncIterator[Sessions]:
    engine = engine_for(settings)
    try:
        await prepare(engine)
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


def run_admin(settings: Settings, action: Callable[[Sessions], Awaitable[T]]) -> T:
    """Run ``action`` against the database (its schema checked first)."""

    async def main() -> T:
        async with open_db(settings) as sessions:
            return await action(sessions)

    return asyncio.run(main())


def emit(rows: list[dict[str, Any]], as_json: bool, line: Callable[[dict[str, Any]], str]) -> None:
    if as_json:
        click.echo(json.dumps(rows))
        return
    for row in rows:
        click.echo(line(row))
