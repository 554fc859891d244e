"""``GET /authorize`` (RFC 6749 §4.1.1, OAuth 2.1 §4.1.1) and the dialog's ``POST /authorize``.

The handler is thin: the protocol checks are :mod:`.request`, what is offered and decided is
:mod:`.dialog`. Order:

1. ``client_id``, the client (:meth:`ClientRegistry.find`: a consumer key or a client ID metadata
   document) and ``redirect_uri``: any failure is an HTML error page (400), never a redirect.
2. Every other check; a failure is redirected (§4.1.2.1) with ``error``, ``error_description``,
   ``state`` and ``iss`` (RFC 9207), as are ``access_denied``, ``server_error`` and
   ``temporarily_unavailable`` (the database is unreachable).
3. Not signed in: ``303`` to the shared sign-in page with ``next`` = this request.
4. ``GET`` shows the dialog and remembers, in the person's (encrypted) session, the SHA-256 of
   this exact request and account under a random ``request_id`` (at most :data:`MAX_PENDING`).
   ``POST`` (the dialog's form, to the same URL, CSRF-checked by :mod:`authmanager.signin.csrf`)
   must name such a ``request_id``, spends it, re-runs every check and the policies, and only
   then approves (a code, ``303`` to ``redirect_uri?code&state&iss``) or denies (``access_denied``).

Every answer carries ``Content-Security-Policy: frame-ancestors 'none'`` and ``X-Frame-Options:
DENY`` (RFC 9700 §4.16, clickjacking), ``Cache-Control: no-store`` and ``Referrer-Policy:
same-origin`` (the request's URL never leaks to a logo's or the client's host; ``no-referrer``
would make browsers send ``Origin: null`` with the dialog's POST, which the CSRF check refuses).
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp_session import get_session

from ..accounts.auth import Principal
from ..clients.redirect_uris import is_loopback_host
from ..errors import (
    AuthorizationDenied,
    ClientMetadataDocumentError,
    InvalidRequest,
    OAuthError,
    ServerError,
    TemporarilyUnavailable,
    UnknownClient,
)
from ..secretbox import digest, random_secret
from ..signin import cookies
from ..signin.csrf import csrf_middleware
from ..signin.sessions import csrf_token, signed_in
from ..signin.state import am
from ..signin.views import login_url
from ..storage.db import UNAVAILABLE, transaction
from . import PATH, dialog
from .request import Checked, check, client_id_of, error_location, redirect_uri_for, state_of, success_location

log = logging.getLogger("authmanager.authorize")


class DialogNotShown(InvalidRequest):
    """A dialog POST naming no ``request_id`` this session was shown for this request and account
    (forged, replayed, or for another request): an error page, never a redirect."""


HERE = Path(__file__).parent
PENDING, MAX_PENDING = "authz", 5
CSP = ("default-src 'none'; style-src 'self'; img-src 'self' https: http: data:; form-action {}; "
       "frame-ancestors 'none'; base-uri 'none'")


def _csp(redirect_uri: str | None = None) -> str:
    """The pages' policy. The dialog's form is answered by a redirect to the client, and browsers
    apply ``form-action`` to the redirects of a form submission (CSP Level 3 §6.4.1), so the
    dialog's page also allows the origin of that one, already validated, redirect URI."""
    if redirect_uri is None:
        return CSP.format("'self'")
    parts = urlsplit(redirect_uri)
    return CSP.format(f"'self' {parts.scheme}://{parts.netloc}")


def _bound(request: web.Request, account_id: int) -> str:
    """What a pending request id stands for: this exact query, for this account."""
    return digest(f"{account_id}\n{request.rel_url.raw_query_string}")


async def _remember(request: web.Request, account_id: int) -> str:
    session = await get_session(request)
    pending: dict[str, str] = dict(session.get(PENDING) or {})
    request_id = random_secret(16)
    pending[request_id] = _bound(request, account_id)
    session[PENDING] = dict(list(pending.items())[-MAX_PENDING:])
    return request_id


async def _spend(request: web.Request, account_id: int, request_id: object) -> bool:
    session = await get_session(request)
    pending: dict[str, str] = dict(session.get(PENDING) or {})
    expected = pending.pop(request_id, None) if isinstance(request_id, str) else None
    session[PENDING] = pending
    return expected is not None and expected == _bound(request, account_id)


def _shown_url(url: str | None, allow_private: bool) -> str | None:
    """A logo the person's browser may load: https, or http on loopback (tests, internal use)."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    return url if parts.scheme == "http" and allow_private and is_loopback_host(parts.hostname) else None


async def handle(request: web.Request) -> web.StreamResponse:
    ctx = am(request)
    params = list(request.query.items())
    client_id = client_id_of(params)
    try:
        client = await ctx.clients.find(client_id)
    except ClientMetadataDocumentError as exc:
        raise UnknownClient(f"the application could not be identified: {exc.description}") from None
    if client is None:
        raise UnknownClient("unknown application (client_id)")
    redirect_uri = redirect_uri_for(client, params)
    state, issuer = state_of(params), ctx.settings.issuer
    try:
        checked = check(client, redirect_uri, params)
        async with ctx.sessions() as session:
            where = await dialog.target(session, checked)
        who = await signed_in(request)
        if who is None:
            raise web.HTTPSeeOther(login_url(f"{PATH}?{request.rel_url.raw_query_string}"))
        if request.method == "POST":
            return await _decide(request, checked, where, who)
        return await _show(request, checked, where, who)
    except (web.HTTPException, DialogNotShown):
        raise
    except OAuthError as err:
        raise web.HTTPSeeOther(error_location(redirect_uri, err, state=state, issuer=issuer)) from None
    except UNAVAILABLE:
        log.exception("database unavailable")
        err: OAuthError = TemporarilyUnavailable("the authorization server is temporarily unavailable")
        raise web.HTTPSeeOther(error_location(redirect_uri, err, state=state, issuer=issuer)) from None
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        raise web.HTTPSeeOther(error_location(redirect_uri, ServerError("the authorization server failed"),
                                              state=state, issuer=issuer)) from None


async def _offer(request: web.Request, checked: Checked, where: dialog.Target, who: Principal) -> dialog.Offer:
    ctx = am(request)
    async with ctx.sessions() as session:
        return await dialog.offer(session, checked, where, who, issuer=ctx.settings.issuer, now=ctx.now(),
                                  default_ttl=ctx.settings.token_ttl)


async def _show(request: web.Request, checked: Checked, where: dialog.Target, who: Principal) -> web.Response:
    found = await _offer(request, checked, where, who)
    if not found.offered and not (found.ask_owner and found.can_ask):
        raise AuthorizationDenied("the resource's policies permit none of the requested scopes")
    ctx = am(request)
    redirect_host = urlsplit(checked.redirect_uri).hostname or ""
    response = aiohttp_jinja2.render_template("dialog.html", request, {
        "client": checked.client, "logo": _shown_url(checked.client.logo_uri, ctx.settings.allow_private_targets),
        "origin": checked.client.verified_origin, "redirect_host": redirect_host, "offer": found,
        "docs": found.target.docs, "realm": found.target.realm, "who": who, "csrf": await csrf_token(request),
        "request_id": await _remember(request, who.admin_id), "action": f"{PATH}?{request.rel_url.raw_query_string}"})
    response.headers["Content-Security-Policy"] = _csp(checked.redirect_uri)
    return response


async def _decide(request: web.Request, checked: Checked, where: dialog.Target, who: Principal) -> web.StreamResponse:
    ctx = am(request)
    form = await request.post()
    if not await _spend(request, who.admin_id, form.get("request_id")):
        raise DialogNotShown("This authorization request was not shown to you in this session (or was already "
                             "answered). Go back to the application and start again.")
    found = await _offer(request, checked, where, who)
    async with transaction(ctx.sessions, keep=(AuthorizationDenied,)) as session:
        outcome = await dialog.decide(session, checked, found, who, approve=form.get("decision") == "approve",
                                      chosen=[str(s) for s in form.getall("approve_scope", [])],
                                      ask=[str(s) for s in form.getall("ask_scope", [])], now=ctx.now(),
                                      request_ttl=ctx.settings.request_ttl)
    assert outcome.code is not None
    raise web.HTTPSeeOther(success_location(checked.redirect_uri, code=outcome.code, state=checked.state,
                                            issuer=ctx.settings.issuer))


@web.middleware
async def _error_pages(request: web.Request, handler):  # type: ignore[no-untyped-def]
    """Errors that must not be redirected, as a readable page with their status and no Location."""
    try:
        return await handler(request)
    except OAuthError as err:
        status, message, headers = err.status_code, err.description or err.error, dict(err.headers)
    except UNAVAILABLE as exc:  # before the redirect URI is known (the client lookup): a page, 503
        log.warning("authorization request: database unavailable: %s", type(exc).__name__)
        status, message = 503, "The authorization server is temporarily unavailable. Try again in a moment."
        headers = {"Retry-After": "5"}
    response = aiohttp_jinja2.render_template("authorize_error.html", request,
                                              {"status": status, "message": message}, status=status)
    response.headers.update(headers)
    return response


async def _headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.setdefault("Content-Security-Policy", _csp())
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    # same-origin, not no-referrer: under no-referrer Chromium sends "Origin: null" with the
    # dialog's own POST, which the CSRF check (rightly) refuses. same-origin still sends no
    # Referer to any other origin: the logo's host, the icons' hosts, the client's redirect URI.
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"


def authorize_app() -> web.Application:
    app = web.Application(middlewares=[_error_pages, cookies, csrf_middleware()])
    aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                         undefined=jinja2.StrictUndefined)
    app.on_response_prepare.append(_headers)
    app.router.add_get("", handle)
    app.router.add_post("", handle)
    return app


def setup_authorize(app: web.Application) -> None:
    """Mount the authorization endpoint and the dialog at ``/authorize``."""
    app.add_subapp(PATH, authorize_app())
