"""A native application's login (RFC 8252) as a pure generator, like ``flow.handshake``.

``authorization_code_login()`` performs no I/O: it yields ``HttpRequest`` values (answered with
their ``HttpResponse``) and one ``OpenBrowser`` (answered with the redirect URL the loopback
receiver got), and returns the ``Token`` it stored. Read top to bottom:

1. GET the resource: its 401 Bearer challenge names the resource metadata (RFC 6750 §3, RFC 9728 §5.1);
2. the resource metadata (RFC 9728 §3, checked per §3.3 and §7.3) and the AM's metadata (RFC 8414 §3,
   issuer checked per §3.3), which must offer ``authorization_code`` and PKCE ``S256``;
3. the client: a client ID metadata document URL when given (draft-ietf-oauth-client-id-metadata-document),
   else the public client stored for this AM, else one registered (RFC 7591 §3, ``none``; RFC 8252 §8.4);
4. the authorization request (RFC 6749 §4.1.1) with ``state`` (§10.12), PKCE S256 (RFC 7636 §4.1-4.3),
   ``resource`` (RFC 8707 §2) and the loopback ``redirect_uri`` (RFC 8252 §7.3);
5. the authorization response (RFC 6749 §4.1.2): ``state`` must match, ``iss`` must be the AM's issuer
   (RFC 9207 §2.4; required when the metadata says ``authorization_response_iss_parameter_supported``);
   an error (§4.1.2.1) raises ``AuthorizationError``;
6. the code exchanged with ``code_verifier`` (RFC 6749 §4.1.3, RFC 7636 §4.5), the tokens stored.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, urlencode, urlsplit, urlunsplit

from .documents import (
    AuthorizationServer,
    _json_object,
    json_error,
    read_resource_metadata,
    read_token_for,
)
from .errors import (
    AuthorizationError,
    MetadataError,
    RedirectRejected,
    RegistrationError,
)
from .flow import (
    USER_AGENT,
    FlowConfig,
    default_nonce,
    discover_am,
    get_request,
    random_value,
    read_challenge,
)
from .messages import HttpRequest, HttpResponse, Step
from .signing import FORM_CONTENT_TYPE
from .steps import challenge_detail, check_step
from .store import LoginStore, Token
from .urls import is_http_url, same_origin

#: RFC 8252 §7.3: registered without a port; the AM accepts any port on the loopback address.
REGISTERED_REDIRECT_URI = "http://127.0.0.1/callback"


def default_verifier() -> str:
    """An RFC 7636 §4.1 ``code_verifier``: 32 random bytes (256 bits), base64url = 43 characters,
    all of them unreserved (``[A-Za-z0-9-._~]``)."""
    return random_value(32)


def s256(verifier: str) -> str:
    """RFC 7636 §4.2: ``code_challenge = BASE64URL(SHA256(ASCII(code_verifier)))``."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class LoginConfig:
    """What the login asks for. ``client_id``: a client ID metadata document URL to use instead
    of registering. ``make_state``/``make_verifier``/``now`` are injectable for determinism."""

    client_name: str = "protectserve consumer"
    scopes: tuple[str, ...] | None = None
    client_id: str | None = None
    now: Callable[[], float] = time.time
    make_state: Callable[[], str] = default_nonce
    make_verifier: Callable[[], str] = default_verifier
    user_agent: str = USER_AGENT


@dataclass(frozen=True)
class OpenBrowser:
    """The step that needs the person: open ``url`` in their browser; answer with the full URL
    the loopback receiver was redirected to (``redirect_uri?code=…&state=…&iss=…``)."""

    url: str


Login = Generator[HttpRequest | OpenBrowser, HttpResponse | str, Token]


def authorization_code_login(
    *, url: str, redirect_uri: str, store: LoginStore, config: LoginConfig = LoginConfig(),
    on_step: Callable[[Step], None] | None = None,
) -> Login:
    """Log in for the protected resource at ``url``; store and return its token."""
    emit = on_step or (lambda step: None)
    flow_config = FlowConfig(client_name=config.client_name, now=config.now, user_agent=config.user_agent)

    # 1. The resource's challenge (RFC 6750 §3, RFC 9728 §5.1)
    first = yield get_request(url, flow_config)
    assert isinstance(first, HttpResponse)
    challenge = read_challenge(first)
    emit(Step("challenge", "GET", url, first.status, challenge_detail(challenge)))
    assert challenge.resource_metadata is not None
    if not same_origin(challenge.resource_metadata, url):
        raise MetadataError("resource_metadata is not on the origin of the requested URL")

    # 2. Resource metadata (RFC 9728 §3) and AM metadata (RFC 8414 §3) for the code grant
    reply = yield get_request(challenge.resource_metadata, flow_config)
    realm = check_step(emit, "resource_metadata", challenge.resource_metadata, reply, read_resource_metadata,
                       metadata_url=challenge.resource_metadata, requested_url=url)
    am = yield from discover_am(realm.authorization_server, flow_config, emit, grant_type="authorization_code")
    if "S256" not in am.code_challenge_methods:  # RFC 8414 §2; OAuth 2.1 §7.5.2
        raise MetadataError("the AM does not advertise PKCE S256 (code_challenge_methods_supported)")

    # 3. The client (CIMD URL, stored, or registered as a public client)
    client_id = yield from _client_id(am, store, config, emit)

    # 4. The authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3, RFC 8707 §2)
    scopes = config.scopes if config.scopes is not None else (
        tuple(sorted(challenge.scope)) if challenge.scope else realm.scopes_supported)
    state, verifier = config.make_state(), config.make_verifier()
    if not 43 <= len(verifier) <= 128:
        raise ValueError("code_verifier must be 43-128 characters (RFC 7636 §4.1)")
    assert am.authorization_endpoint is not None
    params = [("response_type", "code"), ("client_id", client_id), ("redirect_uri", redirect_uri),
              ("state", state), ("code_challenge", s256(verifier)), ("code_challenge_method", "S256"),
              ("resource", realm.resource)]
    if scopes:
        params.append(("scope", " ".join(scopes)))
    authorize_url = _with_query(am.authorization_endpoint, params)
    emit(Step("authorize", "GET", am.authorization_endpoint, 0,
              {"client_id": client_id, "scope": " ".join(scopes), "resource": realm.resource}))

    # 5. The person, then the authorization response (RFC 6749 §4.1.2, RFC 9207 §2.4)
    redirected = yield OpenBrowser(authorize_url)
    assert isinstance(redirected, str)
    code = read_authorization_response(redirected, state=state, am=am)
    emit(Step("redirect", "GET", redirect_uri, 0, {"iss": am.issuer}))

    # 6. The token request (RFC 6749 §4.1.3, RFC 7636 §4.5)
    form = [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirect_uri),
            ("code_verifier", verifier), ("client_id", client_id)]
    requested_at = config.now()
    reply = yield form_request(am.token_endpoint, form, config.user_agent)
    assert isinstance(reply, HttpResponse)
    token = _token_step(emit, am.token_endpoint, reply, scopes=scopes, requested_at=requested_at,
                        realm=realm.realm, resource=realm.resource, issuer=am.issuer, client_id=client_id)
    store.put_token(token)
    return token


def read_authorization_response(redirected: str, *, state: str, am: AuthorizationServer) -> str:
    """The ``code`` of the redirect, after ``state`` (RFC 6749 §10.12) and ``iss`` (RFC 9207 §2.4);
    an RFC 6749 §4.1.2.1 error becomes ``AuthorizationError``."""
    query = parse_qs(urlsplit(redirected).query, keep_blank_values=True)
    if any(len(values) > 1 for values in query.values()):  # RFC 6749 §3.1: no repeated parameters
        raise RedirectRejected("the redirect repeats a parameter", error="invalid_request")
    params = {name: values[0] for name, values in query.items()}
    if params.get("state") != state:
        raise RedirectRejected("the redirect's state does not match this login (RFC 6749 §10.12)",
                               error="state_mismatch")
    if "iss" in params or am.iss_parameter_supported:
        if params.get("iss") != am.issuer:  # simple string comparison, RFC 9207 §2.4
            raise RedirectRejected("the redirect's iss is not the AM's issuer (RFC 9207 §2.4)", error="iss_mismatch")
    if "error" in params:
        raise AuthorizationError(params["error"], params.get("error_description"))
    code = params.get("code")
    if not code:
        raise RedirectRejected("the redirect carries neither code nor error", error="invalid_request")
    return code


def refresh(token: Token, *, now: Callable[[], float] = time.time, user_agent: str = USER_AGENT,
            on_step: Callable[[Step], None] | None = None) -> Generator[HttpRequest, HttpResponse, Token]:
    """RFC 6749 §6 refresh of a login's token, with ``client_id`` (a public client, §3.2.1). The AM
    rotates the refresh token (RFC 9700 §4.14.2); when it sends none, the old one is kept (§5.1).
    Raises ``TokenRequestError`` (``invalid_grant`` when refused) — the caller turns that into
    ``LoginRequired``."""
    assert token.refresh_token is not None and token.client_id is not None and token.token_endpoint is not None
    form = [("grant_type", "refresh_token"), ("refresh_token", token.refresh_token), ("client_id", token.client_id)]
    requested_at = now()
    reply = yield form_request(token.token_endpoint, form, user_agent)
    return _token_step(on_step or (lambda step: None), token.token_endpoint, reply, scopes=sorted(token.scope),
                       requested_at=requested_at, realm=token.realm, resource=token.resource,
                       issuer=token.issuer, client_id=token.client_id, keep_refresh=token.refresh_token,
                       name="refresh")


def form_request(endpoint: str, form: list[tuple[str, str]], user_agent: str) -> HttpRequest:
    body = urlencode(form, quote_via=quote).encode("ascii")
    headers = {"Content-Type": FORM_CONTENT_TYPE, "Accept": "application/json", "User-Agent": user_agent}
    return HttpRequest("POST", endpoint, headers, body)


def _token_step(emit: Callable[[Step], None], endpoint: str, reply: HttpResponse, *, scopes: object,
                requested_at: float, realm: str | None, resource: str, issuer: str, client_id: str,
                keep_refresh: str | None = None, name: str = "token") -> Token:
    detail: dict[str, object] = {"client_id": client_id}
    try:
        token = read_token_for(reply, scopes=scopes, requested_at=requested_at,  # type: ignore[arg-type]
                               realm=realm, resource=resource, issuer=issuer)
    except Exception:
        detail["error"] = json_error(reply)[0]
        emit(Step(name, "POST", endpoint, reply.status, detail))
        raise
    refresh_token = json.loads(reply.body).get("refresh_token")
    if not isinstance(refresh_token, str) or not refresh_token:
        refresh_token = keep_refresh
    emit(Step(name, "POST", endpoint, reply.status,
              {**detail, "granted_scope": " ".join(sorted(token.scope)), "refresh_token": refresh_token is not None}))
    return Token(access_token=token.access_token, token_type=token.token_type, expires_at=token.expires_at,
                 scope=token.scope, realm=token.realm, resource=token.resource, issuer=token.issuer,
                 refresh_token=refresh_token, client_id=client_id, token_endpoint=endpoint)


def _client_id(am: AuthorizationServer, store: LoginStore, config: LoginConfig, emit: Callable[[Step], None]
               ) -> Generator[HttpRequest, HttpResponse, str]:
    if config.client_id is not None:  # a client ID metadata document URL
        if not is_http_url(config.client_id):
            raise ValueError("a client ID metadata document URL must be an absolute http(s) URL")
        if not am.client_id_metadata_document_supported:
            raise MetadataError("the AM does not accept client ID metadata documents")
        return config.client_id
    stored = store.get_public_client(am.issuer)
    if stored is not None:
        return stored
    if am.registration_endpoint is None:
        raise RegistrationError("the AM publishes no registration_endpoint; give a client ID URL")
    body = json.dumps({"client_name": config.client_name, "redirect_uris": [REGISTERED_REDIRECT_URI],
                       "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
                       "token_endpoint_auth_method": "none"}).encode("utf-8")
    headers = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": config.user_agent}
    reply = yield HttpRequest("POST", am.registration_endpoint, headers, body)
    client_id = check_step(emit, "register", am.registration_endpoint, reply, read_public_registration,
                           method="POST")
    store.put_public_client(am.issuer, client_id)
    return client_id


def read_public_registration(reply: HttpResponse) -> str:
    """RFC 7591 §3.2.1 response registering a public client (``token_endpoint_auth_method`` ``none``)."""
    if reply.status != 201:
        error, description = json_error(reply)
        raise RegistrationError(f"registration failed: {error or f'HTTP {reply.status}'}",
                                error=error, description=description, status=reply.status)
    doc = _json_object(reply, RegistrationError("registration response is not a JSON object", status=201))
    client_id = doc.get("client_id")
    if not isinstance(client_id, str) or not client_id:
        raise RegistrationError("registration response lacks client_id", status=201)
    if doc.get("token_endpoint_auth_method", "none") != "none":
        raise RegistrationError("the AM did not register a public client (token_endpoint_auth_method)", status=201)
    return client_id


def _with_query(endpoint: str, params: list[tuple[str, str]]) -> str:
    """RFC 6749 §3.1: the endpoint's own query is retained, the parameters appended."""
    split = urlsplit(endpoint)
    query = "&".join(q for q in (split.query, urlencode(params, quote_via=quote)) if q)
    return urlunsplit((split.scheme, split.netloc, split.path, query, ""))
