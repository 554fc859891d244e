"""RFC 9728 OAuth 2.0 Protected Resource Metadata for a ProtectServe realm (protocol.md §2).

``metadata_url`` implements RFC 9728 §3.1: ``/.well-known/oauth-protected-resource`` is inserted
between the host and the path of the resource identifier; a path that is only ``/`` counts as
empty.  The consumer derives the URL with the same function.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from aiohttp import web

from .config import ProtectServeConfig

WELL_KNOWN = "/.well-known/oauth-protected-resource"


def metadata_path(resource: str) -> str:
    """The path part of ``metadata_url(resource)``, e.g. for routing."""
    path = urlsplit(resource).path
    if path == "/":
        path = ""
    return WELL_KNOWN + path


def metadata_url(resource: str) -> str:
    """RFC 9728 §3.1 metadata URL of ``resource``.

    >>> metadata_url("http://h:1/")
    'http://h:1/.well-known/oauth-protected-resource'
    >>> metadata_url("https://h/photos")
    'https://h/.well-known/oauth-protected-resource/photos'
    """
    parts = urlsplit(resource)
    return urlunsplit((parts.scheme, parts.netloc, metadata_path(resource), parts.query, ""))


def metadata_document(config: ProtectServeConfig, issuer: str) -> dict[str, Any]:
    """The JSON document (RFC 9728 §2 fields plus ProtectServe ``realm`` and ``sph``).

    ``sph_secret`` is never part of it.
    """
    return {
        "resource": config.resource,
        "authorization_servers": [issuer],
        "scopes_supported": list(config.scopes),
        "bearer_methods_supported": ["header"],
        "resource_name": config.display_name,
        "realm": config.realm,
        "sph": config.sph,
    }


def metadata_handler(
    config: ProtectServeConfig, issuer: Callable[[], str]
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A GET handler serving ``metadata_document``; ``issuer()`` is read per request (RFC 9728 §3.2)."""

    async def protected_resource_metadata(request: web.Request) -> web.Response:
        return web.json_response(metadata_document(config, issuer()))

    return protected_resource_metadata
