"""Redirect URIs: which may be registered, and when a presented one matches (no aiohttp here).

* **Registration** (RFC 7591 §2 ``redirect_uris``, RFC 6749 §3.1.2, RFC 9700 §2.1,
  OAuth 2.1 §2.3.1): an absolute URI without a fragment or user information; ``https``, or
  ``http`` on a loopback host only (RFC 8252 §7.3 and §8.3: the IP literals ``127.0.0.0/8`` and
  ``[::1]``, and ``localhost``, which native clients such as the MCP SDK's examples use; the
  client's own machine resolves it). Bad values are ``invalid_redirect_uri`` (RFC 7591 §3.2.2).
* **Matching** (RFC 9700 §4.1.3, OAuth 2.1 §4.1.1): the presented URI equals a registered one
  character for character — except that for a loopback ``http`` URI the port may differ, since
  a native app gets a free port from the operating system at the time of the request
  (RFC 8252 §7.3, OAuth 2.1 §8.4.2). Nothing else is normalised: no case folding, no path
  prefixes, no query leeway.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import SplitResult, urlsplit

from ..errors import InvalidRedirectUri

MAX_LENGTH = 2000
MAX_REDIRECT_URIS = 20


def is_loopback_host(host: str | None) -> bool:
    """``localhost`` or a loopback IP literal (``urlsplit`` gives IPv6 without brackets)."""
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _parts(uri: str) -> SplitResult | None:
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return None
    return parts


def check(uri: object) -> str:
    """``uri`` if it may be registered, else ``InvalidRedirectUri`` saying why."""
    if not isinstance(uri, str) or not uri or len(uri) > MAX_LENGTH:
        raise InvalidRedirectUri(f"a redirect URI is a string of at most {MAX_LENGTH} characters")
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in uri) or not uri.isascii():
        raise InvalidRedirectUri("a redirect URI may not contain spaces, control or non-ASCII characters")
    parts = _parts(uri)
    if parts is None or not parts.scheme or not parts.netloc or not parts.hostname:
        raise InvalidRedirectUri(f"{uri!r} is not an absolute URI")
    if "#" in uri:
        raise InvalidRedirectUri(f"{uri!r} has a fragment (RFC 6749 §3.1.2)")
    if "@" in parts.netloc:
        raise InvalidRedirectUri(f"{uri!r} has user information")
    if parts.scheme == "https":
        return uri
    if parts.scheme == "http" and is_loopback_host(parts.hostname):
        return uri
    raise InvalidRedirectUri(f"{uri!r} must be https, or http on a loopback address (RFC 8252 §7.3)")


def check_all(uris: object) -> tuple[str, ...]:
    """The ``redirect_uris`` of a registration or a metadata document: a non-empty list."""
    if not isinstance(uris, list) or not uris or len(uris) > MAX_REDIRECT_URIS:
        raise InvalidRedirectUri(f"redirect_uris must be a list of 1 to {MAX_REDIRECT_URIS} URIs")
    return tuple(dict.fromkeys(check(uri) for uri in uris))


def matches(registered: str, presented: str) -> bool:
    """Whether ``presented`` is the registered redirect URI (exact; loopback http: any port)."""
    if presented == registered:
        return True
    reg, got = _parts(registered), _parts(presented)
    if reg is None or got is None or reg.scheme != "http" or not is_loopback_host(reg.hostname):
        return False
    return (got.scheme, got.hostname, got.path, got.query, got.fragment, got.username) == \
        (reg.scheme, reg.hostname, reg.path, reg.query, reg.fragment, reg.username) and \
        _host_text(got) == _host_text(reg)


def _host_text(parts: SplitResult) -> str:
    """The host as written (``hostname`` lower-cases it; the match is exact but for the port)."""
    netloc = parts.netloc.rsplit("@", 1)[-1]
    if netloc.startswith("["):
        return netloc[: netloc.index("]") + 1]
    return netloc.split(":", 1)[0]


def find(registered: tuple[str, ...], presented: str | None) -> str | None:
    """The redirect URI to use: ``presented`` if it matches a registered one; when none is
    presented, the only registered one (RFC 6749 §3.1.2.3); else None."""
    if presented is None:
        return registered[0] if len(registered) == 1 else None
    return presented if any(matches(uri, presented) for uri in registered) else None
