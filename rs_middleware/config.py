"""Configuration of the ProtectServe resource-server middleware.

Every URL that appears in a challenge or in the protected resource metadata comes from this
object (docs/protocol.md: "never from a request's Host header").  Pure data: no I/O, no aiohttp.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

Mode = Literal["jwks", "introspection"]

#: ``User-Agent`` of every outbound request (AM metadata, JWKS, introspection).
USER_AGENT = "protectserve-rs_middleware/0.1"
#: Tokens longer than this are refused (400 ``invalid_request``) before any decoding.
MAX_TOKEN_BYTES = 8 * 1024
#: Total timeout of one outbound HTTP request, in seconds.
HTTP_TIMEOUT = 5.0
#: Verified tokens remembered at most (``cache.TokenCache``).
DEFAULT_CACHE_SIZE = 100_000
#: Seconds of feed silence after which validation fails closed (docs/protocol.md §11).
DEFAULT_MAX_STALENESS = 30.0

#: RFC 6749 §3.3 scope-token: 1*( %x21 / %x23-5B / %x5D-7E ) — no space, `"` or `\`.
SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MODES = ("jwks", "introspection")


def _check_url(name: str, value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{name} must be an absolute http(s) URL, got {value!r}")
    if parts.fragment or parts.query:
        raise ValueError(f"{name} must not have a query or fragment (RFC 9728 §1.2, RFC 8414 §2)")
    if "{" in parts.path or "}" in parts.path:
        raise ValueError(f"{name} must not contain '{{' or '}}' in its path")


@dataclass(frozen=True, kw_only=True)
class ProtectServeConfig:
    """Static settings of one protected realm.

    ``resource`` is the RFC 9728 §2 resource identifier: the ``aud`` the AM puts into this
    realm's tokens and the base of the metadata URL (RFC 9728 §3.1).  ``authorization_manager``
    is the AM issuer URL (RFC 8414 §2).  ``sph_secret`` is needed for introspection and for the
    revocation feed, and is never shown in ``repr`` nor served in metadata.

    ``cache_size`` bounds the verified-token cache (``0`` disables it); ``feed`` subscribes to
    the AM's revocation feed (docs/protocol.md §11) in ``jwks`` mode when ``sph_secret`` is set
    and the AM advertises one; ``max_staleness`` is how long (seconds, on the ``monotonic``
    clock) the feed may stay silent before validation fails closed.  ``now`` is the token clock.
    """

    realm: str
    resource: str
    authorization_manager: str
    sph: str
    sph_secret: str | None = field(default=None, repr=False)
    scopes: tuple[str, ...] = ()
    resource_name: str | None = None
    mode: Mode = "jwks"
    leeway: int = 30
    jwks_refetch_interval: float = 60.0
    algorithms: tuple[str, ...] = ("ES256",)
    now: Callable[[], float] = field(default=time.time, repr=False, compare=False)
    http_timeout: float = HTTP_TIMEOUT
    max_token_bytes: int = MAX_TOKEN_BYTES
    cache_size: int = DEFAULT_CACHE_SIZE
    max_staleness: float = DEFAULT_MAX_STALENESS
    feed: bool = True
    monotonic: Callable[[], float] = field(default=time.monotonic, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Accept any sequence for the tuple fields, store tuples (the dataclass is frozen).
        object.__setattr__(self, "scopes", tuple(self.scopes))
        object.__setattr__(self, "algorithms", tuple(self.algorithms))
        if not self.realm or _CONTROL.search(self.realm):
            raise ValueError("realm must be a non-empty string without control characters")
        if not self.sph or _CONTROL.search(self.sph):
            raise ValueError("sph must be a non-empty string without control characters")
        _check_url("resource", self.resource)
        _check_url("authorization_manager", self.authorization_manager)
        for scope in self.scopes:
            if not SCOPE_TOKEN.fullmatch(scope):
                raise ValueError(f"invalid scope token {scope!r} (RFC 6749 §3.3)")
        if self.mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {self.mode!r}")
        if self.mode == "introspection" and not self.sph_secret:
            raise ValueError("introspection mode needs sph_secret (RFC 7662 §2.1)")
        if self.mode == "introspection" and ":" in self.sph:
            raise ValueError("sph must not contain ':' to be sent as a Basic user-id (RFC 7617 §2)")
        if not self.algorithms:
            raise ValueError("algorithms must not be empty")
        for alg in self.algorithms:
            # Symmetric or unsecured algorithms make no sense against a public JWKS
            # (RFC 8725 §3.1, §3.2): refuse them at configuration time.
            if alg.lower() == "none" or alg.upper().startswith("HS"):
                raise ValueError(f"algorithm {alg!r} is not allowed for access tokens")
        if self.leeway < 0 or self.jwks_refetch_interval < 0 or self.http_timeout <= 0:
            raise ValueError("leeway, jwks_refetch_interval must be >= 0 and http_timeout > 0")
        if self.max_token_bytes <= 0:
            raise ValueError("max_token_bytes must be positive")
        if type(self.cache_size) is not int or self.cache_size < 0:
            raise ValueError("cache_size must be an integer >= 0 (0 disables the cache)")
        if (not isinstance(self.max_staleness, (int, float)) or isinstance(self.max_staleness, bool)
                or not 0 < self.max_staleness < math.inf):
            raise ValueError("max_staleness must be a positive number of seconds")
        if not isinstance(self.feed, bool):
            raise ValueError("feed must be True or False")
        if self.feed and self.mode == "jwks" and self.sph_secret and ":" in self.sph:
            raise ValueError("sph must not contain ':' to be sent as a Basic user-id (RFC 7617 §2)")

    @property
    def display_name(self) -> str:
        """``resource_name`` for the metadata document; the realm when not configured."""
        return self.resource_name or self.realm
