"""ProtectServeAuth against small real aiohttp apps on 127.0.0.1: a toy SP and a toy AM.

The toy AM issues opaque tokens and checks only that the token request is signed
by a consumer key it issued (not the signature itself: the real AM's end-to-end
test does that). The toy SP accepts exactly the tokens the toy AM issued.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import re
from collections import Counter
from urllib.parse import parse_qs

import aiohttp
import pytest
from aiohttp import web

from consumer_sdk import __main__ as cli
from consumer_sdk.errors import AccessDenied
from consumer_sdk.flow import USER_AGENT
from consumer_sdk.messages import Step
from consumer_sdk.middleware import ProtectServeAuth
from consumer_sdk.store import ClientCredentials, FileStore, MemoryStore, Token

PR_WELL_KNOWN = "/.well-known/oauth-protected-resource"
AS_WELL_KNOWN = "/.well-known/oauth-authorization-server"


class ToyAM:
    def __init__(self) -> None:
        self.issuer = ""
        self.calls: Counter[str] = Counter()
        self.user_agents: list[str | None] = []
        self.clients: dict[str, str] = {}
        self.tokens: dict[str, set[str]] = {}
        self.token_requests: list[tuple[dict[str, str], dict[str, list[str]]]] = []
        self.registrations: list[dict] = []
        self.deny = False
        self.gate: asyncio.Event | None = None  # register waits for it: lets a test line requests up

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get(AS_WELL_KNOWN, self.metadata)
        app.router.add_post("/register", self.register)
        app.router.add_post("/token", self.token)
        return app

    def _count(self, request: web.Request, name: str) -> None:
        self.calls[name] += 1
        self.user_agents.append(request.headers.get("User-Agent"))

    async def metadata(self, request: web.Request) -> web.Response:
        self._count(request, "metadata")
        return web.json_response({
            "issuer": self.issuer,
            "token_endpoint": f"{self.issuer}/token",
            "registration_endpoint": f"{self.issuer}/register",
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["http_message_signature_hmac_sha256", "oauth1_hmac_sha256"],
        })

    async def register(self, request: web.Request) -> web.Response:
        self._count(request, "register")
        if self.gate is not None:
            await asyncio.wait_for(self.gate.wait(), 5)
        self.registrations.append(await request.json())
        ck = f"ck-{len(self.clients) + 1}"
        self.clients[ck] = f"cks-{ck}-secret"
        return web.json_response({"client_id": ck, "client_secret": self.clients[ck],
                                  "client_secret_expires_at": 0}, status=201)

    async def token(self, request: web.Request) -> web.Response:
        self._count(request, "token")
        form = parse_qs((await request.read()).decode(), keep_blank_values=True)
        headers = dict(request.headers)
        self.token_requests.append((headers, form))
        found = re.search(r'keyid="([^"]+)"', headers.get("Signature-Input", "")) or re.search(
            r'oauth_consumer_key="([^"]+)"', headers.get("Authorization", ""))
        if found is None or found.group(1) not in self.clients:
            return web.json_response({"error": "invalid_client"}, status=401)
        if self.deny:
            return web.json_response({"error": "request_denied", "error_description": "policy"}, status=403)
        access_token = f"tok-{len(self.tokens) + 1}"
        scope = form["scope"][0]
        self.tokens[access_token] = set(scope.split())
        return web.json_response({"access_token": access_token, "token_type": "Bearer", "expires_in": 900,
                                  "scope": scope}, headers={"Cache-Control": "no-store"})


class ToySP:
    def __init__(self, am: ToyAM) -> None:
        self.am = am
        self.base = ""
        self.calls: Counter[str] = Counter()
        self.seen: list[tuple[str, str | None, str | None, bytes]] = []
        self.always_401 = False
        self.challenged = 0
        self.challenged_target = 0
        self.all_challenged = asyncio.Event()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get(PR_WELL_KNOWN, self.metadata)
        app.router.add_route("*", "/photos/{name}", self.photo)
        app.router.add_get("/admin", self.admin)
        app.router.add_get("/basic", self.basic)
        return app

    def challenge(self, status: int = 401, **extra: str) -> web.Response:
        params = f'realm="photos", resource_metadata="{self.base}{PR_WELL_KNOWN}"'
        params += "".join(f', {k}="{v}"' for k, v in extra.items())
        body = json.dumps({"error": extra["error"]}) if "error" in extra else ""
        return web.Response(status=status, text=body, headers={"WWW-Authenticate": f"Bearer {params}"})

    async def metadata(self, request: web.Request) -> web.Response:
        self.calls["metadata"] += 1
        return web.json_response({
            "resource": f"{self.base}/",
            "authorization_servers": [self.am.issuer],
            "scopes_supported": ["read", "write"],
            "bearer_methods_supported": ["header"],
            "realm": "photos",
            "sph": "sph-photos",
        })

    def _scopes(self, request: web.Request) -> set[str] | None:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or self.always_401:
            return None
        return self.am.tokens.get(auth.removeprefix("Bearer "))

    async def photo(self, request: web.Request) -> web.Response:
        self.calls["photo"] += 1
        body = await request.read()
        self.seen.append((request.path, request.headers.get("Authorization"), request.headers.get("User-Agent"), body))
        if self._scopes(request) is None:
            self.challenged += 1
            if self.challenged == self.challenged_target:
                self.all_challenged.set()
            if "Authorization" in request.headers:
                return self.challenge(error="invalid_token")
            return self.challenge()
        return web.Response(text=f"photo {request.match_info['name']} ({len(body)} bytes)")

    async def admin(self, request: web.Request) -> web.Response:
        self.calls["admin"] += 1
        scopes = self._scopes(request)
        if scopes is None:
            return self.challenge()
        if "write" not in scopes:
            return self.challenge(403, error="insufficient_scope", scope="write")
        return web.Response(text="admin")

    async def basic(self, request: web.Request) -> web.Response:
        self.calls["basic"] += 1
        return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="x"'})


@pytest.fixture
async def toys(aiohttp_server):
    am = ToyAM()
    am_server = await aiohttp_server(am.app())
    am.issuer = str(am_server.make_url("")).rstrip("/")
    sp = ToySP(am)
    sp_server = await aiohttp_server(sp.app())
    sp.base = str(sp_server.make_url("")).rstrip("/")
    return sp, am


def client(auth: ProtectServeAuth) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(middlewares=[auth])


async def get(session: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with session.get(url) as response:
        return response.status, await response.text()


async def test_full_walk_then_retry(toys):
    sp, am = toys
    steps: list[Step] = []
    auth = ProtectServeAuth(client_name="printer", on_step=steps.append)
    async with client(auth) as session:
        assert await get(session, f"{sp.base}/photos/1") == (200, "photo 1 (0 bytes)")
    assert [(s.name, s.method, s.status) for s in steps] == [
        ("challenge", "GET", 401), ("resource_metadata", "GET", 200), ("am_metadata", "GET", 200),
        ("register", "POST", 201), ("token", "POST", 200), ("retry", "GET", 200)]
    assert steps[1].url == f"{sp.base}{PR_WELL_KNOWN}" and steps[2].url == f"{am.issuer}{AS_WELL_KNOWN}"
    assert steps[4].detail["client_id"] == "ck-1" and steps[4].detail["granted_scope"] == "read write"
    assert "cks-ck-1-secret" not in repr(steps) and "tok-1" not in repr(steps)
    assert [auth_header for _, auth_header, _, _ in sp.seen] == [None, "Bearer tok-1"]
    assert sp.calls == {"photo": 2, "metadata": 1}
    assert am.calls == {"metadata": 1, "register": 1, "token": 1}
    assert am.registrations == [{"client_name": "printer"}]
    headers, form = am.token_requests[0]
    assert form == {"grant_type": ["client_credentials"], "sph": ["sph-photos"], "resource": [f"{sp.base}/"],
                    "scope": ["read write"]}
    assert {"Signature-Input", "Signature", "Content-Digest"} <= headers.keys()
    assert set(am.user_agents) == {USER_AGENT} and {ua for _, _, ua, _ in sp.seen} == {USER_AGENT}
    assert auth.store.get_client(am.issuer).client_id == "ck-1"
    assert auth.store.get_token(f"{sp.base}/").access_token == "tok-1"


async def test_rfc5849_walk(toys):
    sp, am = toys
    async with client(ProtectServeAuth(signature_method="rfc5849", scopes=["read"])) as session:
        assert (await get(session, f"{sp.base}/photos/2"))[0] == 200
    headers, form = am.token_requests[0]
    assert headers["Authorization"].startswith("OAuth ") and 'oauth_consumer_key="ck-1"' in headers["Authorization"]
    assert "Signature-Input" not in headers and form["scope"] == ["read"]


async def test_stored_token_is_reused_without_touching_the_am(toys):
    sp, am = toys
    steps: list[Step] = []
    async with client(ProtectServeAuth(on_step=steps.append)) as session:
        await get(session, f"{sp.base}/photos/1")
        before, steps[:] = dict(am.calls), []
        assert await get(session, f"{sp.base}/photos/2") == (200, "photo 2 (0 bytes)")
    assert am.calls == before and sp.calls["metadata"] == 1
    assert sp.seen[-1][1] == "Bearer tok-1"
    assert [(s.name, s.status, s.detail["token"]) for s in steps] == [("request", 200, "Bearer")]


async def test_concurrent_challenges_share_one_handshake(toys):
    sp, am = toys
    sp.challenged_target = 10
    am.gate = sp.all_challenged  # registration waits until all ten requests have been challenged
    auth = ProtectServeAuth()
    async with client(auth) as session:
        results = await asyncio.gather(*(get(session, f"{sp.base}/photos/{i}") for i in range(10)))
    assert results == [(200, f"photo {i} (0 bytes)") for i in range(10)]
    assert am.calls["register"] == 1 and am.calls["token"] == 1 and sp.calls["metadata"] == 1
    assert sp.calls["photo"] == 20 and {a for _, a, _, _ in sp.seen[10:]} == {"Bearer tok-1"}
    assert auth._inflight == {}


async def test_retry_happens_once_and_a_second_401_is_returned(toys):
    sp, am = toys
    sp.always_401 = True
    steps: list[Step] = []
    async with client(ProtectServeAuth(on_step=steps.append)) as session:
        async with session.get(f"{sp.base}/photos/1") as response:
            assert response.status == 401
            assert "invalid_token" in response.headers["WWW-Authenticate"]
    assert sp.calls["photo"] == 2 and am.calls["token"] == 1
    assert (steps[-1].name, steps[-1].status) == ("retry", 401)


async def test_stale_stored_token_is_dropped_and_replaced(toys):
    sp, am = toys
    store = MemoryStore()
    store.put_token(Token("revoked", "Bearer", 4e9, frozenset({"read"}), "photos", f"{sp.base}/", am.issuer))
    async with client(ProtectServeAuth(store=store)) as session:
        assert (await get(session, f"{sp.base}/photos/1"))[0] == 200
    assert [a for _, a, _, _ in sp.seen] == ["Bearer revoked", "Bearer tok-1"]
    assert store.get_token(f"{sp.base}/").access_token == "tok-1"


async def test_stale_token_is_dropped_even_when_the_new_handshake_fails(toys):
    sp, am = toys
    am.deny = True
    store = MemoryStore()
    store.put_token(Token("revoked", "Bearer", 4e9, frozenset({"read"}), "photos", f"{sp.base}/", am.issuer))
    async with client(ProtectServeAuth(store=store)) as session:
        with pytest.raises(AccessDenied) as info:
            await get(session, f"{sp.base}/photos/1")
    assert (info.value.error, info.value.status) == ("request_denied", 403)
    assert store.tokens() == []


async def test_insufficient_scope_asks_for_the_union(toys):
    sp, am = toys
    async with client(ProtectServeAuth(scopes=["read"])) as session:
        assert (await get(session, f"{sp.base}/photos/1"))[0] == 200
        assert await get(session, f"{sp.base}/admin") == (200, "admin")
    assert [form["scope"] for _, form in am.token_requests] == [["read"], ["read write"]]
    assert am.calls["register"] == 1


async def test_purged_consumer_key_is_registered_again(toys):
    sp, am = toys
    store = MemoryStore()
    store.put_client(ClientCredentials("ck-forgotten", "cks-forgotten", am.issuer))
    async with client(ProtectServeAuth(store=store)) as session:
        assert (await get(session, f"{sp.base}/photos/1"))[0] == 200
    assert am.calls["register"] == 1 and am.calls["token"] == 2
    assert store.get_client(am.issuer).client_id == "ck-1"


async def test_request_body_is_sent_again_on_retry(toys):
    sp, _ = toys
    async with client(ProtectServeAuth()) as session:
        async with session.post(f"{sp.base}/photos/upload", data=b"pixels") as response:
            assert await response.text() == "photo upload (6 bytes)"
    assert [(path, body) for path, _, _, body in sp.seen] == [("/photos/upload", b"pixels")] * 2


async def test_non_protectserve_challenges_and_own_credentials_pass_through(toys):
    sp, am = toys
    async with client(ProtectServeAuth()) as session:
        async with session.get(f"{sp.base}/basic") as response:
            assert response.status == 401
        async with session.get(f"{sp.base}/photos/1", headers={"Authorization": "Bearer mine"}) as response:
            assert response.status == 401
    assert am.calls == {} and sp.calls["metadata"] == 0
    assert sp.seen[-1][1] == "Bearer mine"


async def test_handshake_failure_is_raised_and_not_left_in_flight(toys):
    sp, am = toys
    am.deny = True
    auth = ProtectServeAuth()
    async with client(auth) as session:
        for _ in range(2):  # a failed handshake is not cached: the second call tries again
            with pytest.raises(AccessDenied):
                await get(session, f"{sp.base}/photos/1")
    assert am.calls["token"] == 2 and am.calls["register"] == 1 and auth._inflight == {}


# --- python -m consumer_sdk ------------------------------------------------------------------------


def cli_args(*argv: str) -> argparse.Namespace:
    return cli.build_parser().parse_args(list(argv))


async def test_cli_get_prints_body_and_verbose_trace(toys, tmp_path):
    sp, am = toys
    out, err = io.BytesIO(), io.StringIO()
    store = tmp_path / "creds.json"
    args = cli_args("get", f"{sp.base}/photos/7", "-v", "--store", str(store), "--scope", "read", "--client-name", "cli")
    assert await cli.run(args, stdout=out, stderr=err) == 0
    assert out.getvalue() == b"photo 7 (0 bytes)"
    trace = err.getvalue()
    for name in ("challenge", "resource_metadata", "am_metadata", "register", "token", "retry"):
        assert re.search(rf"^{name}\s", trace, re.M), name
    assert "-> 401" in trace and "-> 201" in trace
    assert "cks-ck-1-secret" not in trace and "tok-1" not in trace
    assert FileStore(store).get_token(f"{sp.base}/").scope == {"read"}
    assert am.registrations == [{"client_name": "cli"}]


async def test_cli_failure_is_one_line_and_nonzero(toys, tmp_path):
    sp, am = toys
    am.deny = True
    out, err = io.BytesIO(), io.StringIO()
    args = cli_args("get", f"{sp.base}/photos/7", "--store", str(tmp_path / "c.json"), "--signature", "rfc5849")
    assert await cli.run(args, stdout=out, stderr=err) == 1
    assert out.getvalue() == b""
    assert err.getvalue().count("\n") == 1 and err.getvalue().startswith("error: AccessDenied")
    assert "request_denied" in err.getvalue()


async def test_cli_final_http_error_is_reported(toys, tmp_path):
    sp, _ = toys
    sp.always_401 = True
    err = io.StringIO()
    args = cli_args("get", f"{sp.base}/photos/7", "--store", str(tmp_path / "c.json"))
    assert await cli.run(args, stdout=io.BytesIO(), stderr=err) == 1
    assert err.getvalue() == f"error: GET {sp.base}/photos/7 -> HTTP 401 (invalid_token)\n"
