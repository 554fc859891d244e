"""The aiohttp middleware: bearer-token extraction, verification and RFC 6750 challenges.

* RFC 6750 §2.1 — only the ``Authorization: Bearer`` header is accepted; query and body
  tokens are ignored (``bearer_methods_supported: ["header"]``).
* RFC 6750 §3 / §3.1 — ``WWW-Authenticate: Bearer realm=…`` challenges with ``error``,
  ``error_description`` and ``scope``; RFC 9728 §5.1 adds ``resource_metadata``. Every 401 of
  a route that declares scopes carries them as ``scope`` (the MCP specification asks for it:
  clients such as the MCP SDK request the scopes the challenge names); the 403
  ``insufficient_scope`` carries them too.
* RFC 6750 §3.1 — ``invalid_token`` → 401, ``insufficient_scope`` → 403, ``invalid_request``
  → 400 for a token longer than ``max_token_bytes`` (never decoded).

Routes opt in with ``@requires(...)``; everything else passes through untouched. The middleware
checks what the matched route declares (:mod:`.declared`: a View's method included), and every
function ``@requires`` marks also checks it itself when it runs, so a marked function reached
some other way than as a route's handler is never run without its token.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.abc import AbstractView
from aiohttp.typedefs import Handler, Middleware

from .am_client import AMUnavailable
from .config import SCOPE_TOKEN, ProtectServeConfig
from .declared import SCOPES_ATTR, UnprotectedRoute, audit, needed_scopes, required_scopes
from .metadata import metadata_url
from .runtime import CONFIG_KEY, RUNTIME_KEY, ProtectServeRuntime
from .verifier import InvalidToken

log = logging.getLogger("rs_middleware")

#: Request key of the verified claims (a read-only mapping).
CLAIMS_KEY = web.RequestKey("protectserve_claims", MappingProxyType)
#: Request key of the scopes the verified token grants.
_GRANTED = web.RequestKey("protectserve_granted", frozenset)
#: RFC 6750 §2.1 b64token.
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")

F = TypeVar("F", bound=Callable[..., Any])
__all__ = ["CLAIMS_KEY", "UnprotectedRoute", "authorize", "protectserve_middleware", "required_scopes", "requires",
           "token_claims"]


def requires(*scopes: str) -> Callable[[F], F]:
    """Declare that a handler needs a valid token carrying every one of ``scopes``.

    ``@requires()`` with no scope still demands a valid token; stacking decorators unions the
    scopes. On a function (a handler, or a ``web.View`` method) the marker goes on a thin
    guard (``functools.wraps``) that, when it runs, refuses a request whose token the
    middleware has not verified for these scopes, verifying it itself if need be. On a
    ``web.View`` class the marker is the class's: the middleware demands it for every method.
    A decorator applied over ``@requires`` must carry the marker (``functools.wraps`` does):
    ``protect()`` refuses to start an application whose routes hide one
    (:class:`~.declared.UnprotectedRoute`).
    """
    for scope in scopes:
        if not isinstance(scope, str) or not SCOPE_TOKEN.fullmatch(scope):
            raise ValueError(f"invalid scope token {scope!r} (RFC 6749 §3.3)")

    def decorate(handler: F) -> F:
        merged = tuple(dict.fromkeys((*(required_scopes(handler) or ()), *scopes)))
        if isinstance(handler, type):
            setattr(handler, SCOPES_ATTR, merged)
            return handler
        guarded = _guard(handler, merged)
        setattr(guarded, SCOPES_ATTR, merged)
        return guarded  # type: ignore[return-value]

    return decorate


def _guard(handler: Callable[..., Any], needed: tuple[str, ...]) -> Callable[..., Any]:
    coroutine = inspect.iscoroutinefunction(handler)

    @functools.wraps(handler)
    async def guarded(*args: Any, **kwargs: Any) -> Any:
        request = _request_among(args)
        if request is None:
            raise TypeError(f"@requires guards request handlers; {handler!r} was called without a request")
        granted = request.get(_GRANTED)
        if granted is None or not granted.issuperset(needed):  # not verified by the middleware
            await authorize(request, needed)
        if coroutine:
            return await handler(*args, **kwargs)
        result = handler(*args, **kwargs)
        return await result if inspect.isawaitable(result) else result

    return guarded


def _request_among(args: tuple[Any, ...]) -> web.Request | None:
    """The request a handler was called with: itself, or a View's (a method's ``self``)."""
    for arg in args:
        if isinstance(arg, web.Request):
            return arg
        if isinstance(arg, AbstractView):
            return arg.request
    return None


def token_claims(request: web.Request) -> Mapping[str, Any]:
    """The verified claims (read-only) of the token that authorised this request.

    RFC 9068 §2.2: ``client_id`` is the application; ``sub`` is who the token speaks for: the
    application itself for a machine token (client credentials, ``sub == client_id``), the
    person's stable subject ``{issuer}/people/{id}`` for a token from the authorization-code or
    refresh grant, the subject URL for an IndieAuth ticket. Authorise people by ``sub``."""
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


def scope_hint(needed: tuple[str, ...]) -> str | None:
    """The ``scope`` of a 401 challenge: the route's required scopes, space-separated (RFC 6750
    §3: "The "scope" attribute is a space-delimited list of case-sensitive scope values
    indicating the required scope of the access token for accessing the requested resource");
    none when the route declares no scope (``@requires()``)."""
    return " ".join(needed) if needed else None


def unauthorized(config: ProtectServeConfig, description: str | None = None,
                 needed: tuple[str, ...] = ()) -> web.HTTPUnauthorized:
    """401: without ``description`` the plain challenge (no credentials), else ``invalid_token``;
    either carries ``scope`` with the route's ``needed`` scopes when it declares any (RFC 6750
    §3), so a client that picks its scopes from the challenge asks for the right ones."""
    scope = scope_hint(needed)
    if description is None:
        return web.HTTPUnauthorized(headers={"WWW-Authenticate": challenge(config, scope=scope)})
    return web.HTTPUnauthorized(
        headers={"WWW-Authenticate": challenge(config, "invalid_token", description, scope)},
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


def bearer_token(request: web.Request, config: ProtectServeConfig, needed: tuple[str, ...] = ()) -> str:
    """The RFC 6750 §2.1 token of the request; raises the 401 challenge otherwise (with the
    route's ``needed`` scopes as its ``scope``)."""
    values = request.headers.getall("Authorization", [])
    if len(values) > 1:
        raise unauthorized(config, "more than one Authorization header", needed)
    if not values:
        raise unauthorized(config, needed=needed)
    scheme, _, credentials = values[0].strip().partition(" ")
    if scheme.lower() != "bearer":
        raise unauthorized(config, needed=needed)  # no bearer credentials at all: plain challenge
    token = credentials.strip()
    if len(token) > config.max_token_bytes:  # refused before any decoding (issue 7)
        raise bad_request(config, "token too large")
    if not _B64TOKEN.fullmatch(token):
        raise unauthorized(config, "malformed bearer token", needed)
    return token


async def authorize(request: web.Request, needed: tuple[str, ...], *, config: ProtectServeConfig | None = None,
                    runtime: ProtectServeRuntime | None = None) -> None:
    """Let ``request`` through only with a valid bearer token granting every scope in ``needed``
    (RFC 6750 §3.1 errors otherwise); its claims are then ``token_claims(request)``. A token
    already verified for this request is not verified again. ``config`` and ``runtime`` default
    to those ``protect()`` stored on the application (or a parent); without them, ``500``."""
    granted = request.get(_GRANTED)
    if granted is not None and granted.issuperset(needed):
        return
    config = config or request.config_dict.get(CONFIG_KEY)
    runtime = runtime or request.config_dict.get(RUNTIME_KEY)
    if config is None or runtime is None:
        log.error("%s %s needs a token but ProtectServe is not set up for this application (call protect())",
                  request.method, request.path)
        raise web.HTTPInternalServerError()
    if granted is None:
        granted = await _verify(request, config, runtime, needed)
    if not granted.issuperset(needed):
        raise forbidden(config, needed)


async def _verify(request: web.Request, config: ProtectServeConfig, runtime: ProtectServeRuntime,
                  needed: tuple[str, ...] = ()) -> frozenset[str]:
    token = bearer_token(request, config, needed)
    verifier = runtime.verifier
    if verifier is None:
        raise unavailable(runtime.retry_after)
    try:
        claims = await verifier.verify(token)
    except InvalidToken as exc:
        log.info("refused token for %s %s: %s", request.method, request.path, exc.description)
        raise unauthorized(config, exc.description, needed) from None
    except (AMUnavailable, TimeoutError) as exc:
        log.warning("cannot verify token now: %s", str(exc) or type(exc).__name__)
        raise unavailable(getattr(exc, "retry_after", None) or runtime.retry_after) from None
    granted = frozenset(str(claims.get("scope", "")).split())
    request[CLAIMS_KEY] = MappingProxyType(dict(claims))
    request[_GRANTED] = granted
    return granted


def protectserve_middleware(
    *, config: ProtectServeConfig, runtime: ProtectServeRuntime | None = None,
    audited: web.Application | None = None,
) -> Middleware:
    """Middleware factory.  ``runtime`` defaults to ``request.config_dict[RUNTIME_KEY]``.

    With ``audited`` (``protect()`` passes its application), the first request re-runs the
    start-up :func:`~.declared.audit` on the now frozen route table (routes an ``on_startup``
    handler added after ProtectServe's own audit): if it fails, every request is ``500``."""
    pending = [audited] if audited is not None else []
    refused: list[str] = []

    @web.middleware
    async def protectserve(request: web.Request, handler: Handler) -> web.StreamResponse:
        if pending:
            try:
                audit(pending.pop())
            except UnprotectedRoute as exc:
                refused.append(str(exc))
                log.error("%s", exc)
        if refused:
            raise web.HTTPInternalServerError()
        needed = needed_scopes(request)
        if needed is None:
            return await handler(request)
        state = runtime if runtime is not None else request.config_dict[RUNTIME_KEY]
        await authorize(request, needed, config=config, runtime=state)
        return await handler(request)

    return protectserve
