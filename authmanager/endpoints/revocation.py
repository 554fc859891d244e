"""RFC 7009 token revocation, for access tokens and refresh tokens.

§2.1: the caller authenticates — as the realm's service provider (HTTP Basic ``sph:sph_secret``,
for any token of its realm), as a confidential consumer (a signed request or an RFC 7523 client
assertion, as at the token endpoint, for its own tokens), or as a public client by ``client_id`` alone (§2.1: "the
authorization server first validates the client credentials (in case of a confidential client)";
a public client has none: :mod:`authmanager.client_auth.public`) — and POSTs ``token``
form-encoded. A token issued to someone else is refused (``unauthorized_client``) and stays active.

§2.2: unknown or already invalid tokens get ``200``; so does success. ``token_type_hint``
(``access_token`` or ``refresh_token``) only decides which kind is looked up first (§2.1: "If the
server is unable to locate the token using the given hint, it MUST extend its search across all
of its supported token types"); unknown hints are ignored. Revoking a **refresh token revokes its
whole family**, the refresh tokens and the access tokens issued from it (§2.1: "If the particular
token is a refresh token and the authorization server supports the revocation of access tokens,
then the authorization server SHOULD also invalidate all access tokens based on the same
authorization grant"). Revoking an access token leaves its refresh token alone (§2.1 "MAY").

Each access token's revocation is pushed to the realm's SPs through the feed
(:mod:`authmanager.endpoints.feed`) and recorded in the audit log (``token.revoke`` by
``consumer:<ck>``, ``client:<client_id>`` or ``sp:<realm>``; a family as target ``family:<id>``)
in the same transaction.
"""

from __future__ import annotations

from aiohttp import hdrs, web

from ..client_auth import jwt_assertion, public
from ..context import context
from ..errors import InvalidClient, UnauthorizedClient, json_response
from ..operations.revocation import revoke_token
from ..secretbox import digest
from ..storage import refresh_tokens as refresh_repo
from ..storage import tokens as token_repo
from .forms import read_form
from .introspection import authenticate_realm, token_param
from .token import authenticate, find_client, request_view, signed_transaction

PATH = "/revoke"


async def handle(request: web.Request) -> web.Response:
    ctx = context(request)
    body, params = await read_form(request)
    now = ctx.now()
    basic = request.headers.get(hdrs.AUTHORIZATION, "").lower().startswith("basic ")
    view = request_view(request, ctx.settings.endpoint(PATH), body, params)
    client = None
    if basic and jwt_assertion.carried(params):  # RFC 6749 §2.3: one method per request
        raise InvalidClient("HTTP Basic and a client assertion at once")
    if not basic and not public.carries_signature(view):
        client = await public.verify(view, lambda client_id: find_client(ctx, client_id))  # may fetch: no lock held
    # A consumer's signed request spends its nonce whatever the answer (unauthorized_client included).
    async with signed_transaction(ctx) as session:
        if basic:
            realm = await authenticate_realm(ctx, request)
            owns = lambda row: row.realm_id == realm.id  # noqa: E731
            actor = f"sp:{realm.name}"
        elif client is not None:
            owns = lambda row: row.client_id == client.client_id  # noqa: E731
            actor = f"client:{client.client_id}"
        else:
            consumer = await authenticate(ctx, session, view)
            owns = lambda row: row.client_id == consumer.client_id  # noqa: E731
            actor = f"consumer:{consumer.client_id}"
        token_hash = digest(token_param(params))
        refresh_first = params.get("token_type_hint") == "refresh_token"
        refresh = await refresh_repo.by_hash(session, token_hash) if refresh_first else None
        row = None if refresh is not None else await token_repo.by_hash(session, token_hash)
        if row is None and refresh is None and not refresh_first:
            refresh = await refresh_repo.by_hash(session, token_hash)
        if row is not None:
            if not owns(row):
                raise UnauthorizedClient("the token was not issued to the caller")
            await revoke_token(session, row, now=now, actor=actor)  # audited as token.revoke
        elif refresh is not None:
            if not owns(refresh):
                raise UnauthorizedClient("the token was not issued to the caller")
            await refresh_repo.revoke_family(session, refresh.family_id, now, actor=actor, reason="RFC 7009")
    return json_response({})
