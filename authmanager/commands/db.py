"""``authmanager db …``: schema migrations (Alembic)."""

from __future__ import annotations

import asyncio

import click

from ..settings import Settings
from ..storage.migrate import MigrationRefused, current, head, upgrade
from .common import engine_for

#: A migration may run longer than a request may wait for the database, s.
MIGRATION_TIMEOUT = 30.0


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.pass_obj
def db_upgrade(settings: Settings) -> None:
    """Apply every pending migration (SQLite and PostgreSQL alike)."""

    async def run() -> tuple[str | None, str | None]:
        engine = engine_for(settings, timeout=MIGRATION_TIMEOUT)
        try:
            before = await current(engine)
            await upgrade(engine)
            return before, await current(engine)
        finally:
            await engine.dispose()

    try:
        before, after = asyncio.run(run())
    except MigrationRefused as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"schema at {after}" + (" (already current)" if before == after else f" (was {before or 'empty'})"))


@db.command("current")
@click.pass_obj
def db_current(settings: Settings) -> None:
    """Show the database's schema revision and the one this version needs."""

    async def run() -> str | None:
        engine = engine_for(settings, timeout=MIGRATION_TIMEOUT)
        try:
            return await current(engine)
        finally:
            await engine.dispose()

    revision = asyncio.run(run())
    click.echo(f"database: {revision or 'none'}; this version needs: {head()}")
