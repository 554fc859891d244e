"""A small asyncio TCP proxy on 127.0.0.1 that injects faults between two real components.

Faults: ``pass`` (forward), ``delay`` (hold each chunk ``delay`` seconds), ``reset`` (abort the
connection) and ``blackhole`` (accept and read, but forward nothing either way until the fault
is lifted — as a network that drops packets while TCP keeps retransmitting them).

A fault applies to all traffic (``set(mode)``) or, for HTTP, to the requests whose path starts
with a prefix (``set(mode, path="/feed")``; the longest prefix wins). The proxy reads the
request lines that pass through it (``requests``), so a test can count what a client asked
for even when it was never answered; a connection's responses follow the fault of its latest
request. ``target`` may be set after start-up (a proxy whose URL the target must know first).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field

_REQUEST_LINE = re.compile(rb"(?:^|\r\n)(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS) (\S+) HTTP/1\.[01]\r\n")
MODES = ("pass", "delay", "reset", "blackhole")


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    #: The request head as far as it arrived in its chunk (request line and header lines).
    head: str

    def header(self, name: str) -> str | None:
        for line in self.head.split("\r\n")[1:]:
            key, _, value = line.partition(":")
            if key.strip().lower() == name.lower():
                return value.strip()
        return None


@dataclass(eq=False)
class _Connection:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    path: str | None = None  # of the latest request seen on it (HTTP only)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def abort(self) -> None:
        self.client.transport.abort()
        if self.upstream is not None:
            self.upstream.transport.abort()


class FaultProxy:
    def __init__(self, target_host: str = "127.0.0.1", target_port: int = 0):
        self.target = (target_host, target_port)
        self.mode, self.delay = "pass", 0.0
        self.rules: dict[str, tuple[str, float]] = {}
        self.requests: list[Request] = []
        self.accepted = 0  # connections accepted so far
        self.port = 0
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[_Connection] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()
        self._closing = False

    async def __aenter__(self) -> FaultProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        self._closing = True
        self.cut()  # every pump and pending read ends on the aborted transports
        self._changed.set()  # and nothing stays held in a blackhole
        await asyncio.wait_for(asyncio.gather(*self._handlers, return_exceptions=True), 5)
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set(self, mode: str, delay: float = 0.0, *, path: str | None = None, cut: bool = True) -> None:
        """Change the fault for all traffic, or for requests under ``path``. With ``cut`` the
        connections it applies to are aborted, so clients reconnect into the new fault; without,
        they carry on under it (a blackhole then stalls them silently)."""
        if mode not in MODES:
            raise ValueError(mode)
        if path is None:
            self.mode, self.delay = mode, delay
        elif mode == "pass":
            self.rules.pop(path, None)
        else:
            self.rules[path] = (mode, delay)
        if cut:
            self.cut(path)
        self._changed.set()  # wake the pumps held by a blackhole
        self._changed = asyncio.Event()

    def cut(self, path: str | None = None) -> None:
        """Abort the open connections (those whose latest request is under ``path``)."""
        for conn in list(self._connections):
            if path is None or (conn.path or "").startswith(path):
                conn.abort()
                self._connections.discard(conn)

    def requested(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path.startswith(path)]

    def _fault(self, path: str | None) -> tuple[str, float]:
        if path is not None:
            matches = [prefix for prefix in self.rules if path.startswith(prefix)]
            if matches:
                return self.rules[max(matches, key=len)]
        return self.mode, self.delay

    def _sniff(self, conn: _Connection, chunk: bytes) -> None:
        for match in _REQUEST_LINE.finditer(chunk):
            start = match.start() + (2 if chunk[match.start():match.start() + 2] == b"\r\n" else 0)
            end = chunk.find(b"\r\n\r\n", start)
            head = chunk[start:end if end >= 0 else len(chunk)].decode("latin-1")
            conn.path = match.group(2).decode("latin-1")
            self.requests.append(Request(match.group(1).decode(), conn.path, head))

    async def _admit(self, conn: _Connection) -> bool:
        """Wait out a blackhole; False if the connection is to be reset."""
        while True:
            mode, delay = self._fault(conn.path)
            if mode == "reset" or self._closing:
                conn.abort()
                return False
            if mode != "blackhole":
                if delay:
                    await asyncio.sleep(delay)  # the injected fault itself
                return True
            await self._changed.wait()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Connection(writer)
        self._connections.add(conn)
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.accepted += 1
        try:
            # Both HTTP and PostgreSQL clients speak first: the first chunk says where it goes.
            first = await reader.read(65536)
            if not first:
                writer.transport.abort()
                return
            self._sniff(conn, first)
            if not await self._admit(conn):
                return
            try:
                up_reader, conn.upstream = await asyncio.open_connection(*self.target)
            except OSError:
                writer.transport.abort()
                return
            conn.upstream.write(first)
            conn.tasks = [asyncio.create_task(self._pump(conn, reader, conn.upstream, sniff=True)),
                          asyncio.create_task(self._pump(conn, up_reader, writer, sniff=False))]
            await asyncio.gather(*conn.tasks, return_exceptions=True)
        except (ConnectionError, OSError):
            conn.abort()
        finally:
            self._connections.discard(conn)
            self._handlers.discard(task)

    async def _pump(self, conn: _Connection, src: asyncio.StreamReader, dst: asyncio.StreamWriter,
                    *, sniff: bool) -> None:
        try:
            while chunk := await src.read(65536):
                if sniff:
                    self._sniff(conn, chunk)
                if not await self._admit(conn):
                    return
                dst.write(chunk)
                await dst.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            conn.abort()
