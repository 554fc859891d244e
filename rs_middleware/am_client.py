"""Outbound HTTP from the resource server to the authorization manager.

* ``fetch_am_metadata`` — RFC 8414 §3 authorization server metadata, with the §3.3 issuer check.
* ``fetch_json`` — one bounded JSON request (no redirects, size cap, timeout from the session).
* ``new_session`` — the ``aiohttp.ClientSession`` the middleware owns (fixed ``User-Agent``).

Every failure is reported as ``AMUnavailable`` so callers can answer 503 instead of crashing.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from .config import HTTP_TIMEOUT, USER_AGENT

log = logging.getLogger("rs_middleware")

#: Largest JSON document accepted from the AM.
MAX_DOCUMENT_BYTES = 256 * 1024
AS_WELL_KNOWN = "/.well-known/oauth-authorization-server"


class AMUnavailable(Exception):
    """The AM could not be reached or answered something unusable (→ 503 at the SP)."""


@dataclass(frozen=True)
class AMMetadata:
    """The fields of RFC 8414 §2 metadata the resource server uses."""

    issuer: str
    jwks_uri: str | None
    introspection_endpoint: str | None
    #: ``protectserve_revocation_feed`` (docs/protocol.md §11): the SSE revocation feed.
    revocation_feed: str | None = None


def new_session(timeout: float = HTTP_TIMEOUT) -> aiohttp.ClientSession:
    """The middleware's own client session: ``User-Agent`` set, total timeout ``timeout`` s."""
    return aiohttp.ClientSession(
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        timeout=aiohttp.ClientTimeout(total=timeout),
    )


async def fetch_json(
    session: aiohttp.ClientSession, url: str, *, method: str = "GET", **kwargs: Any
) -> dict[str, Any]:
    """Send one request and return its JSON object body; ``AMUnavailable`` on any problem.

    Redirects are not followed (a redirect could move key material to another origin) and the
    body is capped at ``MAX_DOCUMENT_BYTES``.
    """
    try:
        async with session.request(method, url, allow_redirects=False, **kwargs) as resp:
            if resp.status != 200:
                raise AMUnavailable(f"{method} {url} answered HTTP {resp.status}")
            chunks: list[bytes] = []
            size = 0
            async for chunk in resp.content.iter_chunked(64 * 1024):
                size += len(chunk)
                if size > MAX_DOCUMENT_BYTES:
                    raise AMUnavailable(f"{method} {url}: document larger than {MAX_DOCUMENT_BYTES} bytes")
                chunks.append(chunk)
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        raise AMUnavailable(f"{method} {url} failed: {type(exc).__name__}") from exc
    try:
        data = json.loads(b"".join(chunks))
    except ValueError as exc:
        raise AMUnavailable(f"{method} {url}: body is not JSON") from exc
    if not isinstance(data, dict):
        raise AMUnavailable(f"{method} {url}: body is not a JSON object")
    return data


def _optional_url(doc: Mapping[str, Any], name: str) -> str | None:
    value = doc.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise AMUnavailable(f"AM metadata field {name!r} is not a URL")
    return value


def am_metadata_url(authorization_manager: str) -> str:
    """``<issuer>/.well-known/oauth-authorization-server`` (docs/protocol.md §3)."""
    return authorization_manager.rstrip("/") + AS_WELL_KNOWN


async def fetch_am_metadata(session: aiohttp.ClientSession, authorization_manager: str) -> AMMetadata:
    """Fetch RFC 8414 metadata; the ``issuer`` must match the configured AM (RFC 8414 §3.3).

    A trailing ``/`` is the only difference tolerated; the exact published ``issuer`` is what
    tokens are later checked against.
    """
    doc = await fetch_json(session, am_metadata_url(authorization_manager))
    issuer = doc.get("issuer")
    if not isinstance(issuer, str) or issuer.rstrip("/") != authorization_manager.rstrip("/"):
        raise AMUnavailable("AM metadata issuer does not match the configured authorization manager")
    return AMMetadata(
        issuer=issuer,
        jwks_uri=_optional_url(doc, "jwks_uri"),
        introspection_endpoint=_optional_url(doc, "introspection_endpoint"),
        revocation_feed=_optional_url(doc, "protectserve_revocation_feed"),
    )
