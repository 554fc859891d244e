"""Pending requests (approve all, approve some scopes, deny; each scope with its title and
description, and the evaluator's explanation of why the owner is asked) and saved grants."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ...operations.approvals import approve_request, deny_request, list_grants, list_requests, revoke_grant
from ...operations.policies import explain
from ...operations.realms import AdminError
from .. import access
from ..render import act, page
from ..state import am, principal


async def pending(request: web.Request) -> web.Response:
    admin, ctx = principal(request), am(request)
    rows = await list_requests(ctx.sessions, now=ctx.now(), realm_ids=admin.visible)
    for row in rows:
        try:
            why = await explain(ctx.sessions, realm=row["realm"], scopes=[s["name"] for s in row["scopes"]],
                                consumer=row["client_id"], now=ctx.now(), default_ttl=ctx.settings.token_ttl,
                                reveal_keys=admin.all_realms)
            row["why"] = [*why["reasons"], *why["policies"]]
        except AdminError as exc:  # e.g. a scope removed since: the request still shows
            row["why"] = [str(exc)]
    return await page(request, "requests.html", requests=rows)


async def approve(request: web.Request) -> web.Response:
    admin, ctx = principal(request), am(request)
    request_id = access.int_id(request.match_info["id"])
    await access.request(ctx.sessions, admin, request_id)
    form = await request.post()
    everything = form.get("all") == "1"
    scopes = [str(s) for s in form.getall("scope", [])]

    async def run() -> dict[str, Any]:
        if not everything and not scopes:
            raise AdminError("select the scopes to approve, or deny the request")
        return await approve_request(ctx.sessions, request_id, scopes=None if everything else scopes,
                                     now=ctx.now(), actor=admin.actor)

    return await act(request, "/admin/requests", run,
                     lambda r: f"Request {request_id} approved: {' '.join(r['approved'])}"
                               + (f"; refused {' '.join(r['refused'])}." if r["refused"] else "."))


async def deny(request: web.Request) -> web.Response:
    admin, ctx = principal(request), am(request)
    request_id = access.int_id(request.match_info["id"])
    await access.request(ctx.sessions, admin, request_id)
    return await act(request, "/admin/requests",
                     lambda: deny_request(ctx.sessions, request_id, now=ctx.now(), actor=admin.actor),
                     lambda r: f"Request {request_id} denied: {' '.join(r['refused'])}.")


async def grants(request: web.Request) -> web.Response:
    admin, ctx = principal(request), am(request)
    return await page(request, "grants.html", grants=await list_grants(ctx.sessions, realm_ids=admin.visible))


async def grant_revoke(request: web.Request) -> web.Response:
    admin, ctx = principal(request), am(request)
    grant_id = access.int_id(request.match_info["id"])
    await access.grant(ctx.sessions, admin, grant_id)
    return await act(request, "/admin/grants",
                     lambda: revoke_grant(ctx.sessions, grant_id, now=ctx.now(), actor=admin.actor),
                     lambda r: f"Grant {grant_id} revoked with {r['tokens_revoked']} live token(s).")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/requests", pending)
    app.router.add_post("/requests/{id}/approve", approve)
    app.router.add_post("/requests/{id}/deny", deny)
    app.router.add_get("/grants", grants)
    app.router.add_post("/grants/{id}/revoke", grant_revoke)
