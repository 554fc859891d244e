"""Consumer keys (see, revoke, delete: admins of every realm only, since a key spans realms) and
live tokens (jti, consumer, realm, scope, expiry — never the value; revoke)."""

from __future__ import annotations

from aiohttp import web

from ...operations.realms import list_consumers, list_live_tokens, revoke_consumer_key, revoke_token_by_jti
from .. import access
from ..render import act, page
from ..state import am, principal


async def consumers(request: web.Request) -> web.Response:
    access.require_all_realms(principal(request))
    return await page(request, "consumers.html", consumers=await list_consumers(am(request).sessions))


async def consumer_revoke(request: web.Request) -> web.Response:
    admin, ctx = principal(request), am(request)
    access.require_all_realms(admin)
    client_id, delete = request.match_info["ck"], request.match_info["verb"] == "delete"
    return await act(request, "/admin/consumers",
                     lambda: revoke_consumer_key(ctx.sessions, client_id, delete=delete, now=ctx.now(),
                                                 actor=admin.actor),
                     lambda n: f"Consumer key {client_id} {'deleted' if delete else 'revoked'}; "
                               f"{n} live token(s) revoked.")


async def tokens(request: web.Request) -> web.Response:
    admin, ctx = principal(request), am(request)
    return await page(request, "tokens.html",
                      tokens=await list_live_tokens(ctx.sessions, now=ctx.now(), realm_ids=admin.visible))


async def token_revoke(request: web.Request) -> web.Response:
    admin, ctx = principal(request), am(request)
    jti = request.match_info["jti"]
    await access.token(ctx.sessions, admin, jti)
    return await act(request, "/admin/tokens",
                     lambda: revoke_token_by_jti(ctx.sessions, jti, now=ctx.now(), actor=admin.actor),
                     lambda done: f"Token {jti} revoked." if done else f"Token {jti} was already revoked.")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/consumers", consumers)
    app.router.add_post(r"/consumers/{ck}/{verb:revoke|delete}", consumer_revoke)
    app.router.add_get("/tokens", tokens)
    app.router.add_post("/tokens/{jti}/revoke", token_revoke)
