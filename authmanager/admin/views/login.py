"""Signing in and out of the console.

Sign-in is throttled per client IP (every attempt counts) and per account name (consecutive
failed attempts count) by :class:`~authmanager.runtime.signin_throttle.SignInThrottle`, which
spends each attempt atomically before the password is checked; over either quota the answer is
``429`` with ``Retry-After`` and a readable page, and no password is checked. Success starts a new
session (:func:`..sessions.start`) and clears the account's failures; failure is audited as
``admin.login_failed``."""

from __future__ import annotations

from aiohttp import web

from ... import audit
from ...identifiers import is_name
from ...storage.models import Admin
from ..auth import authenticate_password
from ..render import page
from ..sessions import end, start
from ..state import STATE, am


async def login_form(request: web.Request) -> web.Response:
    return await page(request, "login.html", name="", error=None)


async def login(request: web.Request) -> web.Response:
    form = await request.post()
    name, password = str(form.get("name", "")).strip(), str(form.get("password", ""))
    ip, ctx = request.remote or "unknown", am(request)

    async def check() -> Admin | None:
        return await authenticate_password(ctx.sessions, name, password) if name and password else None

    admin = await request.app[STATE].throttle.attempt(ip=ip, account=name, check=check)
    if admin is None:
        who = name if is_name(name) else ascii(name[:100])  # a name no account can have, escaped to be storable
        async with ctx.sessions.begin() as db:
            await audit.record(db, action="admin.login_failed", actor=f"ip:{ip}", now=ctx.now(),
                               target=f"admin:{who}")
        return await page(request, "login.html", status=403, name=name, error="Wrong name or password.")
    await start(request, admin)
    raise web.HTTPSeeOther("/admin/")


async def logout(request: web.Request) -> web.Response:
    await end(request)
    raise web.HTTPSeeOther("/admin/login")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/login", login_form)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
