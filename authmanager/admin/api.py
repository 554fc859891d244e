"""The admin JSON API under ``/admin/api/`` (docs/protocol.md §14): the console's operations for
scripts and CI, authenticated with an admin API token (``Authorization: Bearer``, RFC 6750).

The same service functions as the CLI and the console, the same realm limits
(:mod:`.access`), ``actor="admin:<name>"`` in the audit log. Errors are the AM's JSON errors:
``401 invalid_token`` (no, unknown or revoked token), ``403 access_denied`` (another realm),
``404 not_found``, ``400 invalid_request`` (bad input; nothing stored).

Consents (issue 12 §5, the realm admin's side of "applications I allowed"): ``GET /consents``
lists the live consents of the admin's realms; ``POST /consents/{id}/revoke`` revokes one
(:func:`authmanager.operations.consents.revoke`). A consent names a person, so one the admin may
not see is ``404`` like an unknown one (never ``403``, which would say it exists); an id that is
not a row id is ``400``."""

from __future__ import annotations

from typing import Any

from aiohttp import hdrs, web

from .. import audit
from ..errors import InvalidRequest, NotFound, json_response
from ..identifiers import MAX_ROW_ID, is_row_id
from ..operations import consents as consent_ops
from ..operations.approvals import approve_request, deny_request, list_grants, list_requests, revoke_grant
from ..operations.policies import add_policy, explain, list_policies, move_policy, remove_policy, update_policy
from ..operations.realms import (
    AdminError,
    ScopeText,
    create_realm,
    list_consumers,
    list_live_tokens,
    list_realms,
    revoke_consumer_key,
    revoke_token_by_jti,
    set_scope,
)
from ..settings import Settings
from . import access
from .auth import Principal, authenticate_token
from .errors import InvalidToken
from .state import PRINCIPAL, am

routes = web.RouteTableDef()


@web.middleware
async def bearer_only(request: web.Request, handler):  # type: ignore[no-untyped-def]
    """Every API call needs a live admin API token; service refusals become ``400``."""
    scheme, _, value = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
    who = await authenticate_token(am(request).sessions, value.strip()) if scheme.lower() == "bearer" else None
    if who is None:
        raise InvalidToken()
    request[PRINCIPAL] = who
    try:
        return await handler(request)
    except AdminError as exc:
        raise InvalidRequest(str(exc)) from None


def _who(request: web.Request) -> Principal:
    return request[PRINCIPAL]


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise InvalidRequest("the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object")
    return body


def _strings(body: dict[str, Any], key: str, *, required: bool = True) -> list[str]:
    value = body.get(key, [] if not required else None)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidRequest(f"{key} must be a list of strings")
    return value


def _opt(body: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = body.get(key)
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise InvalidRequest(f"{key} has the wrong type")
    return value


@routes.get("/realms")
async def realms(request: web.Request) -> web.Response:
    return json_response(await list_realms(am(request).sessions, visible=_who(request).visible))


@routes.post("/realms")
async def realm_create(request: web.Request) -> web.Response:
    who, ctx = _who(request), am(request)
    access.require_all_realms(who)
    body = await _body(request)
    names, texts = [], {}
    for item in body.get("scopes") or []:
        if isinstance(item, str):
            names.append(item)
        elif isinstance(item, dict) and isinstance(item.get("name"), str):
            names.append(item["name"])
            texts[item["name"]] = ScopeText(title=_opt(item, "title", str), description=_opt(item, "description", str),
                                            icon_uri=_opt(item, "icon_uri", str))
        else:
            raise InvalidRequest("scopes: names, or objects with name, title, description, icon_uri")
    new = await create_realm(ctx.sessions, name=_opt(body, "name", str) or "", resource=_opt(body, "resource", str) or "",
                             scopes=names, scope_texts=texts, resource_name=_opt(body, "resource_name", str),
                             now=ctx.now(), actor=who.actor)
    return json_response(new.as_dict(), status=201)


@routes.get("/realms/{realm}")
async def realm_show(request: web.Request) -> web.Response:
    ctx = am(request)
    row = await access.realm(ctx.sessions, _who(request), request.match_info["realm"])
    info = (await list_realms(ctx.sessions, visible=frozenset({row.id})))[0]
    return json_response({**info, "policies": await list_policies(ctx.sessions, realm=row.name)})


@routes.put("/realms/{realm}/scopes/{scope}")
async def scope_put(request: web.Request) -> web.Response:
    who, ctx = _who(request), am(request)
    row = await access.realm(ctx.sessions, who, request.match_info["realm"])
    body, name = await _body(request), request.match_info["scope"]
    await set_scope(ctx.sessions, realm=row.name, name=name, now=ctx.now(), actor=who.actor, text=ScopeText(
        title=_opt(body, "title", str), description=_opt(body, "description", str), icon_uri=_opt(body, "icon_uri", str)))
    info = (await list_realms(ctx.sessions, visible=frozenset({row.id})))[0]
    return json_response(next(s for s in info["scopes"] if s["name"] == name))


def _policy_fields(body: dict[str, Any]) -> dict[str, Any]:
    return {"effect": _opt(body, "effect", str) or "", "scopes": _strings(body, "scopes"),
            "consumer": _opt(body, "consumer", str) or "*", "subject": _opt(body, "subject", str),
            "max_ttl": _opt(body, "max_ttl", int), "not_before": _opt(body, "not_before", (int, str)),
            "not_after": _opt(body, "not_after", (int, str))}


@routes.get("/realms/{realm}/policies")
async def policies(request: web.Request) -> web.Response:
    ctx = am(request)
    row = await access.realm(ctx.sessions, _who(request), request.match_info["realm"])
    return json_response(await list_policies(ctx.sessions, realm=row.name))


@routes.post("/realms/{realm}/policies")
async def policy_add(request: web.Request) -> web.Response:
    who, ctx = _who(request), am(request)
    row = await access.realm(ctx.sessions, who, request.match_info["realm"])
    pid = await add_policy(ctx.sessions, realm=row.name, **_policy_fields(await _body(request)), now=ctx.now(),
                           actor=who.actor)
    return json_response(next(p for p in await list_policies(ctx.sessions, realm=row.name) if p["id"] == pid),
                         status=201)


async def _policy_id(request: web.Request) -> int:
    policy_id = access.int_id(request.match_info["id"])
    await access.policy(am(request).sessions, _who(request), policy_id)
    return policy_id


@routes.put("/policies/{id}")
async def policy_put(request: web.Request) -> web.Response:
    who, ctx, policy_id = _who(request), am(request), await _policy_id(request)
    return json_response(await update_policy(ctx.sessions, policy_id, **_policy_fields(await _body(request)),
                                             now=ctx.now(), actor=who.actor))


@routes.post("/policies/{id}/move")
async def policy_move(request: web.Request) -> web.Response:
    who, ctx, policy_id = _who(request), am(request), await _policy_id(request)
    to = _opt(await _body(request), "to", int)
    if to is None:
        raise InvalidRequest("to (the new position, 1 first) is required")
    return json_response({"order": await move_policy(ctx.sessions, policy_id, to=to, now=ctx.now(), actor=who.actor)})


@routes.delete("/policies/{id}")
async def policy_delete(request: web.Request) -> web.Response:
    who, ctx, policy_id = _who(request), am(request), await _policy_id(request)
    realm = await remove_policy(ctx.sessions, policy_id, now=ctx.now(), actor=who.actor)
    return json_response({"removed": policy_id, "realm": realm})


@routes.post("/realms/{realm}/explain")
async def policy_explain(request: web.Request) -> web.Response:
    ctx, who = am(request), _who(request)
    row = await access.realm(ctx.sessions, who, request.match_info["realm"])
    body = await _body(request)
    return json_response(await explain(ctx.sessions, realm=row.name, scopes=_strings(body, "scopes"),
                                       consumer=_opt(body, "consumer", str), subject=_opt(body, "subject", str),
                                       now=ctx.now(), default_ttl=ctx.settings.token_ttl,
                                       reveal_keys=who.all_realms))


@routes.get("/requests")
async def requests(request: web.Request) -> web.Response:
    ctx = am(request)
    return json_response(await list_requests(ctx.sessions, now=ctx.now(), realm_ids=_who(request).visible))


@routes.post("/requests/{id}/{verb:approve|deny}")
async def request_answer(request: web.Request) -> web.Response:
    who, ctx = _who(request), am(request)
    request_id = access.int_id(request.match_info["id"])
    await access.request(ctx.sessions, who, request_id)
    if request.match_info["verb"] == "deny":
        return json_response(await deny_request(ctx.sessions, request_id, now=ctx.now(), actor=who.actor))
    body = await _body(request) if request.can_read_body else {}
    scopes = _strings(body, "scopes") if "scopes" in body else None
    if scopes is not None and not scopes:
        raise InvalidRequest("scopes, when given, must name at least one asked scope")
    return json_response(await approve_request(ctx.sessions, request_id, scopes=scopes, now=ctx.now(),
                                               actor=who.actor))


@routes.get("/grants")
async def grants(request: web.Request) -> web.Response:
    return json_response(await list_grants(am(request).sessions, realm=request.query.get("realm"),
                                           realm_ids=_who(request).visible))


@routes.post("/grants/{id}/revoke")
async def grant_revoke(request: web.Request) -> web.Response:
    who, ctx = _who(request), am(request)
    grant_id = access.int_id(request.match_info["id"])
    await access.grant(ctx.sessions, who, grant_id)
    return json_response(await revoke_grant(ctx.sessions, grant_id, now=ctx.now(), actor=who.actor))


@routes.get("/consents")
async def consents(request: web.Request) -> web.Response:
    who, ctx, name = _who(request), am(request), request.query.get("realm")
    if name is not None:
        await access.realm(ctx.sessions, who, name)  # unknown 404, another realm 403, as realm routes
    return json_response(await consent_ops.list_for_realm(ctx.sessions, realm=name, visible=who.visible))


def _consent_id(text: str) -> int:
    if not (text.isascii() and text.isdigit() and len(text) <= 19 and is_row_id(int(text))):
        raise InvalidRequest(f"a consent id is an integer from 1 to {MAX_ROW_ID}")
    return int(text)


@routes.post("/consents/{id}/revoke")
async def consent_revoke(request: web.Request) -> web.Response:
    who, ctx = _who(request), am(request)
    consent_id = _consent_id(request.match_info["id"])
    try:
        return json_response(await consent_ops.revoke(ctx.sessions, consent_id, realm_ids=who.visible,
                                                      now=ctx.now(), actor=who.actor))
    except consent_ops.UnknownConsent as exc:
        raise NotFound(str(exc)) from None


@routes.get("/consumers")
async def consumers(request: web.Request) -> web.Response:
    access.require_all_realms(_who(request))
    return json_response(await list_consumers(am(request).sessions))


@routes.post("/consumers/{ck}/revoke")
@routes.delete("/consumers/{ck}")
async def consumer_revoke(request: web.Request) -> web.Response:
    who, ctx = _who(request), am(request)
    access.require_all_realms(who)
    delete, client_id = request.method == "DELETE", request.match_info["ck"]
    revoked = await revoke_consumer_key(ctx.sessions, client_id, delete=delete, now=ctx.now(), actor=who.actor)
    return json_response({"client_id": client_id, "deleted": delete, "tokens_revoked": revoked})


@routes.get("/tokens")
async def tokens(request: web.Request) -> web.Response:
    ctx = am(request)
    return json_response(await list_live_tokens(ctx.sessions, now=ctx.now(), realm_ids=_who(request).visible))


@routes.post("/tokens/{jti}/revoke")
async def token_revoke(request: web.Request) -> web.Response:
    who, ctx, jti = _who(request), am(request), request.match_info["jti"]
    await access.token(ctx.sessions, who, jti)
    return json_response({"jti": jti, "revoked": await revoke_token_by_jti(ctx.sessions, jti, now=ctx.now(),
                                                                           actor=who.actor)})


@routes.get("/audit")
async def audit_log(request: web.Request) -> web.Response:
    query, ctx = request.query, am(request)
    raw_before, raw_limit = query.get("before"), query.get("limit", "50")
    if not all(text.isascii() and text.isdigit() and len(text) <= 12 for text in (raw_before or "1", raw_limit)):
        raise InvalidRequest("before and limit must be integers")
    before, limit = (int(raw_before) if raw_before is not None else None), int(raw_limit)
    if before is not None and not is_row_id(before):
        raise InvalidRequest(f"before must be an event id, 1 to {MAX_ROW_ID}")
    if not 1 <= limit <= 500:
        raise InvalidRequest("limit must be between 1 and 500")
    action = query.get("action")
    if action is not None and action not in audit.ACTIONS:
        raise InvalidRequest(f"unknown action {action[:40]!r}")
    async with ctx.sessions() as session:
        events = await audit.page(session, before=before, limit=limit, realm_ids=_who(request).visible, action=action)
    rows = [{"id": e.id, "at": e.at, "actor": e.actor, "action": e.action, "realm_id": e.realm_id,
             "target": e.target, "detail": e.detail} for e in events]
    return json_response({"events": rows, "next_before": rows[-1]["id"] if len(rows) == limit else None})


def api_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=[bearer_only])
    app.add_routes(routes)
    return app


__all__ = ["api_app"]
