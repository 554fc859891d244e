"""The realm admins' web console (``/admin``) and admin JSON API (``/admin/api/``).

``setup_admin(app, settings)`` mounts two sub-applications on the AM:

* ``/admin/api``: JSON, authenticated by admin API tokens (``Authorization: Bearer``), errors in
  the AM's JSON style (:mod:`authmanager.admin.api`);
* ``/admin``: server-rendered HTML (Jinja2 through aiohttp-jinja2, one hand-written CSS file, no
  JavaScript), cookie sessions (:mod:`.sessions`), CSRF tokens (:mod:`.csrf`), throttled sign-in
  (:mod:`.views.login`).

Both call the same service functions as the CLI (``approvals``, ``policy_admin``,
``realm_admin``, ``revocation``), with ``actor="admin:<name>"`` for the audit log, and both
enforce realm limits through :mod:`.access`.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import AsyncIterator

import aiohttp_jinja2
import jinja2
from aiohttp import web

from ..context import CONTEXT
from ..runtime.signin_throttle import SignInThrottle
from ..settings import Settings
from . import api
from .auth import Principal
from .csrf import csrf_middleware
from .errors import NotSignedIn
from .render import error_pages, filters, security_headers
from .sessions import cookie_middleware, signed_in
from .state import STATE, ConsoleState, am
from .views import audit_log, consumers, login, policies, realms, requests

HERE = Path(__file__).parent
# aiohttp-session 2.12 stores its state under plain string keys, which aiohttp 3.14 warns about
# on every request; the warning is about that library's code, not ours, so it is silenced there.
warnings.filterwarnings("ignore", category=web.NotAppKeyWarning, module="aiohttp_session")
PUBLIC = ("/admin/login", "/admin/static/")


@web.middleware
async def _cookies(request: web.Request, handler):  # type: ignore[no-untyped-def]
    """aiohttp-session's own middleware, built at start-up (its key comes from the server key)."""
    return await request.app[STATE].sessions(request, handler)


@web.middleware
async def _signed_in_only(request: web.Request, handler):  # type: ignore[no-untyped-def]
    """Every page but sign-in and the stylesheet needs a live session: GETs are sent to sign in,
    anything else is refused."""
    if not request.path.startswith(PUBLIC):
        who: Principal | None = await signed_in(request)
        if who is None:
            if request.method in ("GET", "HEAD"):
                raise web.HTTPSeeOther("/admin/login")
            raise NotSignedIn("sign in first")
    return await handler(request)


def _console_ctx(settings: Settings, parent: web.Application):  # type: ignore[no-untyped-def]
    """Runs after the AM's own start-up (the parent's cleanup_ctx comes first), so the server
    key is loaded: the cookie key is derived from it."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        throttle = SignInThrottle(storage_uri=settings.rate_limit_storage, per_ip=settings.admin_login_limit_per_ip,
                                  per_account=settings.admin_login_limit_per_account,
                                  namespace=settings.issuer + "/admin")
        app[STATE] = ConsoleState(sessions=cookie_middleware(parent[CONTEXT].box, settings), throttle=throttle)
        try:
            yield
        finally:
            await throttle.aclose()

    return ctx


def console_app(settings: Settings, parent: web.Application) -> web.Application:
    app = web.Application(middlewares=[error_pages, _cookies, csrf_middleware(), _signed_in_only])
    aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(HERE / "templates"), filters=filters(),
                         autoescape=True, undefined=jinja2.StrictUndefined)
    app.on_response_prepare.append(security_headers)
    app.cleanup_ctx.append(_console_ctx(settings, parent))
    app.router.add_static("/static", HERE / "static", name="static")
    for module in (login, realms, policies, requests, consumers, audit_log):
        module.add_routes(app)
    return app


def setup_admin(app: web.Application, settings: Settings) -> None:
    """Mount the admin API at ``/admin/api`` and the console at ``/admin``."""
    app.add_subapp("/admin/api", api.api_app(settings))
    app.add_subapp("/admin", console_app(settings, app))

    async def to_console(request: web.Request) -> web.Response:
        raise web.HTTPSeeOther("/admin/")

    app.router.add_get("/admin", to_console)


__all__ = ["setup_admin", "am"]
