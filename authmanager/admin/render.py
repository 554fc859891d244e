"""Rendering the console: pages with the shared context, HTML error pages, security headers,
form helpers and template filters."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, TypeVar

import aiohttp_jinja2
from aiohttp import web
from aiohttp_session import SESSION_KEY

from ..errors import OAuthError
from ..identifiers import MAX_ROW_ID, is_row_id
from ..operations.realms import AdminError
from .sessions import csrf_token, flash, take_flashes
from .state import PRINCIPAL

log = logging.getLogger("authmanager.admin")
T = TypeVar("T")

CSP = ("default-src 'none'; style-src 'self'; img-src 'self' https: http: data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
TITLES = {400: "Bad request", 401: "Not signed in", 403: "Refused", 404: "Not found",
          429: "Too many attempts", 503: "Temporarily unavailable"}


async def page(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    """Render ``template`` with what every page needs: the admin, the CSRF token, the messages."""
    return aiohttp_jinja2.render_template(template, request, {
        **context, "admin": request.get(PRINCIPAL), "csrf": await csrf_token(request),
        "flashes": await take_flashes(request), "path": request.path}, status=status)


async def act(request: web.Request, back: str, action: Callable[[], Awaitable[T]],
              done: Callable[[T], str]) -> web.Response:
    """Run a state-changing ``action`` for a form: flash its outcome (or the reason it was
    refused, nothing stored) and redirect to ``back`` (Post/Redirect/Get)."""
    try:
        result = await action()
    except AdminError as exc:
        await flash(request, "error", str(exc))
    else:
        await flash(request, "ok", done(result))
    raise web.HTTPSeeOther(back)


@web.middleware
async def error_pages(request: web.Request, handler):  # type: ignore[no-untyped-def]
    """The console's errors as readable pages, with the status (and headers) the API would use."""
    try:
        return await handler(request)
    except OAuthError as err:
        status, message, headers = err.status_code, err.description or err.error, err.headers
    except AdminError as err:
        status, message, headers = 400, str(err), {}
    session = request.get(SESSION_KEY)  # the session, if the cookie middleware got that far
    response = aiohttp_jinja2.render_template("error.html", request, {
        "status": status, "title": TITLES.get(status, "Error"), "message": message,
        "admin": request.get(PRINCIPAL), "flashes": [], "path": request.path,
        "csrf": session.get("csrf", "") if session is not None else ""}, status=status)
    response.headers.update({k: v for k, v in headers.items() if k != "WWW-Authenticate"})
    return response


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if not request.path.startswith("/admin/static/"):
        response.headers["Cache-Control"] = "no-store"


def when(value: int | None) -> str:
    if value is None:
        return "—"
    return datetime.fromtimestamp(value, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def isotime(value: int | None) -> str:
    """For a form field: ISO 8601 in UTC, which ``policy_admin.parse_time`` reads back."""
    if value is None:
        return ""
    return datetime.fromtimestamp(value, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def filters() -> dict[str, Callable[..., str]]:
    return {"when": when, "isotime": isotime, "spaced": lambda items: " ".join(items or []) or "—"}


def form_int(value: object, name: str, *, required: bool = False) -> int | None:
    """An optional positive integer from a form field; a bad one is an AdminError (nothing stored)."""
    text = str(value or "").strip()
    if not text:
        if required:
            raise AdminError(f"{name} is required")
        return None
    if not (text.isascii() and text.isdigit() and len(text) <= 12 and is_row_id(int(text))):
        raise AdminError(f"{name} must be a positive whole number (at most {MAX_ROW_ID})")
    return int(text)
