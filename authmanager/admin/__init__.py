"""The realm admins' web console (``/admin``) and admin JSON API (``/admin/api/``).

``setup_admin(app, settings)`` mounts two sub-applications on the AM:

* ``/admin/api``: JSON, authenticated by admin API tokens (``Authorization: Bearer``), errors in
  the AM's JSON style (:mod:`authmanager.admin.api`);
* ``/admin``: server-rendered HTML (Jinja2 through aiohttp-jinja2, one hand-written CSS file, no
  JavaScript), with the sign-in, sessions and CSRF tokens shared with the authorization dialog
  (:mod:`authmanager.signin`).

An account that administers no realm (issue 12) may sign in, sign out and use
``/admin/applications`` (the applications it allowed); every other page answers ``403``.

Both call the same service functions as the CLI (``approvals``, ``policy_admin``,
``realm_admin``, ``revocation``), with ``actor="admin:<name>"`` for the audit log, and both
enforce realm limits through :mod:`.access`.
"""

from __future__ import annotations

import warnings
from pathlib import Path
import aiohttp_jinja2
import jinja2
from aiohttp import web

from ..settings import Settings
from ..signin import cookies
from ..signin import views as login
from ..signin.csrf import csrf_middleware
from ..signin.sessions import signed_in
from . import api
from .auth import Principal
from .errors import AccessDenied, NotSignedIn
from .render import error_pages, filters, security_headers
from .state import am
from .views import applications, audit_log, consumers, policies, realms, requests

HERE = Path(__file__).parent
# aiohttp-session 2.12 stores its state under plain string keys, which aiohttp 3.14 warns about
# on every request; the warning is about that library's code, not ours, so it is silenced there.
warnings.filterwarnings("ignore", category=web.NotAppKeyWarning, module="aiohttp_session")
PUBLIC = ("/admin/login", "/admin/static/")
#: What an account that administers no realm may use (everything else is 403).
PERSONAL = ("/admin/applications", "/admin/logout")


@web.middleware
async def _signed_in_only(request: web.Request, handler):  # type: ignore[no-untyped-def]
    """Every page but sign-in and the stylesheet needs a live session: GETs are sent to sign in,
    anything else is refused. An account that administers no realm gets only its own pages."""
    if not request.path.startswith(PUBLIC):
        who: Principal | None = await signed_in(request)
        if who is None:
            if request.method in ("GET", "HEAD"):
                raise web.HTTPSeeOther("/admin/login")
            raise NotSignedIn("sign in first")
        if not who.administers and not (request.path in PERSONAL or request.path.startswith("/admin/applications/")):
            raise AccessDenied("this account administers no realm: only its applications page is open to it")
    return await handler(request)


def console_app(settings: Settings, parent: web.Application) -> web.Application:
    app = web.Application(middlewares=[error_pages, cookies, csrf_middleware(), _signed_in_only])
    aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(HERE / "templates"), filters=filters(),
                         autoescape=True, undefined=jinja2.StrictUndefined)
    app.on_response_prepare.append(security_headers)
    app.router.add_static("/static", HERE / "static", name="static")
    for module in (login, realms, policies, requests, consumers, audit_log, applications):
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
