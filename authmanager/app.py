"""``create_app(settings)``: the AM as an aiohttp application."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import AsyncIterator

from aiohttp import web
from sqlalchemy import text

from .admin import setup_admin
from .authorize.endpoint import setup_authorize
from .clients.cimd import MetadataDocuments
from .clients.registry import ClientRegistry
from .context import CONTEXT, Context
from .endpoints import (
    client_keys,
    feed,
    grasshopper,
    introspection,
    jwks,
    metadata,
    openapi,
    registration,
    revocation,
    scopes,
    token,
)
from .errors import (
    OAuthError,
    PayloadTooLarge,
    TemporarilyUnavailable,
    json_response,
    to_http,
)
from .grants.group_commit import IssuanceQueue, Terms
from .runtime.consumer_keys import ConsumerKeys
from .runtime.feed import FeedHub
from .runtime.keyring import KeyRing
from .runtime.known_tokens import KnownTokens
from .runtime.purge import run_forever as purge_forever
from .runtime.ratelimit import RateLimiter
from .secretbox import SecretBox
from .serving import header_caps
from .settings import Settings
from .signin import setup_signin
from .storage.db import UNAVAILABLE, make_engine, make_sessionmaker
from .storage.events import ON_COMMIT
from .storage.migrate import prepare as prepare_schema
from .storage.transact import Transactor

log = logging.getLogger("authmanager")


@web.middleware
async def error_middleware(request: web.Request, handler):  # type: ignore[no-untyped-def]
    """Render OAuth errors as JSON, map database outages to 503 and never leak a stack trace."""
    try:
        return await handler(request)
    except OAuthError as err:
        if err.status_code == 401:
            log.info("%s %s: %s", request.method, request.path, getattr(err, "reason", err.error))
        raise to_http(err) from None
    except web.HTTPRequestEntityTooLarge:
        raise to_http(PayloadTooLarge("request body too large")) from None
    except web.HTTPException:
        raise
    except UNAVAILABLE as exc:
        if isinstance(exc, ConnectionError) and (request.transport is None or request.transport.is_closing()):
            # The client went away while we read its body: nothing to answer, nothing wrong here.
            raise web.HTTPBadRequest(text='{"error":"invalid_request"}', content_type="application/json") from None
        log.exception("database unavailable")
        raise to_http(TemporarilyUnavailable("the database is unavailable")) from None
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        raise web.HTTPInternalServerError(
            text='{"error":"server_error"}', content_type="application/json"
        ) from None


#: (method, path) -> the rate-limited operation it counts against.
RATE_LIMITED = {
    ("POST", registration.PATH): "registration",
    ("POST", token.PATH): "token",
    ("POST", grasshopper.PATH): "token",
    # the self-service key endpoint: managing credentials, counted like registering them
    ("GET", client_keys.PATH): "registration",
    ("POST", client_keys.PATH): "registration",
    ("POST", client_keys.REVOKE_PATH): "registration",
}


@web.middleware
async def rate_limit_middleware(request: web.Request, handler):  # type: ignore[no-untyped-def]
    """Count registration and token requests per client IP and overall before anything is read
    or stored; over a quota, ``429`` + ``Retry-After``. The client IP is the TCP peer."""
    operation = RATE_LIMITED.get((request.method, request.path))
    if operation is not None:
        await request.app[CONTEXT].limiter.check(operation, request.remote or "unknown")
    return await handler(request)


def _database_ctx(settings: Settings, *, migrate: bool):  # type: ignore[no-untyped-def]
    """Owns the engine, the key ring, the feed poller and the purge task for the app's lifetime."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url, timeout=settings.db_timeout)
        purger: asyncio.Task[None] | None = None
        try:
            if migrate:
                await prepare_schema(engine)  # empty: create via migrations; outdated: refuse
            sessions = make_sessionmaker(engine)
            box = SecretBox.from_settings(secret_key=settings.secret_key, key_file=settings.resolved_key_file)
            keyring = await KeyRing.load(sessions, box, now=int(settings.now()))

            async def reload_keys() -> None:
                app[CONTEXT].keyring = await KeyRing.load(sessions, box, now=int(settings.now()))

            known = KnownTokens(sessions, following=lambda: hub.following(4 * settings.feed_poll_interval))
            sessions.configure(info={ON_COMMIT: known.apply})  # this process's revocations, at commit
            hub = FeedHub(sessions, poll_interval=settings.feed_poll_interval, on_keys_changed=reload_keys,
                          on_events=known.apply)
            limiter = RateLimiter(storage_uri=settings.rate_limit_storage, quotas={
                "registration": (settings.registration_limit_per_ip, settings.registration_limit),
                "token": (settings.token_limit_per_ip, settings.token_limit),
                "introspection_miss": (settings.introspection_miss_limit, settings.introspection_miss_limit),
            }, namespace=settings.issuer)
            terms = Terms(issuer=settings.issuer, default_ttl=settings.token_ttl, request_ttl=settings.request_ttl,
                          poll_interval=settings.poll_interval)
            issuance = IssuanceQueue(lambda: app[CONTEXT].transact, terms=terms, keyring=lambda: app[CONTEXT].keyring,
                                     known=lambda: app[CONTEXT].known, now=lambda: int(settings.now()))
            consumer_keys = ConsumerKeys(sessions, box)
            documents = MetadataDocuments(allow_private_targets=settings.allow_private_targets, now=settings.now)
            app[CONTEXT] = Context(settings=settings, engine=engine, sessions=sessions, box=box, keyring=keyring,
                                   feed=hub, limiter=limiter, consumer_keys=consumer_keys,
                                   transact=Transactor(engine, timeout=settings.db_timeout), issuance=issuance,
                                   known=known, documents=documents,
                                   clients=ClientRegistry(keys=consumer_keys, documents=documents,
                                                          allow_private_targets=settings.allow_private_targets,
                                                          now=settings.now))
            await hub.start()
            await issuance.start()
            purger = asyncio.create_task(purge_forever(
                sessions, interval=settings.purge_interval, now=settings.now,
                unused_consumer_ttl=settings.unused_consumer_ttl), name="protectserve-purge")
            yield
        finally:
            if purger is not None:
                purger.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await purger
            if CONTEXT in app:
                await app[CONTEXT].issuance.close()
                await app[CONTEXT].transact.close()
                await app[CONTEXT].feed.close()
                await app[CONTEXT].limiter.aclose()
                await app[CONTEXT].documents.close()
            await engine.dispose()

    return ctx


async def _end_feeds(app: web.Application) -> None:
    """Shutdown: end open SSE streams first, so the server need not wait for them."""
    if CONTEXT in app:
        await app[CONTEXT].feed.close()


async def alive(request: web.Request) -> web.Response:
    """Liveness: the process answers. Touches nothing else, the database included."""
    return json_response({"status": "alive"})


async def ready(request: web.Request) -> web.Response:
    """Readiness: the database answers (``SELECT 1``); ``503`` with ``Retry-After`` otherwise."""
    ctx = request.app[CONTEXT]
    try:
        async with asyncio.timeout(2), ctx.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:  # any failure to reach the database means "not ready"
        log.warning("readiness check: database unreachable")
        raise to_http(TemporarilyUnavailable("the database is unreachable")) from None
    return json_response({"status": "ready"})


def create_app(settings: Settings, *, migrate: bool = True) -> web.Application:
    """The AM. With ``migrate`` (the default) an empty database gets the schema at start-up and an
    out-of-date one makes start-up fail with ``SchemaOutOfDate``; ``migrate=False`` skips the check
    (for worker processes whose parent already did it)."""
    app = web.Application(client_max_size=settings.max_body, handler_args=header_caps(settings),
                          middlewares=[error_middleware, rate_limit_middleware])
    app.cleanup_ctx.append(_database_ctx(settings, migrate=migrate))
    app.on_shutdown.append(_end_feeds)
    app.router.add_get(metadata.PATH, metadata.handle)
    app.router.add_get(jwks.PATH, jwks.handle)
    app.router.add_post(registration.PATH, registration.handle)
    app.router.add_post(token.PATH, token.handle)
    app.router.add_post(introspection.PATH, introspection.handle)
    app.router.add_post(revocation.PATH, revocation.handle)
    app.router.add_get(feed.PATH, feed.handle)
    app.router.add_post(grasshopper.PATH, grasshopper.handle)
    app.router.add_get(client_keys.PATH, client_keys.handle, allow_head=False)
    app.router.add_post(client_keys.PATH, client_keys.handle)
    app.router.add_post(client_keys.REVOKE_PATH, client_keys.handle_revoke)
    app.router.add_get(token.PATH, token.verify)
    app.router.add_get(openapi.PATH, openapi.handle)
    app.router.add_get(scopes.PATH, scopes.handle)
    app.router.add_get("/health/alive", alive)
    app.router.add_get("/health/ready", ready)
    setup_signin(app, settings)  # the sign-in state shared by the console and the dialog
    setup_admin(app, settings)  # /admin (console) and /admin/api (JSON API)
    setup_authorize(app)  # /authorize: the authorization endpoint and the dialog (issue 12)
    return app
