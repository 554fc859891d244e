""""Applications I allowed" (issue 12 §3): every signed-in account, admin or not, sees the
consents it gave in the authorization dialog and may revoke each (which also revokes the tokens
and refresh tokens that application holds for it; :mod:`authmanager.operations.consents`)."""

from __future__ import annotations

from aiohttp import web

from ...operations.consents import list_for, revoke
from .. import access
from ..render import act, page
from ..state import am, principal


async def applications(request: web.Request) -> web.Response:
    who = principal(request)
    return await page(request, "applications.html", consents=await list_for(am(request).sessions, who.admin_id))


async def consent_revoke(request: web.Request) -> web.Response:
    who, ctx = principal(request), am(request)
    consent_id = access.int_id(request.match_info["id"])
    return await act(request, "/admin/applications",
                     lambda: revoke(ctx.sessions, consent_id, account_id=who.admin_id, now=ctx.now(),
                                    actor=f"account:{who.name}"),
                     lambda r: f"{r['client_name'] or r['client_id']} may no longer act for you; "
                               f"{r['tokens_revoked']} token(s) and {r['refresh_tokens_revoked']} refresh token(s) "
                               "revoked.")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/applications", applications)
    app.router.add_post("/applications/{id}/revoke", consent_revoke)
