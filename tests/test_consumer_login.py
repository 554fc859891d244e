"""The pure login generator (consumer_sdk.login, RFC 8252), driven by hand with crafted responses."""

from __future__ import annotations

import json
import subprocess
import sys
from urllib.parse import parse_qs, urlsplit

import pytest

from consumer_sdk.errors import (
    AuthorizationError,
    MetadataError,
    RedirectRejected,
    RegistrationError,
    TokenRequestError,
)
from consumer_sdk.flow import random_value
from consumer_sdk.login import (
    REGISTERED_REDIRECT_URI,
    LoginConfig,
    OpenBrowser,
    authorization_code_login,
    default_verifier,
    refresh,
    s256,
)
from consumer_sdk.messages import Headers, HttpRequest, HttpResponse, Step
from consumer_sdk.store import MemoryStore, Token

NOW = 1_700_000_000.0
URL = "http://sp.example/photos/1"
RESOURCE = "http://sp.example/"
META = "http://sp.example/.well-known/oauth-protected-resource"
ISSUER = "http://am.example"
AM_META = "http://am.example/.well-known/oauth-authorization-server"
TOKEN_ENDPOINT = "http://am.example/token"
REGISTER = "http://am.example/register"
AUTHORIZE = "http://am.example/authorize"
REDIRECT = "http://127.0.0.1:50123/callback"
STATE = "state-7fQ"
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"  # RFC 7636 Appendix B
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
CIMD = "https://app.example/client.json"


def reply(status: int, doc: object = None, headers: dict[str, str] | None = None) -> HttpResponse:
    body = b"" if doc is None else json.dumps(doc).encode()
    return HttpResponse(status, Headers(headers or {}), body)


def challenge(extra: str = "") -> HttpResponse:
    return HttpResponse(401, Headers({"WWW-Authenticate": f'Bearer realm="photos", resource_metadata="{META}"{extra}'}))


def resource_doc() -> dict:
    return {"resource": RESOURCE, "authorization_servers": [ISSUER], "scopes_supported": ["read", "write"],
            "bearer_methods_supported": ["header"], "realm": "photos", "sph": "sph-1"}


def am_doc(**overrides) -> dict:
    doc = {"issuer": ISSUER, "token_endpoint": TOKEN_ENDPOINT, "registration_endpoint": REGISTER,
           "authorization_endpoint": AUTHORIZE, "grant_types_supported": ["authorization_code", "refresh_token",
                                                                          "client_credentials"],
           "response_types_supported": ["code"], "code_challenge_methods_supported": ["S256"],
           "authorization_response_iss_parameter_supported": True, "client_id_metadata_document_supported": True,
           "token_endpoint_auth_methods_supported": ["none", "http_message_signature_hmac_sha256"]}
    doc.update(overrides)
    return {k: v for k, v in doc.items() if v is not None}


ISSUED = {"access_token": "at-1", "token_type": "Bearer", "expires_in": 600, "scope": "read",
          "refresh_token": "rt-1"}


class Run:
    def __init__(self, store=None, **config):
        self.store = store if store is not None else MemoryStore()
        self.steps: list[Step] = []
        cfg = LoginConfig(**{"client_name": "cli", "now": lambda: NOW, "make_state": lambda: STATE,
                             "make_verifier": lambda: VERIFIER, **config})
        self.gen = authorization_code_login(url=URL, redirect_uri=REDIRECT, store=self.store, config=cfg,
                                            on_step=self.steps.append)

    def send(self, value):
        return self.gen.send(value)

    def to_browser(self, am=None, registration=None) -> OpenBrowser:
        assert next(self.gen) == HttpRequest("GET", URL, self._get_headers())
        assert self.send(challenge()).url == META
        assert self.send(reply(200, resource_doc())).url == AM_META
        out = self.send(reply(200, am or am_doc()))
        if isinstance(out, HttpRequest):  # registration
            assert out.url == REGISTER
            out = self.send(reply(201, registration or {"client_id": "pub-1", "token_endpoint_auth_method": "none"}))
        assert isinstance(out, OpenBrowser)
        return out

    @staticmethod
    def _get_headers():
        from consumer_sdk.flow import USER_AGENT
        return {"Accept": "application/json", "User-Agent": USER_AGENT}

    def finish(self, response: HttpResponse) -> Token:
        with pytest.raises(StopIteration) as stop:
            self.send(response)
        return stop.value.value


def redirect(**params) -> str:
    from urllib.parse import urlencode
    return f"{REDIRECT}?{urlencode(params)}"


def test_rfc7636_appendix_b_test_vector():
    assert s256(VERIFIER) == CHALLENGE


def test_default_verifier_is_256_bits_of_unreserved_characters():
    values = {default_verifier() for _ in range(200)}
    assert len(values) == 200 and {len(v) for v in values} == {43}
    assert all(set(v) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~") for v in values)
    assert not any(v.startswith("-") for v in values)
    assert len(random_value(16)) == 22


def test_full_login_step_by_step():
    run = Run()
    browser = run.to_browser()
    split = urlsplit(browser.url)
    assert f"{split.scheme}://{split.netloc}{split.path}" == AUTHORIZE
    assert parse_qs(split.query) == {
        "response_type": ["code"], "client_id": ["pub-1"], "redirect_uri": [REDIRECT], "state": [STATE],
        "code_challenge": [CHALLENGE], "code_challenge_method": ["S256"], "resource": [RESOURCE],
        "scope": ["read write"]}
    assert run.store.get_public_client(ISSUER) == "pub-1"
    token_request = run.send(redirect(code="c-1", state=STATE, iss=ISSUER))
    assert (token_request.method, token_request.url) == ("POST", TOKEN_ENDPOINT)
    assert token_request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert "Authorization" not in token_request.headers  # a public client: no client authentication
    assert parse_qs(token_request.body.decode()) == {
        "grant_type": ["authorization_code"], "code": ["c-1"], "redirect_uri": [REDIRECT],
        "code_verifier": [VERIFIER], "client_id": ["pub-1"]}
    token = run.finish(reply(200, ISSUED))
    assert token == Token(access_token="at-1", token_type="Bearer", expires_at=NOW + 600, scope=frozenset({"read"}),
                          realm="photos", resource=RESOURCE, issuer=ISSUER, refresh_token="rt-1", client_id="pub-1",
                          token_endpoint=TOKEN_ENDPOINT)
    assert run.store.get_token(RESOURCE) == token
    assert [s.name for s in run.steps] == ["challenge", "resource_metadata", "am_metadata", "register", "authorize",
                                           "redirect", "token"]
    assert "rt-1" not in repr(run.steps) and "at-1" not in repr(run.steps) and "c-1" not in repr(run.steps)
    assert VERIFIER not in repr(run.steps)


def test_registration_asks_for_a_public_loopback_client():
    run = Run()
    next(run.gen)
    run.send(challenge())
    run.send(reply(200, resource_doc()))
    register = run.send(reply(200, am_doc()))
    assert json.loads(register.body) == {
        "client_name": "cli", "redirect_uris": [REGISTERED_REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
        "token_endpoint_auth_method": "none"}
    with pytest.raises(RegistrationError, match="public client"):
        run.send(reply(201, {"client_id": "c", "client_secret": "s", "token_endpoint_auth_method": "client_secret_basic"}))


def test_stored_public_client_and_given_scopes_and_challenge_scope():
    store = MemoryStore()
    store.put_public_client(ISSUER, "pub-9")
    run = Run(store, scopes=("write",))
    query = parse_qs(urlsplit(run.to_browser().url).query)
    assert query["client_id"] == ["pub-9"] and query["scope"] == ["write"]
    run = Run(store)
    next(run.gen)
    run.send(challenge(', scope="read"'))
    run.send(reply(200, resource_doc()))
    assert parse_qs(urlsplit(run.send(reply(200, am_doc())).url).query)["scope"] == ["read"]


def test_client_id_metadata_document_url_is_the_client_id_without_registering():
    run = Run(client_id=CIMD)
    query = parse_qs(urlsplit(run.to_browser().url).query)
    assert query["client_id"] == [CIMD]
    assert run.store.get_public_client(ISSUER) is None
    with pytest.raises(MetadataError, match="client ID metadata"):
        Run(client_id=CIMD).to_browser(am=am_doc(client_id_metadata_document_supported=None))


@pytest.mark.parametrize("overrides, message", [
    ({"code_challenge_methods_supported": None}, "S256"),
    ({"code_challenge_methods_supported": ["plain"]}, "S256"),
    ({"authorization_endpoint": None}, "authorization_endpoint"),
    ({"grant_types_supported": ["client_credentials"]}, "authorization_code"),
    ({"issuer": "http://evil.example"}, "issuer"),
])
def test_am_metadata_unfit_for_a_login_is_refused(overrides, message):
    with pytest.raises(MetadataError, match=message):
        Run().to_browser(am=am_doc(**overrides))


def test_authorization_endpoint_query_is_kept():
    url = Run().to_browser(am=am_doc(authorization_endpoint=f"{AUTHORIZE}?tenant=a")).url
    assert url.startswith(f"{AUTHORIZE}?tenant=a&response_type=code&")


@pytest.mark.parametrize("params", [
    {"code": "c", "iss": ISSUER},  # no state
    {"code": "c", "state": "other", "iss": ISSUER},
    {"error": "access_denied", "state": "other", "iss": ISSUER},  # not ours: not even its error is believed
])
def test_state_mismatch_is_refused_before_anything_is_exchanged(params):
    run = Run()
    run.to_browser()
    with pytest.raises(RedirectRejected) as refused:
        run.send(redirect(**params))
    assert refused.value.error == "state_mismatch"


@pytest.mark.parametrize("params, supported", [
    ({"code": "c", "state": STATE}, True),  # required by the metadata, missing
    ({"code": "c", "state": STATE, "iss": "http://evil.example"}, True),
    ({"code": "c", "state": STATE, "iss": "http://evil.example"}, None),  # present anyway: checked anyway
    ({"code": "c", "state": STATE, "iss": ISSUER + "/"}, True),  # simple string comparison
])
def test_iss_mismatch_or_missing_is_a_mix_up(params, supported):
    run = Run()
    run.to_browser(am=am_doc(authorization_response_iss_parameter_supported=supported))
    with pytest.raises(RedirectRejected) as refused:
        run.send(redirect(**params))
    assert refused.value.error == "iss_mismatch"


def test_iss_may_be_absent_when_the_am_does_not_announce_it():
    run = Run()
    run.to_browser(am=am_doc(authorization_response_iss_parameter_supported=None))
    assert run.send(redirect(code="c", state=STATE)).url == TOKEN_ENDPOINT


def test_error_redirect_is_a_typed_exception():
    run = Run()
    run.to_browser()
    with pytest.raises(AuthorizationError) as denied:
        run.send(redirect(error="access_denied", error_description="the person said no", state=STATE, iss=ISSUER))
    assert (denied.value.error, denied.value.description) == ("access_denied", "the person said no")


@pytest.mark.parametrize("query", [f"state={STATE}&iss={ISSUER}", f"code=a&code=b&state={STATE}&iss={ISSUER}"])
def test_redirect_without_a_single_code_is_refused(query):
    run = Run()
    run.to_browser()
    with pytest.raises(RedirectRejected):
        run.send(f"{REDIRECT}?{query}")


def test_token_error_is_typed_and_nothing_is_stored():
    run = Run()
    run.to_browser()
    run.send(redirect(code="c", state=STATE, iss=ISSUER))
    with pytest.raises(TokenRequestError) as refused:
        run.send(reply(400, {"error": "invalid_grant", "error_description": "code used"}))
    assert refused.value.error == "invalid_grant"
    assert run.store.tokens() == []


def _login_token(**overrides) -> Token:
    base = dict(access_token="at-1", token_type="Bearer", expires_at=NOW - 1, scope=frozenset({"read"}),
                realm="photos", resource=RESOURCE, issuer=ISSUER, refresh_token="rt-1", client_id="pub-1",
                token_endpoint=TOKEN_ENDPOINT)
    return Token(**{**base, **overrides})


def test_refresh_request_and_rotation():
    gen = refresh(_login_token(), now=lambda: NOW)
    request = next(gen)
    assert (request.method, request.url) == ("POST", TOKEN_ENDPOINT)
    assert parse_qs(request.body.decode()) == {"grant_type": ["refresh_token"], "refresh_token": ["rt-1"],
                                               "client_id": ["pub-1"]}
    with pytest.raises(StopIteration) as stop:
        gen.send(reply(200, {**ISSUED, "access_token": "at-2", "refresh_token": "rt-2"}))
    assert stop.value.value == _login_token(access_token="at-2", refresh_token="rt-2", expires_at=NOW + 600)


def test_refresh_without_a_new_refresh_token_keeps_the_old_one():
    gen = refresh(_login_token(), now=lambda: NOW)
    next(gen)
    with pytest.raises(StopIteration) as stop:
        gen.send(reply(200, {"access_token": "at-2", "token_type": "Bearer", "expires_in": 60}))
    assert stop.value.value.refresh_token == "rt-1" and stop.value.value.scope == frozenset({"read"})


def test_login_does_not_import_aiohttp():
    code = "import sys, consumer_sdk.login; assert 'aiohttp' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
