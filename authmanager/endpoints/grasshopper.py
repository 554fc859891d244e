"""Grasshopper keys ("OAuth 1.5"): short-lived, non-renewable sub-keys of a consumer key.

For code that must not hold the master secret (a single-page app, a worker, a CI job). The
consumer POSTs here, signed with its cks exactly as at the token endpoint, with optional
``ttl`` (seconds) and ``scope`` (a narrowing). The answer is ``201`` with a new
``client_id``/``client_secret`` pair that:

* expires after ``min(ttl, grasshopper_max_ttl)`` (15 minutes by default) and cannot be renewed;
* cannot mint further sub-keys (a sub-key calling this endpoint gets ``unauthorized_client``);
* gets tokens judged by its master key's policies, never wider, that never outlive it;
* dies with its master key (revocation or deletion), and is refused by realms that forbid sub-keys.

The consumer authenticates as at the token endpoint, by a signature or an RFC 7523 assertion. A
sub-key minted with an assertion signed by a registered key that has a scope ceiling is narrowed
to that ceiling (within the requested ``scope``, ``invalid_scope`` when nothing is left): a
sub-key never escapes the key that made it.

The signature is verified first; from then on the request's nonce is spent whatever the answer
(``unauthorized_client``, a bad ``ttl`` or ``scope``), as at the token endpoint. The master key's
row is read ``FOR SHARE``: revoking it waits for the new sub-key to commit, then revokes it too.
"""

from __future__ import annotations

from aiohttp import web

from ..context import context
from ..errors import InvalidRequest, InvalidScope, UnauthorizedClient, json_response
from ..grants.client_credentials import parse_scope
from ..secretbox import random_secret
from ..storage import consumers as consumer_repo
from ..storage.models import Consumer
from .forms import read_form
from .registration import MAX_NAME
from .token import claim_signed, request_view, signed_transaction, verify_signed

PATH = "/grasshopper"
SUFFIX = " (grasshopper)"


async def handle(request: web.Request) -> web.Response:
    ctx = context(request)
    body, params = await read_form(request)
    view = request_view(request, ctx.settings.endpoint(PATH), body, params)
    key, signed = await verify_signed(ctx, view)
    async with signed_transaction(ctx) as session:  # a refusal keeps the nonce spent
        parent = await claim_signed(ctx, session, key, signed)
        if parent.parent_id is not None:
            raise UnauthorizedClient("a grasshopper key cannot mint sub-keys")
        cap = ctx.settings.grasshopper_max_ttl
        raw_ttl = params.get("ttl", str(cap))
        if not raw_ttl.isascii() or not raw_ttl.isdigit() or int(raw_ttl) <= 0 or len(raw_ttl) > 9:
            raise InvalidRequest("ttl must be a positive number of seconds")
        ttl = min(int(raw_ttl), cap)
        scope = " ".join(sorted(parse_scope(params["scope"]))) if "scope" in params else None
        if signed.scope_ceiling is not None:
            narrowed = set(signed.scope_ceiling) & (set(scope.split()) if scope else set(signed.scope_ceiling))
            if not narrowed:
                raise InvalidScope("beyond the signing key's scope ceiling")
            scope = " ".join(sorted(narrowed))
        now = ctx.now()
        client_id, secret = random_secret(16), random_secret(32)
        name = f"{parent.client_name[:MAX_NAME - len(SUFFIX)]}{SUFFIX}"  # within the column's 200 characters
        metadata = {"client_name": name, **({"scope": scope} if scope else {})}
        await consumer_repo.add(session, Consumer(
            client_id=client_id, client_name=metadata["client_name"],
            secret_sealed=ctx.box.seal(secret.encode(), aad=client_id), client_metadata=metadata,
            issued_at=now, parent_id=parent.client_id, expires_at=now + ttl,
        ))
    return json_response({
        "client_id": client_id,
        "client_secret": secret,
        "client_id_issued_at": now,
        "client_secret_expires_at": now + ttl,
        "expires_in": ttl,
        "parent_client_id": parent.client_id,
        **({"scope": scope} if scope else {}),
    }, status=201)
