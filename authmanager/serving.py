"""Running aiohttp apps on loopback sockets bound before the app is built (so the app can be
told its own URL — the issuer or resource — without racing for a port)."""

from __future__ import annotations

import socket
from contextlib import asynccontextmanager
from typing import AsyncIterator

from aiohttp import web


def bound_socket(host: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    return sock


def base_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{host}:{port}"


@asynccontextmanager
async def serve(app: web.Application, sock: socket.socket) -> AsyncIterator[str]:
    """Run ``app`` on ``sock`` until the block exits; yield its base URL."""
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    try:
        yield base_url(sock)
    finally:
        await runner.cleanup()
