"""The JWK Set (RFC 7517 §5) holding the public halves of the published signing keys.

Read from the database on each request (SPs fetch it rarely), so that every AM process serves
the same set the moment a key is staged or retired, before any ``keys_changed`` is announced.
"""

from __future__ import annotations

from aiohttp import web

from ..context import context
from ..storage import keys as key_repo

PATH = "/jwks.json"


async def handle(request: web.Request) -> web.Response:
    ctx = context(request)
    async with ctx.sessions() as session:
        rows = await key_repo.published(session, now=ctx.now())
    return web.json_response(
        {"keys": [row.public_jwk for row in rows]},
        content_type="application/jwk-set+json",
        headers={"Cache-Control": "public, max-age=30"},
    )
