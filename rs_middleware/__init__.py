"""ProtectServe resource-server middleware for aiohttp.

Protect an existing application in three lines::

    from rs_middleware import protect, requires
    protect(app, realm="photos", resource="http://127.0.0.1:8080/",
            authorization_manager="http://127.0.0.1:8400", sph=..., sph_secret=...)

    @requires("read")
    async def handler(request): ...

Wire behaviour: docs/protocol.md §1 (challenges), §2 (RFC 9728 metadata), §6–§8 (tokens),
§11 (revocation feed: ``feed``, ``sse``; verified-token cache: ``cache``, ``guarded``).
"""

from .am_client import AMMetadata, AMUnavailable
from .cache import TokenCache
from .config import USER_AGENT, ProtectServeConfig
from .feed import FeedSubscriber
from .guarded import FeedStale, GuardedVerifier
from .install import protect
from .declared import UnprotectedRoute, audit
from .metadata import metadata_document, metadata_path, metadata_url
from .middleware import CLAIMS_KEY, authorize, challenge, protectserve_middleware, requires, token_claims
from .revocations import Revocations
from .runtime import CONFIG_KEY, RUNTIME_KEY, ProtectServeRuntime
from .verifier import (
    Claims,
    IntrospectionVerifier,
    InvalidToken,
    JWKSVerifier,
    TokenVerifier,
    VerifierUnavailable,
)

__all__ = [
    "AMMetadata",
    "AMUnavailable",
    "CLAIMS_KEY",
    "CONFIG_KEY",
    "Claims",
    "FeedStale",
    "FeedSubscriber",
    "GuardedVerifier",
    "IntrospectionVerifier",
    "InvalidToken",
    "JWKSVerifier",
    "ProtectServeConfig",
    "ProtectServeRuntime",
    "RUNTIME_KEY",
    "Revocations",
    "TokenCache",
    "TokenVerifier",
    "USER_AGENT",
    "UnprotectedRoute",
    "VerifierUnavailable",
    "audit",
    "authorize",
    "challenge",
    "metadata_document",
    "metadata_path",
    "metadata_url",
    "protect",
    "protectserve_middleware",
    "requires",
    "token_claims",
]
