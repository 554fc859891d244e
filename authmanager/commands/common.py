"""What every admin command shares: opening the database, running a coroutine, clean errors."""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Awaitable, Callable, TypeVar

import click
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..operations.realms import AdminError
from ..settings import Settings
from ..storage.db import make_engine, make_sessionmaker
from ..storage.migrate import SchemaOutOfDate, prepare

T = TypeVar("T")
Sessions = async_sessionmaker[AsyncSession]


@asynccontextmanager
async def open_db(settings: Settings) -> AsyncIterator[Sessions]:
    engine = make_engine(settings.database_url, timeout=settings.db_timeout)
    try:
        await prepare(engine)
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


def run_admin(settings: Settings, action: Callable[[Sessions], Awaitable[T]]) -> T:
    """Run ``action`` against the database; an AdminError becomes a one-line CLI error."""

    async def main() -> T:
        async with open_db(settings) as sessions:
            return await action(sessions)

    try:
        return asyncio.run(main())
    except (AdminError, SchemaOutOfDate) as exc:
        raise click.ClickException(str(exc)) from None


def emit(rows: list[dict[str, Any]], as_json: bool, line: Callable[[dict[str, Any]], str]) -> None:
    if as_json:
        click.echo(json.dumps(rows))
        return
    for row in rows:
        click.echo(line(row))
