"""Test helpers for ticket sharing: Bob's site on 127.0.0.1 (homepage + ticket endpoint), a
recording ticket endpoint, a counting listener, and a socket tripwire for the SSRF guard."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web

from authmanager.serving import base_url, bound_socket, serve
from consumer_sdk import TicketEndpoint, ticket_link_header


class RecordingEndpoint:
    """A ticket endpoint that only records what was posted (and answers ``status``)."""

    def __init__(self, status: int = 202) -> None:
        self.status = status
        self.received: asyncio.Queue[dict[str, str]] = asyncio.Queue()

    async def handle(self, request: web.Request) -> web.Response:
        form = await request.post()
        await self.received.put({k: str(v) for k, v in form.items()})
        return web.Response(status=self.status, text="Accepted")

    async def next(self) -> dict[str, str]:
        return await asyncio.wait_for(self.received.get(), 10)


def homepage(advertise: str, *, via: str = "header"):  # type: ignore[no-untyped-def]
    """A handler for Bob's homepage advertising ``advertise`` by Link header or HTML <link>."""

    async def handle(request: web.Request) -> web.Response:
        if via == "header":
            return web.Response(text="<!doctype html><title>Bob</title>", content_type="text/html",
                                headers={"Link": ticket_link_header(advertise) if "://" in advertise
                                         else f'<{advertise}>; rel="ticket_endpoint"'})
        return web.Response(text=f'<!doctype html><html><head><title>Bob</title>'
                                 f'<link rel="me authn"><LINK REL="Ticket_Endpoint other" href="{advertise}">'
                                 f'</head><body>Bob</body></html>', content_type="text/html")

    return handle


@asynccontextmanager
async def bob_site(*, endpoint: Any = None, via: str = "header", relative: bool = False,
                   ) -> AsyncIterator[tuple[str, Any]]:
    """Serve Bob's homepage at ``/`` and ``endpoint`` at ``/ticket``; yield (homepage URL, endpoint).

    ``endpoint``: a RecordingEndpoint (the default), or a callable given Bob's homepage URL that
    returns a TicketEndpoint for him."""
    sock = bound_socket()
    url = base_url(sock)
    endpoint = endpoint if endpoint is not None else RecordingEndpoint()
    if callable(endpoint) and not isinstance(endpoint, RecordingEndpoint):
        endpoint = endpoint(url + "/")
    app = web.Application()
    app.router.add_get("/", homepage("/ticket" if relative else url + "/ticket", via=via))
    if isinstance(endpoint, TicketEndpoint):
        endpoint.install(app, "/ticket")
    else:
        app.router.add_post("/ticket", endpoint.handle)
    async with serve(app, sock):
        yield url + "/", endpoint


class CountingListener:
    """A raw TCP listener on 127.0.0.1 that counts connections and closes them."""

    def __init__(self) -> None:
        self.connections = 0
        self.server: asyncio.AbstractServer | None = None
        self.port = 0

    async def __aenter__(self) -> CountingListener:
        async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            writer.close()

        self.server = await asyncio.start_server(accepted, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


class Tripwire:
    """The guard's socket maker in tests: a real socket only for loopback addresses, and a
    recorded failure for anything else, so no test can ever connect beyond 127.0.0.1."""

    def __init__(self) -> None:
        self.attempts: list[str] = []

    def __call__(self, addr_info: Any) -> socket.socket:
        family, type_, proto, _, sockaddr = addr_info
        address = ipaddress.ip_address(sockaddr[0].split("%")[0])
        mapped = getattr(address, "ipv4_mapped", None)
        if not (address.is_loopback or (mapped is not None and mapped.is_loopback)):
            self.attempts.append(str(address))
            raise OSError(f"tripwire: test tried to connect to {address}")
        return socket.socket(family=family, type=type_, proto=proto)
