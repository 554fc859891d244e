"""The token endpoint (RFC 6749 §3.2, §5): ProtectServe's "request access token".

The consumer authenticates by signing the request with cks (see :mod:`authmanager.signatures`).
One database transaction covers the consumer lookup, the nonce claim, the policy decision and
the token's persistence: any error rolls all of it back, so a refused request stores nothing.

Success is RFC 6749 §5.1; errors are §5.2 JSON with ``Cache-Control: no-store``.
"""

from __future__ import annotations

from aiohttp import web

from ..context import Context, context
from ..errors import InvalidClient, UnsupportedGrantType, json_response
from ..grants import client_credentials
from ..signatures import RequestView, verify
from ..storage import consumers as consumer_repo
from ..storage import nonces as nonce_repo
from .forms import parse_form, read_body

PATH = "/token"


def request_view(request: web.Request, url: str, body: bytes) -> RequestView:
    """The signed request as the verifiers see it. The target URI is the published endpoint URL
    (configuration), with the request's query string, never a URL rebuilt from Host."""
    if request.query_string:
        url = f"{url}?{request.query_string}"
    return RequestView(
        method=request.method, url=url, headers=request.headers, body=body,
        header_lines=tuple(request.headers.items()),
    )


async def authenticate(ctx: Context, session, view: RequestView) -> str:  # type: ignore[no-untyped-def]
    """Verify the signature and claim its nonce; return the consumer key. Raises InvalidClient."""

    async def lookup_secret(client_id: str) -> str | None:
        consumer = await consumer_repo.get_active(session, client_id)
        if consumer is None:
            return None
        return ctx.box.open(consumer.secret_sealed, aad=client_id).decode()

    now, window = ctx.now(), ctx.settings.signature_window
    signed = await verify(view, lookup_secret, now=now, window=window)
    # The nonce is kept for as long as its timestamp could still pass the freshness check.
    if not await nonce_repo.claim(session, client_id=signed.client_id, nonce=signed.nonce,
                                  expires_at=signed.created + window + 1):
        raise InvalidClient("replayed nonce")
    return signed.client_id


async def handle(request: web.Request) -> web.Response:
    ctx = context(request)
    body = await read_body(request)
    params = parse_form(request, body)
    view = request_view(request, ctx.settings.endpoint(PATH), body)
    async with ctx.sessions.begin() as session:
        client_id = await authenticate(ctx, session, view)
        grant_type = params.get("grant_type")
        if grant_type != client_credentials.GRANT_TYPE:
            raise UnsupportedGrantType(f"grant_type must be {client_credentials.GRANT_TYPE}")
        issued = await client_credentials.issue(
            session, client_id=client_id, params=params, keyring=ctx.keyring, issuer=ctx.settings.issuer,
            now=ctx.now(), default_ttl=ctx.settings.token_ttl,
        )
    return json_response(issued.body())
