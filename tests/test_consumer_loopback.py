"""The RFC 8252 §7.3 loopback redirect receiver, over real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import io
import socket

import aiohttp
import pytest
from yarl import URL

from consumer_sdk import __main__ as cli
from consumer_sdk.errors import LoginTimeout
from consumer_sdk.loopback import LoopbackReceiver, system_browser


async def test_one_redirect_on_a_free_loopback_port():
    async with aiohttp.ClientSession() as http:
        async with LoopbackReceiver(timeout=10) as receiver:
            assert receiver.port > 0
            assert receiver.redirect_uri == f"http://127.0.0.1:{receiver.port}/callback"
            waiting = asyncio.ensure_future(receiver.wait())
            async with http.get(f"http://127.0.0.1:{receiver.port}/favicon.ico") as r:
                assert r.status == 404  # other paths: nothing recorded
            sent = URL(receiver.redirect_uri + "?code=c%2B1&state=s&iss=http%3A%2F%2Fam", encoded=True)
            async with http.get(sent) as r:
                assert r.status == 200
                assert "close this window" in await r.text()
                assert r.headers["Cache-Control"] == "no-store"
                assert r.headers["Referrer-Policy"] == "no-referrer"
            assert await waiting == receiver.redirect_uri + "?code=c%2B1&state=s&iss=http%3A%2F%2Fam"
            # then it stops listening: a second redirect finds no one
            with pytest.raises(aiohttp.ClientConnectionError):
                async with http.get(receiver.redirect_uri + "?code=evil&state=s") as r:
                    pass


async def test_a_second_request_before_closing_gets_nothing_useful():
    async with aiohttp.ClientSession() as http:
        async with LoopbackReceiver(timeout=10) as receiver:
            async with http.get(receiver.redirect_uri + "?code=first&state=s") as r:
                assert r.status == 200
            async with http.get(receiver.redirect_uri + "?code=second&state=s") as r:
                assert r.status == 404
            assert await receiver.wait() == receiver.redirect_uri + "?code=first&state=s"


async def test_post_is_not_a_redirect():
    async with aiohttp.ClientSession() as http:
        async with LoopbackReceiver(timeout=10) as receiver:
            async with http.post(receiver.redirect_uri + "?code=c&state=s") as r:
                assert r.status == 404
            async with http.get(receiver.redirect_uri + "?code=c&state=s") as r:
                assert r.status == 200


async def test_it_listens_on_127_0_0_1_only():
    async with LoopbackReceiver(timeout=10) as receiver:
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:  # the port is taken on 127.0.0.1 ...
            with pytest.raises(OSError):
                probe.bind(("127.0.0.1", receiver.port))
        finally:
            probe.close()
        free = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:  # ... and on no other address of the host (not bound to 0.0.0.0)
            free.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 0)
            free.bind(("127.0.0.2", receiver.port))
        finally:
            free.close()


async def test_no_redirect_in_time_is_a_login_timeout_and_the_port_is_closed():
    async with LoopbackReceiver(timeout=0.05) as receiver:
        with pytest.raises(LoginTimeout, match="no redirect"):
            await receiver.wait()
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.ClientConnectionError):
                async with http.get(receiver.redirect_uri):
                    pass


async def test_system_browser_prints_the_url_with_no_browser():
    out = io.StringIO()
    await system_browser(print_url=True, out=out)("http://am.example/authorize?x=1")
    assert "http://am.example/authorize?x=1" in out.getvalue()


def test_login_command_line():
    args = cli.build_parser().parse_args(["login", "http://sp.example/", "--scope", "read write", "--client-id",
                                          "https://app.example/c.json", "--store", "/tmp/x", "--no-browser"])
    assert (args.command, args.url, args.scope, args.client_id, args.store, args.no_browser) == (
        "login", "http://sp.example/", ["read write"], "https://app.example/c.json", "/tmp/x", True)
