"""The self-service key endpoint: a consumer manages its own public keys (RFC 7523
``private_key_jwt`` keys, e.g. one per device, with scope ceilings; issue 13 §3).

* ``GET /keys``: the calling consumer's keys, revoked ones included (``kid``, ``name``, public
  ``jwk``, ``scope_ceiling``, ``created_at``, ``revoked_at``). Never a private member: none is
  ever stored.
* ``POST /keys`` with ``jwk`` (a public JWK: a JSON object, or its text in a form), optional
  ``scope`` (the ceiling: space-delimited scope tokens, RFC 6749 §3.3; a list in JSON) and
  ``name``: ``201`` with the key added. Checked as at registration
  (:func:`authmanager.clients.keys.public_jwk`); a ``kid`` the consumer already used is
  ``invalid_request``.
* ``POST /keys/revoke`` with ``kid``: ``200`` with ``tokens_revoked``. The key and every token
  obtained with it are revoked, one feed event per token, as by ``consumer key revoke``
  (:func:`authmanager.operations.client_keys.revoke_key`). The consumer's last live key cannot
  be revoked here (it would lock itself out): ``400 invalid_request``; an admin can.

The body is ``application/x-www-form-urlencoded`` or ``application/json``; no query.

Authentication is a signed request from one of the consumer's existing credentials, exactly as at
``/revoke`` (:func:`authmanager.endpoints.token.verify_signed` then ``claim_signed``): an RFC 9421
signature (which covers ``content-digest``, so a JSON body too) or an RFC 5849 one (which signs
only a form: a JSON body is refused). Once the RFC 7523 verifier dispatches there, a
``private_key_jwt`` assertion (``client_assertion`` in the form) authenticates the same way, and
its :class:`~authmanager.client_auth.VerifiedSignature` names the key that signed: a key with a
scope ceiling may add only keys within it (a key added without ``scope`` then inherits that
ceiling; a wider one is ``400 invalid_scope``) and revoke only keys within it. A public client or
a grasshopper sub-key holds no keys: ``400 unauthorized_client``. The nonce is spent whatever the
answer (:func:`authmanager.endpoints.token.signed_transaction`). Rate limited like registration.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from ..context import context
from ..errors import InvalidRequest, InvalidScope, OAuthError, UnauthorizedClient, json_response
from ..operations import client_keys as ops
from ..storage import client_keys as key_repo
from .forms import parse_form, read_body, refuse_query
from .token import claim_signed, request_view, signed_transaction, verify_signed

PATH = "/keys"
REVOKE_PATH = "/keys/revoke"
JSON = "application/json"


def _public(row: Any) -> dict[str, Any]:
    return {**ops.key_dict(row), "jwk": dict(row.jwk)}


async def _read(request: web.Request) -> tuple[bytes, dict[str, str] | None]:
    """The body and the form a signature may cover (None for a JSON body, read once the
    request is authenticated, so that a signed request with a bad body spends its nonce)."""
    refuse_query(request)
    body = await read_body(request)
    if request.method == "GET":
        if body:
            raise InvalidRequest("GET /keys takes no body")
        return body, {}
    if request.content_type == JSON:
        return body, None
    return body, parse_form(request, body)


def _json(body: bytes) -> dict[str, Any]:
    try:
        params = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise InvalidRequest("the body is not valid JSON") from exc
    if not isinstance(params, dict):
        raise InvalidRequest("the body must be a JSON object")
    return params


def _scopes(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.split(" ")  # each checked as a scope-token, so "a  b" is refused
    if isinstance(value, list) and all(isinstance(s, str) for s in value):
        return value
    raise InvalidScope("scope is a space-delimited string of scope tokens")


def _text(params: dict[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is not None and not isinstance(value, str):
        raise InvalidRequest(f"{name} must be a string")
    return value


def _oauth(exc: ops.ClientKeyError) -> OAuthError:
    if isinstance(exc, ops.UnknownConsumer):
        return UnauthorizedClient(str(exc))
    if isinstance(exc, ops.BadScope):
        return InvalidScope(str(exc))
    return InvalidRequest(str(exc))


async def _handle(request: web.Request, path: str) -> web.Response:
    ctx = context(request)
    body, form = await _read(request)
    view = request_view(request, ctx.settings.endpoint(path), body, form)  # type: ignore[arg-type]
    key, signed = await verify_signed(ctx, view)  # no transaction held while verifying
    async with signed_transaction(ctx) as session:  # a refusal keeps the nonce spent
        consumer = await claim_signed(ctx, session, key, signed)
        now = ctx.now()
        actor = f"consumer:{consumer.client_id}"
        params: dict[str, Any] = dict(form) if form is not None else _json(body)
        try:
            owner = await ops.consumer_for_keys(session, consumer.client_id)
            if request.method == "GET":
                return json_response({"keys": [_public(k) for k in await key_repo.list_all(session, owner.client_id)]})
            if path == REVOKE_PATH:
                kid = _text(params, "kid")
                if not kid:
                    raise InvalidRequest("kid is required")
                revoked = await ops.revoke_key(session, owner.client_id, kid, now=now, actor=actor, keep_one=True,
                                               bound=signed.scope_ceiling)
                return json_response({"kid": kid, "tokens_revoked": revoked})
            if "jwk" not in params:
                raise InvalidRequest("jwk is required")
            jwk = ops.parse_key(params["jwk"])
            name = ops.check_name(_text(params, "name"))
            ceiling = await ops.ceiling_for_added_key(session, _scopes(params.get("scope")), signed.scope_ceiling)
            row = await ops.add_key(session, owner, jwk, now=now, name=name, ceiling=ceiling, actor=actor)
            return json_response(_public(row), status=201)
        except ops.ClientKeyError as exc:
            raise _oauth(exc) from None


async def handle(request: web.Request) -> web.Response:
    """``GET /keys`` and ``POST /keys``."""
    return await _handle(request, PATH)


async def handle_revoke(request: web.Request) -> web.Response:
    """``POST /keys/revoke``."""
    return await _handle(request, REVOKE_PATH)
