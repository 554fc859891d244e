"""RFC 7662 token introspection, for the realm's service provider.

§2.1: the caller authenticates — here with HTTP Basic ``sph:sph_secret`` (RFC 6749 §2.3.1) —
and POSTs ``token`` form-encoded. §2.2: an active token yields its metadata; anything unknown,
expired, revoked or belonging to another realm yields exactly ``{"active": false}``. ``sub`` is
the client for a machine token, and the account's subject (``{issuer}/people/{id}``, as in the
JWT) for a person's token (authorization code, refresh); ``client_id`` is always the client.
A refresh token is not introspected here (it is ``{"active": false}``): introspection is for
resource servers, which never see one.
Misses are counted per realm: a caller fishing with random tokens gets ``429 slow_down`` once
its ``introspection_miss_limit`` is spent (§4 asks servers to guard against token scanning).

Realm credentials and tokens already looked up are answered from memory
(:mod:`authmanager.runtime.known_tokens`): a revocation made by this process applies at once, one made
by another AM process within ``feed_poll_interval``, as for resource servers on the feed.
"""

from __future__ import annotations

from aiohttp import BasicAuth, hdrs, web

from ..context import Context, context
from ..errors import InvalidClient, InvalidRequest, json_response
from ..identifiers import is_key
from ..runtime.known_tokens import RealmEntry
from ..runtime.ratelimit import TooManyRequests
from ..secretbox import digest, digest_matches
from ..tokens import subject_of
from .forms import parse_form, read_body

PATH = "/introspect"
BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="authmanager"'}
MAX_TOKEN = 8192


async def authenticate_realm(ctx: Context, request: web.Request) -> RealmEntry:
    """HTTP Basic ``sph:sph_secret``; the secret is compared as a digest in constant time. A user
    name that cannot be an sph (:func:`authmanager.identifiers.is_key`) is not looked up: the
    same ``401`` as a wrong secret."""
    try:
        creds = BasicAuth.decode(request.headers.get(hdrs.AUTHORIZATION, ""))
    except ValueError as exc:
        raise InvalidClient("missing or malformed Basic credentials", headers=BASIC_CHALLENGE) from exc
    realm = await ctx.known.realm(creds.login) if is_key(creds.login) else None  # an sph is base64url
    if realm is None or not digest_matches(creds.password, realm.sph_secret_hash):
        raise InvalidClient("bad sph credentials", headers=BASIC_CHALLENGE)
    return realm


def token_param(params: dict[str, str]) -> str:
    token = params.get("token")
    if not token:
        raise InvalidRequest("token is required")
    if len(token) > MAX_TOKEN:  # refused unread (issue 7)
        raise InvalidRequest("token too large")
    return token


async def handle(request: web.Request) -> web.Response:
    ctx = context(request)
    body = await read_body(request)
    realm = await authenticate_realm(ctx, request)
    token = token_param(parse_form(request, body))
    retry_after = await ctx.limiter.exhausted("introspection_miss", realm.sph)
    if retry_after is not None:
        raise TooManyRequests(retry_after)
    row = await ctx.known.token(digest(token))
    now = ctx.now()
    if row is None or row.revoked or row.realm_id != realm.id or row.expires_at <= now:
        if row is None:  # a token never issued (to anyone): possibly fishing
            await ctx.limiter.spend("introspection_miss", realm.sph)
        return json_response({"active": False})
    return json_response({
        "active": True,
        "scope": row.scope,
        "client_id": row.client_id,
        "sub": subject_of(ctx.settings.issuer, row.account_id) if row.account_id is not None else row.client_id,
        "aud": realm.resource,
        "iss": ctx.settings.issuer,
        "exp": row.expires_at,
        "iat": row.issued_at,
        "token_type": "Bearer",
        "jti": row.jti,
        "realm": realm.name,
    })
