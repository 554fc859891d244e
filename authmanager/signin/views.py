"""The sign-in form and sign-out, shared by the console and the dialog.

Sign-in is throttled per client IP (every attempt counts) and per account name (consecutive
failed attempts count) by :class:`~authmanager.runtime.signin_throttle.SignInThrottle`, which
spends each attempt atomically before the password is checked; over either quota the answer is
``429`` with ``Retry-After`` and a readable page, and no password is checked. Success starts a new
session (:func:`.sessions.start`) and clears the account's failures; failure is audited as
``admin.login_failed`` (a name no account can have is stored escaped).

Where the person lands (:func:`landing`): the authorization request named by ``next`` if it is
one (:func:`.next_url.safe_next`), else the console for an admin, else their applications page.
"""

from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web

from .. import audit
from ..accounts.auth import authenticate_password
from ..admin.render import page
from ..identifiers import is_name
from ..storage.models import Admin
from .next_url import safe_next
from .sessions import end, start
from .state import SIGNIN, am

LOGIN = "/admin/login"


def login_url(next_path: str | None) -> str:
    """The sign-in page, coming back to ``next_path`` (if it is an authorization request)."""
    safe = safe_next(next_path)
    return LOGIN + (f"?{urlencode({'next': safe})}" if safe else "")


def landing(admin: Admin, next_path: object) -> str:
    safe = safe_next(next_path)
    if safe is not None:
        return safe
    return "/admin/" if admin.administers else "/admin/applications"


async def login_form(request: web.Request) -> web.Response:
    return await page(request, "login.html", name="", error=None, next=safe_next(request.query.get("next")) or "")


async def login(request: web.Request) -> web.Response:
    form = await request.post()
    name, password = str(form.get("name", "")).strip(), str(form.get("password", ""))
    next_path = safe_next(form.get("next")) or ""
    ip, ctx = request.remote or "unknown", am(request)

    async def check() -> Admin | None:
        return await authenticate_password(ctx.sessions, name, password) if name and password else None

    admin = await request.config_dict[SIGNIN].throttle.attempt(ip=ip, account=name, check=check)
    if admin is None:
        who = name if is_name(name) else ascii(name[:100])  # a name no account can have, escaped to be storable
        async with ctx.sessions.begin() as db:
            await audit.record(db, action="admin.login_failed", actor=f"ip:{ip}", now=ctx.now(),
                               target=f"admin:{who}")
        return await page(request, "login.html", status=403, name=name, error="Wrong name or password.",
                          next=next_path)
    await start(request, admin)
    raise web.HTTPSeeOther(landing(admin, next_path))


async def logout(request: web.Request) -> web.Response:
    """Sign out; from the dialog ("Not you?"), back to sign-in for the same authorization request."""
    next_path = (await request.post()).get("next")
    await end(request)
    raise web.HTTPSeeOther(login_url(next_path if isinstance(next_path, str) else None))


def add_routes(app: web.Application) -> None:
    """The routes, on a sub-application mounted at ``/admin``."""
    app.router.add_get("/login", login_form)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
