"""A realm's ordered policies: add, edit in place, move up/down, delete (all through
:mod:`authmanager.operations.policies`, the CLI's functions, so validation and auditing are the same)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ...errors import NotFound
from ...operations.policies import add_policy, list_policies, move_policy, remove_policy, update_policy
from ...operations.realms import list_realms
from .. import access
from ..render import act, form_int, page
from ..state import am, principal


def _fields(form: Any) -> dict[str, Any]:
    """The policy fields of a form; bad values are refused by policy_admin (nothing stored)."""
    who = str(form.get("who", "any"))
    return {"effect": str(form.get("effect", "")), "scopes": [str(s) for s in form.getall("scope", [])],
            "consumer": str(form.get("consumer", "")).strip() if who == "consumer" else "*",
            "subject": str(form.get("subject", "")).strip() if who == "subject" else None,
            "max_ttl": form_int(form.get("max_ttl"), "max TTL"),
            "not_before": str(form.get("not_before", "")).strip() or None,
            "not_after": str(form.get("not_after", "")).strip() or None}


async def _policy_in_realm(request: web.Request) -> tuple[Any, int]:
    admin, ctx = principal(request), am(request)
    realm = await access.realm(ctx.sessions, admin, request.match_info["realm"])
    policy_id = access.int_id(request.match_info["id"])
    if await access.policy(ctx.sessions, admin, policy_id) != realm.id:
        raise NotFound(f"realm {realm.name} has no policy {policy_id}")
    return realm, policy_id


async def add(request: web.Request) -> web.Response:
    admin, ctx = principal(request), am(request)
    realm = await access.realm(ctx.sessions, admin, request.match_info["realm"])
    form = await request.post()

    async def run() -> int:
        return await add_policy(ctx.sessions, realm=realm.name, **_fields(form), now=ctx.now(), actor=admin.actor)

    return await act(request, f"/admin/realms/{realm.name}#policies", run, lambda pid: f"Policy {pid} added.")


async def edit_form(request: web.Request) -> web.Response:
    realm, policy_id = await _policy_in_realm(request)
    ctx = am(request)
    policy = next(p for p in await list_policies(ctx.sessions, realm=realm.name) if p["id"] == policy_id)
    info = (await list_realms(ctx.sessions, visible=frozenset({realm.id})))[0]
    return await page(request, "policy_edit.html", realm=info, policy=policy)


async def update(request: web.Request) -> web.Response:
    realm, policy_id = await _policy_in_realm(request)
    admin, ctx, form = principal(request), am(request), await request.post()

    async def run() -> dict[str, Any]:
        return await update_policy(ctx.sessions, policy_id, **_fields(form), now=ctx.now(), actor=admin.actor)

    return await act(request, f"/admin/realms/{realm.name}#policies", run, lambda _: f"Policy {policy_id} saved.")


async def move(request: web.Request) -> web.Response:
    realm, policy_id = await _policy_in_realm(request)
    admin, ctx, form = principal(request), am(request), await request.post()

    async def run() -> list[int]:
        to = form_int(form.get("to"), "position", required=True)
        assert to is not None
        return await move_policy(ctx.sessions, policy_id, to=to, now=ctx.now(), actor=admin.actor)

    return await act(request, f"/admin/realms/{realm.name}#policies", run,
                     lambda order: f"Policy {policy_id} moved; order: {' '.join(map(str, order))}.")


async def delete(request: web.Request) -> web.Response:
    realm, policy_id = await _policy_in_realm(request)
    admin, ctx = principal(request), am(request)
    return await act(request, f"/admin/realms/{realm.name}#policies",
                     lambda: remove_policy(ctx.sessions, policy_id, now=ctx.now(), actor=admin.actor),
                     lambda _: f"Policy {policy_id} deleted.")


def add_routes(app: web.Application) -> None:
    app.router.add_post("/realms/{realm}/policies", add)
    app.router.add_get("/realms/{realm}/policies/{id}/edit", edit_form)
    app.router.add_post("/realms/{realm}/policies/{id}", update)
    app.router.add_post("/realms/{realm}/policies/{id}/move", move)
    app.router.add_post("/realms/{realm}/policies/{id}/delete", delete)
