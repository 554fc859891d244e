"""The audit log, newest first, paged by keyset (``?before=<id>``), limited to the admin's realms
(an admin of some realms sees only events of those realms)."""

from __future__ import annotations

from aiohttp import web

from ... import audit
from ..render import form_int, page
from ..state import am, principal

PAGE = 50


async def audit_page(request: web.Request) -> web.Response:
    admin, ctx = principal(request), am(request)
    try:
        before = form_int(request.query.get("before"), "before")
    except ValueError:
        before = None
    action = request.query.get("action") or None
    if action is not None and action not in audit.ACTIONS:
        action = None
    async with ctx.sessions() as session:
        events = await audit.page(session, before=before, limit=PAGE, realm_ids=admin.visible, action=action)
    older = events[-1].id if len(events) == PAGE else None
    return await page(request, "audit.html", events=events, older=older, action=action or "", before=before,
                      actions=sorted(audit.ACTIONS), realm_names=await _realm_names(request))


async def _realm_names(request: web.Request) -> dict[int, str]:
    from ...operations.realms import list_realms

    return {r["id"]: r["realm"] for r in await list_realms(am(request).sessions, visible=principal(request).visible)}


def add_routes(app: web.Application) -> None:
    app.router.add_get("/audit", audit_page)
