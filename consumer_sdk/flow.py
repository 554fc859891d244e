"""The ProtectServe handshake as a pure generator (docs/protocol.md §1-5), modelled on httpx ``Auth.auth_flow``.

``handshake()`` performs no I/O of its own: it yields ``HttpRequest`` values,
is sent back ``HttpResponse`` values, and returns a ``Token``. Read top to
bottom it is the 2009 ProtectServe sequence:

1. the SP's 401 ``WWW-Authenticate: Bearer realm, resource_metadata`` (RFC 6750 §3, RFC 9728 §5.1);
2. the realm's resource metadata (RFC 9728 §3), refused unless it names the resource
   its URL derives from and the requested URL lies under it (RFC 9728 §3.3, §7.3);
3. the AM's metadata (RFC 8414 §3), whose ``issuer`` must be the one named (RFC 8414 §3.3);
4. a consumer key from dynamic client registration (RFC 7591 §3), unless one is stored;
5. a client-credentials token (RFC 6749 §4.4) for ``sph`` and the RFC 8707 ``resource``, the
   request signed with cks (``signing``) — or,
   when the AM puts the request to the realm owner (UMA 2.0 Grant §3.3.6 ``request_submitted``),
   their answer, polled for in ``approval`` (the waiting is a yielded ``Wait``).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from . import approval
from .challenge import BearerChallenge, find_bearer
from .documents import (
    AuthorizationServer,
    ResourceMetadata,
    json_error,
    read_am_metadata,
    read_registration,
    read_resource_metadata,
    read_token,
)
from .errors import ChallengeError, MetadataError, RegistrationError
from .messages import HttpRequest, HttpResponse, Step, Wait
from .signing import (
    AUTH_METHOD_NAMES,
    FORM_CONTENT_TYPE,
    SignatureMethod,
    sign_token_request,
)
from .steps import challenge_detail, check_step, token_step
from .store import ClientCredentials, CredentialStore, PendingTicket, Token
from .urls import authorization_server_metadata_urls, is_http_url, same_origin

USER_AGENT = "protectserve-consumer_sdk/0.1"
#: Yields requests to perform (answered with their ``HttpResponse``) and ``Wait`` pauses (answered
#: with ``None``); returns the token.
Flow = Generator[HttpRequest | Wait, HttpResponse, Token]


def random_value(nbytes: int) -> str:
    """``nbytes`` random bytes, base64url without padding, drawn again when the value would begin
    with ``-`` (like every value the AM generates: log2(64/63) ≈ 0.023 bits fewer), so it is never
    mistaken for an option wherever it is printed or passed on. The SDK's one source of randomness."""
    while (value := secrets.token_urlsafe(nbytes)).startswith("-"):
        pass
    return value


def default_nonce() -> str:
    """128 random bits, base64url (RFC 9421 §2.3 ``nonce``, RFC 5849 §3.3 ``oauth_nonce``)."""
    return random_value(16)


@dataclass(frozen=True)
class FlowConfig:
    """What the consumer asks for and how; ``now``/``make_nonce`` are injectable for determinism.
    ``approval_timeout``: how long, in seconds of waiting, to poll a request put to the realm
    owner before raising ``AccessPending`` (0: do not wait)."""

    client_name: str = "protectserve consumer"
    scopes: tuple[str, ...] | None = None
    signature_method: SignatureMethod = "rfc9421"
    now: Callable[[], float] = time.time
    make_nonce: Callable[[], str] = default_nonce
    user_agent: str = USER_AGENT
    approval_timeout: float = 60.0


def handshake(
    *,
    method: str,
    url: str,
    response: HttpResponse,
    store: CredentialStore,
    config: FlowConfig = FlowConfig(),
    held_token: Token | None = None,
    on_step: Callable[[Step], None] | None = None,
) -> Flow:
    """Obtain a token for ``url`` after ``response`` (its 401, or 403 ``insufficient_scope``)."""
    emit = on_step or (lambda step: None)

    # 1. Challenge: Bearer realm="...", resource_metadata="..." (RFC 6750 §3, RFC 9728 §5.1)
    challenge = read_challenge(response)
    emit(Step("challenge", method, url, response.status, challenge_detail(challenge)))

    # 2. Realm metadata (RFC 9728 §3), checked against the URL requested (§3.3, §7.3)
    assert challenge.resource_metadata is not None
    if not same_origin(challenge.resource_metadata, url):
        raise MetadataError("resource_metadata is not on the origin of the requested URL")
    reply = yield get_request(challenge.resource_metadata, config)
    realm = check_step(emit, "resource_metadata", challenge.resource_metadata, reply, read_resource_metadata,
                       metadata_url=challenge.resource_metadata, requested_url=url)

    # 3. AM metadata (RFC 8414 §3), its issuer checked (RFC 8414 §3.3)
    am = yield from discover_am(realm.authorization_server, config, emit)

    # 4. Consumer key: stored for this AM, else registered (RFC 7591 §3)
    credentials = store.get_client(am.issuer)
    from_store = credentials is not None
    if credentials is None:
        credentials = yield from _register(am, config, store, emit)

    # 5. Access token, the request signed with cks (RFC 6749 §4.4; docs/protocol.md §5) — or,
    #    for a request put to the realm owner, its answer (UMA 2.0 Grant §3.3.6; ``approval``)
    scopes = requested_scopes(config, realm, challenge, held_token)
    kept = approval.resumable(store, realm=realm, am=am, credentials=credentials, scopes=scopes)
    if kept is not None:
        token = yield from _await(kept, am, realm, credentials, store, config, emit, resumed=True)
        if token is not None:
            return token
    requested_at = config.now()
    reply = yield _token_request(am, realm, credentials, scopes, config)
    if from_store and reply.status == 401 and json_error(reply)[0] == "invalid_client":
        # The AM may have purged the stored key: register again, once, and retry once.
        token_step(emit, am, credentials, scopes, config.signature_method, reply)
        credentials = yield from _register(am, config, store, emit)
        requested_at = config.now()
        reply = yield _token_request(am, realm, credentials, scopes, config)
    token_step(emit, am, credentials, scopes, config.signature_method, reply)
    pending = approval.remember(store, reply, realm=realm, am=am, credentials=credentials, scopes=scopes)
    if pending is not None:
        token = yield from _await(pending, am, realm, credentials, store, config, emit, resumed=False)
        assert token is not None
        return token
    token = read_token(reply, scopes=scopes, requested_at=requested_at, realm=realm, issuer=am.issuer)
    store.put_token(token)
    return token


def _await(pending: PendingTicket, am: AuthorizationServer, realm: ResourceMetadata, credentials: ClientCredentials,
           store: CredentialStore, config: FlowConfig, emit: Callable[[Step], None], *, resumed: bool
           ) -> approval.Polling:
    return approval.await_decision(
        pending, sign=lambda form: _signed_request(am, credentials, form, config), realm=realm, am=am, store=store,
        timeout=config.approval_timeout, now=config.now, emit=emit, resumed=resumed)


def read_challenge(response: HttpResponse) -> BearerChallenge:
    """The Bearer challenge of a 401/403 that carries ``resource_metadata``, else ``ChallengeError``."""
    if response.status not in (401, 403):
        raise ChallengeError(f"expected a 401 or 403 challenge, got HTTP {response.status}", status=response.status)
    challenge = find_bearer(response.headers.get("WWW-Authenticate"))
    if challenge is None:
        raise ChallengeError("no Bearer challenge in WWW-Authenticate", status=response.status)
    if response.status == 403 and challenge.error != "insufficient_scope":
        raise ChallengeError("403 without insufficient_scope", error=challenge.error, status=403)
    if not is_http_url(challenge.resource_metadata):
        raise ChallengeError("Bearer challenge lacks an absolute resource_metadata URL", error=challenge.error)
    return challenge


def requested_scopes(
    config: FlowConfig, realm: ResourceMetadata, challenge: BearerChallenge, held_token: Token | None
) -> tuple[str, ...]:
    """Configured scopes, else the realm's ``scopes_supported``; for ``insufficient_scope`` (RFC 6750 §3.1)
    the union of the held token's scopes and the challenge's ``scope``."""
    if challenge.error == "insufficient_scope":
        held = held_token.scope if held_token is not None else frozenset(config.scopes or ())
        return tuple(sorted(held | challenge.scope))
    if config.scopes is not None:
        return tuple(config.scopes)
    return realm.scopes_supported


# --- requests -----------------------------------------------------------------------------------


def get_request(url: str, config: FlowConfig) -> HttpRequest:
    return HttpRequest("GET", url, {"Accept": "application/json", "User-Agent": config.user_agent})


def _token_request(
    am: AuthorizationServer,
    realm: ResourceMetadata,
    credentials: ClientCredentials,
    scopes: tuple[str, ...],
    config: FlowConfig,
) -> HttpRequest:
    """The client-credentials request: the realm named by ``sph`` and, beside it, by the RFC 8707
    §2 ``resource`` indicator (the metadata's ``resource``, RFC 9728 §2, already checked against
    the URL requested), both inside the signed form. An AM that predates resource indicators
    ignores the extra parameter (RFC 6749 §3.2: "MUST ignore unrecognized request parameters")."""
    form = [("grant_type", "client_credentials"), ("sph", realm.sph), ("resource", realm.resource),
            ("scope", " ".join(scopes))]
    return _signed_request(am, credentials, form, config)


def _signed_request(am: AuthorizationServer, credentials: ClientCredentials, form: list[tuple[str, str]],
                    config: FlowConfig) -> HttpRequest:
    """A token-endpoint request with ``form``, signed with cks (docs/protocol.md §5)."""
    body = urlencode(form, quote_via=quote).encode("ascii")  # spaces as %20, unambiguous for every parser
    headers = {"Content-Type": FORM_CONTENT_TYPE, "Accept": "application/json", "User-Agent": config.user_agent}
    signed = sign_token_request(
        config.signature_method,
        method="POST",
        url=am.token_endpoint,
        headers=headers,
        body=body,
        client_id=credentials.client_id,
        client_secret=credentials.client_secret,
        created=int(config.now()),
        nonce=config.make_nonce(),
    )
    return HttpRequest("POST", am.token_endpoint, signed, body)


def discover_am(issuer: str, config: FlowConfig, emit: Callable[[Step], None],
                grant_type: str = "client_credentials") -> Generator[HttpRequest, HttpResponse, AuthorizationServer]:
    """RFC 8414 §3 metadata of ``issuer`` (issuer checked, §3.3), for ``grant_type``."""
    auth_method = AUTH_METHOD_NAMES[config.signature_method] if grant_type == "client_credentials" else None
    candidates = authorization_server_metadata_urls(issuer)
    for index, metadata_url in enumerate(candidates):
        reply = yield get_request(metadata_url, config)
        if reply.status == 404 and index + 1 < len(candidates):
            emit(Step("am_metadata", "GET", metadata_url, 404, {"issuer": issuer}))
            continue
        return check_step(emit, "am_metadata", metadata_url, reply, read_am_metadata,
                          issuer=issuer, auth_method=auth_method, grant_type=grant_type)
    raise AssertionError("unreachable")


def _register(
    am: AuthorizationServer, config: FlowConfig, store: CredentialStore, emit: Callable[[Step], None]
) -> Generator[HttpRequest, HttpResponse, ClientCredentials]:
    if am.registration_endpoint is None:
        raise RegistrationError("the AM publishes no registration_endpoint")
    body = json.dumps({"client_name": config.client_name}).encode("utf-8")
    headers = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": config.user_agent}
    reply = yield HttpRequest("POST", am.registration_endpoint, headers, body)
    credentials = check_step(emit, "register", am.registration_endpoint, reply, read_registration,
                             issuer=am.issuer, method="POST")
    store.put_client(credentials)
    return credentials
