"""Reading form-encoded request bodies (RFC 6749 Appendix B) strictly."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from aiohttp import web

from ..errors import InvalidRequest, InvalidTarget, PayloadTooLarge

FORM = "application/x-www-form-urlencoded"
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


async def read_body(request: web.Request) -> bytes:
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise PayloadTooLarge("request body too large") from exc


def refuse_query(request: web.Request) -> None:
    """Refuse a query string (even an empty ``?``) on an endpoint whose parameters are the form
    body alone (RFC 6749 §3.2 and §4.4.2, RFC 7009 §2.1): one source of parameters, so what a
    signature covers and what the endpoint acts on cannot come from different places."""
    if "?" in request.raw_path:
        raise InvalidRequest("parameters go in the form body, not the query")


async def read_form(request: web.Request) -> tuple[bytes, dict[str, str]]:
    """The body and its form, for the signed POST endpoints (``/token``, ``/grasshopper``,
    ``/revoke``): a query is refused before the body is read, whatever the authentication."""
    refuse_query(request)
    body = await read_body(request)
    return body, parse_form(request, body)


def parse_form(request: web.Request, body: bytes) -> dict[str, str]:
    """Parse an ``application/x-www-form-urlencoded`` body; a parameter may appear once (RFC 6749
    §3.2); a repeated ``resource`` alone is ``invalid_target`` (RFC 8707 §2)."""
    if request.content_type != FORM:
        raise InvalidRequest(f"body must be {FORM}")
    return parse_form_body(body)


def parse_form_body(body: bytes) -> dict[str, str]:
    """The form in ``body``. A malformed ``%`` escape, or one that does not decode as UTF-8, is
    refused, never guessed at (``parse_qsl`` alone would keep ``%zz`` and turn ``%ff`` into U+FFFD)."""
    try:
        text = body.decode("utf-8")
        if _BAD_ESCAPE.search(text):
            raise ValueError("malformed percent-encoding")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(body), errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequest("malformed form body") from exc
    names = [name for name, _ in pairs]
    if len(names) != len(set(names)):
        if {name for name in names if names.count(name) > 1} == {"resource"}:
            # RFC 8707 §2: several resources the AS cannot issue one token for are invalid_target.
            raise InvalidTarget("one resource per request: a token names one realm's resource (RFC 8707 §2)")
        raise InvalidRequest("a parameter was sent more than once")
    return dict(pairs)
