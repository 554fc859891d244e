"""``@requires`` fails closed, against real aiohttp apps on 127.0.0.1 sockets: on ``web.View``
methods and classes (resolved as ``web.View`` dispatches: ``HEAD`` and unknown methods included),
on a marked function reached without the middleware, and a route table that hides a marker
(a decorator without ``functools.wraps``, a ``partial``, a marked View called from a function, in
a sub-application or added after ``protect()``) refuses to start, naming the route."""

from __future__ import annotations

import functools
from typing import Any

import pytest
from aiohttp import web

import rs_middleware
from rs_middleware import protect, requires, token_claims
from test_rs_middleware import BASE_CHALLENGE, RESOURCE, SPH, SPH_SECRET, FakeAM, am, clock  # noqa: F401

INSUFFICIENT = BASE_CHALLENGE + (', error="insufficient_scope", '
                                  'error_description="token lacks the scope this resource requires", ')


def _protect(app: web.Application, am: FakeAM, clock: Any) -> None:
    protect(app, realm="photos", resource=RESOURCE, authorization_manager=am.issuer, sph=SPH,
            sph_secret=SPH_SECRET, scopes=("read", "write"), now=clock)


def _no_wraps(fn):  # type: ignore[no-untyped-def]
    """A decorator that forgets functools.wraps: the marked function is only in its closure."""
    async def wrapper(*args):  # type: ignore[no-untyped-def]
        return await fn(*args)
    return wrapper


def _by_attribute(fn):  # type: ignore[no-untyped-def]
    """A wrapper that keeps ``__wrapped__`` (as update_wrapper does) but not the marker."""
    async def wrapper(request):  # type: ignore[no-untyped-def]
        return await wrapper.__wrapped__(request)
    wrapper.__wrapped__ = fn
    return wrapper


def _logged(fn):  # type: ignore[no-untyped-def]
    """A well-behaved decorator over @requires: functools.wraps carries the marker."""
    @functools.wraps(fn)
    async def wrapper(*args):  # type: ignore[no-untyped-def]
        return await fn(*args)
    return wrapper


async def test_view_methods_classes_and_marked_functions_fail_closed(aiohttp_client: Any, am: FakeAM,
                                                                     clock: Any) -> None:
    ran: list[str] = []

    class Photos(web.View):
        async def get(self) -> web.Response:
            ran.append("photos get")
            return web.json_response({"open": True})

        @requires("write")
        async def post(self) -> web.Response:
            ran.append("photos post")
            return web.json_response({"client": token_claims(self.request)["client_id"]})

        @_logged
        @requires("read")
        async def put(self) -> web.Response:
            ran.append("photos put")
            return web.json_response({})

    @requires("read")
    class Album(web.View):
        async def get(self) -> web.Response:
            ran.append("album get")
            return web.json_response({})

        @requires("write")
        async def post(self) -> web.Response:
            ran.append("album post")
            return web.json_response({})

    @requires("read")
    async def photo(request: web.Request) -> web.Response:
        ran.append("photo")
        return web.json_response({})

    table = {"photo": photo}  # reached by lookup, not as a route's handler: only the guard sees it

    async def dispatch(request: web.Request) -> web.Response:
        return await table[request.match_info["name"]](request)

    app = web.Application()
    _protect(app, am, clock)
    app.router.add_view("/photos", Photos)
    app.router.add_view("/album", Album)
    app.router.add_get("/via/{name}", dispatch)
    app.router.add_get("/logged", _logged(photo))
    client = await aiohttp_client(app)

    async def call(method: str, path: str, scope: str | None = None) -> Any:
        headers = {} if scope is None else {"Authorization": f"Bearer {am.token(scope=scope)}"}
        return await client.request(method, path, headers=headers)

    assert (await call("GET", "/photos")).status == 200  # an unmarked method stays open
    for method, path, needed in (("POST", "/photos", "write"), ("PUT", "/photos", "read"), ("GET", "/album", "read"),
                                 ("POST", "/album", "read write"), ("GET", "/via/photo", "read"),
                                 ("GET", "/logged", "read"), ("HEAD", "/logged", "read")):
        resp = await call(method, path)  # the 401 names the scopes this method needs (RFC 6750 §3)
        assert (resp.status, resp.headers["WWW-Authenticate"]) == (401, BASE_CHALLENGE + f', scope="{needed}"'), \
            (method, path)
    for method, path, scope, needed in (("POST", "/photos", "read", "write"), ("PUT", "/photos", "write", "read"),
                                        ("POST", "/album", "read", "read write"), ("GET", "/album", "write", "read"),
                                        ("GET", "/via/photo", "write", "read")):
        resp = await call(method, path, scope)
        assert (resp.status, resp.headers["WWW-Authenticate"]) == (403, INSUFFICIENT + f'scope="{needed}"')
    # web.View maps neither HEAD to get nor an unknown method to anything: 405, nothing runs.
    assert [(await call(m, "/photos")).status for m in ("HEAD", "PROPFIND")] == [405, 405]
    assert ran == ["photos get"]
    resp = await call("POST", "/photos", "write")
    assert resp.status == 200 and await resp.json() == {"client": "ck1"}
    for method, path, scope in (("PUT", "/photos", "read"), ("GET", "/album", "read"),
                                ("POST", "/album", "read write"), ("GET", "/via/photo", "read"),
                                ("GET", "/logged", "read")):
        assert (await call(method, path, scope)).status == 200, (method, path)
    assert ran == ["photos get", "photos post", "photos put", "album get", "album post", "photo", "photo"]


async def _open(request: web.Request) -> web.Response:
    return web.json_response({})


def _hidden_route(app: web.Application, case: str) -> str:
    """Add to ``app`` (after protect()) one route that hides a marker; the route the error names."""

    @requires("read")
    async def read(request: web.Request) -> web.Response:
        return web.json_response({})

    @requires("write")
    async def write(request: web.Request) -> web.Response:
        return web.json_response({})

    @requires("read")
    async def tagged(tag: str, request: web.Request) -> web.Response:
        return web.json_response({"tag": tag})

    @requires("read")
    class Marked(web.View):
        async def get(self) -> web.Response:
            return web.json_response({})

    async def calls_view(request: web.Request) -> web.StreamResponse:
        return await Marked(request)

    class Photos(web.View):
        async def get(self) -> web.Response:
            return web.json_response({})

        @_no_wraps
        @requires("write")
        async def post(self) -> web.Response:
            return web.json_response({})

    if case == "closure":
        app.router.add_post("/closure", _no_wraps(write))
        return "POST /closure"
    if case == "wrapped":
        app.router.add_get("/wrapped", _by_attribute(read), allow_head=False)
        return "GET /wrapped"
    if case == "partial":
        app.router.add_get("/partial", functools.partial(tagged, "x"), allow_head=False)
        return "GET /partial"
    if case == "view method":
        app.router.add_view("/view", Photos)
        return "POST /view"
    if case == "view class":
        app.router.add_get("/calls-view", calls_view)
        return "GET/HEAD /calls-view"
    if case == "narrower":
        app.router.add_post("/narrower", requires("read")(_no_wraps(write)))
        return "POST /narrower"
    sub, inner = web.Application(), web.Application()
    inner.router.add_get("/deep", _no_wraps(read), allow_head=False)
    sub.add_subapp("/inner", inner)
    app.add_subapp("/sub", sub)
    return "GET /sub/inner/deep"


@pytest.mark.parametrize("case", ["closure", "wrapped", "partial", "view method", "view class", "narrower",
                                  "sub-application"])
async def test_a_route_that_hides_a_marker_refuses_to_start(aiohttp_server: Any, am: FakeAM, clock: Any,
                                                            case: str) -> None:
    app = web.Application()
    app.router.add_get("/fine", _logged(requires("read")(_open)))  # a marker functools.wraps carried
    _protect(app, am, clock)
    route = _hidden_route(app, case)
    with pytest.raises(RuntimeError) as refused:
        await aiohttp_server(app)
    assert isinstance(refused.value, rs_middleware.UnprotectedRoute)
    lines = str(refused.value).splitlines()
    assert lines[0].startswith("ProtectServe refuses to start") and len(lines) == 2
    assert lines[1].startswith(f"  {route}: ") and "/fine" not in str(refused.value)
    assert am.user_agents == []  # refused before the AM was even asked for its metadata


async def test_every_hiding_route_is_named_in_one_error(aiohttp_server: Any, am: FakeAM, clock: Any) -> None:
    app = web.Application()
    _protect(app, am, clock)
    routes = [_hidden_route(app, case) for case in ("closure", "view method", "sub-application")]
    with pytest.raises(RuntimeError) as refused:
        await aiohttp_server(app)
    assert [line.split(": ")[0].strip() for line in str(refused.value).splitlines()[1:]] == routes


async def test_a_route_added_while_starting_up_is_refused_on_the_first_request(aiohttp_client: Any, am: FakeAM,
                                                                            clock: Any) -> None:
    @requires("read")
    async def read(request: web.Request) -> web.Response:
        raise AssertionError("never runs")

    async def open_(request: web.Request) -> web.Response:
        return web.json_response({})

    async def add_late(app: web.Application) -> None:  # runs after ProtectServe's start-up audit
        app.router.add_get("/late", _no_wraps(read))

    app = web.Application()
    _protect(app, am, clock)
    app.router.add_get("/open", open_)
    app.on_startup.append(add_late)
    client = await aiohttp_client(app)
    assert [(await client.get(path)).status for path in ("/open", "/late", "/open")] == [500, 500, 500]
