"""Waiting for the realm owner, as part of the pure handshake (no I/O, no aiohttp).

UMA 2.0 Grant for OAuth 2.0 Authorization, §3.3.6: the AM may answer a token request
``403 {"error": "request_submitted", "ticket", "interval"}`` — the realm owner must decide.
The consumer then:

1. keeps the ticket in its store, for the resource (``PendingTicket``);
2. yields ``Wait(interval)`` (``interval`` defaults to 5 s) — its driver does the sleeping;
3. polls (§3.3.1): ``grant_type=urn:ietf:params:oauth:grant-type:uma-ticket&ticket=…``, signed
   exactly like its token request, and reads the answer:

   * ``200``: the token (RFC 6749 §5.1), stored; the ticket is forgotten;
   * ``403 request_submitted``: still pending — wait again (a new ``interval`` is honoured);
   * ``400 slow_down``: wait 5 s longer from now on (RFC 8628 §3.5);
   * ``403 request_denied``: ``AccessDenied`` carrying the ticket; the ticket is forgotten;
   * anything else (``invalid_grant``: expired or unknown): ``TokenRequestError``.

4. It waits at most ``FlowConfig.approval_timeout`` seconds in all (the sum of its waits), then
   raises ``AccessPending`` with the ticket, which stays in the store: the next handshake for
   the resource polls with it first (no wait) instead of asking again, and starts afresh only if
   the AM no longer knows it (``invalid_grant``, or ``invalid_client`` for a purged key).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from typing import Any

from .documents import AuthorizationServer, ResourceMetadata, json_error, read_token
from .errors import AccessDenied, AccessPending, TokenRequestError
from .messages import HttpRequest, HttpResponse, Step, Wait
from .store import ClientCredentials, CredentialStore, PendingTicket, Token

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:uma-ticket"
DEFAULT_INTERVAL = 5  # UMA 2.0 Grant §3.3.6
SLOW_DOWN_STEP = 5  # RFC 8628 §3.5
MAX_INTERVAL = 300
Sign = Callable[[list[tuple[str, str]]], HttpRequest]
Polling = Generator[HttpRequest | Wait, HttpResponse | None, Token | None]


def read_submitted(reply: HttpResponse) -> tuple[str, int] | None:
    """``(ticket, interval)`` of a ``403 request_submitted``, else ``None``."""
    if reply.status != 403 or json_error(reply)[0] != "request_submitted":
        return None
    doc: Any = json.loads(reply.body)
    ticket, interval = doc.get("ticket"), doc.get("interval", DEFAULT_INTERVAL)
    if not isinstance(ticket, str) or not ticket or len(ticket) > 512:
        raise TokenRequestError("invalid_response", "request_submitted without a usable ticket", 403)
    if not isinstance(interval, int) or isinstance(interval, bool) or interval < 1:
        interval = DEFAULT_INTERVAL
    return ticket, min(interval, MAX_INTERVAL)


def remember(store: CredentialStore, reply: HttpResponse, *, realm: ResourceMetadata, am: AuthorizationServer,
             credentials: ClientCredentials, scopes: tuple[str, ...]) -> PendingTicket | None:
    """Keep the ticket of a ``request_submitted`` answer for the resource; ``None`` if it is not one."""
    submitted = read_submitted(reply)
    if submitted is None:
        return None
    pending = PendingTicket(ticket=submitted[0], resource=realm.resource, realm=realm.realm, issuer=am.issuer,
                            client_id=credentials.client_id, scopes=frozenset(scopes), interval=submitted[1])
    put = getattr(store, "put_pending", None)
    if put is not None:
        put(pending)
    return pending


def resumable(store: CredentialStore, *, realm: ResourceMetadata, am: AuthorizationServer,
              credentials: ClientCredentials, scopes: tuple[str, ...]) -> PendingTicket | None:
    """A kept ticket that answers this request: same resource, AM and key, covering ``scopes``."""
    get = getattr(store, "get_pending", None)
    pending = get(realm.resource) if get is not None else None
    if (pending is None or pending.issuer != am.issuer or pending.client_id != credentials.client_id
            or not set(scopes) <= pending.scopes):
        return None
    return pending


def _forget(store: CredentialStore, resource: str) -> None:
    delete = getattr(store, "delete_pending", None)
    if delete is not None:
        delete(resource)


def await_decision(pending: PendingTicket, *, sign: Sign, realm: ResourceMetadata, am: AuthorizationServer,
                   store: CredentialStore, timeout: float, now: Callable[[], float], emit: Callable[[Step], None],
                   resumed: bool = False) -> Polling:
    """Poll until the owner decides or ``timeout`` seconds of waiting have passed.

    Returns the token; or, when ``resumed`` (a kept ticket, polled first without waiting),
    ``None`` if the AM no longer knows the ticket, so that the caller asks afresh."""
    interval, waited, wait_first = pending.interval, 0.0, not resumed
    while True:
        if wait_first:
            if waited + interval > timeout:
                raise AccessPending(ticket=pending.ticket, realm=pending.realm, issuer=pending.issuer,
                                    resource=pending.resource, interval=interval)
            yield Wait(interval)
            waited += interval
        wait_first = True
        requested_at = now()
        reply = yield sign([("grant_type", GRANT_TYPE), ("ticket", pending.ticket)])
        assert reply is not None
        error, description = json_error(reply)
        emit(Step("poll", "POST", am.token_endpoint, reply.status,
                  {"client_id": pending.client_id, "error": error if reply.status != 200 else None}))
        if reply.status == 200:
            _forget(store, pending.resource)
            token = read_token(reply, scopes=sorted(pending.scopes), requested_at=requested_at, realm=realm,
                               issuer=am.issuer)
            store.put_token(token)
            return token
        submitted = read_submitted(reply)
        if submitted is not None:
            interval = submitted[1]
            continue
        if reply.status == 400 and error == "slow_down":
            interval = min(interval + SLOW_DOWN_STEP, MAX_INTERVAL)
            continue
        _forget(store, pending.resource)
        if reply.status == 403 and error == "request_denied":
            raise AccessDenied(error, description, reply.status, ticket=pending.ticket)
        if resumed and waited == 0 and error in ("invalid_grant", "invalid_client"):
            return None
        raise TokenRequestError(error, description, reply.status)
