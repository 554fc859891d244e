"""ProtectServe consumer SDK: walks 401 → resource metadata → AM metadata → register → signed token → retry.

A person's login (RFC 8252: authorization code + PKCE through the system browser and a loopback
redirect) is ``python -m consumer_sdk login URL`` or ``await consumer_sdk.log_in(URL, store=…)``;
``ProtectServeAuth`` then uses and refreshes its tokens.

``flow`` and ``signing`` do no I/O and do not import aiohttp; ``ProtectServeAuth``
(the aiohttp client middleware) is imported lazily so that they stay usable alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import (
    AccessDenied,
    AccessPending,
    AuthorizationError,
    ChallengeError,
    LoginError,
    LoginRequired,
    LoginTimeout,
    MetadataError,
    ProtectServeError,
    RedirectRejected,
    RegistrationError,
    StoreError,
    TokenRequestError,
)
from .flow import USER_AGENT, FlowConfig, handshake
from .login import LoginConfig, OpenBrowser, authorization_code_login
from .messages import Headers, HttpRequest, HttpResponse, Step, Wait
from .store import (
    ClientCredentials,
    CredentialStore,
    FileStore,
    LoginStore,
    MemoryStore,
    PendingTicket,
    Token,
)

if TYPE_CHECKING:
    from .grasshopper import GrasshopperKey, mint_grasshopper
    from .loopback import LoopbackReceiver, log_in
    from .middleware import ProtectServeAuth
    from .ticket_endpoint import TicketEndpoint, ticket_link_header

__all__ = [
    "USER_AGENT",
    "AccessDenied",
    "AccessPending",
    "AuthorizationError",
    "ChallengeError",
    "ClientCredentials",
    "CredentialStore",
    "FileStore",
    "FlowConfig",
    "GrasshopperKey",
    "Headers",
    "HttpRequest",
    "HttpResponse",
    "LoginConfig",
    "LoginError",
    "LoginRequired",
    "LoginStore",
    "LoginTimeout",
    "LoopbackReceiver",
    "MemoryStore",
    "MetadataError",
    "OpenBrowser",
    "PendingTicket",
    "ProtectServeAuth",
    "ProtectServeError",
    "RedirectRejected",
    "RegistrationError",
    "Step",
    "StoreError",
    "TicketEndpoint",
    "Token",
    "TokenRequestError",
    "Wait",
    "authorization_code_login",
    "handshake",
    "log_in",
    "mint_grasshopper",
    "ticket_link_header",
]


def __getattr__(name: str) -> Any:
    if name == "ProtectServeAuth":
        from .middleware import ProtectServeAuth

        return ProtectServeAuth
    if name in ("TicketEndpoint", "ticket_link_header"):
        from . import ticket_endpoint

        return getattr(ticket_endpoint, name)
    if name in ("LoopbackReceiver", "log_in"):
        from . import loopback

        return getattr(loopback, name)
    if name in ("GrasshopperKey", "mint_grasshopper"):
        from . import grasshopper

        return getattr(grasshopper, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
