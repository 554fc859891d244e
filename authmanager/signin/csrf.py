"""CSRF defence of the console and the authorization dialog: every state-changing request (anything but GET/HEAD/OPTIONS)
must carry the session's CSRF token in the form field ``csrf_token`` (compared in constant time),
and, when the browser sends an ``Origin`` (or, lacking it, a ``Referer``), come from the AM's own
origin. GET handlers never change state. The JSON API is not cookie-authenticated (Bearer tokens
only), so it needs neither."""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from aiohttp import hdrs, web
from aiohttp_session import get_session

from ..errors import OAuthError
from .state import am

class CsrfRefused(OAuthError):
    """A state-changing form without the session's CSRF token, or from another origin."""

    error = "csrf_refused"
    status_code = 403


SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
FIELD = "csrf_token"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _same_origin(request: web.Request) -> bool:
    """The AM's origin is its configured issuer's, never one taken from the request's Host."""
    allowed = _origin(am(request).settings.issuer)
    origin = request.headers.get(hdrs.ORIGIN)
    if origin is not None:
        return origin.lower() == allowed
    referer = request.headers.get(hdrs.REFERER)
    return referer is None or _origin(referer) == allowed


def csrf_middleware():  # type: ignore[no-untyped-def]
    """Refuse unsafe requests without the right token or from another origin (``403``)."""

    @web.middleware
    async def middleware(request: web.Request, handler):  # type: ignore[no-untyped-def]
        if request.method not in SAFE:
            if not _same_origin(request):
                raise CsrfRefused("cross-origin form submission refused")
            expected = (await get_session(request)).get("csrf")
            sent = (await request.post()).get(FIELD) if request.content_type in (
                "application/x-www-form-urlencoded", "multipart/form-data") else None
            if not isinstance(expected, str) or not isinstance(sent, str) or \
                    not hmac.compare_digest(sent.encode(), expected.encode()):
                raise CsrfRefused("the form's CSRF token is missing or wrong; reload the page and try again")
        return await handler(request)

    return middleware
