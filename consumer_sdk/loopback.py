"""RFC 8252 §7.3 loopback redirect receiver, and the async ``log_in`` that drives the login.

``LoopbackReceiver`` listens on ``127.0.0.1`` only (RFC 8252 §8.3: the loopback IP literal, not
``localhost``), on a port the OS picks (port 0). It accepts exactly one ``GET /callback``,
answers it with a small page ("you may close this window"; ``Cache-Control: no-store``,
``Referrer-Policy: no-referrer`` so the code leaks nowhere), and stops listening. Other paths,
and any request after the first redirect, get 404 and are not recorded.
"""

from __future__ import annotations

import asyncio
import inspect
import socket
import sys
import time
import webbrowser
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

import aiohttp
from aiohttp import web

from .errors import LoginTimeout
from .flow import USER_AGENT
from .login import Login, LoginConfig, OpenBrowser, authorization_code_login
from .messages import HttpRequest, Step
from .middleware import _perform
from .store import LoginStore, Token

CALLBACK_PATH = "/callback"
_PAGE = ("<!doctype html><meta charset=utf-8><title>Signed in</title>"
         "<p>You are signed in. You may close this window and return to the application.</p>")
_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
            "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'"}


class LoopbackReceiver:
    """``async with LoopbackReceiver(timeout=…) as rx``: ``rx.redirect_uri`` to register the
    request with, ``await rx.wait()`` for the full URL of the one redirect (``LoginTimeout`` if none)."""

    def __init__(self, *, timeout: float = 300.0, host: str = "127.0.0.1") -> None:
        self.timeout, self.host = timeout, host
        self._runner: web.AppRunner | None = None
        self._received: asyncio.Future[str] | None = None
        self.port = 0

    @property
    def redirect_uri(self) -> str:
        return f"http://{self.host}:{self.port}{CALLBACK_PATH}"

    async def __aenter__(self) -> LoopbackReceiver:
        self._received = asyncio.get_running_loop().create_future()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind((self.host, 0))  # port 0: a free port chosen by the OS (RFC 8252 §7.3)
            sock.listen(8)
        except BaseException:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)  # the redirect's code must not be logged
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
        if self._received is not None and not self._received.done():
            self._received.cancel()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        assert self._received is not None
        if request.method != "GET" or request.path != CALLBACK_PATH or self._received.done():
            return web.Response(status=404, text="Not Found", headers=_HEADERS)
        query = request.rel_url.raw_query_string
        self._received.set_result(self.redirect_uri + (f"?{query}" if query else ""))
        return web.Response(text=_PAGE, content_type="text/html", headers=_HEADERS)

    async def wait(self) -> str:
        """The redirect URL; then the receiver stops listening."""
        assert self._received is not None
        try:
            return await asyncio.wait_for(asyncio.shield(self._received), self.timeout)
        except TimeoutError:
            raise LoginTimeout(f"no redirect reached {self.redirect_uri} within {self.timeout:g} s") from None
        finally:
            await self.close()


def system_browser(*, print_url: bool = False, out: Any = None) -> Callable[[str], Awaitable[None]]:
    """An ``open_browser``: ``webbrowser.open`` (RFC 8252 §6: the system browser, never an embedded
    one; in a thread, since a ``$BROWSER`` command may wait for the browser to exit), else — or
    with ``print_url`` — the URL printed for the person to open."""
    async def open_url(url: str) -> None:
        if print_url or not await asyncio.to_thread(webbrowser.open, url):
            print(f"Open this URL in your browser to log in:\n{url}", file=out or sys.stderr, flush=True)
    return open_url


async def log_in(
    url: str, *, store: LoginStore, open_browser: Callable[[str], Awaitable[object] | object] | None = None,
    scopes: list[str] | tuple[str, ...] | None = None, client_id: str | None = None,
    client_name: str = "protectserve consumer", timeout: float = 300.0,
    session: aiohttp.ClientSession | None = None, on_step: Callable[[Step], None] | None = None,
    config: LoginConfig | None = None, now: Callable[[], float] = time.time,
) -> Token:
    """Log in for ``url`` (RFC 8252): the login's requests go out on ``session`` (a new one if none),
    the authorization URL to ``open_browser`` (sync or async; default the system browser), and the
    redirect comes back to a ``LoopbackReceiver``. Returns the stored token. ``config`` (a
    ``LoginConfig``), when given, replaces ``scopes``/``client_id``/``client_name``/``now``."""
    if config is None:
        config = LoginConfig(client_name=client_name, scopes=tuple(scopes) if scopes is not None else None,
                             client_id=client_id, now=now)
    opener = open_browser or system_browser()
    async with LoopbackReceiver(timeout=timeout) as receiver:
        flow = authorization_code_login(url=url, redirect_uri=receiver.redirect_uri, store=store, config=config,
                                        on_step=on_step)
        if session is not None:
            return await drive_login(flow, session, opener, receiver)
        async with aiohttp.ClientSession(headers={"User-Agent": USER_AGENT}) as own:
            return await drive_login(flow, own, opener, receiver)


async def drive_login(flow: Login, session: aiohttp.ClientSession,
                      open_browser: Callable[[str], Awaitable[object] | object], receiver: LoopbackReceiver) -> Token:
    """Perform the login generator's requests on ``session``; its ``OpenBrowser`` with
    ``open_browser`` (concurrently with waiting for the redirect, so an injected opener may itself
    follow the redirect to the receiver)."""
    try:
        outgoing = next(flow)
        while True:
            if isinstance(outgoing, OpenBrowser):
                redirected = await _person(open_browser, outgoing.url, receiver)
                outgoing = flow.send(redirected)
                continue
            assert isinstance(outgoing, HttpRequest)
            outgoing = flow.send(await _perform(session, outgoing))
    except StopIteration as done:
        return done.value
    finally:
        flow.close()


async def _person(open_browser: Callable[[str], Awaitable[object] | object], url: str,
                  receiver: LoopbackReceiver) -> str:
    """Open ``url`` and wait for the redirect; the opener (sync or async) runs alongside the
    receiver, and either one's failure (``LoginTimeout`` included) ends the wait."""
    async def opening() -> None:
        opened = open_browser(url)
        if inspect.isawaitable(opened):
            await opened

    waiting = asyncio.ensure_future(receiver.wait())
    opener = asyncio.ensure_future(opening())
    try:
        await asyncio.wait({waiting, opener}, return_when=asyncio.FIRST_EXCEPTION)
        if opener.done() and opener.exception() is not None:
            raise opener.exception()  # type: ignore[misc]
        redirected = await waiting
        await asyncio.wait_for(opener, receiver.timeout)  # e.g. a browser still reading the page
        return redirected
    finally:
        for task in (waiting, opener):
            if not task.done():
                task.cancel()
        await asyncio.gather(waiting, opener, return_exceptions=True)
