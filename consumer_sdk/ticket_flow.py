"""Redeeming an IndieAuth ticket, as a pure generator like ``flow.handshake`` (no I/O, no aiohttp).

The resource named by the ticket leads to its AM exactly as in the handshake:

1. ``GET <resource>``: a 401 Bearer challenge names ``resource_metadata`` (RFC 6750 §3,
   RFC 9728 §5.1), which must be on the resource's origin. A resource that answers without a
   challenge (its root may be public, or absent) is looked up at the RFC 9728 §3.1 location
   derived from the identifier itself;
2. the resource metadata, refused unless it names that resource (RFC 9728 §3.3, §7.3);
3. the AM metadata of its ``authorization_servers[0]`` (RFC 8414 §3, issuer checked §3.3),
   which must list ``ticket`` in ``grant_types_supported``;
4. ``POST <token_endpoint>`` ``grant_type=ticket&ticket=…`` (IndieAuth Ticket Auth, "Redeem the
   ticket"), with no client authentication; the RFC 6749 §5.1 answer becomes a ``Token`` for
   the resource, put in the store so the next request to it needs no handshake.

Steps are reported through ``on_step`` with public values only: never the ticket, never a token.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from .documents import json_error, read_resource_metadata, read_token
from .errors import ChallengeError
from .flow import Flow, FlowConfig, check_step, discover_am, get_request, read_challenge
from .messages import HttpRequest, Step
from .signing import FORM_CONTENT_TYPE
from .store import CredentialStore
from .urls import resource_metadata_url, same_origin

GRANT_TYPE = "ticket"
#: ``User-Agent`` of a ticket endpoint's redemption requests (tells it apart in traces).
TICKET_USER_AGENT = "protectserve-ticket_endpoint/0.1"


def redeem_ticket(
    *,
    ticket: str,
    resource: str,
    store: CredentialStore,
    config: FlowConfig = FlowConfig(user_agent=TICKET_USER_AGENT),
    on_step: Callable[[Step], None] | None = None,
) -> Flow:
    emit = on_step or (lambda step: None)

    # 1. GET the resource: its challenge names the metadata (RFC 9728 §5.1), else RFC 9728 §3.1
    reply = yield get_request(resource, config)
    metadata_url = resource_metadata_url(resource)
    try:
        challenge = read_challenge(reply)
        if challenge.resource_metadata is not None and same_origin(challenge.resource_metadata, resource):
            metadata_url = challenge.resource_metadata
    except ChallengeError:
        pass
    emit(Step("challenge", "GET", resource, reply.status, {"resource_metadata": metadata_url}))

    # 2. Resource metadata (RFC 9728 §3), checked against the ticket's resource (§3.3, §7.3)
    reply = yield get_request(metadata_url, config)
    realm = check_step(emit, "resource_metadata", metadata_url, reply, read_resource_metadata,
                       metadata_url=metadata_url, requested_url=resource)

    # 3. AM metadata (RFC 8414 §3) supporting the ticket grant
    am = yield from discover_am(realm.authorization_server, config, emit, grant_type=GRANT_TYPE)

    # 4. Redeem: grant_type=ticket&ticket=… (no client authentication)
    body = urlencode({"grant_type": GRANT_TYPE, "ticket": ticket}).encode("ascii")
    headers = {"Content-Type": FORM_CONTENT_TYPE, "Accept": "application/json", "User-Agent": config.user_agent}
    requested_at = config.now()
    reply = yield HttpRequest("POST", am.token_endpoint, headers, body)
    detail = {"grant_type": GRANT_TYPE, "error": json_error(reply)[0] if reply.status != 200 else None}
    emit(Step("token", "POST", am.token_endpoint, reply.status, detail))
    token = read_token(reply, scopes=(), requested_at=requested_at, realm=realm, issuer=am.issuer)
    store.put_token(token)
    return token


__all__ = ["GRANT_TYPE", "TICKET_USER_AGENT", "redeem_ticket"]
