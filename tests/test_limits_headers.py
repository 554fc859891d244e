"""Request-head caps (issue 7): an over-long header field or too many header fields get
``431 Request Header Fields Too Large`` (RFC 6585 §5), an over-long request line ``414``
(RFC 9110 §15.5.15) — never aiohttp's catch-all 400, never a hang — and a head just under the
caps is served. The caps are settings (``max_header_field``, ``max_headers``,
``max_request_line``): in-process, and in every ``authmanager serve --workers N`` process.

Requests are written on raw sockets, so that nothing between the test and the AM trims them."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import time

from authmanager.settings import Settings
from conftest import running_am
from test_cli_processes import free_port

DEFAULTS = Settings()


async def raw_request(port: int, head: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send one request head on a fresh connection; return status, headers and body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 10)  # the AM closes the connection after answering
    finally:
        writer.close()
    status_line, _, rest = raw.partition(b"\r\n")
    head_block, _, body = rest.partition(b"\r\n\r\n")
    headers = dict(line.decode().split(": ", 1) for line in head_block.split(b"\r\n") if line)
    return int(status_line.split()[1]), {k.lower(): v for k, v in headers.items()}, body


def get(path: str = "/health/alive", headers: list[tuple[str, str]] = ()) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close", *(f"{k}: {v}" for k, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def field_of(total: int) -> tuple[str, str]:
    """A header field (line) of about ``total`` bytes. aiohttp's two parsers count slightly
    differently (the C one the value, the Python one the whole line), so the tests stay a few
    bytes clear of each cap on both sides."""
    return "X-Padding", "p" * (total - len("X-Padding: "))


MARGIN = 64


def query(length: int) -> str:
    """A request target of ``length`` bytes (the request line is 15 bytes longer)."""
    return "/health/alive?" + "q" * (length - len("/health/alive?"))


def am_port(am) -> int:  # type: ignore[no-untyped-def]
    return int(am.url("").rsplit(":", 1)[1])


async def assert_refused(port: int, head: bytes, status: int, mentions: str) -> None:
    got, headers, body = await raw_request(port, head)
    assert got == status, body
    assert headers["content-type"].startswith("application/json")  # and raw_request saw the close
    doc = json.loads(body)
    assert doc["error"] == "invalid_request" and mentions in doc["error_description"]
    assert b"ppppp" not in body  # the offending header is not echoed back


async def test_default_caps_answer_431_and_414_and_serve_heads_just_under_them(clock, tmp_path):
    async with running_am(f"sqlite+aiosqlite:///{tmp_path / 'am.db'}", clock, tmp_path) as am:
        port = am_port(am)
        cap = DEFAULTS.max_header_field
        assert (await raw_request(port, get(headers=[field_of(cap - MARGIN)])))[0] == 200
        await assert_refused(port, get(headers=[field_of(cap + MARGIN)]), 431, str(cap))

        many = DEFAULTS.max_headers - 2 - 2  # Host and Connection are fields too
        assert (await raw_request(port, get(headers=[(f"X-H{i}", "v") for i in range(many)])))[0] == 200
        await assert_refused(port, get(headers=[(f"X-H{i}", "v") for i in range(many + 4)]), 431,
                             f"more than {DEFAULTS.max_headers}")

        line = DEFAULTS.max_request_line
        assert (await raw_request(port, get(query(line - MARGIN))))[0] == 200
        await assert_refused(port, get(query(line + MARGIN)), 414, str(line))

        # A bearer token of the 8 KiB the endpoints accept fits in a header field: the token
        # endpoint judges it (401: unknown), the parser does not refuse it.
        status, _, _ = await raw_request(port, get("/token", [("Authorization", "Bearer " + "t" * 8192)]))
        assert status == 401


async def test_the_caps_are_settings(clock, tmp_path):
    async with running_am(f"sqlite+aiosqlite:///{tmp_path / 'am.db'}", clock, tmp_path,
                          max_header_field=1024, max_headers=10, max_request_line=512) as am:
        port = am_port(am)
        assert (await raw_request(port, get(headers=[field_of(1024 - MARGIN)])))[0] == 200
        await assert_refused(port, get(headers=[field_of(1024 + MARGIN)]), 431, "1024")
        assert (await raw_request(port, get(headers=[(f"X-H{i}", "v") for i in range(6)])))[0] == 200
        await assert_refused(port, get(headers=[(f"X-H{i}", "v") for i in range(10)]), 431, "more than 10")
        assert (await raw_request(port, get(query(512 - MARGIN))))[0] == 200
        await assert_refused(port, get(query(512 + MARGIN)), 414, "512")
        # The over-cap connection was closed; the AM serves the next one.
        assert (await raw_request(port, get()))[0] == 200


async def test_every_worker_process_applies_the_configured_caps(tmp_path):
    """``serve --workers 2``: caps from the environment; 431 from both processes (each worker's
    log line carries its process id; SO_REUSEPORT spreads connections over both)."""
    port = free_port()
    environ = {**os.environ, "AUTHMANAGER_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'am.db'}",
               "HOME": str(tmp_path), "AUTHMANAGER_MAX_HEADER_FIELD": "2048", "AUTHMANAGER_MAX_HEADERS": "20"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "authmanager.cli", "serve", "--port", str(port), "--workers", "2", env=environ,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    log: list[str] = []
    refused_by = re.compile(r"^\S+ \S+ (\d+) aiohttp\.server INFO 431 for")

    async def collect() -> None:
        while line := await proc.stdout.readline():
            log.append(line.decode(errors="replace"))

    collector = asyncio.create_task(collect())
    try:
        statuses: list[int] = []
        pids: set[str] = set()
        deadline = time.monotonic() + 30
        while len(pids) < 2 and time.monotonic() < deadline:  # until both workers have answered
            if proc.returncode is not None or collector.done():
                raise AssertionError("serve exited:\n" + "".join(log))
            if len(statuses) % 2:
                head = get(headers=[field_of(2048 + MARGIN)])
            else:
                head = get(headers=[(f"X-H{i}", "v") for i in range(19)])  # + Host, Connection = 21
            try:
                statuses.append((await raw_request(port, head))[0])
            except OSError:  # not listening yet
                await asyncio.sleep(0.05)
                continue
            await asyncio.sleep(0.01)  # pacing while the second worker starts (not synchronisation)
            pids = {m.group(1) for line in log if (m := refused_by.search(line))}
        assert statuses and set(statuses) == {431}, statuses
        assert len(pids) == 2, "".join(log[-20:])
    finally:
        proc.terminate()
        await proc.wait()
        await collector
