"""RFC 7591 dynamic client registration: ProtectServe's "request consumer key".

§3.1: the client POSTs its metadata as a JSON object, read by
:func:`authmanager.clients.registration.validate` (which values are kept, and which clients are
public). §3.2.1: the server answers ``201`` with the registered metadata, ``client_id`` (ck) and
``client_id_issued_at``; a client that signs also gets ``client_secret`` (cks, 256 random bits)
and ``client_secret_expires_at`` (0: never), "REQUIRED if client_secret is issued". A public
client (``token_endpoint_auth_method: none``) gets no secret: its row keeps a sealed empty
secret, which no signature verifier accepts (:func:`authmanager.client_auth.verify`). §3.2.2: bad
metadata gets ``invalid_client_metadata`` or ``invalid_redirect_uri`` and nothing is stored. cks
is kept only sealed under the server key.

RFC 7523 §2.2 methods: ``client_secret_jwt`` gets cks as ``client_secret`` like a signing client;
``private_key_jwt`` gets no secret, and its ``jwks`` (§2, public keys only, checked before anything
is written) become ``client_keys`` rows in the consumer's own transaction, echoed back as ``jwks``
with each key's ``kid``. ``jwks_uri`` is refused (it is never fetched).
"""

from __future__ import annotations

import json

from aiohttp import web

from ..clients.registration import (
    MAX_NAME,
    new_consumer,
    registration_response,
    validate,
)
from ..context import context
from ..errors import InvalidClientMetadata, json_response
from ..storage import client_keys as key_repo
from ..storage import consumers as consumer_repo
from .forms import read_body

__all__ = ["MAX_NAME", "PATH", "handle"]

PATH = "/register"


async def handle(request: web.Request) -> web.Response:
    ctx = context(request)
    body = await read_body(request)
    if request.content_type != "application/json":
        raise InvalidClientMetadata("the body must be application/json")
    try:
        metadata = validate(json.loads(body))
    except (ValueError, RecursionError) as exc:
        raise InvalidClientMetadata("the body is not valid JSON") from exc
    keys = metadata.get("jwks", {}).get("keys", [])
    consumer, secret = new_consumer(ctx.box, metadata, now=ctx.now())
    async with ctx.sessions.begin() as session:
        await consumer_repo.add(session, consumer)
        for key in keys:
            await key_repo.add(session, client_id=consumer.client_id, jwk=key, now=consumer.issued_at)
    return json_response(registration_response(consumer, secret, keys), status=201)
