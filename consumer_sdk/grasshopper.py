"""Grasshopper keys in one call: a short-lived, non-renewable sub-key for code that must not
hold the master consumer secret (a single-page app, a worker, a CI job).

    sub = await mint_grasshopper(http, issuer=AM, parent=master_credentials, ttl=600, scope=["read"])
    worker_auth = ProtectServeAuth(store=sub.store())   # the worker never sees the master cks

The request is signed with the master cks exactly like a token request (docs/protocol.md §5).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

import aiohttp

from .errors import MetadataError, TokenRequestError
from .flow import USER_AGENT, default_nonce
from .signing import FORM_CONTENT_TYPE, SignatureMethod, sign_token_request
from .store import ClientCredentials, MemoryStore


@dataclass(frozen=True)
class GrasshopperKey:
    client_id: str
    client_secret: str = field(repr=False)
    issuer: str
    expires_at: float
    parent_client_id: str

    @property
    def credentials(self) -> ClientCredentials:
        return ClientCredentials(self.client_id, self.client_secret, self.issuer)

    def store(self) -> MemoryStore:
        """A store holding only this sub-key, for the code that should use it."""
        store = MemoryStore()
        store.put_client(self.credentials)
        return store


async def mint_grasshopper(
    http: aiohttp.ClientSession,
    *,
    issuer: str,
    parent: ClientCredentials,
    ttl: int | None = None,
    scope: Iterable[str] | None = None,
    signature_method: SignatureMethod = "rfc9421",
    now: Callable[[], float] = time.time,
    make_nonce: Callable[[], str] = default_nonce,
) -> GrasshopperKey:
    """Ask the AM at ``issuer`` for a sub-key of ``parent``. Raises ``TokenRequestError`` if refused."""
    headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
    async with http.get(issuer.rstrip("/") + "/.well-known/oauth-authorization-server", headers=headers,
                        allow_redirects=False, middlewares=()) as r:
        doc = await r.json(content_type=None) if r.status == 200 else {}
    endpoint = doc.get("protectserve_grasshopper_endpoint") if doc.get("issuer") == issuer else None
    if not isinstance(endpoint, str):
        raise MetadataError("the AM publishes no protectserve_grasshopper_endpoint")
    form = [(k, v) for k, v in (("ttl", str(ttl) if ttl else None), ("scope", " ".join(scope) if scope else None))
            if v is not None]
    body = urlencode(form, quote_via=quote).encode()
    created = int(now())
    signed = sign_token_request(signature_method, method="POST", url=endpoint,
                                headers={**headers, "Content-Type": FORM_CONTENT_TYPE}, body=body,
                                client_id=parent.client_id, client_secret=parent.client_secret,
                                created=created, nonce=make_nonce())
    async with http.post(endpoint, data=body, headers=signed, allow_redirects=False, middlewares=()) as r:
        reply = json.loads(await r.read() or b"{}")
        if r.status != 201:
            raise TokenRequestError(reply.get("error", "invalid_response"), reply.get("error_description"),
                                    r.status)
    return GrasshopperKey(client_id=reply["client_id"], client_secret=reply["client_secret"], issuer=issuer,
                          expires_at=created + int(reply["expires_in"]), parent_client_id=reply["parent_client_id"])
