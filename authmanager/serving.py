"""Running aiohttp apps: on loopback sockets bound before the app is built (so the app can be
told its own URL — the issuer or resource — without racing for a port), and as the
``authmanager serve`` process (one, or each of ``--workers N``).

Both go through ``AppRunner``, whose connections answer request heads over the parser's caps
with the status RFC 6585 and RFC 9110 give them instead of aiohttp's catch-all ``400``:

* a header field longer than ``max_field_size`` bytes, or more than ``max_headers`` fields:
  ``431 Request Header Fields Too Large`` (RFC 6585 §5);
* a request line longer than ``max_line_size`` bytes: ``414 URI Too Long`` (RFC 9110 §15.5.15).

The caps themselves are aiohttp's ``RequestHandler`` arguments; the AM sets them from its
settings through ``web.Application(handler_args=header_caps(settings))``, so they hold however
the app is run. The body names the cap, never echoes the header, and the connection is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong

from .settings import Settings

#: aiohttp's parser message when a request has more than ``max_headers`` fields.
_TOO_MANY_HEADERS = "Too many headers received"


class CannotListen(Exception):
    """``host:port`` cannot be served on: in use, not an address of this machine, not resolvable."""


def header_caps(settings: Settings) -> dict[str, int]:
    """The AM's request-head caps as aiohttp ``RequestHandler`` arguments (``handler_args``)."""
    return {"max_line_size": settings.max_request_line, "max_field_size": settings.max_header_field,
            "max_headers": settings.max_headers}


class CappedRequestHandler(web.RequestHandler):
    """aiohttp's connection handler, rendering an over-cap request head as 431 or 414."""

    __slots__ = ()

    def handle_error(self, request: web.BaseRequest, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        over = self._over_cap(exc) if status == 400 else None
        if over is None:
            return super().handle_error(request, status, exc, message)
        status, description = over
        # A hostile client can send these at will: one line, no traceback, no header content.
        self.logger.info("%d for %s: %s", status, request.remote, description)
        resp = web.Response(status=status, content_type="application/json", headers={"Cache-Control": "no-store"},
                            text=json.dumps({"error": "invalid_request", "error_description": description}))
        resp.force_close()
        return resp

    def _over_cap(self, exc: BaseException | None) -> tuple[int, str] | None:
        if isinstance(exc, LineTooLong):
            limit = exc.args[1] if len(exc.args) > 1 else None
            # The field cap is checked first: when both caps are equal the field is the likelier.
            if limit == self.max_field_size:
                return 431, f"a request header field exceeds {self.max_field_size} bytes"
            if limit == self.max_line_size:
                return 414, f"the request line exceeds {self.max_line_size} bytes"
            return None
        if isinstance(exc, BadHttpMessage) and exc.message == _TOO_MANY_HEADERS:
            return 431, f"more than {self.max_headers} request header fields"
        return None


class _CappedServer(web.Server):
    def __call__(self) -> web.RequestHandler:
        # web.Server.__call__ builds a plain RequestHandler from the same two attributes.
        return CappedRequestHandler(self, loop=self._loop, **self._kwargs)


class AppRunner(web.AppRunner):
    """``web.AppRunner`` whose connections are ``CappedRequestHandler``s."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        # The app's own server (its handler, request factory and handler_args), with only the
        # connection factory overridden; _CappedServer adds no state.
        server.__class__ = _CappedServer
        return server


def bound_socket(host: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    return sock


def base_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{host}:{port}"


@asynccontextmanager
async def serve(app: web.Application, sock: socket.socket, **handler_args: Any) -> AsyncIterator[str]:
    """Run ``app`` on ``sock`` until the block exits; yield its base URL. ``handler_args`` are
    ``RequestHandler`` arguments (``max_field_size`` …); the app's own ``handler_args`` win."""
    runner = AppRunner(app, handle_signals=False, access_log=None, **handler_args)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    try:
        yield base_url(sock)
    finally:
        await runner.cleanup()


def run(app: web.Application, *, host: str, port: int, reuse_port: bool = False, access_log: bool = True,
        on_listening: Callable[[str], None] | None = None) -> None:
    """Serve ``app`` on ``host:port`` until SIGINT or SIGTERM, like ``web.run_app`` (whose
    keep-alive timeout it keeps) but through ``AppRunner``. ``reuse_port`` lets the processes of
    ``authmanager serve --workers N`` share the port; ``access_log=False`` drops the per-request
    log line; ``on_listening(url)`` is called once the socket listens. A socket that cannot be
    bound raises ``CannotListen``; start-up errors of the app (its ``cleanup_ctx``) propagate."""

    async def main() -> None:
        runner = AppRunner(app, handle_signals=True, keepalive_timeout=75.0,
                           **({} if access_log else {"access_log": None}))
        await runner.setup()
        try:
            try:
                await web.TCPSite(runner, host, port, reuse_port=reuse_port or None).start()
            except OSError as exc:
                raise CannotListen(f"cannot listen on {host}:{port}: {_bind_error(host, exc)}") from None
            if on_listening is not None:
                on_listening(f"http://{host}:{port}")
            await asyncio.Event().wait()  # until a signal raises GracefulExit
        finally:
            await runner.cleanup()

    with contextlib.suppress(web.GracefulExit, KeyboardInterrupt):
        asyncio.run(main())


def _bind_error(host: str, exc: OSError) -> str:
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve {host!r} ({exc.strerror})"
    # asyncio's own message repeats the address; the errno's text is the reason
    return os.strerror(exc.errno) if exc.errno else str(exc)
