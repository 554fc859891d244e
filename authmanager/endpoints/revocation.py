"""RFC 7009 token revocation.

§2.1: the caller authenticates — either as the realm's service provider (HTTP Basic
``sph:sph_secret``, for any token of its realm) or as a consumer (a signed request, as at the
token endpoint, for its own tokens) — and POSTs ``token`` form-encoded. A token issued to
someone else is refused (``unauthorized_client``) and stays active. §2.2: unknown or already
invalid tokens get ``200``; so does success. §2.2.1: a ``token_type_hint`` of ``refresh_token``
gets ``unsupported_token_type`` (no refresh tokens are issued); other unknown hints are ignored (§2.1). Each revocation is pushed to the realm's SPs
through the feed (:mod:`authmanager.endpoints.feed`) and recorded in the audit log
(``token.revoke`` by ``consumer:<ck>`` or ``sp:<realm>``) in the same transaction.
"""

from __future__ import annotations

from aiohttp import hdrs, web

from ..context import context
from ..errors import UnauthorizedClient, UnsupportedTokenType, json_response
from ..operations.revocation import revoke_token
from ..secretbox import digest
from ..storage import tokens as token_repo
from .forms import read_form
from .introspection import authenticate_realm, token_param
from .token import authenticate, request_view, signed_transaction

PATH = "/revoke"


async def handle(request: web.Request) -> web.Response:
    ctx = context(request)
    body, params = await read_form(request)
    now = ctx.now()
    # A consumer's signed request spends its nonce whatever the answer (unauthorized_client included).
    async with signed_transaction(ctx) as session:
        if request.headers.get(hdrs.AUTHORIZATION, "").lower().startswith("basic "):
            realm = await authenticate_realm(ctx, request)
            owns = lambda row: row.realm_id == realm.id  # noqa: E731
            actor = f"sp:{realm.name}"
        else:
            view = request_view(request, ctx.settings.endpoint(PATH), body, params)
            consumer = await authenticate(ctx, session, view)
            owns = lambda row: row.client_id == consumer.client_id  # noqa: E731
            actor = f"consumer:{consumer.client_id}"
        token = token_param(params)
        if params.get("token_type_hint") == "refresh_token":  # §2.2.1: this AM issues none
            raise UnsupportedTokenType("this server issues no refresh tokens")
        row = await token_repo.by_hash(session, digest(token))
        if row is not None:
            if not owns(row):
                raise UnauthorizedClient("the token was not issued to the caller")
            await revoke_token(session, row, now=now, actor=actor)  # audited as token.revoke
    return json_response({})
