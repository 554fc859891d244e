"""The revocation feed hub: one poller per AM process fans new events out to its subscribers.

Any AM process may write a revocation; each process polls the events table (an indexed
``id > cursor`` query, every ``feed_poll_interval``) and pushes what is new to the SSE
connections it holds. No in-process state is needed for correctness: a subscriber resumes from
its cursor against the database. A ``keys_changed`` event also makes the process reload its key ring.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..storage import events as event_repo
from ..storage.models import RevocationEvent

log = logging.getLogger("authmanager.runtime.feed")
QUEUE_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class FeedEvent:
    id: int
    kind: str
    realm_id: int | None
    data: dict[str, Any]

    @classmethod
    def from_row(cls, row: RevocationEvent) -> "FeedEvent":
        if row.kind == "token_revoked":
            data: dict[str, Any] = {"jti": row.jti, "exp": row.exp}
        elif row.kind == "client_revoked":
            data = {"client_id": row.client_id, "issued_before": row.issued_before, "exp": row.exp}
        else:
            data = {}
        return cls(id=row.id, kind=row.kind, realm_id=row.realm_id, data=data)


@dataclass(eq=False)
class Subscription:
    realm_id: int
    queue: asyncio.Queue[FeedEvent | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))


class FeedHub:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, poll_interval: float,
                 on_keys_changed: Callable[[], Awaitable[None]],
                 on_events: Callable[[list[RevocationEvent]], None] = lambda rows: None):
        """``on_events`` sees every new event first (this process's caches of known tokens)."""
        self._sessions, self._interval, self._on_keys_changed = sessions, poll_interval, on_keys_changed
        self._on_events = on_events
        self._subs: set[Subscription] = set()
        self._task: asyncio.Task[None] | None = None
        self.cursor = 0
        #: When (``time.monotonic``) the last successful read of the log began: every event
        #: committed before then has been seen.
        self.read_at = -math.inf

    async def start(self) -> None:
        started = time.monotonic()
        async with self._sessions() as session:
            self.cursor = await event_repo.latest_id(session)
        self.read_at = started
        self._task = asyncio.create_task(self._run(), name="protectserve-feed-poller")

    def following(self, within: float) -> bool:
        """Whether this process has read the whole log at most ``within`` seconds ago."""
        return time.monotonic() - self.read_at <= within

    async def close(self) -> None:
        for sub in list(self._subs):
            self._end(sub)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def subscribe(self, realm_id: int) -> Subscription:
        sub = Subscription(realm_id)
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    def _end(self, sub: Subscription) -> None:
        self._subs.discard(sub)
        with contextlib.suppress(asyncio.QueueFull):
            sub.queue.put_nowait(None)

    async def poll_once(self) -> int:
        started = time.monotonic()
        rows: list[RevocationEvent] = []
        async with self._sessions() as session:
            while True:  # all of it, a page at a time
                page = await event_repo.after(session, cursor=rows[-1].id if rows else self.cursor)
                rows += page
                if len(page) < event_repo.PAGE:
                    break
        if any(row.kind == "keys_changed" for row in rows):
            await self._on_keys_changed()  # this process signs with the new ring before SPs hear of it
        self._on_events(rows)
        for row in rows:
            self.cursor = row.id
            event = FeedEvent.from_row(row)
            for sub in list(self._subs):
                if event.realm_id is None or event.realm_id == sub.realm_id:
                    try:
                        sub.queue.put_nowait(event)
                    except asyncio.QueueFull:  # a stalled reader: drop it; it resumes from its cursor
                        log.warning("feed subscriber too slow; disconnecting it")
                        self._end(sub)
        self.read_at = started
        return len(rows)

    async def _run(self) -> None:
        delay = self._interval
        while True:
            await asyncio.sleep(delay)
            try:
                await self.poll_once()
                delay = self._interval
            except Exception:  # the database may be briefly unavailable: back off, keep going
                log.exception("feed poll failed")
                delay = min(delay * 2, 5.0)
