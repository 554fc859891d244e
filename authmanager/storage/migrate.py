"""Schema migrations with Alembic, on the AM's own async engine (SQLite and PostgreSQL alike).

* ``upgrade(engine)`` applies every pending migration (``authmanager db upgrade``).
* A migration that finds data it must not decide about raises ``MigrationRefused`` before it
  changes anything (0006: two realms on one resource).
* ``prepare(engine)`` is what ``serve`` does: an empty database is brought to the head revision
  (the first start creates the schema); a database at an older revision is refused with a clear
  message, never migrated behind the operator's back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


class SchemaOutOfDate(RuntimeError):
    """The database schema is not the one this version of the AM needs."""


class MigrationRefused(RuntimeError):
    """A migration found data it must not change on its own (the message says what to do);
    the upgrade's transaction is rolled back."""


def _config(connection: Any = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    revision = ScriptDirectory.from_config(_config()).get_current_head()
    assert revision is not None
    return revision


async def current(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    async with engine.begin() as conn:
        await conn.run_sync(lambda c: command.upgrade(_config(c), revision))


async def prepare(engine: AsyncEngine) -> bool:
    """Bring an empty database to the head revision (True: it was created); refuse an outdated one."""
    async with engine.connect() as conn:
        tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        revision = await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
    wanted = head()
    if revision == wanted:
        return False
    if not tables - {"alembic_version"}:
        await upgrade(engine)
        return True
    raise SchemaOutOfDate(
        f"the database schema is at revision {revision or 'none (created before migrations)'}, this version "
        f"of authmanager needs {wanted}: back up the database, then run `authmanager db upgrade`"
    )
