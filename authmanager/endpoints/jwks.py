"""The JWK Set (RFC 7517 §5) holding the public halves of the token-signing keys."""

from __future__ import annotations

from aiohttp import web

from ..context import context

PATH = "/jwks.json"


async def handle(request: web.Request) -> web.Response:
    return web.json_response(
        context(request).keyring.jwks(context(request).now()),
        content_type="application/jwk-set+json",
        headers={"Cache-Control": "public, max-age=60"},
    )
