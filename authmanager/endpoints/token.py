"""The token endpoint: ProtectServe's "request access token", and the IndieAuth token endpoint.

* ``POST grant_type=client_credentials`` (RFC 6749 §3.2, §4.4, §5): the consumer authenticates
  by signing the request with cks (:mod:`authmanager.client_auth`, the key's secret from the
  per-process :mod:`authmanager.runtime.consumer_keys` cache). The key's liveness, the nonce claim, the
  policy decision and the token's persistence then happen in one transaction shared with the
  other requests waiting at that moment (group commit, :mod:`authmanager.grants.group_commit`):
  a refused request stores nothing but its spent nonce. Success is §5.1; errors are §5.2 JSON,
  ``no-store``.
* ``POST grant_type=ticket&ticket=…`` (IndieAuth Ticket Auth, :mod:`authmanager.grants.ticket`):
  no client authentication; the single-use ticket delivered to the subject is the proof.
* ``POST grant_type=urn:ietf:params:oauth:grant-type:uma-ticket&ticket=…`` (UMA 2.0 Grant §3.3.1,
  :mod:`authmanager.grants.uma_ticket`): signed like client credentials; polls a request put to
  the realm owner. ``403 request_submitted`` (from either signed grant) commits what it recorded.
* Every request whose signature verified spends its nonce, whatever the answer (a token, a
  refusal of its form, ``request_denied``, ``slow_down``, ``invalid_grant``…): a captured
  request replayed later, after the owner or a policy changed, gets ``401 invalid_client``. Only
  a transaction that fails as a whole (``503``: the database is unavailable) leaves it unspent.
* ``POST grant_type=authorization_code`` (RFC 6749 §4.1.3, OAuth 2.1, RFC 7636;
  :mod:`authmanager.grants.authorization_code`) and ``grant_type=refresh_token`` (RFC 6749 §6,
  RFC 9700 §4.14.2; :mod:`authmanager.grants.refresh_token`): a confidential client signs as
  above; a public client (``token_endpoint_auth_method: none``, :mod:`authmanager.client_auth.public`)
  sends ``client_id`` and no signature. These two grants are the only ones a public client may
  use: every other grant requires a signature, so an unsigned request for one is
  ``401 invalid_client`` (§5.2: "no client authentication included"), and a public client cannot
  sign (it has no secret: its "signature" is refused the same way). A confidential client not
  registered for the grant gets ``unauthorized_client``. The answer carries a ``refresh_token``.
* ``POST action=revoke&token=…`` (IndieAuth "Token Revocation"): possession of the token is the
  credential; the answer is ``200`` whether or not the token was known. A refresh token revokes
  its whole family, access tokens included.
* ``GET`` with ``Authorization: Bearer`` (IndieAuth "Access Token Verification"): ``me``,
  ``client_id`` and ``scope`` as JSON when asked for, else form-encoded; ``401`` if invalid.
  ``me`` is the account's subject (``{issuer}/people/{id}``) for a person's token, else the
  realm's resource.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import hdrs, web
from sqlalchemy.ext.asyncio import AsyncSession

from ..client_auth import JWT_METHODS, RequestView, VerifiedSignature, public
from ..client_auth.jwt_assertion import CLIENT_SECRET_JWT, PRIVATE_KEY_JWT, AssertionClient
from ..client_auth import verify as verify_signature
from ..clients import PUBLIC, ClientInfo
from ..clients.registry import from_registration
from ..context import Context, context
from ..errors import InvalidClient, InvalidRequest, OAuthError, UnsupportedGrantType, json_response
from ..grants import authorization_code, client_credentials, refresh_token, ticket, uma_ticket
from ..grants.group_commit import LAST_USED_GRANULARITY
from ..grants.person_tokens import Lifetimes
from ..identifiers import is_b64token
from ..operations.revocation import revoke_token
from ..runtime.consumer_keys import ConsumerKey
from ..secretbox import digest
from ..storage import client_keys as client_key_repo
from ..storage import consumers as consumer_repo
from ..storage import key_liveness
from ..storage import nonces as nonce_repo
from ..storage import refresh_tokens as refresh_repo
from ..storage import tokens as token_repo
from ..storage.db import transaction
from ..storage.models import Consumer
from ..tokens import subject_of
from .forms import read_form, refuse_query

PATH = "/token"
MAX_TOKEN = 8192


def request_view(request: web.Request, url: str, body: bytes, form: dict[str, str]) -> RequestView:
    """The signed request as the verifiers see it: the target URI is the published endpoint URL
    (configuration), never a URL rebuilt from Host; ``form`` is the form the endpoint parsed from
    ``body`` and acts on, which an RFC 5849 signature must cover. These endpoints take no query
    (:func:`.forms.refuse_query`), so none can enter the view."""
    refuse_query(request)
    return RequestView(method=request.method, url=url, headers=request.headers, body=body,
                       header_lines=tuple(request.headers.items()), form=form)


async def verify_signed(ctx: Context, view: RequestView) -> tuple[ConsumerKey, VerifiedSignature]:
    """Verify the request's client authentication: a signature or a ``client_secret_jwt``
    assertion with the consumer's cks (from the per-process key cache), a ``private_key_jwt``
    assertion with its live registered keys (read from the database). Raises InvalidClient.
    Says nothing about the consumer's or the key's liveness, nor the nonce: the caller's
    transaction checks and claims those."""
    found: dict[str, ConsumerKey] = {}

    async def lookup_secret(client_id: str) -> str | None:
        key = await ctx.consumer_keys.get(client_id)
        if key is None:
            return None
        if key.client_metadata.get("token_endpoint_auth_method") in (PUBLIC, PRIVATE_KEY_JWT) or not key.secret:
            return None  # no secret (public), or one it may not sign with: an HMAC proves nothing
        found[client_id] = key
        return key.secret

    async def lookup_assertion(client_id: str) -> AssertionClient | None:
        key = await ctx.consumer_keys.get(client_id)
        if key is None or key.public:
            return None
        found[client_id] = key
        if key.client_metadata.get("token_endpoint_auth_method") != PRIVATE_KEY_JWT:
            return AssertionClient(method=CLIENT_SECRET_JWT, secret=key.secret)
        async with ctx.sessions() as session:  # checked again in the issuing transaction
            keys = await client_key_repo.live(session, client_id)
        return AssertionClient(method=PRIVATE_KEY_JWT, keys=keys)

    settings = ctx.settings
    signed = await verify_signature(view, lookup_secret, now=ctx.now(), window=settings.signature_window,
                                    lookup_assertion=lookup_assertion,
                                    audiences=(settings.issuer, settings.endpoint(PATH), view.url))
    return found[signed.client_id], signed


def nonce_expiry(ctx: Context, signed: VerifiedSignature) -> int:
    """A nonce is kept for as long as its request could still pass the freshness checks: while
    its timestamp is in the window, and never past an RFC 9421 ``expires`` (refused from then on);
    an RFC 7523 assertion's ``jti`` while its ``exp`` plus the skew is ahead (RFC 7523 §3 item 7)."""
    window = ctx.settings.signature_window
    if signed.method in JWT_METHODS:  # an assertion passes until its exp plus the skew
        assert signed.expires is not None
        return signed.expires + window + 1
    kept = signed.created + window + 1
    return kept if signed.expires is None else min(kept, signed.expires)


def signed_transaction(ctx: Context):  # type: ignore[no-untyped-def]
    """The transaction of a signed request outside the group commit (the UMA poll,
    ``/grasshopper``, ``/revoke``): committed on success *and* on an OAuthError, so that the
    nonce :func:`authenticate` claimed stays spent whatever the answer. The handlers refuse
    before they write anything else (the one exception, the poll time a ``request_submitted``
    records, is meant to be kept); any other failure rolls everything back."""
    return transaction(ctx.sessions, keep=(OAuthError,))


async def authenticate(ctx: Context, session: AsyncSession, view: RequestView) -> Consumer:
    """Verify the signature and, in the caller's transaction, check the key is live and claim
    the nonce; return the consumer key's row. Raises InvalidClient.

    A grasshopper sub-key authenticates like any key while it and its master key are live. The
    key's row (and its master's) is read ``FOR SHARE``: a revocation waits for this transaction,
    or has committed and is seen (:func:`authmanager.storage.consumers.get_live`)."""
    key, signed = await verify_signed(ctx, view)
    return await claim_signed(ctx, session, key, signed)


async def claim_signed(ctx: Context, session: AsyncSession, key: ConsumerKey, signed: VerifiedSignature) -> Consumer:
    """:func:`authenticate`'s part inside the transaction, for a signature already verified."""
    consumer = await consumer_repo.get_live(session, key.client_id, now=ctx.now())
    if consumer is None:
        raise InvalidClient("revoked, deleted or expired consumer key")
    if signed.client_key_id is not None and not await key_liveness.is_live(
            session, signed.client_key_id, client_id=signed.client_id):
        raise InvalidClient("the assertion's key is revoked")
    if not await nonce_repo.claim(session, client_id=signed.client_id, nonce=signed.nonce,
                                  expires_at=nonce_expiry(ctx, signed)):
        raise InvalidClient("replayed nonce")
    return consumer


async def handle(request: web.Request) -> web.Response:
    ctx = context(request)
    body, params = await read_form(request)
    if params.get("action") == "revoke":
        return await _indieauth_revoke(ctx, params)
    grant_type = params.get("grant_type")
    if grant_type == ticket.GRANT_TYPE:  # unauthenticated: the ticket is the proof
        issued = await ticket.redeem(ctx.sessions, params=params, keyring=ctx.keyring, issuer=ctx.settings.issuer,
                                     now=ctx.now(), default_ttl=ctx.settings.token_ttl)
        return json_response(issued.body())
    view = request_view(request, ctx.settings.endpoint(PATH), body, params)
    if grant_type in (authorization_code.GRANT_TYPE, refresh_token.GRANT_TYPE):
        return await _person_grant(ctx, view, params, grant_type)
    if grant_type != uma_ticket.GRANT_TYPE:
        # Client credentials, or an unsupported grant type (which an unauthenticated caller
        # learns nothing about): verified, then decided in the group commit, which spends the
        # nonce even when the form itself is refused.
        key, signed = await verify_signed(ctx, view)
        form: client_credentials.Request | OAuthError
        if grant_type is None:
            form = InvalidRequest("grant_type is required")
        elif grant_type == client_credentials.GRANT_TYPE:
            try:
                form = client_credentials.parse(params)
            except OAuthError as err:
                form = err
        else:
            form = UnsupportedGrantType(f"grant_type must be {client_credentials.GRANT_TYPE}, "
                                        f"{authorization_code.GRANT_TYPE}, {refresh_token.GRANT_TYPE}, "
                                        f"{uma_ticket.GRANT_TYPE} or {ticket.GRANT_TYPE}")
        issued = await ctx.issuance.issue(key, form, nonce=signed.nonce, nonce_expires_at=nonce_expiry(ctx, signed),
                                          client_key_id=signed.client_key_id, scope_ceiling=signed.scope_ceiling)
        return json_response(issued.body())
    # Any answer but a failure of the transaction keeps the nonce spent; a pending request
    # (request_submitted) also keeps the poll time it recorded.
    key, signed = await verify_signed(ctx, view)
    async with signed_transaction(ctx) as session:
        consumer = await claim_signed(ctx, session, key, signed)
        now, settings = ctx.now(), ctx.settings
        issued = await uma_ticket.poll(session, consumer=consumer, params=params, keyring=ctx.keyring,
                                       issuer=settings.issuer, now=now, default_ttl=settings.token_ttl,
                                       interval=settings.poll_interval, **key_terms(signed))
        await _mark_used(session, consumer, now)
    return json_response(issued.body())


async def find_client(ctx: Context, client_id: str) -> ClientInfo | None:
    """``ctx.clients.find``, except that a registered key counts as public only if it registered
    ``token_endpoint_auth_method: none`` itself: a grasshopper sub-key, or a key whose metadata
    names no method (``from_registration`` would default it to ``none``), is never taken for a
    public client, so it cannot skip its signature."""
    client = await ctx.clients.find(client_id)
    if client is not None and client.source == "registered":
        key = await ctx.consumer_keys.get(client_id)
        if key is None or key.parent_id is not None or key.client_metadata.get("token_endpoint_auth_method") != PUBLIC:
            return None if client.public else client
    return client


async def _person_grant(ctx: Context, view: RequestView, params: dict[str, str], grant_type: str) -> web.Response:
    """The authorization-code and refresh grants, for a confidential (signed) or a public client.

    The form is checked before anything is written; a signed request's nonce is spent in the
    grant's transaction, whatever the answer. A public client's ``client_id`` is resolved (a
    metadata document may be fetched) before the transaction begins, so no lock waits on it."""
    form: authorization_code.Request | refresh_token.Request | OAuthError
    try:
        form = authorization_code.parse(params) if grant_type == authorization_code.GRANT_TYPE \
            else refresh_token.parse(params)
    except OAuthError as err:
        form = err
    signed_by: tuple[ConsumerKey, VerifiedSignature] | None = None
    if public.carries_signature(view):
        signed_by = await verify_signed(ctx, view)
        client = from_registration(signed_by[0].client_id, signed_by[0].client_metadata)
    else:
        client = await public.verify(view, lambda client_id: find_client(ctx, client_id))
        if isinstance(form, OAuthError):
            raise form
    now, settings = ctx.now(), ctx.settings
    lifetimes = Lifetimes(access=settings.token_ttl, refresh_idle=settings.refresh_idle_ttl,
                          refresh_absolute=settings.refresh_absolute_ttl)
    async with signed_transaction(ctx) as session:
        if signed_by is not None:
            consumer = await claim_signed(ctx, session, *signed_by)
            await _mark_used(session, consumer, now)
            if params.get("client_id", client.client_id) != client.client_id:
                raise InvalidClient("client_id is not the signing key")  # §3.2.1: one client per request
        elif client.source == "registered":  # a public consumer key in use is not an unused one (purge)
            await consumer_repo.mark_used(session, client.client_id, now=now)
        if isinstance(form, OAuthError):
            raise form
        issued = await _run(session, client, form, ctx, now, lifetimes,
                            key_terms(signed_by[1]) if signed_by is not None else {})
    return json_response(issued.body())


async def _run(session: AsyncSession, client: ClientInfo, form: authorization_code.Request | refresh_token.Request,
               ctx: Context, now: int, lifetimes: Lifetimes, terms: dict[str, Any]):  # type: ignore[no-untyped-def]
    keyring, issuer = ctx.keyring, ctx.settings.issuer
    if isinstance(form, authorization_code.Request):
        return await authorization_code.redeem(session, client=client, request=form, keyring=keyring,
                                               issuer=issuer, now=now, lifetimes=lifetimes, **terms)
    return await refresh_token.refresh(session, client=client, request=form, keyring=keyring, issuer=issuer,
                                       now=now, lifetimes=lifetimes, **terms)


def key_terms(signed: VerifiedSignature) -> dict[str, Any]:
    """What a ``private_key_jwt`` key adds to issuance: the key the token names
    (``access_tokens.client_key_id``) and its scope ceiling, which the token never exceeds."""
    if signed.client_key_id is None:
        return {}
    ceiling = frozenset(signed.scope_ceiling) if signed.scope_ceiling is not None else None
    return {"client_key_id": signed.client_key_id, "ceiling": ceiling}


async def _mark_used(session: AsyncSession, consumer: Consumer, now: int) -> None:
    master = consumer.parent_id or consumer.client_id
    if consumer.parent_id is None and (consumer.last_used_at or 0) > now - LAST_USED_GRANULARITY:
        return
    await consumer_repo.mark_used(session, master, now=now)


async def _indieauth_revoke(ctx: Context, params: dict[str, str]) -> web.Response:
    token = params.get("token")
    if not token:
        raise InvalidRequest("token is required")
    if len(token) > MAX_TOKEN:  # refused unread (issue 7)
        raise InvalidRequest("token too large")
    async with ctx.sessions.begin() as session:
        row = await token_repo.by_hash(session, digest(token))
        if row is not None:
            await revoke_token(session, row, now=ctx.now(), actor=f"bearer:{row.client_id}")
        else:
            refresh = await refresh_repo.by_hash(session, digest(token))
            if refresh is not None:  # possession of a refresh token revokes its family
                await refresh_repo.revoke_family(session, refresh.family_id, ctx.now(),
                                                 actor=f"bearer:{refresh.client_id}", reason="IndieAuth revoke")
    return json_response({})


async def verify(request: web.Request) -> web.Response:
    """IndieAuth access token verification: ``GET`` with ``Authorization: Bearer``."""
    ctx = context(request)
    scheme, _, token = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
    token = token.strip()
    if scheme.lower() == "bearer" and len(token) > MAX_TOKEN:  # refused unread (issue 7)
        raise web.HTTPBadRequest(
            text='{"error":"invalid_request","error_description":"token too large"}', content_type="application/json",
            headers={"WWW-Authenticate": 'Bearer error="invalid_request"', "Cache-Control": "no-store"})
    row = realm = None
    if scheme.lower() == "bearer" and is_b64token(token):  # else no token this AM issued
        row = await ctx.known.token(digest(token))
    if row is not None and not row.revoked and row.expires_at > ctx.now():
        realm = await ctx.known.realm_by_id(row.realm_id)
    if row is None or realm is None:
        raise web.HTTPUnauthorized(
            text='{"error":"invalid_token"}', content_type="application/json",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"', "Cache-Control": "no-store"})
    me = subject_of(ctx.settings.issuer, row.account_id) if row.account_id is not None else realm.resource
    info = {"me": me, "client_id": row.client_id, "scope": row.scope}
    if "application/json" in request.headers.get(hdrs.ACCEPT, ""):
        return json_response(info)
    return web.Response(body=urlencode(info).encode(), content_type="application/x-www-form-urlencoded",
                        headers={"Cache-Control": "no-store"})
