"""Outbound HTTP for sharing, through the SSRF guard, with bounded redirects, time and size.

* Every request goes through ``guard.guarded_connector`` (the check on the connected address).
* Redirects are followed by hand, at most ``max_redirects`` hops, each hop checked again:
  ``GET`` follows 301/302/303/307/308; ``POST`` (the ticket delivery) follows only 307/308,
  which keep the method and body (RFC 9110 §15.4.8-9); any other redirect is the final answer.
  With ``follow_redirects=False`` every redirect is the final answer (a client metadata
  document: the draft says the AM "MUST NOT automatically follow HTTP redirects").
* One total deadline covers every hop; a body over ``max_bytes`` (decompressed) is refused.
* No cookies, no proxies from the environment. Errors are the typed ``OutboundError`` and
  ``TargetRefused`` (authmanager/errors.py); their messages never contain request bodies.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from ..errors import OutboundError, TargetRefused
from .guard import GuardRefusal, Policy, guarded_connector, numeric_trick, plain_socket

USER_AGENT = "protectserve-authmanager/0.1"
REDIRECTS = (301, 302, 303, 307, 308)


@dataclass(frozen=True, slots=True)
class Fetched:
    url: str  #: the final URL, after redirects
    status: int
    content_type: str
    charset: str | None
    links: tuple[tuple[str, str], ...]  #: (rel, absolute URL) of each ``Link`` header entry (RFC 8288)
    body: bytes
    #: The response's headers (case-insensitive; e.g. ``Cache-Control`` for a cache's lifetime).
    headers: CIMultiDictProxy[str] = field(default_factory=lambda: CIMultiDictProxy(CIMultiDict()))


def new_session(policy: Policy, *, timeout: float = 10.0,
                make_socket: Callable[[Any], socket.socket] = plain_socket) -> aiohttp.ClientSession:
    """A session whose every connection goes through the guard (call inside a running loop; the
    caller closes it). ``outbound_session`` is the same as a context manager."""
    return aiohttp.ClientSession(
        connector=guarded_connector(policy, make_socket), timeout=aiohttp.ClientTimeout(total=timeout),
        cookie_jar=aiohttp.DummyCookieJar(), headers={"User-Agent": USER_AGENT}, trust_env=False,
    )


@asynccontextmanager
async def outbound_session(policy: Policy, *, timeout: float = 10.0,
                           make_socket: Callable[[Any], socket.socket] = plain_socket
                           ) -> AsyncIterator[aiohttp.ClientSession]:
    async with new_session(policy, timeout=timeout, make_socket=make_socket) as session:
        yield session


def check_url(url: str) -> None:
    """Only absolute http(s) URLs, without credentials, and no numeric-shorthand hosts."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (validates the port)
    except ValueError:
        raise OutboundError(f"not a usable URL: {url!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        raise OutboundError(f"not an absolute http(s) URL without credentials: {url!r}")
    if numeric_trick(parts.hostname):
        raise TargetRefused(f"refused numeric host {parts.hostname!r} (not a canonical IPv4 address)")


async def fetch(session: aiohttp.ClientSession, method: str, url: str, *, data: bytes | None = None,
                headers: dict[str, str] | None = None, max_redirects: int = 3, max_bytes: int = 256 * 1024,
                timeout: float = 10.0, follow_redirects: bool = True) -> Fetched:
    try:
        async with asyncio.timeout(timeout):
            return await _follow(session, method, url, data, headers or {}, max_redirects, max_bytes,
                                 follow_redirects)
    except TimeoutError:
        raise OutboundError(f"{method} {url}: no answer within {timeout:g} s") from None


async def _follow(session: aiohttp.ClientSession, method: str, url: str, data: bytes | None,
                  headers: dict[str, str], max_redirects: int, max_bytes: int, follow: bool) -> Fetched:
    for _hop in range(max_redirects + 1):
        check_url(url)
        try:
            async with session.request(method, URL(url), data=data, headers=headers, allow_redirects=False) as r:
                location = r.headers.get("Location")
                if follow and r.status in REDIRECTS and location and (method == "GET" or r.status in (307, 308)):
                    url = str(r.url.join(URL(location)))
                    continue
                links = tuple((str(rel), str(link["url"])) for rel, link in r.links.items())
                return Fetched(str(r.url), r.status, r.content_type, r.charset, links, await _read(r, max_bytes),
                               r.headers)
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, GuardRefusal):
                raise TargetRefused(f"{method} {url}: {exc.os_error}") from None
            raise OutboundError(f"{method} {url}: cannot connect ({exc.os_error.strerror or exc.os_error})") from None
        except aiohttp.ClientError as exc:
            raise OutboundError(f"{method} {url}: {type(exc).__name__}") from None
        except ValueError:  # an unusable Location
            raise OutboundError(f"{method} {url}: unusable redirect") from None
    raise OutboundError(f"{method}: more than {max_redirects} redirects")


async def _read(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    if response.content_length is not None and response.content_length > max_bytes:
        raise OutboundError(f"{response.url}: response larger than {max_bytes} bytes")
    chunks, size = [], 0
    async for chunk in response.content.iter_chunked(16 * 1024):
        size += len(chunk)
        if size > max_bytes:
            raise OutboundError(f"{response.url}: response larger than {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
