"""ProtectServe consumer SDK: walks 401 → resource metadata → AM metadata → register → signed token → retry.

``flow`` and ``signing`` do no I/O and do not import aiohttp; ``ProtectServeAuth``
(the aiohttp client middleware) is imported lazily so that they stay usable alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import (
    AccessDenied,
    AccessPending,
    ChallengeError,
    MetadataError,
    ProtectServeError,
    RegistrationError,
    StoreError,
    TokenRequestError,
)
from .flow import USER_AGENT, FlowConfig, handshake
from .messages import Headers, HttpRequest, HttpResponse, Step, Wait
from .store import ClientCredentials, CredentialStore, FileStore, MemoryStore, PendingTicket, Token

if TYPE_CHECKING:
    from .grasshopper import GrasshopperKey, mint_grasshopper
    from .middleware import ProtectServeAuth
    from .ticket_endpoint import TicketEndpoint, ticket_link_header

__all__ = [
    "USER_AGENT",
    "AccessDenied",
    "AccessPending",
    "ChallengeError",
    "ClientCredentials",
    "CredentialStore",
    "FileStore",
    "FlowConfig",
    "GrasshopperKey",
    "Headers",
    "HttpRequest",
    "HttpResponse",
    "MemoryStore",
    "MetadataError",
    "PendingTicket",
    "ProtectServeAuth",
    "ProtectServeError",
    "RegistrationError",
    "Step",
    "StoreError",
    "TicketEndpoint",
    "Token",
    "TokenRequestError",
    "Wait",
    "handshake",
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
    if name in ("GrasshopperKey", "mint_grasshopper"):
        from . import grasshopper

        return getattr(grasshopper, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
