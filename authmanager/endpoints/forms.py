"""Reading form-encoded request bodies (RFC 6749 Appendix B) strictly."""

from __future__ import annotations

from urllib.parse import parse_qsl

from aiohttp import web

from ..errors import InvalidRequest, PayloadTooLarge

FORM = "application/x-www-form-urlencoded"


async def read_body(request: web.Request) -> bytes:
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise PayloadTooLarge("request body too large") from exc


def parse_form(request: web.Request, body: bytes) -> dict[str, str]:
    """Parse an ``application/x-www-form-urlencoded`` body; a parameter may appear once (RFC 6749 §3.2)."""
    if request.content_type != FORM:
        raise InvalidRequest(f"body must be {FORM}")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequest("malformed form body") from exc
    names = [name for name, _ in pairs]
    if len(names) != len(set(names)):
        raise InvalidRequest("a parameter was sent more than once")
    return dict(pairs)
