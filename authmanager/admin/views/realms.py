"""Realms and their documented scopes: the console's home page, realm creation (the sph secret
shown once, on the answer to the POST, never stored nor put in the session) and scope texts.

The realm page also carries the realm's **Consents** card (issue 12 §3, "the decision is saved
as the grant"; §5, refresh tokens "revocable ... by the realm admin"): each live consent a person
gave an application in the dialog, with the scopes approved and refused and when, and a Revoke
button (a POST with the CSRF token) that revokes it with its tokens, refresh tokens and codes
(:func:`authmanager.operations.consents.revoke`, limited to this realm)."""

from __future__ import annotations

from aiohttp import web

from ...operations import consents
from ...operations.policies import list_policies
from ...operations.realms import AdminError, ScopeText, create_realm, list_realms, set_scope
from .. import access
from ..render import act, page
from ..sessions import flash
from ..state import am, principal


async def home(request: web.Request) -> web.Response:
    admin = principal(request)
    return await page(request, "realms.html", realms=await list_realms(am(request).sessions, visible=admin.visible))


def parse_scopes(text: str) -> tuple[list[str], dict[str, ScopeText]]:
    """One scope per line, ``name`` or ``name: title``."""
    names, texts = [], {}
    for line in text.splitlines():
        name, sep, title = line.strip().partition(":")
        if not name.strip():
            continue
        names.append(name.strip())
        if sep and title.strip():
            texts[name.strip()] = ScopeText(title=title.strip())
    return names, texts


async def create(request: web.Request) -> web.Response:
    admin = principal(request)
    access.require_all_realms(admin)
    form = await request.post()
    ctx = am(request)
    names, texts = parse_scopes(str(form.get("scopes", "")))
    try:
        new = await create_realm(ctx.sessions, name=str(form.get("name", "")).strip(),
                                 resource=str(form.get("resource", "")).strip(), scopes=names, scope_texts=texts,
                                 resource_name=str(form.get("resource_name", "")).strip() or None,
                                 now=ctx.now(), actor=admin.actor)
    except AdminError as exc:
        await flash(request, "error", str(exc))
        raise web.HTTPSeeOther("/admin/") from None
    return await page(request, "realm_created.html", new=new, issuer=ctx.settings.issuer)


async def show(request: web.Request) -> web.Response:
    admin, ctx = principal(request), am(request)
    row = await access.realm(ctx.sessions, admin, request.match_info["realm"])
    realm = next(r for r in await list_realms(ctx.sessions, visible=frozenset({row.id})))
    policies = await list_policies(ctx.sessions, realm=row.name)
    explained = None
    query = request.query
    if query.get("consumer") or query.get("subject"):
        from ...operations.policies import explain

        try:
            explained = await explain(ctx.sessions, realm=row.name, scopes=query.getall("scope", []),
                                      consumer=query.get("consumer") or None, subject=query.get("subject") or None,
                                      now=ctx.now(), default_ttl=ctx.settings.token_ttl,
                                      reveal_keys=admin.all_realms)
        except AdminError as exc:
            explained = {"error": str(exc)}
    given = await consents.list_for_realm(ctx.sessions, realm=row.name, visible=frozenset({row.id}))
    return await page(request, "realm.html", realm=realm, policies=policies, explained=explained, consents=given,
                      query={"consumer": query.get("consumer", ""), "subject": query.get("subject", ""),
                             "scopes": query.getall("scope", [])})


async def scope_set(request: web.Request) -> web.Response:
    admin, ctx = principal(request), am(request)
    row = await access.realm(ctx.sessions, admin, request.match_info["realm"])
    form, name = await request.post(), request.match_info["scope"]
    text = ScopeText(title=str(form.get("title", "")), description=str(form.get("description", "")),
                     icon_uri=str(form.get("icon_uri", "")).strip())
    return await act(request, f"/admin/realms/{row.name}#scopes",
                     lambda: set_scope(ctx.sessions, realm=row.name, name=name, text=text, now=ctx.now(),
                                       actor=admin.actor),
                     lambda _: f"Scope {name} updated.")


async def consent_revoke(request: web.Request) -> web.Response:
    admin, ctx = principal(request), am(request)
    row = await access.realm(ctx.sessions, admin, request.match_info["realm"])
    consent_id = access.int_id(request.match_info["id"])
    return await act(request, f"/admin/realms/{row.name}#consents",
                     lambda: consents.revoke(ctx.sessions, consent_id, realm_ids=frozenset({row.id}), now=ctx.now(),
                                             actor=admin.actor),
                     lambda r: f"Consent {r['id']} revoked: {r['client_name'] or r['client_id']} may no longer act "
                               f"for that person; {r['tokens_revoked']} token(s) and "
                               f"{r['refresh_tokens_revoked']} refresh token(s) revoked.")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", home)
    app.router.add_post("/realms", create)
    app.router.add_get("/realms/{realm}", show)
    app.router.add_post("/realms/{realm}/scopes/{scope}", scope_set)
    app.router.add_post("/realms/{realm}/consents/{id}/revoke", consent_revoke)
