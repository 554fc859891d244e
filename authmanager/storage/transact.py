"""Running one synchronous function as one database transaction, in as few round trips as the
driver allows: the token endpoint's group commit (:mod:`authmanager.grants.group_commit`).

The function is written once, against SQLAlchemy's synchronous ``Connection`` API, and runs on
either database:

* **PostgreSQL** (asyncpg): on the AM's async engine through ``AsyncConnection.run_sync``; each
  statement is one network round trip, awaited without blocking the event loop.
* **SQLite**: on a connection of its own, in a dedicated thread, the whole transaction in one
  hop. Through aiosqlite every statement costs three or four hops between the event loop and
  aiosqlite's thread (cursor, execute, fetch, close), each a wake-up of the other thread; a
  batch of a dozen statements paid about 5 ms for them, more than the work. The connection gets
  the same settings as the async engine's (WAL, ``BEGIN IMMEDIATE``, foreign keys, the busy
  timeout from ``db_timeout``), so it queues behind other writers exactly as they do.

Either way the transaction commits before the call returns, or rolls back and raises.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, TypeVar

from sqlalchemy import Connection, create_engine
from sqlalchemy.ext.asyncio import AsyncEngine

from .db import sqlite_settings

T = TypeVar("T")


class Transactor:
    """``await transactor(fn, *args)`` runs ``fn(connection, *args)`` in one transaction."""

    def __init__(self, engine: AsyncEngine, *, timeout: float):
        self._async = engine
        self._sync = None
        self._thread: ThreadPoolExecutor | None = None
        url = engine.url
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            self._sync = create_engine(url.set(drivername="sqlite+pysqlite"), pool_size=1, max_overflow=0,
                                       pool_timeout=timeout, connect_args={"timeout": timeout,
                                                                           "check_same_thread": False})
            sqlite_settings(self._sync, timeout=timeout)
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="protectserve-sqlite-tx")

    async def __call__(self, fn: Callable[..., T], *args: Any) -> T:
        if self._thread is not None:
            return await asyncio.get_running_loop().run_in_executor(self._thread, self._in_thread, fn, args)
        async with self._async.begin() as conn:
            return await conn.run_sync(fn, *args)

    def _in_thread(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        assert self._sync is not None
        conn: Connection
        with self._sync.begin() as conn:
            return fn(conn, *args)

    async def close(self) -> None:
        if self._thread is not None:
            assert self._sync is not None
            await asyncio.get_running_loop().run_in_executor(self._thread, self._sync.dispose)
            self._thread.shutdown(wait=True)
