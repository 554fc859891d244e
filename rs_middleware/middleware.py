"""The aiohttp middleware: bearer-token extraction, verification and RFC 6750 challenges.

* RFC 6750 §2.1 — only the ``Authorization: Bearer`` header is accepted; query and body
  tokens are ignored (``bearer_methods_supported: ["header"]``).
* RFC 6750 §3 / §3.1 — ``WWW-Authenticate: Bearer realm=…`` challenges with ``error``,
  ``error_description`` and ``scope``; RFC 9728 §5.1 adds ``resource_metadata``.
* RFC 6750 §3.1 — ``invalid_token`` → 401, ``insufficient_scope`` → 403, ``invalid_request``
  → 400 for a token longer than ``max_token_bytes`` (never decoded).

Routes opt in with ``@requires(...)``; everything else passes through untouched.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from .am_client import AMUnavailable
from .config import SCOPE_TOKEN, ProtectServeConfig
from .metadata import metadata_url
from .runtime import RUNTIME_KEY, ProtectServeRuntime
from .verifier import InvalidToken

log = logging.getLogger("rs_middleware")

SCOPES_ATTR = "__protectserve_scopes__"
#: Request key of the verified claims (a read-only mapping).
CLAIMS_KEY = web.RequestKey("protectserve_claims", MappingProxyType)
#: RFC 6750 §2.1 b64token.
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")

F = TypeVar("F", bound=Callable[..., Any])


def requires(*scopes: str) -> Callable[[F], F]:
    """Declare that a handler needs a valid token carrying every one of ``scopes``.

    ``@requires()`` with no scope still demands a valid token.  The scopes are stored as an
    attribute on the handler itself (no wrapper), so it works for plain function handlers and
    ``web.View`` classes; stacking decorators unions the scopes.
    """
    for scope in scopes:
        if not isinstance(scope, str) or not SCOPE_TOKEN.fullmatch(scope):
            raise ValueError(f"invalid scope token {scope!r} (RFC 6749 §3.3)")

    def decorate(handler: F) -> F:
        previous: tuple[str, ...] = getattr(handler, SCOPES_ATTR, ())
        merged = tuple(dict.fromkeys((*previous, *scopes)))
        setattr(handler, SCOPES_ATTR, merged)
        return handler

    return decorate


def required_scopes(handler: Any) -> tuple[str, ...] | None:
    """The scopes declared with ``requires`` or ``None`` for an unprotected handler."""
    scopes = getattr(handler, SCOPES_ATTR, None)
    return tuple(scopes) if scopes is not None else None


def token_claims(request: web.Request) -> Mapping[str, Any]:
    """The verified claims (read-only) of the token that authorised this request."""
    try:
        claims: Mapping[str, Any] = request[CLAIMS_KEY]
    except KeyError:
        raise LookupError("no verified token on this request (is the route @requires?)") from None
    return claims


def quote(value: str) -> str:
    """RFC 9110 §5.6.4 quoted-string: escape ``\\`` and ``"``, drop control characters."""
    value = _UNSAFE.sub(" ", value)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def challenge(
    config: ProtectServeConfig,
    error: str | None = None,
    description: str | None = None,
    scope: str | None = None,
) -> str:
    """The ``WWW-Authenticate`` value; URLs come from ``config`` only."""
    params = [("realm", config.realm), ("resource_metadata", metadata_url(config.resource))]
    if error:
        params.append(("error", error))
    if description:
        params.append(("error_description", description))
    if scope is not None:
        params.append(("scope", scope))
    return "Bearer " + ", ".join(f"{name}={quote(value)}" for name, value in params)


def _error_kwargs(error: str, description: str) -> dict[str, Any]:
    body = json.dumps({"error": error, "error_description": description})
    return {"text": body, "content_type": "application/json"}


def unauthorized(config: ProtectServeConfig, description: str | None = None) -> web.HTTPUnauthorized:
    """401: without ``description`` the plain challenge (no credentials), else ``invalid_token``."""
    if description is None:
        return web.HTTPUnauthorized(headers={"WWW-Authenticate": challenge(config)})
    return web.HTTPUnauthorized(
        headers={"WWW-Authenticate": challenge(config, "invalid_token", description)},
        **_error_kwargs("invalid_token", description),
    )


def bad_request(config: ProtectServeConfig, description: str) -> web.HTTPBadRequest:
    """400 ``invalid_request`` (RFC 6750 §3.1): a request we refuse to even try to verify."""
    return web.HTTPBadRequest(
        headers={"WWW-Authenticate": challenge(config, "invalid_request", description)},
        **_error_kwargs("invalid_request", description),
    )


def forbidden(config: ProtectServeConfig, needed: tuple[str, ...]) -> web.HTTPForbidden:
    description = "token lacks the scope this resource requires"
    scope = " ".join(needed)
    return web.HTTPForbidden(
        headers={"WWW-Authenticate": challenge(config, "insufficient_scope", description, scope)},
        **_error_kwargs("insufficient_scope", description),
    )


def unavailable(retry_after: int) -> web.HTTPServiceUnavailable:
    return web.HTTPServiceUnavailable(
        headers={"Retry-After": str(retry_after)},
        **_error_kwargs("temporarily_unavailable", "authorization manager not reachable yet"),
    )


def bearer_token(request: web.Request, config: ProtectServeConfig) -> str:
    """The RFC 6750 §2.1 token of the request; raises the 401 challenge otherwise."""
    values = request.headers.getall("Authorization", [])
    if len(values) > 1:
        raise unauthorized(config, "more than one Authorization header")
    if not values:
        raise unauthorized(config)
    scheme, _, credentials = values[0].strip().partition(" ")
    if scheme.lower() != "bearer":
        raise unauthorized(config)  # no bearer credentials at all: plain challenge
    token = credentials.strip()
    if len(token) > config.max_token_bytes:  # refused before any decoding (issue 7)
        raise bad_request(config, "token too large")
    if not _B64TOKEN.fullmatch(token):
        raise unauthorized(config, "malformed bearer token")
    return token


def protectserve_middleware(
    *, config: ProtectServeConfig, runtime: ProtectServeRuntime | None = None
) -> Middleware:
    """Middleware factory.  ``runtime`` defaults to ``request.config_dict[RUNTIME_KEY]``."""

    @web.middleware
    async def protectserve(request: web.Request, handler: Handler) -> web.StreamResponse:
        needed = required_scopes(request.match_info.handler)
        if needed is None:
            return await handler(request)
        token = bearer_token(request, config)
        state = runtime if runtime is not None else request.config_dict[RUNTIME_KEY]
        verifier = state.verifier
        if verifier is None:
            raise unavailable(state.retry_after)
        try:
            claims = await verifier.verify(token)
        except InvalidToken as exc:
            log.info("refused token for %s %s: %s", request.method, request.path, exc.description)
            raise unauthorized(config, exc.description) from None
        except (AMUnavailable, TimeoutError) as exc:
            log.warning("cannot verify token now: %s", str(exc) or type(exc).__name__)
            raise unavailable(getattr(exc, "retry_after", None) or state.retry_after) from None
        granted = set(str(claims.get("scope", "")).split())
        if not set(needed) <= granted:
            raise forbidden(config, needed)
        request[CLAIMS_KEY] = MappingProxyType(dict(claims))
        return await handler(request)

    return protectserve
