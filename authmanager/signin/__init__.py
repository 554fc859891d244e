"""Signing in, shared by the console (``/admin``) and the authorization dialog (``/authorize``).

One session cookie, one throttle, one CSRF rule for both (issue 12 §1):

* :mod:`.sessions` — the cookie and the server-side session row (no fixation, logout kills it);
* :mod:`.csrf` — every unsafe request carries the session's CSRF token and comes from the AM's
  origin;
* :mod:`.views` — the sign-in form and sign-out, throttled by
  :class:`~authmanager.runtime.signin_throttle.SignInThrottle` (atomic ``attempt()``);
* :mod:`.next_url` — where to land after signing in: only back on an authorization request.

:func:`setup_signin` builds the shared state on the AM's application once the server key is
loaded (the cookie key is derived from it); each sub-application wraps its handlers with
:func:`cookies`.
"""

from __future__ import annotations

from typing import AsyncIterator

from aiohttp import web

from ..context import CONTEXT
from ..runtime.signin_throttle import SignInThrottle
from ..settings import Settings
from .sessions import cookie_middleware
from .state import SIGNIN, SigninState


@web.middleware
async def cookies(request: web.Request, handler):  # type: ignore[no-untyped-def]
    """aiohttp-session's middleware, built at start-up, for any sub-application."""
    return await request.config_dict[SIGNIN].sessions(request, handler)


def setup_signin(app: web.Application, settings: Settings) -> None:
    """Append the shared sign-in state to ``app``'s start-up (after the database's)."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        throttle = SignInThrottle(storage_uri=settings.rate_limit_storage, per_ip=settings.admin_login_limit_per_ip,
                                  per_account=settings.admin_login_limit_per_account,
                                  namespace=settings.issuer + "/admin")
        app[SIGNIN] = SigninState(sessions=cookie_middleware(app[CONTEXT].box, settings), throttle=throttle)
        try:
            yield
        finally:
            await throttle.aclose()

    app.cleanup_ctx.append(ctx)


__all__ = ["SIGNIN", "cookies", "setup_signin"]
