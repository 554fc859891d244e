"""``log_in`` and ``ProtectServeAuth``'s refresh of a login's tokens, over real sockets on 127.0.0.1.

The other party here is ``ThirdPartyAMDouble``: a test double of *someone else's* authorization
server, for this SDK's unit test. It implements only the response shapes the SDK reads (RFC 8414
metadata, RFC 7591 public registration, an authorization endpoint that redirects at once with a
code, and the RFC 6749 §4.1.3 / §6 token responses with refresh-token rotation). The real AM's
login is exercised in tests/test_consumer_login_e2e.py. ``PhotosDouble`` is the protected service.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import stat
import sys
from collections import Counter
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import pytest
from aiohttp import web

from consumer_sdk import __main__ as cli
from consumer_sdk.errors import AuthorizationError, LoginRequired, LoginTimeout
from consumer_sdk.loopback import log_in
from consumer_sdk.middleware import ProtectServeAuth
from consumer_sdk.store import FileStore, MemoryStore, Token

PR_WELL_KNOWN = "/.well-known/oauth-protected-resource"
AS_WELL_KNOWN = "/.well-known/oauth-authorization-server"
N = 5


class Clock:
    def __init__(self) -> None:
        self.value = 1_700_000_000.0

    def __call__(self) -> float:
        return self.value


class ThirdPartyAMDouble:
    def __init__(self, clock: Clock) -> None:
        self.clock, self.issuer = clock, ""
        self.calls: Counter[str] = Counter()
        self.grants: list[dict[str, list[str]]] = []
        self.codes: dict[str, dict[str, str]] = {}
        self.access: dict[str, float] = {}  # access token -> expiry
        self.refresh: dict[str, bool] = {}  # refresh token -> still valid
        self.gate: asyncio.Event | None = None  # the refresh answer waits for it
        self.deny = False

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get(AS_WELL_KNOWN, self.metadata)
        app.router.add_post("/register", self.register)
        app.router.add_get("/authorize", self.authorize)
        app.router.add_post("/token", self.token)
        return app

    async def metadata(self, request: web.Request) -> web.Response:
        return web.json_response({
            "issuer": self.issuer, "token_endpoint": f"{self.issuer}/token",
            "registration_endpoint": f"{self.issuer}/register", "authorization_endpoint": f"{self.issuer}/authorize",
            "grant_types_supported": ["authorization_code", "refresh_token"], "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"], "authorization_response_iss_parameter_supported": True})

    async def register(self, request: web.Request) -> web.Response:
        self.calls["register"] += 1
        return web.json_response({"client_id": "public-1", "token_endpoint_auth_method": "none",
                                  **await request.json()}, status=201)

    async def authorize(self, request: web.Request) -> web.Response:
        self.calls["authorize"] += 1
        q = request.query
        if self.deny:
            params = {"error": "access_denied", "state": q["state"], "iss": self.issuer}
        else:
            code = f"code-{len(self.codes) + 1}"
            self.codes[code] = dict(q)
            params = {"code": code, "state": q["state"], "iss": self.issuer}
        raise web.HTTPFound(f"{q['redirect_uri']}?{urlencode(params)}")

    def _issue(self, scope: str) -> web.Response:
        n = len(self.access) + 1
        access, refresh = f"at-{n}", f"rt-{n}"
        self.access[access] = self.clock() + 600
        self.refresh[refresh] = True
        return web.json_response({"access_token": access, "token_type": "Bearer", "expires_in": 600,
                                  "scope": scope, "refresh_token": refresh})

    async def token(self, request: web.Request) -> web.Response:
        form = parse_qs(await request.text())
        self.grants.append(form)
        self.calls[form["grant_type"][0]] += 1
        if form["grant_type"] == ["authorization_code"]:
            asked = self.codes.pop(form["code"][0])
            assert form["redirect_uri"] == [asked["redirect_uri"]] and form["client_id"] == [asked["client_id"]]
            return self._issue(asked["scope"])
        if self.gate is not None:
            await asyncio.wait_for(self.gate.wait(), 10)
        refresh = form["refresh_token"][0]
        if not self.refresh.get(refresh):
            return web.json_response({"error": "invalid_grant", "error_description": "refresh token used"},
                                     status=400)
        self.refresh[refresh] = False  # rotation: each refresh token once
        return self._issue("read")

    def expire_access_tokens(self) -> None:
        self.access = {token: 0.0 for token in self.access}


class PhotosDouble:
    def __init__(self, am: ThirdPartyAMDouble) -> None:
        self.am, self.base = am, ""
        self.seen: list[str | None] = []
        self.rejected = 0
        self.all_rejected = asyncio.Event()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get(PR_WELL_KNOWN, self.metadata)
        app.router.add_get("/photos/{name}", self.photo)
        return app

    async def metadata(self, request: web.Request) -> web.Response:
        return web.json_response({"resource": f"{self.base}/", "authorization_servers": [self.am.issuer],
                                  "scopes_supported": ["read", "write"], "realm": "photos", "sph": "sph-1"})

    async def photo(self, request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization")
        self.seen.append(auth)
        challenge = f'Bearer realm="photos", resource_metadata="{self.base}{PR_WELL_KNOWN}"'
        if auth is None:
            return web.Response(status=401, headers={"WWW-Authenticate": challenge})
        if self.am.access.get(auth.removeprefix("Bearer "), 0) <= self.am.clock():
            self.rejected += 1
            if self.rejected == N:
                self.all_rejected.set()
            return web.Response(status=401, headers={"WWW-Authenticate": challenge + ', error="invalid_token"'})
        return web.Response(text=request.match_info["name"])


class LookingStore(MemoryStore):
    """A store that tells when ``n`` lookups have been made (every request looks twice before refreshing)."""

    def __init__(self) -> None:
        super().__init__()
        self.lookups, self.target, self.looked = 0, 0, asyncio.Event()

    def tokens(self) -> list[Token]:
        self.lookups += 1
        if self.target and self.lookups >= self.target:
            self.looked.set()
        return super().tokens()


@pytest.fixture
async def doubles(aiohttp_server):
    clock = Clock()
    am = ThirdPartyAMDouble(clock)
    am.issuer = str((await aiohttp_server(am.app())).make_url("")).rstrip("/")
    sp = PhotosDouble(am)
    sp.base = str((await aiohttp_server(sp.app())).make_url("")).rstrip("/")
    return clock, am, sp


def browser(http: aiohttp.ClientSession, opened: list[str]):
    """A person's browser that approves at once: follows the AM's redirect to the loopback receiver."""
    async def open_browser(url: str) -> None:
        opened.append(url)
        async with http.get(url, allow_redirects=False) as r:
            location = r.headers["Location"]
        async with http.get(location) as r:
            assert r.status == 200 and "close this window" in await r.text()
    return open_browser


async def _logged_in(doubles, store) -> None:
    clock, am, sp = doubles
    async with aiohttp.ClientSession() as http:
        await log_in(f"{sp.base}/photos/1", store=store, open_browser=browser(http, []), scopes=["read"],
                     now=clock)


async def test_log_in_through_the_loopback_then_use_the_token(doubles):
    clock, am, sp = doubles
    store, opened = MemoryStore(), []
    async with aiohttp.ClientSession() as http:
        token = await log_in(f"{sp.base}/photos/1", store=store, open_browser=browser(http, opened), scopes=["read"],
                             now=clock)
    query = parse_qs(urlsplit(opened[0]).query)
    redirect_uri = query["redirect_uri"][0]
    assert redirect_uri.startswith("http://127.0.0.1:") and redirect_uri.endswith("/callback")
    assert int(urlsplit(redirect_uri).port) > 0
    assert query["resource"] == [f"{sp.base}/"] and query["client_id"] == ["public-1"]
    assert (token.access_token, token.refresh_token, token.client_id) == ("at-1", "rt-1", "public-1")
    assert am.grants[0]["code_verifier"][0] and am.grants[0]["redirect_uri"] == [redirect_uri]
    async with aiohttp.ClientSession(middlewares=[ProtectServeAuth(store=store, now=clock)]) as http:
        async with http.get(f"{sp.base}/photos/2") as r:
            assert (r.status, await r.text()) == (200, "2")
    assert sp.seen == [None, "Bearer at-1"]  # the login's GET, then the token; no handshake
    assert am.calls == {"register": 1, "authorize": 1, "authorization_code": 1}


async def test_a_denied_login_raises_with_the_error(doubles):
    clock, am, sp = doubles
    am.deny = True
    async with aiohttp.ClientSession() as http:
        with pytest.raises(AuthorizationError) as denied:
            await log_in(f"{sp.base}/photos/1", store=MemoryStore(), open_browser=browser(http, []))
    assert denied.value.error == "access_denied"
    assert am.calls["authorization_code"] == 0


async def _gather(auth: ProtectServeAuth, sp: PhotosDouble) -> list[tuple[int, str]]:
    async def one(http: aiohttp.ClientSession, i: int) -> tuple[int, str]:
        async with http.get(f"{sp.base}/photos/{i}") as r:
            return r.status, await r.text()
    async with aiohttp.ClientSession(middlewares=[auth]) as http:
        return await asyncio.gather(*(one(http, i) for i in range(N)))


async def test_expired_token_concurrent_requests_share_one_refresh(doubles):
    clock, am, sp = doubles
    store = LookingStore()
    await _logged_in(doubles, store)
    clock.value += 600  # expired (and within the 30 s margin)
    store.target, am.gate = store.lookups + 2 * N, store.looked  # answer once every request has looked
    results = await _gather(ProtectServeAuth(store=store, now=clock), sp)
    assert results == [(200, str(i)) for i in range(N)]
    assert am.calls["refresh_token"] == 1
    assert am.grants[-1]["refresh_token"] == ["rt-1"] and am.grants[-1]["client_id"] == ["public-1"]
    stored = store.get_token(f"{sp.base}/")
    assert (stored.access_token, stored.refresh_token) == ("at-2", "rt-2")  # the rotated one is kept
    assert set(sp.seen[1:]) == {"Bearer at-2"}  # never sent the expired one


async def test_invalid_token_answer_concurrent_requests_share_one_refresh_and_retry_once(doubles):
    clock, am, sp = doubles
    store = MemoryStore()
    await _logged_in(doubles, store)
    am.expire_access_tokens()  # revoked at the AM, though not expired by the clock
    am.gate = sp.all_rejected  # the refresh answers once all N requests got their 401
    results = await _gather(ProtectServeAuth(store=store, now=clock), sp)
    assert results == [(200, str(i)) for i in range(N)]
    assert am.calls["refresh_token"] == 1
    assert sp.seen[1:].count("Bearer at-1") == N and sp.seen[1:].count("Bearer at-2") == N
    assert store.get_token(f"{sp.base}/").refresh_token == "rt-2"


async def test_a_second_401_after_the_refresh_goes_back_as_is(doubles):
    clock, am, sp = doubles
    store = MemoryStore()
    await _logged_in(doubles, store)
    am.expire_access_tokens()
    am._issue, issue = (lambda scope: _expired(am, issue(scope))), am._issue  # the new token is refused too
    async with aiohttp.ClientSession(middlewares=[ProtectServeAuth(store=store, now=clock)]) as http:
        async with http.get(f"{sp.base}/photos/1") as r:
            assert r.status == 401
    assert am.calls["refresh_token"] == 1 and sp.seen[1:] == ["Bearer at-1", "Bearer at-2"]


def _expired(am: ThirdPartyAMDouble, response: web.Response) -> web.Response:
    am.expire_access_tokens()
    return response


async def test_refused_refresh_raises_login_required_and_never_retries_it(doubles):
    clock, am, sp = doubles
    store = MemoryStore()
    await _logged_in(doubles, store)
    am.refresh["rt-1"] = False  # revoked (e.g. the family, after a reuse)
    clock.value += 600
    auth = ProtectServeAuth(store=store, now=clock)
    async with aiohttp.ClientSession(middlewares=[auth]) as http:
        for _ in range(2):
            with pytest.raises(LoginRequired) as required:
                async with http.get(f"{sp.base}/photos/1"):
                    pass
    assert str(required.value) == f"log in again: python -m consumer_sdk login {sp.base}/"
    assert am.calls["refresh_token"] == 1  # the refused refresh token is forgotten, not presented again
    assert store.get_token(f"{sp.base}/").refresh_token is None
    assert sp.seen == [None]  # nothing sent to the service, and no silent handshake


async def test_login_without_refresh_token_raises_login_required(doubles):
    clock, am, sp = doubles
    store = MemoryStore()
    store.put_token(Token("at-x", "Bearer", clock() - 1, frozenset({"read"}), "photos", f"{sp.base}/", am.issuer,
                          client_id="public-1", token_endpoint=f"{am.issuer}/token"))
    auth = ProtectServeAuth(store=store, now=clock)
    async with aiohttp.ClientSession(middlewares=[auth]) as http:
        with pytest.raises(LoginRequired):
            async with http.get(f"{sp.base}/photos/1"):
                pass
    assert am.calls["refresh_token"] == 0 and sp.seen == []


async def test_cli_get_says_log_in_again(doubles, tmp_path):
    clock, am, sp = doubles
    store = FileStore(tmp_path / "c.json")
    store.put_token(Token("at-x", "Bearer", 1.0, frozenset({"read"}), "photos", f"{sp.base}/", am.issuer,
                          client_id="public-1", token_endpoint=f"{am.issuer}/token"))
    args = cli.build_parser().parse_args(["get", f"{sp.base}/photos/1", "--store", str(tmp_path / "c.json")])
    stderr = io.StringIO()
    assert await cli.run(args, stdout=io.BytesIO(), stderr=stderr) == 1
    assert stderr.getvalue() == (f"error: LoginRequired: log in again: python -m consumer_sdk login {sp.base}/\n")


async def test_file_store_keeps_the_login_0600_and_hides_it(doubles, tmp_path):
    clock, am, sp = doubles
    path = tmp_path / "dir" / "credentials.json"
    await _logged_in(doubles, FileStore(path))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    data = json.loads(path.read_text())
    assert data["public_clients"] == {am.issuer: {"client_id": "public-1"}}
    entry = data["tokens"][f"{sp.base}/"]
    assert (entry["refresh_token"], entry["client_id"], entry["token_endpoint"]) == (
        "rt-1", "public-1", f"{am.issuer}/token")
    token = FileStore(path).get_token(f"{sp.base}/")
    assert token.refresh_token == "rt-1" and FileStore(path).get_public_client(am.issuer) == "public-1"
    assert "rt-1" not in repr(token) and "at-1" not in repr(token)
    clock.value += 600  # a refresh through the file store stores the rotated token
    async with aiohttp.ClientSession(middlewares=[ProtectServeAuth(store=FileStore(path), now=clock)]) as http:
        async with http.get(f"{sp.base}/photos/1") as r:
            assert r.status == 200
    assert json.loads(path.read_text())["tokens"][f"{sp.base}/"]["refresh_token"] == "rt-2"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_an_opener_that_fails_ends_the_login(doubles):
    clock, am, sp = doubles

    async def broken(url: str) -> None:
        raise RuntimeError("no browser here")

    with pytest.raises(RuntimeError, match="no browser here"):
        await log_in(f"{sp.base}/photos/1", store=MemoryStore(), open_browser=broken, timeout=10)
    assert am.calls["authorize"] == 0


async def test_no_redirect_in_time_is_a_login_timeout(doubles):
    clock, am, sp = doubles
    opened: list[str] = []
    with pytest.raises(LoginTimeout):
        await log_in(f"{sp.base}/photos/1", store=MemoryStore(), open_browser=opened.append, timeout=0.05)
    assert len(opened) == 1 and am.calls["authorization_code"] == 0


BROWSER_SCRIPT = """
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=10) as r:  # follows the AM's 302 to the loopback receiver
    assert b"close this window" in r.read()
"""


async def test_the_login_command_with_the_system_browser(doubles, tmp_path):
    """``python -m consumer_sdk login`` in a process of its own; ``$BROWSER`` is a script that
    approves at once (the AM double redirects) and follows the redirect to the loopback receiver."""
    clock, am, sp = doubles
    script = tmp_path / "browser.py"
    script.write_text(BROWSER_SCRIPT)
    store = tmp_path / "credentials.json"
    env = {**os.environ, "BROWSER": f"{sys.executable} {script} %s"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "consumer_sdk", "login", f"{sp.base}/photos/1", "--scope", "read", "--store",
        str(store), "--timeout", "20", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, stderr.decode()
    assert stderr.decode() == (f"logged in for {sp.base}/ at {am.issuer} (scope: read; refresh token: kept)\n")
    assert stdout == b""
    assert "at-1" not in stderr.decode() and "rt-1" not in stderr.decode()
    token = FileStore(store).get_token(f"{sp.base}/")
    assert (token.access_token, token.refresh_token, token.client_id) == ("at-1", "rt-1", "public-1")


async def test_the_login_command_prints_the_url_with_no_browser(doubles, tmp_path):
    clock, am, sp = doubles
    args = cli.build_parser().parse_args(["login", f"{sp.base}/photos/1", "--store", str(tmp_path / "c.json"),
                                          "--no-browser", "--timeout", "0.05"])
    stderr = io.StringIO()
    assert await cli.run_login(args, stdout=io.BytesIO(), stderr=stderr) == 1
    lines = stderr.getvalue().splitlines()
    assert lines[0] == "Open this URL in your browser to log in:"
    assert lines[1].startswith(f"{am.issuer}/authorize?response_type=code&client_id=public-1&")
    assert lines[2].startswith("error: LoginTimeout: no redirect reached http://127.0.0.1:")


@pytest.mark.parametrize("shared", ["file", "memory"])
async def test_two_clients_of_one_store_refresh_once(doubles, tmp_path, shared):
    """Two middlewares (for the file: as two processes would, each with its own FileStore on the
    credential file) refresh one login at once: one refresh, whose rotated token both use; a second
    refresh with the old refresh token would be a reuse, revoking the family (RFC 9700 §4.14.2)."""
    clock, am, sp = doubles
    memory = MemoryStore()
    stores = [FileStore(tmp_path / "c.json"), FileStore(tmp_path / "c.json")] if shared == "file" else [memory, memory]
    await _logged_in(doubles, stores[0])
    clock.value += 600
    first, second = (ProtectServeAuth(store=store, now=clock) for store in stores)

    async def one(auth: ProtectServeAuth, i: int) -> int:
        async with aiohttp.ClientSession(middlewares=[auth]) as http, http.get(f"{sp.base}/photos/{i}") as r:
            return r.status

    assert await asyncio.gather(one(first, 1), one(second, 2)) == [200, 200]
    assert am.calls["refresh_token"] == 1
    assert stores[1].get_token(f"{sp.base}/").refresh_token == "rt-2"
    if shared == "file":
        assert stat.S_IMODE((tmp_path / "c.json.lock").stat().st_mode) == 0o600
