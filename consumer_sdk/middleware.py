"""aiohttp client middleware that walks the ProtectServe handshake by itself.

``aiohttp.ClientSession(middlewares=[ProtectServeAuth()])``: before sending, a
stored, unexpired token for the URL is attached (RFC 6750 §2.1). A 401 Bearer
challenge carrying ``resource_metadata`` (RFC 9728 §5.1), or a 403
``insufficient_scope`` (RFC 6750 §3.1) to a request we authorised, drives
``flow.handshake``; its requests go out on the same session with
``middlewares=()`` (no recursion), and the original request is retried once.
Concurrent challenges for the same resource share one handshake.

When the AM puts the request to the realm owner (UMA 2.0 Grant §3.3.6 ``request_submitted``)
the handshake polls for the answer, sleeping with the injectable ``sleep`` between polls, for at
most ``approval_timeout`` seconds; then the request raises ``AccessPending`` (or
``AccessDenied``), and the ticket stays in the store so the next request resumes polling.

A token from a person's login (``python -m consumer_sdk login``; RFC 8252) is used the same way
and refreshed (RFC 6749 §6) when it has expired, or when the SP answers 401 ``invalid_token``:
concurrent requests share one refresh per resource, each request is retried at most once, the
rotated refresh token is stored (RFC 9700 §4.14.2). When the refresh token is gone or refused
(``invalid_grant``) the request raises ``LoginRequired`` — never a silent fallback to the handshake.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiohttp import (
    ClientHandlerType,
    ClientRequest,
    ClientResponse,
    ClientSession,
    hdrs,
    payload,
)
from aiohttp.http import SERVER_SOFTWARE
from yarl import URL

from .challenge import BearerChallenge, find_bearer
from .errors import ChallengeError, LoginRequired, TokenRequestError
from .flow import USER_AGENT, Flow, FlowConfig, default_nonce, handshake
from .messages import Headers, HttpRequest, HttpResponse, Step, Wait
from .signing import SignatureMethod
from .store import CredentialStore, MemoryStore, Token
from .urls import is_under

#: RFC 6749 §5.2 answers to a refresh that mean the login is over: log in again.
_LOGIN_OVER = ("invalid_grant", "invalid_client", "unauthorized_client")


class ProtectServeAuth:
    """The middleware; one instance may serve many sessions and requests."""

    def __init__(
        self,
        *,
        store: CredentialStore | None = None,
        client_name: str = "protectserve consumer",
        scopes: Iterable[str] | None = None,
        signature_method: SignatureMethod = "rfc9421",
        on_step: Callable[[Step], None] | None = None,
        now: Callable[[], float] = time.time,
        make_nonce: Callable[[], str] = default_nonce,
        approval_timeout: float = 60.0,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.store: CredentialStore = store if store is not None else MemoryStore()
        self.on_step = on_step
        self.now = now
        self.sleep = sleep
        self.config = FlowConfig(
            client_name=client_name,
            scopes=tuple(scopes) if scopes is not None else None,
            signature_method=signature_method,
            now=now,
            make_nonce=make_nonce,
            approval_timeout=approval_timeout,
        )
        self._inflight: dict[tuple[str, frozenset[str]], asyncio.Task[Token]] = {}
        self._refreshing: dict[str, asyncio.Task[Token]] = {}

    async def __call__(self, request: ClientRequest, handler: ClientHandlerType) -> ClientResponse:
        if request.headers.get(hdrs.USER_AGENT) == SERVER_SOFTWARE:  # aiohttp's default, not the caller's
            request.headers[hdrs.USER_AGENT] = USER_AGENT
        if hdrs.AUTHORIZATION in request.headers:  # the caller brought its own credentials
            return await handler(request)
        url = str(request.url)
        sent = self._stored_token(url)
        if sent is None:
            login = self._login_token(url)
            if login is not None:  # expired: refresh before sending (RFC 6749 §6)
                sent = await self._refresh(login, request.session)
        if sent is not None:
            request.headers[hdrs.AUTHORIZATION] = f"Bearer {sent.access_token}"
        response = await handler(request)
        if sent is not None and sent.is_login:
            return await self._after_login_token(request, handler, url, response, sent)
        challenge = self._challenge(response, sent)
        if challenge is None or not _replayable(request):
            self._emit(Step("request", request.method, url, response.status, _describe(sent)))
            return response
        first = HttpResponse(response.status, Headers(response.headers.items()))
        response.release()
        if sent is not None and response.status == 401:  # stale or revoked: drop it (RFC 6750 §3.1)
            current = self.store.get_token(sent.resource)
            if current is not None and current.access_token == sent.access_token:
                self.store.delete_token(sent.resource)
        token = await self._obtain(request, url, first, challenge, sent)
        request.headers[hdrs.AUTHORIZATION] = f"Bearer {token.access_token}"
        retried = await handler(request)  # once: a second 401/403 goes back to the caller as is
        self._emit(Step("retry", request.method, url, retried.status, _describe(token)))
        return retried

    async def _after_login_token(self, request: ClientRequest, handler: ClientHandlerType, url: str,
                                 response: ClientResponse, sent: Token) -> ClientResponse:
        """A login's token went out: on 401 ``invalid_token`` (RFC 6750 §3.1) refresh it and retry once."""
        challenge = self._challenge(response, sent)
        if response.status != 401 or challenge is None or challenge.error not in (None, "invalid_token") \
                or not _replayable(request):
            self._emit(Step("request", request.method, url, response.status, _describe(sent)))
            return response
        response.release()
        token = await self._refresh(sent, request.session)
        request.headers[hdrs.AUTHORIZATION] = f"Bearer {token.access_token}"
        retried = await handler(request)  # once: a second 401 goes back to the caller as is
        self._emit(Step("retry", request.method, url, retried.status, _describe(token)))
        return retried

    def _login_token(self, url: str) -> Token | None:
        """The stored login token (usable or not) whose resource is the longest prefix of ``url``."""
        logins = [t for t in self.store.tokens() if t.is_login and is_under(url, t.resource)]
        return max(logins, key=lambda t: len(t.resource), default=None)

    async def _refresh(self, stale: Token, session: ClientSession) -> Token:
        """Single-flight per resource: one refresh, every waiting request gets its token."""
        current = self.store.get_token(stale.resource)
        if current is not None and current.access_token != stale.access_token and current.is_usable(self.now()):
            return current  # refreshed meanwhile by a concurrent request
        task = self._refreshing.get(stale.resource)
        if task is None:
            task = asyncio.ensure_future(self._do_refresh(current or stale, session))
            self._refreshing[stale.resource] = task
            task.add_done_callback(lambda done: self._refreshed(stale.resource, done))
        return await asyncio.shield(task)

    def _refreshed(self, resource: str, task: asyncio.Task[Token]) -> None:
        if self._refreshing.get(resource) is task:
            del self._refreshing[resource]
        if not task.cancelled():
            task.exception()

    async def _do_refresh(self, stale: Token, session: ClientSession) -> Token:
        from .login import refresh  # the login module is needed only by logins

        lock = getattr(self.store, "refresh_lock", None)
        async with lock(stale.resource) if lock is not None else contextlib.nullcontext():
            # re-read under the lock: another middleware or process may have refreshed meanwhile
            token = self.store.get_token(stale.resource) or stale
            if token.access_token != stale.access_token and token.is_usable(self.now()):
                return token
            if not token.is_login or token.refresh_token is None:
                raise LoginRequired(stale.resource)
            try:
                fresh = await drive(refresh(token, now=self.now, on_step=self._emit), session)
            except TokenRequestError as exc:
                if exc.error in _LOGIN_OVER:
                    # the AM refused it (rotated, revoked, expired): forget it, never present it again
                    self.store.put_token(_without_refresh(token))
                    raise LoginRequired(token.resource, error=exc.error, description=exc.description) from None
                raise
            self.store.put_token(fresh)
            return fresh

    def _challenge(self, response: ClientResponse, sent: Token | None) -> BearerChallenge | None:
        """A ProtectServe challenge worth a handshake, else ``None`` (the response is returned untouched)."""
        if response.status not in (401, 403):
            return None
        try:
            challenge = find_bearer(", ".join(response.headers.getall(hdrs.WWW_AUTHENTICATE, [])))
        except ChallengeError:
            return None
        if challenge is None or challenge.resource_metadata is None:
            return None
        if response.status == 403 and (sent is None or challenge.error != "insufficient_scope"):
            return None
        return challenge

    def _stored_token(self, url: str) -> Token | None:
        """The usable stored token whose resource is the longest prefix of ``url``."""
        now = self.now()
        usable = [t for t in self.store.tokens() if t.is_usable(now) and is_under(url, t.resource)]
        return max(usable, key=lambda t: len(t.resource), default=None)

    async def _obtain(
        self, request: ClientRequest, url: str, first: HttpResponse, challenge: BearerChallenge, sent: Token | None
    ) -> Token:
        """Single-flight: one handshake per (metadata URL, required scope); everyone awaits its result."""
        fresh = self._stored_token(url)  # a concurrent handshake may have finished meanwhile
        if fresh is not None and (sent is None or fresh.access_token != sent.access_token):
            if challenge.error != "insufficient_scope" or challenge.scope <= fresh.scope:
                return fresh
        assert challenge.resource_metadata is not None
        key = (challenge.resource_metadata, challenge.scope if first.status == 403 else frozenset())
        task = self._inflight.get(key)
        if task is None:
            flow = handshake(method=request.method, url=url, response=first, store=self.store,
                             config=self.config, held_token=sent, on_step=self._emit)
            task = asyncio.ensure_future(self._drive(flow, request.session))
            self._inflight[key] = task
            task.add_done_callback(lambda done: self._finished(key, done))
        # shield: a cancelled caller must not cancel the handshake the others are waiting for
        return await asyncio.shield(task)

    def _finished(self, key: tuple[str, frozenset[str]], task: asyncio.Task[Token]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled():
            task.exception()  # retrieved here too, so an unawaited failure is not logged as lost

    async def _drive(self, flow: Flow, session: ClientSession) -> Token:
        return await drive(flow, session, sleep=self.sleep)

    def _emit(self, step: Step) -> None:
        if self.on_step is not None:
            self.on_step(step)


async def drive(flow: Flow, session: ClientSession, *,
                sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> Token:
    """Perform each request a flow generator yields on ``session``, and each ``Wait`` with
    ``sleep``; return the token it returns."""
    try:
        outgoing = next(flow)
        while True:
            if isinstance(outgoing, Wait):
                await sleep(outgoing.seconds)
                outgoing = flow.send(None)  # type: ignore[arg-type]
                continue
            outgoing = flow.send(await _perform(session, outgoing))
    except StopIteration as done:
        return done.value
    finally:
        flow.close()


async def _perform(session: ClientSession, outgoing: HttpRequest) -> HttpResponse:
    async with session.request(
        outgoing.method,
        URL(outgoing.url, encoded=True),  # sent exactly as signed (@target-uri)
        headers=dict(outgoing.headers),
        data=outgoing.body or None,
        middlewares=(),
        allow_redirects=False,
        raise_for_status=False,
    ) as response:
        body = await response.read()
        return HttpResponse(response.status, Headers(response.headers.items()), body)


def _without_refresh(token: Token) -> Token:
    from dataclasses import replace

    return replace(token, refresh_token=None, expires_at=0.0)


def _replayable(request: ClientRequest) -> bool:
    """Bytes, strings, forms and seekable files can be sent again; a consumed stream cannot."""
    body: Any = request.body
    return not (isinstance(body, payload.Payload) and body.consumed)


def _describe(token: Token | None) -> dict[str, Any]:
    """Which token went out, by its public attributes only."""
    if token is None:
        return {"token": None}
    return {"token": "Bearer", "resource": token.resource, "scope": " ".join(sorted(token.scope))}
