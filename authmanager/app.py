"""``create_app(settings)``: the AM as an aiohttp application."""

from __future__ import annotations

import logging
from typing import AsyncIterator

from aiohttp import web
from sqlalchemy import exc as sa_exc

from .context import CONTEXT, Context
from .endpoints import introspection, jwks, metadata, registration, revocation, token
from .errors import OAuthError, PayloadTooLarge, TemporarilyUnavailable, json_response, to_http
from .secretbox import SecretBox
from .settings import Settings
from .storage.db import create_schema, make_engine, make_sessionmaker
from .tokens import KeyRing

log = logging.getLogger("authmanager")

#: Database failures that mean "try again later", not "your request was bad".
DB_UNAVAILABLE = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError, ConnectionError, TimeoutError)


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
    except DB_UNAVAILABLE:
        log.exception("database unavailable")
        raise to_http(TemporarilyUnavailable("the database is unavailable")) from None
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        raise web.HTTPInternalServerError(
            text='{"error":"server_error"}', content_type="application/json"
        ) from None


def _database_ctx(settings: Settings, *, create: bool):  # type: ignore[no-untyped-def]
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        try:
            if create:
                await create_schema(engine)
            sessions = make_sessionmaker(engine)
            box = SecretBox.from_settings(secret_key=settings.secret_key, key_file=settings.resolved_key_file)
            keyring = await KeyRing.load(sessions, box, now=settings.now())
            app[CONTEXT] = Context(settings=settings, engine=engine, sessions=sessions, box=box, keyring=keyring)
            yield
        finally:
            await engine.dispose()

    return ctx


async def health(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


def create_app(settings: Settings, *, create_schema: bool = True) -> web.Application:
    app = web.Application(client_max_size=settings.max_body, middlewares=[error_middleware])
    app.cleanup_ctx.append(_database_ctx(settings, create=create_schema))
    app.router.add_get(metadata.PATH, metadata.handle)
    app.router.add_get(jwks.PATH, jwks.handle)
    app.router.add_post(registration.PATH, registration.handle)
    app.router.add_post(token.PATH, token.handle)
    app.router.add_post(introspection.PATH, introspection.handle)
    app.router.add_post(revocation.PATH, revocation.handle)
    app.router.add_get("/health/alive", health)
    return app
