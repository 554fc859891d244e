"""The pure handshake generator (consumer_sdk.flow), driven by hand with constructed responses."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from urllib.parse import parse_qs

import pytest
from http_message_signatures import HTTPMessageVerifier, MappingKeyResolver, algorithms

from consumer_sdk.challenge import find_bearer, parse_www_authenticate
from consumer_sdk.errors import (
    AccessDenied,
    ChallengeError,
    MetadataError,
    RegistrationError,
    TokenRequestError,
)
from consumer_sdk.flow import USER_AGENT, FlowConfig, handshake
from consumer_sdk.messages import Headers, HttpRequest, HttpResponse, Step
from consumer_sdk.store import ClientCredentials, MemoryStore, Token
from consumer_sdk.urls import is_under, metadata_matches_resource, resource_metadata_url

NOW = 1_700_000_000.0
URL = "http://sp.example/photos/1"
RESOURCE = "http://sp.example/"
META = "http://sp.example/.well-known/oauth-protected-resource"
ISSUER = "http://am.example"
AM_META = "http://am.example/.well-known/oauth-authorization-server"
TOKEN_ENDPOINT = "http://am.example/token"
REGISTER = "http://am.example/register"


def nonces():
    counter = iter(range(1, 1000))
    return lambda: f"nonce-{next(counter)}"


def config(**overrides) -> FlowConfig:
    base = dict(client_name="printer", now=lambda: NOW, make_nonce=nonces())
    return FlowConfig(**{**base, **overrides})


def reply(status: int, doc: object = None, headers: dict[str, str] | None = None) -> HttpResponse:
    body = b"" if doc is None else json.dumps(doc).encode()
    return HttpResponse(status, Headers(headers or {}), body)


def challenge(value: str | None = None, status: int = 401) -> HttpResponse:
    if value is None:
        value = f'Bearer realm="photos", resource_metadata="{META}"'
    return HttpResponse(status, Headers({"WWW-Authenticate": value}))


def resource_doc(**overrides) -> dict:
    doc = {
        "resource": RESOURCE,
        "authorization_servers": [ISSUER],
        "scopes_supported": ["photos:read", "photos:write"],
        "bearer_methods_supported": ["header"],
        "resource_name": "Photos",
        "realm": "photos",
        "sph": "sph-1",
    }
    doc.update(overrides)
    return {k: v for k, v in doc.items() if v is not None}


def am_doc(**overrides) -> dict:
    doc = {
        "issuer": ISSUER,
        "token_endpoint": TOKEN_ENDPOINT,
        "registration_endpoint": REGISTER,
        "jwks_uri": f"{ISSUER}/jwks.json",
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["http_message_signature_hmac_sha256", "oauth1_hmac_sha256"],
    }
    doc.update(overrides)
    return doc


REGISTERED = {"client_id": "ck1", "client_secret": "cks-secret-1", "client_id_issued_at": 1, "client_secret_expires_at": 0}
ISSUED = {"access_token": "jwt-1", "token_type": "Bearer", "expires_in": 900, "scope": "photos:read photos:write"}


class Run:
    """Holds one generator and what it reported."""

    def __init__(self, store=None, *, cfg: FlowConfig | None = None, response=None, url=URL, held=None):
        self.store = store if store is not None else MemoryStore()
        self.steps: list[Step] = []
        self.gen = handshake(method="GET", url=url, response=response or challenge(), store=self.store,
                             config=cfg or config(), held_token=held, on_step=self.steps.append)

    def start(self) -> HttpRequest:
        return next(self.gen)

    def send(self, response: HttpResponse) -> HttpRequest:
        return self.gen.send(response)

    def finish(self, response: HttpResponse) -> Token:
        with pytest.raises(StopIteration) as stop:
            self.gen.send(response)
        return stop.value.value

    def to_token_request(self) -> HttpRequest:
        self.start()
        self.send(reply(200, resource_doc()))
        return self.send(reply(200, am_doc()))


def verify_rfc9421(request: HttpRequest, key: bytes) -> None:
    verifier = HTTPMessageVerifier(signature_algorithm=algorithms.HMAC_SHA256,
                                   key_resolver=MappingKeyResolver(public_keys={"ck1": key}, private_keys={}))
    verifier.verify(request, max_age=None, body=request.body,
                    require_components=("@method", "@target-uri", "content-digest"))


def test_full_walk_yields_each_protocol_request_in_order():
    run = Run()
    metadata = run.start()
    assert (metadata.method, metadata.url, metadata.body) == ("GET", META, b"")
    assert metadata.headers == {"Accept": "application/json", "User-Agent": USER_AGENT}

    am_metadata = run.send(reply(200, resource_doc()))
    assert (am_metadata.method, am_metadata.url) == ("GET", AM_META)

    register = run.send(reply(200, am_doc()))
    assert (register.method, register.url) == ("POST", REGISTER)
    assert register.headers["Content-Type"] == "application/json"
    assert json.loads(register.body) == {"client_name": "printer"}

    token_request = run.send(reply(201, REGISTERED))
    assert (token_request.method, token_request.url) == ("POST", TOKEN_ENDPOINT)
    assert token_request.body == (b"grant_type=client_credentials&sph=sph-1&resource=http%3A%2F%2Fsp.example%2F"
                                  b"&scope=photos%3Aread%20photos%3Awrite")
    assert parse_qs(token_request.body.decode()) == {  # RFC 8707 resource beside sph, inside the signed form
        "grant_type": ["client_credentials"], "sph": ["sph-1"], "resource": [RESOURCE],
        "scope": ["photos:read photos:write"]}
    headers = token_request.headers
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert headers["User-Agent"] == USER_AGENT
    digest = base64.b64encode(hashlib.sha256(token_request.body).digest()).decode()
    assert headers["Content-Digest"] == f"sha-256=:{digest}:"
    assert headers["Signature-Input"].startswith('sig1=("@method" "@target-uri" "content-digest");')
    for param in ("created=1700000000", 'keyid="ck1"', 'nonce="nonce-1"', 'alg="hmac-sha256"'):
        assert param in headers["Signature-Input"]
    assert "Authorization" not in headers
    verify_rfc9421(token_request, b"cks-secret-1")

    token = run.finish(reply(200, ISSUED, {"Cache-Control": "no-store"}))
    assert token == Token("jwt-1", "Bearer", NOW + 900, frozenset({"photos:read", "photos:write"}),
                          "photos", RESOURCE, ISSUER)
    assert run.store.get_client(ISSUER) == ClientCredentials("ck1", "cks-secret-1", ISSUER)
    assert run.store.get_token(RESOURCE) == token
    assert [(s.name, s.status) for s in run.steps] == [
        ("challenge", 401), ("resource_metadata", 200), ("am_metadata", 200), ("register", 201), ("token", 200)]
    assert run.steps[0].detail == {"realm": "photos", "resource_metadata": META}
    assert run.steps[3].detail == {"client_id": "ck1"}
    trace = repr(run.steps)
    assert "cks-secret-1" not in trace and "jwt-1" not in trace


def test_stored_consumer_key_skips_registration():
    store = MemoryStore()
    store.put_client(ClientCredentials("ck1", "cks-secret-1", ISSUER))
    run = Run(store)
    token_request = run.to_token_request()
    assert token_request.url == TOKEN_ENDPOINT
    assert 'keyid="ck1"' in token_request.headers["Signature-Input"]
    assert run.finish(reply(200, ISSUED)).access_token == "jwt-1"
    assert "register" not in [s.name for s in run.steps]


def test_rfc5849_signs_with_an_oauth_authorization_header():
    store = MemoryStore()
    store.put_client(ClientCredentials("ck1", "cks-secret-1", ISSUER))
    run = Run(store, cfg=config(signature_method="rfc5849"))
    headers = run.to_token_request().headers
    auth = headers["Authorization"]
    assert auth.startswith("OAuth ")
    for param in ('oauth_consumer_key="ck1"', 'oauth_signature_method="HMAC-SHA256"', 'oauth_nonce="nonce-1"',
                  'oauth_timestamp="1700000000"', 'oauth_version="1.0"', "oauth_signature="):
        assert param in auth
    assert "Signature-Input" not in headers and "Content-Digest" not in headers


def test_configured_scopes_replace_scopes_supported():
    store = MemoryStore()
    store.put_client(ClientCredentials("ck1", "cks-secret-1", ISSUER))
    run = Run(store, cfg=config(scopes=("photos:read",)))
    body = parse_qs(run.to_token_request().body.decode())
    assert body["scope"] == ["photos:read"]
    token = run.finish(reply(200, {**ISSUED, "scope": "photos:read"}))
    assert token.scope == {"photos:read"}


def test_insufficient_scope_requests_union_of_held_and_challenged_scopes():
    store = MemoryStore()
    store.put_client(ClientCredentials("ck1", "cks-secret-1", ISSUER))
    held = Token("old", "Bearer", NOW + 600, frozenset({"photos:read"}), "photos", RESOURCE, ISSUER)
    forbidden = challenge(f'Bearer realm="photos", resource_metadata="{META}", error="insufficient_scope", '
                          'scope="photos:write"', status=403)
    run = Run(store, response=forbidden, held=held)
    assert parse_qs(run.to_token_request().body.decode())["scope"] == ["photos:read photos:write"]
    assert run.steps[0].detail["error"] == "insufficient_scope"


def test_token_without_scope_field_gets_the_requested_scopes():
    store = MemoryStore()
    store.put_client(ClientCredentials("ck1", "cks-secret-1", ISSUER))
    run = Run(store)
    run.to_token_request()
    token = run.finish(reply(200, {"access_token": "t", "token_type": "bearer", "expires_in": 60}))
    assert token.scope == {"photos:read", "photos:write"} and token.token_type == "Bearer"


@pytest.mark.parametrize(
    "header",
    [
        None,
        'Basic realm="x"',
        'Bearer realm="photos"',  # no resource_metadata
        'Bearer realm="photos", resource_metadata="/.well-known/oauth-protected-resource"',  # not absolute
        'Bearer realm="unterminated, resource_metadata="http://sp.example/x',
        'Bearer realm="a", realm="b", resource_metadata="http://sp.example/.well-known/oauth-protected-resource"',
    ],
)
def test_bad_challenge_is_refused_before_any_request(header):
    response = HttpResponse(401, Headers({} if header is None else {"WWW-Authenticate": header}))
    with pytest.raises(ChallengeError):
        Run(response=response).start()


@pytest.mark.parametrize("status", [200, 400, 403])
def test_only_401_and_403_insufficient_scope_start_a_handshake(status):
    with pytest.raises(ChallengeError) as info:
        Run(response=challenge(status=status)).start()
    assert info.value.status == status


def test_metadata_on_another_origin_is_refused_without_fetching_it():
    response = challenge('Bearer realm="x", resource_metadata="http://evil.example/.well-known/oauth-protected-resource"')
    with pytest.raises(MetadataError):
        Run(response=response).start()


@pytest.mark.parametrize(
    "doc",
    [
        resource_doc(resource="http://other.example/"),  # metadata names another origin's resource
        resource_doc(resource="https://sp.example/"),  # scheme differs
        resource_doc(resource="http://sp.example/photos"),  # its metadata would live at …/oauth-protected-resource/photos
        resource_doc(resource=None),
        resource_doc(authorization_servers=[]),
        resource_doc(sph=None),
        resource_doc(bearer_methods_supported=["body"]),
        ["not", "an", "object"],
    ],
)
def test_resource_metadata_refusals(doc):
    run = Run()
    run.start()
    with pytest.raises(MetadataError):
        run.send(reply(200, doc))
    assert run.steps[-1].name == "resource_metadata" and "error" in run.steps[-1].detail


@pytest.mark.parametrize(
    ("url", "resource"),
    [("http://sp.example/photos/1", "http://sp.example/albums"), ("http://sp.example/photos/1", "http://sp.example/photo")],
)
def test_requested_url_must_lie_under_the_resource(url, resource):
    metadata_url = resource_metadata_url(resource)
    run = Run(url=url, response=challenge(f'Bearer realm="p", resource_metadata="{metadata_url}"'))
    assert run.start().url == metadata_url
    with pytest.raises(MetadataError, match="under"):
        run.send(reply(200, resource_doc(resource=resource)))


def test_resource_metadata_http_error_is_refused():
    run = Run()
    run.start()
    with pytest.raises(MetadataError) as info:
        run.send(reply(404))
    assert info.value.status == 404


@pytest.mark.parametrize(
    "doc",
    [
        am_doc(issuer="http://evil.example"),
        am_doc(issuer="http://am.example/"),  # RFC 8414 §3.3: identical, not "equivalent"
        am_doc(token_endpoint=None),
        am_doc(token_endpoint_auth_methods_supported=["client_secret_basic"]),
        am_doc(grant_types_supported=["authorization_code"]),
    ],
)
def test_am_metadata_refusals(doc):
    run = Run()
    run.start()
    run.send(reply(200, resource_doc()))
    with pytest.raises(MetadataError):
        run.send(reply(200, doc))


def test_issuer_with_path_falls_back_to_rfc8414_inserted_well_known():
    issuer = "http://am.example/tenant"
    run = Run()
    run.start()
    first = run.send(reply(200, resource_doc(authorization_servers=[issuer])))
    assert first.url == "http://am.example/tenant/.well-known/oauth-authorization-server"
    second = run.send(reply(404))
    assert second.url == "http://am.example/.well-known/oauth-authorization-server/tenant"
    assert run.send(reply(200, am_doc(issuer=issuer))).url == REGISTER


def test_registration_error_carries_the_oauth_error_code():
    run = Run()
    run.to_token_request()  # the register request
    with pytest.raises(RegistrationError) as info:
        run.send(reply(400, {"error": "invalid_client_metadata", "error_description": "bad client_name"}))
    assert (info.value.error, info.value.status, info.value.description) == (
        "invalid_client_metadata", 400, "bad client_name")
    assert run.store.get_client(ISSUER) is None


@pytest.mark.parametrize(
    ("status", "doc", "kind", "error"),
    [
        (400, {"error": "invalid_scope", "error_description": "no such scope"}, TokenRequestError, "invalid_scope"),
        (400, {"error": "invalid_request"}, TokenRequestError, "invalid_request"),
        (403, {"error": "request_denied"}, AccessDenied, "request_denied"),
        (503, {"error": "temporarily_unavailable"}, TokenRequestError, "temporarily_unavailable"),
        (200, {"access_token": "t", "token_type": "mac", "expires_in": 60}, TokenRequestError, "invalid_response"),
        (200, {"access_token": "t", "token_type": "Bearer"}, TokenRequestError, "invalid_response"),
    ],
)
def test_token_errors_are_typed(status, doc, kind, error):
    store = MemoryStore()
    store.put_client(ClientCredentials("ck1", "cks-secret-1", ISSUER))
    run = Run(store)
    run.to_token_request()
    with pytest.raises(kind) as info:
        run.send(reply(status, doc))
    assert type(info.value) is kind
    assert (info.value.error, info.value.status) == (error, status)
    assert store.get_token(RESOURCE) is None


def test_stored_key_rejected_as_invalid_client_is_replaced_once():
    store = MemoryStore()
    store.put_client(ClientCredentials("ck-old", "cks-old", ISSUER))
    run = Run(store)
    first = run.to_token_request()
    assert 'keyid="ck-old"' in first.headers["Signature-Input"]
    register = run.send(reply(401, {"error": "invalid_client"}))
    assert (register.method, register.url) == ("POST", REGISTER)
    retry = run.send(reply(201, REGISTERED))
    assert retry.url == TOKEN_ENDPOINT
    assert 'keyid="ck1"' in retry.headers["Signature-Input"] and 'nonce="nonce-2"' in retry.headers["Signature-Input"]
    verify_rfc9421(retry, b"cks-secret-1")
    assert run.finish(reply(200, ISSUED)).access_token == "jwt-1"
    assert store.get_client(ISSUER).client_id == "ck1"
    assert [(s.name, s.status) for s in run.steps][-3:] == [("token", 401), ("register", 201), ("token", 200)]


def test_reregistration_happens_at_most_once():
    store = MemoryStore()
    store.put_client(ClientCredentials("ck-old", "cks-old", ISSUER))
    run = Run(store)
    run.to_token_request()
    run.send(reply(401, {"error": "invalid_client"}))
    run.send(reply(201, REGISTERED))
    with pytest.raises(TokenRequestError) as info:
        run.send(reply(401, {"error": "invalid_client"}))
    assert (info.value.error, info.value.status) == ("invalid_client", 401)
    assert [s.name for s in run.steps].count("register") == 1


def test_freshly_registered_key_rejected_is_not_registered_again():
    run = Run()
    run.to_token_request()
    run.send(reply(201, REGISTERED))
    with pytest.raises(TokenRequestError) as info:
        run.send(reply(401, {"error": "invalid_client"}))
    assert info.value.error == "invalid_client"


# --- the pieces the flow reads with ----------------------------------------------------------------


def test_www_authenticate_parser_handles_quoted_strings_and_several_challenges():
    value = ('Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple", '
             'Negotiate abc+/def==, BEARER Realm="a, b \\\\ c", Error=invalid_token,, scope="x y"')
    challenges = parse_www_authenticate(value)
    assert [c.scheme for c in challenges] == ["newauth", "basic", "negotiate", "bearer"]
    assert challenges[0].params == {"realm": "apps", "type": "1", "title": 'Login to "apps"'}
    assert challenges[2].token68 == "abc+/def=="
    assert challenges[3].params == {"realm": "a, b \\ c", "error": "invalid_token", "scope": "x y"}
    bearer = find_bearer(value)
    assert bearer is not None and bearer.scope == {"x", "y"} and bearer.resource_metadata is None


@pytest.mark.parametrize(
    "value",
    ['Bearer realm="x', 'Bearer realm=@', 'Bearer realm="x" error="y"', '"Bearer"', 'Bearer realm="\x01"',
     'Bearer a=1, A=2'],
)
def test_www_authenticate_parser_rejects_malformed_fields(value):
    with pytest.raises(ChallengeError):
        parse_www_authenticate(value)


def test_empty_and_bare_challenges():
    assert parse_www_authenticate("") == []
    assert [c.scheme for c in parse_www_authenticate(" , Bearer,Basic")] == ["bearer", "basic"]
    assert find_bearer('Basic realm="x"') is None


@pytest.mark.parametrize(
    ("resource", "metadata_url"),
    [
        ("http://h:1/", "http://h:1/.well-known/oauth-protected-resource"),
        ("http://h:1", "http://h:1/.well-known/oauth-protected-resource"),
        ("https://h/api", "https://h/.well-known/oauth-protected-resource/api"),
        ("https://h/api/", "https://h/.well-known/oauth-protected-resource/api/"),
    ],
)
def test_rfc9728_metadata_url_derivation(resource, metadata_url):
    assert resource_metadata_url(resource) == metadata_url
    assert metadata_matches_resource(metadata_url, resource)
    assert metadata_matches_resource(metadata_url.replace("://h", "://H", 1), resource)


def test_rfc9728_derivation_mismatches():
    assert not metadata_matches_resource("http://h/.well-known/oauth-protected-resource", "http://h/api")
    assert not metadata_matches_resource("http://h/.well-known/oauth-protected-resource/api", "http://h/")
    assert not metadata_matches_resource("http://h:1/.well-known/oauth-protected-resource", "http://h:2/")
    assert metadata_matches_resource("https://h:443/.well-known/oauth-protected-resource", "https://h/")


@pytest.mark.parametrize(
    ("url", "resource", "expected"),
    [
        ("http://h/a/b", "http://h/", True),
        ("http://h", "http://h/", True),
        ("http://h/api", "http://h/api", True),
        ("http://h/api/x?q=1", "http://h/api", True),
        ("http://h/apix", "http://h/api", False),
        ("http://h/api", "http://h/api/", False),
        ("http://h:80/api/x", "http://H/api", True),
        ("https://h/api/x", "http://h/api", False),
        ("http://h:8080/api/x", "http://h/api", False),
        ("http://h/api/../admin", "http://h/api", False),
    ],
)
def test_url_under_resource(url, resource, expected):
    assert is_under(url, resource) is expected


def test_flow_and_signing_do_not_import_aiohttp():
    code = "import sys, consumer_sdk.flow, consumer_sdk.signing; sys.exit('aiohttp' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
