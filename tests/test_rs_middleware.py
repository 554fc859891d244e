"""rs_middleware end to end: a real SP app and a real AM-shaped app on 127.0.0.1 sockets.

No HTTP mocks: ``FakeAM`` serves RFC 8414 metadata, a JWKS and RFC 7662 introspection and
counts what it is asked.  Time is an injected ``Clock``; nothing sleeps.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from joserfc.jws import JWSRegistry
from multidict import CIMultiDict
from joserfc.jwk import ECKey

from rs_middleware import (
    RUNTIME_KEY,
    USER_AGENT,
    metadata_url,
    protect,
    requires,
    token_claims,
)
from rs_middleware.example import create_example_app, parse_args

RESOURCE = "http://127.0.0.1:8080/"
META_URL = "http://127.0.0.1:8080/.well-known/oauth-protected-resource"
BASE_CHALLENGE = f'Bearer realm="photos", resource_metadata="{META_URL}"'
#: The 401 of ``/r``, which requires ``read``: RFC 6750 §3 ``scope`` names it (issue 13 §5).
PLAIN_CHALLENGE = BASE_CHALLENGE + ', scope="read"'
SPH, SPH_SECRET = "sph-123", "s3cret-sph"
T0 = 1_700_000_000.0
ES256 = JWSRegistry.algorithms["ES256"]


class Clock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def b64(data: bytes | dict[str, Any]) -> str:
    raw = json.dumps(data).encode() if isinstance(data, dict) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def sign_es256(key: ECKey, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """A compact JWS with arbitrary (possibly hostile) header parameters.

    joserfc's encoder validates headers, so attacker-shaped tokens are assembled here and
    only the ES256 primitive is borrowed from it.
    """
    signing_input = b64(header) + "." + b64(claims)
    return signing_input + "." + b64(ES256.sign(signing_input.encode(), key))


def new_key(kid: str) -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": kid})


@dataclass
class FakeAM:
    """The slice of an authorization manager the resource server talks to."""

    keys: list[ECKey]
    issuer: str = ""
    down: bool = False
    jwks_fetches: int = 0
    user_agents: list[str] = field(default_factory=list)
    introspections: list[dict[str, str]] = field(default_factory=list)
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/.well-known/oauth-authorization-server", self.metadata)
        app.router.add_get("/jwks.json", self.jwks)
        app.router.add_post("/introspect", self.introspect)
        return app

    async def metadata(self, request: web.Request) -> web.Response:
        self.user_agents.append(request.headers.get("User-Agent", ""))
        if self.down:
            raise web.HTTPServiceUnavailable()
        return web.json_response({
            "issuer": self.issuer, "jwks_uri": f"{self.issuer}/jwks.json",
            "introspection_endpoint": f"{self.issuer}/introspect",
            "token_endpoint": f"{self.issuer}/token",
        })

    async def jwks(self, request: web.Request) -> web.Response:
        self.jwks_fetches += 1
        self.user_agents.append(request.headers.get("User-Agent", ""))
        if self.down:
            raise web.HTTPServiceUnavailable()
        return web.json_response({"keys": [k.as_dict(private=False) for k in self.keys]})

    async def introspect(self, request: web.Request) -> web.Response:
        form = await request.post()
        self.introspections.append({
            "authorization": request.headers.get("Authorization", ""),
            "user_agent": request.headers.get("User-Agent", ""),
            **{k: str(v) for k, v in form.items()},
        })
        expected = "Basic " + base64.b64encode(f"{SPH}:{SPH_SECRET}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            raise web.HTTPUnauthorized(
                headers={"WWW-Authenticate": 'Basic realm="authmanager"'},
                text='{"error": "invalid_client"}', content_type="application/json",
            )
        return web.json_response(self.answers.get(str(form.get("token")), {"active": False}))

    def claims(self, **over: Any) -> dict[str, Any]:
        now = int(T0)
        claims = {"iss": self.issuer, "sub": "ck1", "aud": RESOURCE, "client_id": "ck1",
                  "scope": "read", "iat": now, "exp": now + 300, "jti": "jti-1", "realm": "photos"}
        claims.update(over)
        return {k: v for k, v in claims.items() if v is not None}

    def token(self, key: ECKey | None = None, header: dict[str, Any] | None = None, **over: Any) -> str:
        key = key or self.keys[0]
        hdr = {"typ": "at+jwt", "alg": "ES256", "kid": key.kid, **(header or {})}
        hdr = {k: v for k, v in hdr.items() if v is not None}
        return sign_es256(key, hdr, self.claims(**over))


@pytest.fixture
async def am(aiohttp_server: Any) -> FakeAM:
    fake = FakeAM(keys=[new_key("k1")])
    server = await aiohttp_server(fake.app())
    fake.issuer = str(server.make_url("")).rstrip("/")
    return fake


@dataclass
class SP:
    client: Any
    app: web.Application
    calls: dict[str, int]

    async def get(self, path: str, token: str | None = None, **kw: Any) -> Any:
        headers = dict(kw.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return await self.client.get(path, headers=headers, **kw)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_sp(aiohttp_client: Any, aiohttp_server: Any, am: FakeAM, clock: Clock) -> Any:
    async def make(server_kwargs: dict[str, Any] | None = None, **options: Any) -> SP:
        calls = {"read": 0, "write": 0, "both": 0, "open": 0}
        app = web.Application()

        @requires("read")
        async def read(request: web.Request) -> web.Response:
            calls["read"] += 1
            return web.json_response(dict(token_claims(request)))

        @requires("write")
        async def write(request: web.Request) -> web.Response:
            calls["write"] += 1
            return web.json_response({"ok": True})

        @requires("read", "write")
        async def both(request: web.Request) -> web.Response:
            calls["both"] += 1
            return web.json_response({"ok": True})

        async def open_(request: web.Request) -> web.Response:
            calls["open"] += 1
            try:
                token_claims(request)
                has_claims = True
            except LookupError:
                has_claims = False
            return web.json_response({"authorization": request.headers.get("Authorization"),
                                      "has_claims": has_claims})

        app.router.add_get("/r", read)
        app.router.add_route("*", "/w", write)
        app.router.add_get("/both", both)
        app.router.add_get("/open", open_)
        settings: dict[str, Any] = dict(
            realm="photos", resource=RESOURCE, authorization_manager=am.issuer, sph=SPH,
            sph_secret=SPH_SECRET, scopes=("read", "write"), resource_name="Photo album", now=clock,
        )
        settings.update(options)
        protect(app, **settings)
        client = await aiohttp_client(await aiohttp_server(app, **(server_kwargs or {})))
        return SP(client, app, calls)

    return make


async def assert_invalid_token(resp: Any, description: str | None = None, scope: str = "read") -> None:
    assert resp.status == 401
    challenge = resp.headers["WWW-Authenticate"]
    assert challenge.startswith(BASE_CHALLENGE + ', error="invalid_token", error_description="')
    assert challenge.endswith(f', scope="{scope}"')
    body = await resp.json()
    assert body["error"] == "invalid_token"
    if description is not None:
        assert body["error_description"] == description
        assert challenge.endswith(f'error_description="{description}", scope="{scope}"')


# --- 401 without a token ---------------------------------------------------------------


async def test_no_token_gives_exact_challenge_and_handler_never_runs(make_sp: Any) -> None:
    sp = await make_sp()
    resp = await sp.get("/r")
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"] == PLAIN_CHALLENGE
    assert sp.calls["read"] == 0


async def test_token_outside_the_authorization_header_is_ignored(make_sp: Any, am: FakeAM) -> None:
    sp = await make_sp()
    token = am.token(scope="read write")
    resp = await sp.get("/r", params={"access_token": token})
    assert (resp.status, resp.headers["WWW-Authenticate"]) == (401, PLAIN_CHALLENGE)
    resp = await sp.client.post("/w", data={"access_token": token})
    assert (resp.status, resp.headers["WWW-Authenticate"]) == (401, BASE_CHALLENGE + ', scope="write"')
    resp = await sp.get("/r", headers={"Authorization": f"Basic {token}"})
    assert (resp.status, resp.headers["WWW-Authenticate"]) == (401, PLAIN_CHALLENGE)
    assert sp.calls == {"read": 0, "write": 0, "both": 0, "open": 0}


async def test_challenge_urls_ignore_a_spoofed_host(make_sp: Any, am: FakeAM) -> None:
    sp = await make_sp()
    spoof = {"Host": "evil.example:666", "X-Forwarded-Host": "evil.example",
             "X-Forwarded-Proto": "https", "Forwarded": "host=evil.example;proto=https"}
    resp = await sp.get("/r", headers=spoof)
    assert resp.headers["WWW-Authenticate"] == PLAIN_CHALLENGE
    resp = await sp.get("/r", am.token(aud="http://evil.example/"), headers=spoof)
    await assert_invalid_token(resp, "token audience is not this resource")
    resp = await sp.get("/.well-known/oauth-protected-resource", headers=spoof)
    assert "evil" not in await resp.text()


async def test_challenge_quotes_realm_safely(make_sp: Any) -> None:
    sp = await make_sp(realm='ph"o\\tos')
    resp = await sp.get("/r")
    assert resp.headers["WWW-Authenticate"] == (
        f'Bearer realm="ph\\"o\\\\tos", resource_metadata="{META_URL}", scope="read"')


# --- 401 invalid_token -----------------------------------------------------------------


def _hs256_token(am: FakeAM, secret: bytes) -> str:
    signing_input = b64({"typ": "at+jwt", "alg": "HS256", "kid": "k1"}) + "." + b64(am.claims())
    sig = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64(sig)


def _none_token(am: FakeAM, alg: str) -> str:
    return b64({"typ": "at+jwt", "alg": alg, "kid": "k1"}) + "." + b64(am.claims()) + "."


def _public_pem(am: FakeAM) -> bytes:
    return am.keys[0].get_op_key("verify").public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


BAD_TOKENS = {
    "garbage": lambda am: "not-a-jwt",
    "two segments": lambda am: "abc.def",
    "bad signature": lambda am: am.token(key=new_key("k1")),
    "tampered payload": lambda am: (lambda p: p[0] + "." + b64(am.claims(scope="read write admin"))
                                    + "." + p[2])(am.token().split(".")),
    "expired beyond leeway": lambda am: am.token(exp=int(T0) - 31),
    "exp + leeway is now (exp is exclusive)": lambda am: am.token(exp=int(T0) - 30),
    "missing jti (RFC 9068 §2.2)": lambda am: am.token(jti=None),
    "missing client_id (RFC 9068 §2.2)": lambda am: am.token(client_id=None),
    "nbf in the future": lambda am: am.token(nbf=int(T0) + 120),
    "iat in the future": lambda am: am.token(iat=int(T0) + 120),
    "missing exp": lambda am: am.token(exp=None),
    "missing iat": lambda am: am.token(iat=None),
    "wrong iss": lambda am: am.token(iss="http://127.0.0.1:1"),
    "iss as list": lambda am: am.token(iss=[am.issuer]),
    "wrong aud": lambda am: am.token(aud="http://127.0.0.1:8081/"),
    "missing aud": lambda am: am.token(aud=None),
    "another realm on the same aud (issue 11)": lambda am: am.token(realm="albums"),
    "missing realm (issue 11)": lambda am: am.token(realm=None),
    "realm not a string": lambda am: am.token(realm=["photos"]),
    "typ JWT": lambda am: am.token(header={"typ": "JWT"}),
    "typ missing": lambda am: am.token(header={"typ": None}),
    "scope not a string": lambda am: am.token(scope=["read"]),
    "alg none": lambda am: _none_token(am, "none"),
    "alg None": lambda am: _none_token(am, "None"),
    "alg NONE": lambda am: _none_token(am, "NONE"),
    "HS256 keyed with public PEM": lambda am: _hs256_token(am, _public_pem(am)),
    "HS256 keyed with public JWK": lambda am: _hs256_token(
        am, json.dumps(am.keys[0].as_dict(private=False)).encode()),
    "crit unknown": lambda am: am.token(header={"crit": ["exp"], "exp": 1}),
    "b64 false": lambda am: am.token(header={"b64": False, "crit": ["b64"]}),
    "hostile kid: long": lambda am: am.token(header={"kid": "k" * 4000}),
    "hostile kid: path": lambda am: am.token(header={"kid": "../../../../etc/passwd"}),
    "hostile kid: SQL": lambda am: am.token(header={"kid": "k1' OR '1'='1"}),
    "hostile kid: not a string": lambda am: am.token(header={"kid": {"$ne": None}}),
    "ES256 with r = s = 0": lambda am: (lambda p: f"{p[0]}.{p[1]}.{b64(bytes(64))}")(am.token().split(".")),
}


@pytest.mark.parametrize("case", sorted(BAD_TOKENS))
async def test_invalid_tokens_get_invalid_token(make_sp: Any, am: FakeAM, case: str) -> None:
    sp = await make_sp()
    token = BAD_TOKENS[case](am)
    resp = await sp.get("/r", token)
    await assert_invalid_token(resp)
    assert sp.calls["read"] == 0


@pytest.mark.parametrize("value", ["Bearer", "Bearer ", "Bearer a b", 'Bearer "quoted"', "Bearer \u00e9"])
async def test_malformed_bearer_credentials(make_sp: Any, value: str) -> None:
    sp = await make_sp()
    resp = await sp.get("/r", headers={"Authorization": value})
    await assert_invalid_token(resp, "malformed bearer token")
    assert sp.calls["read"] == 0


async def test_duplicate_authorization_headers_are_refused(make_sp: Any, am: FakeAM) -> None:
    sp = await make_sp()
    token = am.token()
    headers = CIMultiDict([("Authorization", f"Bearer {token}"), ("Authorization", f"Bearer {token}")])
    resp = await sp.client.get("/r", headers=headers)
    await assert_invalid_token(resp, "more than one Authorization header")


async def test_oversized_token_is_refused_before_verification(make_sp: Any, am: FakeAM) -> None:
    sp = await make_sp(server_kwargs={"max_field_size": 65536, "max_line_size": 65536})
    small, large = am.token(pad="x" * 3000), am.token(pad="x" * 9000)
    assert len(small) < 8192 < len(large)
    assert (await sp.get("/r", small)).status == 200  # a valid signed token...
    resp = await sp.get("/r", large)  # ...only bigger: 400 invalid_request (RFC 6750 §3.1)
    assert resp.status == 400 and (await resp.json())["error"] == "invalid_request"
    assert resp.headers["WWW-Authenticate"] == (
        BASE_CHALLENGE + ', error="invalid_request", error_description="token too large"')
    assert sp.calls["read"] == 1


@pytest.mark.parametrize("header", [
    {"jku": "ATTACKER/jwks.json"},
    {"x5u": "ATTACKER/cert.pem"},
    {"jwk": "ATTACKER_JWK"},
    {"jwk": "ATTACKER_JWK", "kid": "k1"},
])
async def test_key_reference_headers_are_never_followed(
    make_sp: Any, am: FakeAM, aiohttp_server: Any, clock: Clock, header: dict[str, Any]
) -> None:
    hits: list[str] = []

    async def attacker(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.json_response({"keys": [evil.as_dict(private=False)]})

    evil = new_key("evil")
    attacker_app = web.Application()
    attacker_app.router.add_route("*", "/{tail:.*}", attacker)
    attacker_url = str((await aiohttp_server(attacker_app)).make_url("")).rstrip("/")
    header = {k: (evil.as_dict(private=False) if v == "ATTACKER_JWK" else
                  v.replace("ATTACKER", attacker_url) if isinstance(v, str) else v)
              for k, v in header.items()}
    sp = await make_sp()
    clock.t += 3600  # a refetch for an unknown kid would be allowed now
    resp = await sp.get("/r", am.token(key=evil, header=header))
    await assert_invalid_token(resp)
    assert hits == []
    assert am.jwks_fetches == 1  # the header is refused before any key lookup
    assert sp.calls["read"] == 0


# --- accepted tokens, leeway, typ variants -------------------------------------------


async def test_valid_token_reaches_handler_with_claims(make_sp: Any, am: FakeAM) -> None:
    sp = await make_sp()
    resp = await sp.get("/r", am.token())
    assert resp.status == 200
    assert await resp.json() == am.claims()
    assert sp.calls["read"] == 1
    assert set(am.user_agents) == {USER_AGENT}


@pytest.mark.parametrize("typ", ["at+jwt", "AT+JWT", "application/at+jwt", "Application/AT+JWT"])
async def test_typ_is_case_insensitive(make_sp: Any, am: FakeAM, typ: str) -> None:
    sp = await make_sp()
    assert (await sp.get("/r", am.token(header={"typ": typ}))).status == 200


@pytest.mark.parametrize(("claims", "status"), [
    ({"exp": int(T0) - 29}, 200), ({"exp": int(T0) - 31}, 401),
    ({"nbf": int(T0) + 29}, 200), ({"nbf": int(T0) + 31}, 401),
    ({"aud": ["http://other/", RESOURCE]}, 200),
])
async def test_leeway_and_audience_list(make_sp: Any, am: FakeAM, claims: dict[str, Any], status: int) -> None:
    sp = await make_sp()
    assert (await sp.get("/r", am.token(**claims))).status == status


async def test_bearer_scheme_is_case_insensitive(make_sp: Any, am: FakeAM) -> None:
    sp = await make_sp()
    resp = await sp.get("/r", headers={"Authorization": f"bearer {am.token()}"})
    assert resp.status == 200


# --- 403 insufficient_scope ----------------------------------------------------------


@pytest.mark.parametrize(("path", "needed"), [("/w", "write"), ("/both", "read write")])
async def test_insufficient_scope(make_sp: Any, am: FakeAM, path: str, needed: str) -> None:
    sp = await make_sp()
    resp = await sp.get(path, am.token(scope="read"))
    assert resp.status == 403
    assert resp.headers["WWW-Authenticate"] == (
        BASE_CHALLENGE + ', error="insufficient_scope", '
        'error_description="token lacks the scope this resource requires", '
        f'scope="{needed}"')
    assert (await resp.json())["error"] == "insufficient_scope"
    assert sp.calls["write"] == sp.calls["both"] == 0
    assert (await sp.get(path, am.token(scope="write read"))).status == 200


# --- unprotected routes and metadata ----------------------------------------------------


async def test_unprotected_route_passes_through_untouched(make_sp: Any, am: FakeAM) -> None:
    sp = await make_sp()
    fetches = am.jwks_fetches
    for auth in (None, "Bearer garbage", "Basic Zm9vOmJhcg=="):
        resp = await sp.client.get("/open", headers={"Authorization": auth} if auth else {})
        assert resp.status == 200
        assert await resp.json() == {"authorization": auth, "has_claims": False}
        assert "WWW-Authenticate" not in resp.headers
    assert (await sp.get("/nope")).status == 404
    assert am.jwks_fetches == fetches


async def test_metadata_document(make_sp: Any, am: FakeAM) -> None:
    sp = await make_sp()
    resp = await sp.get("/.well-known/oauth-protected-resource")
    assert resp.status == 200
    assert resp.content_type == "application/json"
    assert await resp.json() == {
        "resource": RESOURCE, "authorization_servers": [am.issuer],
        "scopes_supported": ["read", "write"], "bearer_methods_supported": ["header"],
        "resource_name": "Photo album", "realm": "photos", "sph": SPH,
    }
    assert SPH_SECRET not in await resp.text()


async def test_metadata_route_follows_resource_path(make_sp: Any) -> None:
    sp = await make_sp(resource="http://127.0.0.1:8080/api/v1")
    url = "http://127.0.0.1:8080/.well-known/oauth-protected-resource/api/v1"
    assert (await sp.get("/.well-known/oauth-protected-resource")).status == 404
    resp = await sp.get("/.well-known/oauth-protected-resource/api/v1")
    assert (await resp.json())["resource"] == "http://127.0.0.1:8080/api/v1"
    resp = await sp.get("/r")
    assert resp.headers["WWW-Authenticate"] == f'Bearer realm="photos", resource_metadata="{url}", scope="read"'


@pytest.mark.parametrize(("resource", "url"), [
    ("http://h:1/", "http://h:1/.well-known/oauth-protected-resource"),
    ("http://h:1", "http://h:1/.well-known/oauth-protected-resource"),
    ("https://h/photos", "https://h/.well-known/oauth-protected-resource/photos"),
    ("https://h/a/b/", "https://h/.well-known/oauth-protected-resource/a/b/"),
])
def test_metadata_url(resource: str, url: str) -> None:
    assert metadata_url(resource) == url


# --- JWKS refetch for unknown kid ---------------------------------------------------------


async def test_unknown_kid_refetches_at_most_once_per_interval(
    make_sp: Any, am: FakeAM, clock: Clock
) -> None:
    sp = await make_sp()
    assert am.jwks_fetches == 1  # start-up
    k2, k3 = new_key("k2"), new_key("k3")
    token2 = am.token(key=k2)
    await assert_invalid_token(await sp.get("/r", token2), "unknown signing key")
    assert am.jwks_fetches == 1  # start-up fetch is younger than the interval
    am.keys.append(k2)  # rotation at the AM
    clock.t += 59
    await assert_invalid_token(await sp.get("/r", token2))
    assert am.jwks_fetches == 1
    clock.t += 1
    results = await asyncio.gather(*(sp.get("/r", token2) for _ in range(5)))
    assert [r.status for r in results] == [200] * 5
    assert am.jwks_fetches == 2
    token3 = am.token(key=k3)  # never published
    for _ in range(3):
        await assert_invalid_token(await sp.get("/r", token3), "unknown signing key")
    assert am.jwks_fetches == 2
    clock.t += 61
    for _ in range(3):
        await assert_invalid_token(await sp.get("/r", token3))
    assert am.jwks_fetches == 3
    assert sp.calls["read"] == 5


# --- AM down at start-up ------------------------------------------------------------------


async def test_503_until_keys_are_known_then_recovers(make_sp: Any, am: FakeAM) -> None:
    am.down = True
    sp = await make_sp()  # the app starts although the AM is down
    runtime = sp.app[RUNTIME_KEY]
    token = am.token()
    resp = await sp.get("/r", token)
    assert resp.status == 503
    assert int(resp.headers["Retry-After"]) >= 1
    assert (await resp.json())["error"] == "temporarily_unavailable"
    resp = await sp.get("/r")  # discovery still works without keys
    assert (resp.status, resp.headers["WWW-Authenticate"]) == (401, PLAIN_CHALLENGE)
    meta = await (await sp.get("/.well-known/oauth-protected-resource")).json()
    assert meta["authorization_servers"] == [am.issuer]
    assert (await sp.get("/open")).status == 200
    assert sp.calls["read"] == 0 and runtime.retrying

    am.down = False
    runtime.wake()
    await asyncio.wait_for(runtime.wait_ready(), 5)
    assert (await sp.get("/r", token)).status == 200
    assert not runtime.retrying


async def test_retry_task_is_cancelled_on_cleanup(make_sp: Any, am: FakeAM) -> None:
    am.down = True
    sp = await make_sp()
    runtime = sp.app[RUNTIME_KEY]
    assert runtime.retrying
    await sp.client.close()
    assert not runtime.retrying
    assert runtime.session is not None and runtime.session.closed


# --- introspection mode -------------------------------------------------------------------


def _active(am: FakeAM, **over: Any) -> dict[str, Any]:
    return {"active": True, "token_type": "Bearer", **am.claims(**over)}


async def test_introspection_active_token(make_sp: Any, am: FakeAM) -> None:
    sp = await make_sp(mode="introspection")
    am.answers["opaque-1"] = _active(am)
    resp = await sp.get("/r", "opaque-1")
    assert resp.status == 200
    assert (await resp.json())["client_id"] == "ck1"
    expected_auth = "Basic " + base64.b64encode(f"{SPH}:{SPH_SECRET}".encode()).decode()
    assert am.introspections == [{"authorization": expected_auth, "user_agent": USER_AGENT,
                                  "token": "opaque-1", "token_type_hint": "access_token"}]
    assert am.jwks_fetches == 0


@pytest.mark.parametrize(("answer", "description"), [
    (None, "token is not active"),
    ({"active": False}, "token is not active"),
    ({"active": "true"}, "token is not active"),
    ({"aud": "http://other/"}, "token audience is not this resource"),
    ({"iss": "http://other"}, "token issuer is not the authorization manager"),
    ({"exp": int(T0) - 60}, "token expired"),
    ({"realm": "albums"}, "token is for another realm"),
    ({"realm": ["photos"]}, "token is for another realm"),
    ({"realm": None}, "missing claim: realm"),
])
async def test_introspection_refusals(
    make_sp: Any, am: FakeAM, answer: dict[str, Any] | None, description: str
) -> None:
    sp = await make_sp(mode="introspection")
    if answer is not None:
        am.answers["opaque-1"] = {k: v for k, v in {**_active(am), **answer}.items() if v is not None}
    await assert_invalid_token(await sp.get("/r", "opaque-1"), description)
    assert sp.calls["read"] == 0


async def test_introspection_scope_and_bad_credentials(make_sp: Any, am: FakeAM) -> None:
    sp = await make_sp(mode="introspection")
    am.answers["opaque-1"] = _active(am, scope="read")
    assert (await sp.get("/w", "opaque-1")).status == 403
    bad = await make_sp(mode="introspection", sph_secret="wrong")
    resp = await bad.get("/r", "opaque-1")  # the AM refuses our credentials: our problem
    assert resp.status == 503 and "Retry-After" in resp.headers
    assert bad.calls["read"] == 0


# --- the example service ------------------------------------------------------------------


async def test_example_app(aiohttp_client: Any, am: FakeAM) -> None:
    app = create_example_app(realm="photos", resource=RESOURCE, authorization_manager=am.issuer,
                             sph=SPH, sph_secret=SPH_SECRET)
    client = await aiohttp_client(app)

    def auth(scope: str) -> dict[str, str]:
        now = int(time.time())  # the example app runs on the real clock
        return {"Authorization": "Bearer " + am.token(scope=scope, iat=now, exp=now + 60)}

    assert (await client.get("/health")).status == 200
    assert (await client.get("/photos/")).status == 401
    resp = await client.get("/photos/", headers=auth("read"))
    assert [p["id"] for p in (await resp.json())["photos"]] == ["1", "2"]
    assert (await client.get("/photos/2", headers=auth("read"))).status == 200
    assert (await client.get("/photos/999", headers=auth("read"))).status == 404
    resp = await client.post("/photos/", json={"title": "Lake"}, headers=auth("read"))
    assert resp.status == 403 and resp.headers["WWW-Authenticate"].endswith('scope="write"')
    resp = await client.post("/photos/", json={"title": "Lake"}, headers=auth("write"))
    assert resp.status == 201
    assert (await resp.json())["uploaded_by"] == "ck1"
    assert (await client.post("/photos/", data="nope", headers=auth("write"))).status == 400
    meta = await (await client.get("/.well-known/oauth-protected-resource")).json()
    assert meta["scopes_supported"] == ["read", "write"]


def test_example_cli_arguments() -> None:
    args = parse_args(["--port", "8080", "--authorization-manager", "http://127.0.0.1:8400",
                       "--realm", "photos", "--sph", "x", "--sph-secret", "y",
                       "--resource", "http://127.0.0.1:8080/", "--introspection"])
    assert (args.host, args.port, args.introspection, args.sph_secret) == ("127.0.0.1", 8080, True, "y")


def test_protect_takes_the_http_timeout_and_validates_it() -> None:
    common = dict(realm="photos", resource=RESOURCE, authorization_manager="http://127.0.0.1:1", sph=SPH,
                  sph_secret=SPH_SECRET)
    assert protect(web.Application(), **common, http_timeout=0.3).http_timeout == 0.3
    with pytest.raises(ValueError):
        protect(web.Application(), **common, http_timeout=0)
