"""URL rules of the handshake: well-known metadata locations and "does this URL lie under that resource".

* RFC 9728 §3.1: the protected resource metadata URL is formed by inserting
  ``/.well-known/oauth-protected-resource`` between the host and the path (and
  query) of the resource identifier; a terminating "/" after the host is removed
  first, so ``http://h:1/`` maps to ``http://h:1/.well-known/oauth-protected-resource``.
* RFC 9728 §3.3: the ``resource`` in the document must be the identifier the
  metadata URL was derived from; RFC 9728 §7.3: and the URL the client
  requested must belong to that resource.
* RFC 8414 §3 / §3.1: AM metadata at ``/.well-known/oauth-authorization-server``.
"""

from __future__ import annotations

from typing import NamedTuple
from urllib.parse import urlsplit

PROTECTED_RESOURCE_WELL_KNOWN = "/.well-known/oauth-protected-resource"
AUTHORIZATION_SERVER_WELL_KNOWN = "/.well-known/oauth-authorization-server"
_DEFAULT_PORTS = {"http": 80, "https": 443}


class _Parts(NamedTuple):
    scheme: str
    host: str
    port: int
    path: str
    query: str


def _parts(url: str) -> _Parts | None:
    """Split an absolute http(s) URL, normalising scheme/host case and the default port (RFC 3986 §6.2.3)."""
    try:
        split = urlsplit(url)
        port = split.port
    except ValueError:
        return None
    scheme = split.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not split.hostname or split.fragment:
        return None
    return _Parts(scheme, split.hostname.lower(), port or _DEFAULT_PORTS[scheme], split.path, split.query)


def is_http_url(url: object) -> bool:
    """An absolute ``http``/``https`` URL with a host and no fragment."""
    return isinstance(url, str) and _parts(url) is not None


def same_origin(a: str, b: str) -> bool:
    """RFC 6454 origin equality: scheme, host and port."""
    pa, pb = _parts(a), _parts(b)
    return pa is not None and pb is not None and pa[:3] == pb[:3]


def resource_metadata_url(resource: str) -> str:
    """The RFC 9728 §3.1 metadata URL for a resource identifier."""
    if _parts(resource) is None:
        raise ValueError("resource identifier must be an absolute http(s) URL without a fragment")
    split = urlsplit(resource)
    path = "" if split.path in ("", "/") else split.path
    query = f"?{split.query}" if split.query else ""
    return f"{split.scheme.lower()}://{split.netloc}{PROTECTED_RESOURCE_WELL_KNOWN}{path}{query}"


def same_url(a: str, b: str) -> bool:
    """Equality after scheme/host/default-port normalisation (RFC 3986 §6.2.2-6.2.3)."""
    pa, pb = _parts(a), _parts(b)
    return pa is not None and pb is not None and pa == pb


def metadata_matches_resource(metadata_url: str, resource: str) -> bool:
    """RFC 9728 §3.3: ``resource`` is the identifier ``metadata_url`` was derived from."""
    if not is_http_url(resource):
        return False
    return same_url(resource_metadata_url(resource), metadata_url)


def is_under(url: str, resource: str) -> bool:
    """True if ``url`` lies under ``resource``: same origin, path prefix ending at a "/" boundary.

    ``http://h/api`` covers ``http://h/api`` and ``http://h/api/x`` but not
    ``http://h/apix``. Paths with dot-segments are refused rather than resolved.
    A resource identifier with a query covers only that exact path and query.
    """
    pu, pr = _parts(url), _parts(resource)
    if pu is None or pr is None or pu[:3] != pr[:3]:
        return False
    upath, rpath = pu.path or "/", pr.path or "/"
    if any(segment in (".", "..") for segment in upath.split("/")):
        return False
    if pr.query:
        return upath == rpath and pu.query == pr.query
    if rpath.endswith("/"):
        return upath.startswith(rpath)
    return upath == rpath or upath.startswith(rpath + "/")


def authorization_server_metadata_urls(issuer: str) -> list[str]:
    """Where to look for the AM's RFC 8414 metadata, in order.

    First ``<issuer>/.well-known/oauth-authorization-server`` (the form in
    docs/protocol.md §3); for an issuer with a path, the RFC 8414 §3.1 form
    (well-known inserted between host and path) is the fallback. Both coincide
    for an issuer without a path.
    """
    parts = urlsplit(issuer)
    appended = issuer.rstrip("/") + AUTHORIZATION_SERVER_WELL_KNOWN
    path = parts.path.rstrip("/")
    if not path:
        return [appended]
    inserted = f"{parts.scheme}://{parts.netloc}{AUTHORIZATION_SERVER_WELL_KNOWN}{path}"
    return [appended, inserted]
