"""Scope documents: ``GET <issuer>/realms/{realm}/scopes``.

What each scope of a realm means, for whoever must decide about it (the owner asked by
``request_submitted``, a consumer choosing what to request): ``name``, ``title``,
``description`` and ``icon_uri`` — the scope description of UMA Resource Set Registration
(1.0.1; ``name``, ``icon_uri``), with a one-line title and a longer description. Public, like
the realm's ``scopes_supported`` in its resource metadata (RFC 9728 §2); an unknown realm is
``404 not_found``.
"""

from __future__ import annotations

from aiohttp import web

from ..context import context
from ..errors import NotFound, json_response
from ..storage import realms as realm_repo

PATH = "/realms/{realm}/scopes"


async def handle(request: web.Request) -> web.Response:
    ctx = context(request)
    name = request.match_info["realm"]
    async with ctx.sessions() as session:
        realm = await realm_repo.by_name(session, name)  # None for a name no realm can have
        if realm is None:
            raise NotFound("no such realm")
        scopes = await realm_repo.scopes(session, realm.id)
    resp = json_response({"realm": realm.name, "scopes": [
        {"name": s.name, "title": s.title, "description": s.description, "icon_uri": s.icon_uri} for s in scopes]})
    resp.headers["Cache-Control"] = "public, max-age=60"
    del resp.headers["Pragma"]
    return resp
