"""The revocation-feed subscriber (docs/protocol.md §11): AM → SP push over Server-Sent Events.

``FeedSubscriber`` is a background task owned by the runtime (jwks mode only, and only when
the AM metadata advertises ``protectserve_revocation_feed`` and ``sph_secret`` is configured):

* ``GET <feed>`` with ``Authorization: Basic base64(sph:sph_secret)`` (RFC 7617 §2),
  ``Accept: text/event-stream`` and, once it has one, ``Last-Event-ID: <cursor>`` (HTML
  §9.2.4) so the AM resumes exactly after the last event applied.  The body is parsed by
  ``sse.EventStreamParser``.
* Events: ``token_revoked`` / ``client_revoked`` go into ``Revocations`` (which the token cache
  consults on every hit); ``keys_changed`` calls ``on_keys_changed`` (the runtime passes
  ``key_refresher.KeyRefresher.request``: a coalesced, rate-limited JWKS refetch); ``ready``
  marks the replay complete.  Unknown events are ignored.
* Cursor: the ``id`` of the last event applied, or the ``cursor`` of ``ready`` (ids are
  integers, §11); an empty or non-numeric id never moves it.
* Reconnects after any end of the stream with capped exponential backoff with jitter: a delay
  drawn from ``[d/2, d]``, ``d`` = 0.5 s doubling to 30 s, back to 0.5 s after a ``ready``.

Staleness (fail closed).  ``fresh`` is true only when a ``ready`` has been received and the
last byte (event or ``: keepalive`` comment) arrived at most ``max_staleness`` seconds ago on
the injected ``monotonic`` clock.  Once that lapses only a new ``ready`` restores freshness: a
byte that arrives after the lapse on an already caught-up connection makes the subscriber
reconnect (with its cursor, so nothing is missed) to be told ``ready`` again, and a silent
connection is abandoned after ``max_staleness`` seconds of real time.  While not fresh, the
middleware validates by RFC 7662 introspection (``sph:sph_secret``; the AM must advertise an
``introspection_endpoint``) or, without one, answers ``503`` + ``Retry-After`` (``guarded``).
Nothing here logs a token; revocation payloads are logged by kind only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from .revocations import Revocations
from .sse import EventStreamParser, ProtocolError, ServerSentEvent

log = logging.getLogger("rs_middleware")

INITIAL_DELAY = 0.5
MAX_DELAY = 30.0
_CURSOR_DIGITS = 18


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _cursor(value: Any) -> str | None:
    """A valid §11 cursor (a non-negative integer) as its decimal string, else ``None``."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        value = str(value)
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= _CURSOR_DIGITS:
        return value
    return None


class FeedRefused(Exception):
    """The AM answered the feed request with something other than an event stream."""


class _Waiters:
    """``wait_until(predicate)`` for tests and operators; ``notify()`` re-checks after changes."""

    def __init__(self) -> None:
        self._futures: list[asyncio.Future[None]] = []

    def notify(self) -> None:
        futures, self._futures = self._futures, []
        for future in futures:
            if not future.done():
                future.set_result(None)

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        while not predicate():
            future = asyncio.get_running_loop().create_future()
            self._futures.append(future)
            await future


class FeedSubscriber:
    """Keeps ``revocations`` current from the AM's feed; ``fresh`` says whether to trust them."""

    def __init__(
        self, *, session: aiohttp.ClientSession, url: str, sph: str, sph_secret: str,
        revocations: Revocations, on_keys_changed: Callable[[], None] = lambda: None,
        max_staleness: float = 30.0, monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random, connect_timeout: float = 5.0,
    ) -> None:
        self._session, self.url = session, url
        self._authorization = aiohttp.encode_basic_auth(sph, sph_secret)
        self._revocations, self._on_keys_changed = revocations, on_keys_changed
        self.max_staleness, self._monotonic = max_staleness, monotonic
        self._sleep, self._jitter = sleep, jitter
        self._timeout = aiohttp.ClientTimeout(total=None, connect=connect_timeout, sock_read=max_staleness)
        self._waiters = _Waiters()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._delay = INITIAL_DELAY
        self._last_byte: float | None = None
        self.caught_up = False
        self.connected = False
        self.cursor = ""
        self.connections = 0  # successful (HTTP 200) connections so far
        self.attempts = 0  # connections ended (refused, failed or dropped) so far
        self.applied = 0  # events applied so far (ready included)

    # -- state for the middleware, tests and operators ------------------------------------------

    @property
    def fresh(self) -> bool:
        """Caught up (a ``ready`` seen) and heard from within ``max_staleness`` seconds."""
        self._check_lapse()
        return self.caught_up

    @property
    def retry_after(self) -> float:
        """Roughly when a reconnect will have been tried (for ``Retry-After``)."""
        return self._delay

    def notify(self) -> None:
        self._waiters.notify()

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Wait (callers bound it with ``asyncio.wait_for``) until ``predicate()`` is true."""
        await self._waiters.wait_until(predicate)

    def wake(self) -> None:
        """Cut the current (or next) backoff pause short."""
        self._wake.set()

    def _check_lapse(self) -> bool:
        """Clear ``caught_up`` if ``max_staleness`` passed since the last byte; True if so."""
        if self._last_byte is not None and self._monotonic() - self._last_byte > self.max_staleness:
            self.caught_up = False
            return True
        return False

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="protectserve-revocation-feed")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self._listen()
                log.info("revocation feed %s ended; reconnecting", self.url)
            except (aiohttp.ClientError, asyncio.TimeoutError, FeedRefused, ProtocolError) as exc:
                log.warning("revocation feed %s: %s", self.url, str(exc) or type(exc).__name__)
            except Exception:  # a bug must not end the subscription (staleness fails closed)
                log.exception("revocation feed %s: unexpected error", self.url)
            finally:
                self.connected = False
                self.attempts += 1
                self.notify()
            await self._pause()

    async def _pause(self) -> None:
        delay = self._delay * (0.5 + 0.5 * self._jitter())
        self._delay = min(self._delay * 2, MAX_DELAY)
        if self._wake.is_set():
            self._wake.clear()
            return
        sleeper = asyncio.ensure_future(self._sleep(delay))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait((sleeper, waker), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, waker):
                task.cancel()
            await asyncio.gather(sleeper, waker, return_exceptions=True)
            self._wake.clear()

    async def _listen(self) -> None:
        headers = {"Authorization": self._authorization, "Accept": "text/event-stream",
                   "Cache-Control": "no-store"}
        if self.cursor:
            headers["Last-Event-ID"] = self.cursor
        async with self._session.get(self.url, headers=headers, timeout=self._timeout,
                                     allow_redirects=False) as resp:
            if resp.status != 200:
                raise FeedRefused(f"HTTP {resp.status}")
            if resp.content_type != "text/event-stream":
                raise FeedRefused(f"Content-Type {resp.content_type!r} is not text/event-stream")
            self._check_lapse()
            self.connected, ready_here = True, False
            self.connections += 1
            self.notify()
            parser = EventStreamParser()
            async for chunk in resp.content.iter_any():
                if self._check_lapse() and ready_here:
                    log.warning("revocation feed was silent too long; reconnecting to catch up")
                    return
                self._last_byte = self._monotonic()
                self._revocations.purge()
                for event in parser.feed(chunk):
                    ready_here |= self._apply(event)
                self.notify()

    def _apply(self, event: ServerSentEvent) -> bool:
        """Apply one event, then move the cursor past it; True for ``ready``."""
        try:
            data = json.loads(event.data)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            data = {}
        kind, is_ready = event.type, event.type == "ready"
        if kind == "token_revoked" and isinstance(data.get("jti"), str) and _number(data.get("exp")):
            self._revocations.revoke_token(data["jti"], data["exp"])
        elif kind == "client_revoked" and isinstance(data.get("client_id"), str) and all(
                _number(data.get(name)) for name in ("issued_before", "exp")):
            self._revocations.revoke_client(data["client_id"], data["issued_before"], data["exp"])
        elif kind == "keys_changed":
            self._on_keys_changed()
        elif is_ready:
            self.caught_up, self._delay = True, INITIAL_DELAY
        elif kind in ("token_revoked", "client_revoked"):
            log.error("revocation feed: malformed %s event skipped", kind)
        cursor = data.get("cursor") if is_ready else event.last_event_id
        self.cursor = _cursor(cursor) or self.cursor
        self.applied += 1
        return is_ready
