"""``protect()``: install ProtectServe protection into an existing aiohttp application.

One call appends the middleware, adds the RFC 9728 §3 metadata route and registers the
cleanup contexts that audit the route table (:func:`.declared.audit`) and then own the
outbound ``ClientSession`` and fetch the AM's RFC 8414 metadata and JWKS at start-up (see
``runtime`` for what happens while the AM is down).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence

from aiohttp import web

from .config import DEFAULT_CACHE_SIZE, DEFAULT_MAX_STALENESS, HTTP_TIMEOUT, Mode, ProtectServeConfig
from .declared import audit
from .metadata import metadata_handler, metadata_path
from .middleware import protectserve_middleware
from .runtime import CONFIG_KEY, RUNTIME_KEY, ProtectServeRuntime


def protect(
    app: web.Application,
    *,
    realm: str,
    resource: str,
    authorization_manager: str,
    sph: str,
    sph_secret: str | None = None,
    scopes: Sequence[str] = (),
    resource_name: str | None = None,
    mode: Mode = "jwks",
    leeway: int = 30,
    jwks_refetch_interval: float = 60.0,
    algorithms: Sequence[str] = ("ES256",),
    now: Callable[[], float] = time.time,
    cache_size: int = DEFAULT_CACHE_SIZE,
    max_staleness: float = DEFAULT_MAX_STALENESS,
    feed: bool = True,
    monotonic: Callable[[], float] = time.monotonic,
    http_timeout: float = HTTP_TIMEOUT,
) -> ProtectServeConfig:
    """Protect ``app`` (before it starts); returns the validated configuration.

    Handlers opt in with ``@requires(...)`` (a function, a ``web.View`` method or a whole View
    class); at start-up a route that would hide one is refused (:class:`UnprotectedRoute`).  ``scopes`` is what the metadata document lists
    as ``scopes_supported``.  ``cache_size``, ``max_staleness`` and ``feed`` tune the
    verified-token cache and the revocation feed (docs/protocol.md §11); ``now`` and
    ``monotonic`` are the token and staleness clocks (injectable for tests); ``http_timeout``
    bounds each call to the AM (metadata, JWKS, introspection), seconds.
    """
    if CONFIG_KEY in app:
        raise RuntimeError("protect() was already called for this application")
    config = ProtectServeConfig(
        realm=realm, resource=resource, authorization_manager=authorization_manager,
        sph=sph, sph_secret=sph_secret, scopes=tuple(scopes), resource_name=resource_name,
        mode=mode, leeway=leeway, jwks_refetch_interval=jwks_refetch_interval,
        algorithms=tuple(algorithms), now=now, cache_size=cache_size,
        max_staleness=max_staleness, feed=feed, monotonic=monotonic, http_timeout=http_timeout,
    )
    runtime = ProtectServeRuntime(config)
    app[CONFIG_KEY] = config
    app[RUNTIME_KEY] = runtime
    app.middlewares.append(protectserve_middleware(config=config, runtime=runtime, audited=app))
    app.router.add_get(metadata_path(config.resource), metadata_handler(config, lambda: runtime.issuer))
    app.cleanup_ctx.append(_audited)  # before the runtime's: a refused table starts nothing
    app.cleanup_ctx.append(runtime.cleanup_ctx)
    return config


async def _audited(app: web.Application) -> AsyncIterator[None]:
    """At start-up, the routes of ``app`` and its sub-applications (however late they were
    added) are checked: one that would hide a ``@requires`` stops the start with
    :class:`~.declared.UnprotectedRoute` naming it."""
    audit(app)
    yield
