"""Refresh locks: one refresh of a login's tokens at a time per resource, across the coroutines
of this process and (for ``FileStore``) across processes sharing the credential file.

Refresh tokens rotate on every use, and presenting one that has already been rotated revokes
the whole family (RFC 9700 §4.14.2). Two processes refreshing the same login at once would log
the person out; so a refresh holds an advisory lock (``flock``) on ``<credentials>.lock`` and,
inside it, first re-reads the store: when another process has refreshed meanwhile, its token
is used and nothing is sent.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from weakref import WeakKeyDictionary

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: the in-process lock only
    fcntl = None  # type: ignore[assignment]

#: Per event loop, per (store, key): an ``asyncio.Lock`` belongs to one loop.
_LOCKS: WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[int, str], asyncio.Lock]] = WeakKeyDictionary()


def local_lock(owner: object, key: str) -> asyncio.Lock:
    """The lock of ``key`` for ``owner`` (a store) in the running loop."""
    locks = _LOCKS.setdefault(asyncio.get_running_loop(), {})
    return locks.setdefault((id(owner), key), asyncio.Lock())


@asynccontextmanager
async def file_lock(path: Path) -> AsyncIterator[None]:
    """An exclusive ``flock`` on ``path`` (created 0600), taken in a thread so the loop never blocks.
    Closing the descriptor releases it, also when the waiter is cancelled before it is granted."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    granted = asyncio.ensure_future(asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX))
    try:
        await asyncio.shield(granted)
    except BaseException:
        granted.add_done_callback(lambda _: os.close(fd))
        raise
    try:
        yield
    finally:
        os.close(fd)
