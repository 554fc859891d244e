"""RFC 7591 dynamic client registration: ProtectServe's "request consumer key".

§3.1: the client POSTs its metadata as a JSON object. §3.2.1: the server answers ``201`` with
``client_id`` (ck), ``client_secret`` (cks, 256 random bits), ``client_id_issued_at`` and
``client_secret_expires_at`` (0: never). §3.2.2: bad metadata gets ``invalid_client_metadata``
and nothing is stored. cks is kept only sealed under the server key.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from ..client_auth import METHODS
from ..context import context
from ..errors import InvalidClientMetadata, json_response
from ..identifiers import is_text
from ..secretbox import random_secret
from ..storage import consumers as consumer_repo
from ..storage.models import Consumer
from .forms import read_body

PATH = "/register"
MAX_NAME = 200
_STRINGS = ("client_name", "client_uri", "logo_uri", "software_id", "software_version", "scope")
_LISTS = ("contacts", "grant_types")


def validate(metadata: Any) -> dict[str, Any]:
    """Return the metadata we keep, or raise ``invalid_client_metadata``. Unknown fields are
    ignored (§2)."""
    if not isinstance(metadata, dict):
        raise InvalidClientMetadata("the body must be a JSON object")
    kept: dict[str, Any] = {}
    for name in _STRINGS:
        if name in metadata:
            value = metadata[name]
            if not is_text(value, max_len=MAX_NAME * 10):  # storable: no NUL, no lone surrogate
                raise InvalidClientMetadata(f"{name} must be a string")
            kept[name] = value
    for name in _LISTS:
        if name in metadata:
            value = metadata[name]
            if not isinstance(value, list) or not all(is_text(v, max_len=MAX_NAME * 10) for v in value) \
                    or len(value) > 20:
                raise InvalidClientMetadata(f"{name} must be a list of strings")
            kept[name] = value
    if "grant_types" in kept and set(kept["grant_types"]) - {"client_credentials"}:
        raise InvalidClientMetadata("only the client_credentials grant is supported")
    method = metadata.get("token_endpoint_auth_method", next(iter(METHODS)))
    if not isinstance(method, str) or method not in METHODS:
        raise InvalidClientMetadata(f"token_endpoint_auth_method must be one of {', '.join(METHODS)}")
    kept["token_endpoint_auth_method"] = method
    name = kept.get("client_name", "").strip()
    if len(name) > MAX_NAME:
        raise InvalidClientMetadata(f"client_name is longer than {MAX_NAME} characters")
    kept["client_name"] = name or "unnamed consumer"
    return kept


async def handle(request: web.Request) -> web.Response:
    ctx = context(request)
    body = await read_body(request)
    if request.content_type != "application/json":
        raise InvalidClientMetadata("the body must be application/json")
    try:
        metadata = validate(json.loads(body))
    except (ValueError, RecursionError) as exc:
        raise InvalidClientMetadata("the body is not valid JSON") from exc
    client_id, client_secret, now = random_secret(16), random_secret(32), ctx.now()
    consumer = Consumer(
        client_id=client_id,
        client_name=metadata["client_name"],
        secret_sealed=ctx.box.seal(client_secret.encode(), aad=client_id),
        client_metadata=metadata,
        issued_at=now,
    )
    async with ctx.sessions.begin() as session:
        await consumer_repo.add(session, consumer)
    return json_response(
        {
            **metadata,
            "client_id": client_id,
            "client_secret": client_secret,
            "client_id_issued_at": now,
            "client_secret_expires_at": 0,
            "grant_types": ["client_credentials"],
        },
        status=201,
    )
