"""Asking the realm owner, end to end over real sockets: consumer_sdk's ProtectServeAuth against the
real AM and the rs_middleware example service (routes need read / write). The owner answers with
the functions ``authmanager requests approve|deny`` and ``grants revoke`` call. The SDK's sleep is
injected: each wait is reported to the test and held until it lets it go (moving the AM's clock)."""

import asyncio

import aiohttp
import pytest
from sqlalchemy import func, select

from authmanager.operations.approvals import approve_request, deny_request, list_grants, list_requests, revoke_grant
from authmanager.serving import bound_socket, serve
from authmanager.storage.models import AccessRequest
from consumer_sdk import AccessDenied, AccessPending, MemoryStore, PendingTicket, ProtectServeAuth
from rs_middleware.example import create_example_app

HANDSHAKE = ["challenge", "resource_metadata", "am_metadata"]


class Owner:
    """The test's hold on the SDK's waits: ``sleep`` reports each wait and blocks until released;
    released with ``advance``, the AM's clock moves by the wait's length."""

    def __init__(self, clock):
        self.clock, self.waits = clock, []
        self._asleep: asyncio.Queue[float] = asyncio.Queue()
        self._wake: asyncio.Queue[bool] = asyncio.Queue()

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self._asleep.put_nowait(seconds)
        if await self._wake.get():
            self.clock.advance(seconds)

    async def waiting(self) -> float:
        return await asyncio.wait_for(self._asleep.get(), 10)

    def release(self, *, advance: bool = True) -> None:
        self._wake.put_nowait(advance)


class World:
    def __init__(self, am, clock, sp, realm):
        self.am, self.clock, self.sp, self.realm = am, clock, sp, realm
        self.owner = Owner(clock)
        self.steps = []

    def auth(self, store=None, *, timeout=60.0, name="printer"):
        self.steps = []
        return ProtectServeAuth(store=store if store is not None else MemoryStore(), client_name=name,
                                scopes=["read", "write"], approval_timeout=timeout, sleep=self.owner.sleep,
                                now=self.clock, on_step=self.steps.append)

    def names(self):
        return [step.name for step in self.steps]

    async def pending(self):
        return await list_requests(self.am.ctx.sessions, now=int(self.clock()))

    async def requests_made(self):
        async with self.am.ctx.sessions() as session:
            return await session.scalar(select(func.count()).select_from(AccessRequest))


async def _world(am, clock, mode):
    sock = bound_socket()
    resource = "http://127.0.0.1:%d/" % sock.getsockname()[1]
    realm = await am.create_realm("photos", resource=resource, scopes=["read", "write"])
    await am.add_policy("photos", "ask", ["read", "write"])
    app = create_example_app(realm="photos", resource=resource, authorization_manager=am.issuer, sph=realm.sph,
                             sph_secret=realm.sph_secret, mode=mode, now=clock)
    return realm, app, sock, resource


@pytest.fixture
async def world(am, clock):
    realm, app, sock, resource = await _world(am, clock, "jwks")
    async with serve(app, sock):
        yield World(am, clock, resource, realm)


async def _get(http, url):
    async with http.get(url) as r:
        return r.status


async def test_ask_partial_approval_token_saved_grant_and_no_second_ask(world):
    store = MemoryStore()
    async with aiohttp.ClientSession(middlewares=[world.auth(store)]) as http:
        get = asyncio.ensure_future(_get(http, world.sp + "photos/"))
        assert await world.owner.waiting() == 5
        [request] = await world.pending()
        assert request["consumer"] == "printer" and request["realm"] == "photos" and request["ask"] == ["read", "write"]
        assert [(s["name"], s["title"], s["ask"]) for s in request["scopes"]] == [("read", "read", True),
                                                                                 ("write", "write", True)]
        assert store.get_pending(world.sp).ticket  # kept while waiting
        await approve_request(world.am.ctx.sessions, request["id"], scopes=["read"], now=int(world.clock()))
        world.owner.release()
        assert await asyncio.wait_for(get, 10) == 200
        assert world.names() == [*HANDSHAKE, "register", "token", "poll", "retry"]
        token_step, poll_step = world.steps[4], world.steps[5]
        assert (token_step.status, token_step.detail["error"]) == (403, "request_submitted")
        assert poll_step.status == 200 and "ticket" not in str(world.steps)
        assert store.get_token(world.sp).scope == {"read"} and store.get_pending(world.sp) is None

        # write was refused by the same answer: the handshake asks nothing and gets read only
        world.steps.clear()
        async with http.post(world.sp + "photos/", json={"title": "x"}) as r:
            assert r.status == 403
        assert "poll" not in world.names() and world.steps[-2].detail["granted_scope"] == "read"

    store.delete_token(world.sp)  # a later session with the same consumer key: no second ask
    async with aiohttp.ClientSession(middlewares=[world.auth(store)]) as http:
        assert await _get(http, world.sp + "photos/1") == 200
    assert world.names() == [*HANDSHAKE, "token", "retry"] and world.owner.waits == [5]
    assert await world.pending() == [] and await world.requests_made() == 1
    [grant] = await list_grants(world.am.ctx.sessions, realm="photos")
    assert grant["scopes"] == ["read"] and grant["refused"] == ["write"]


async def test_denied_raises_access_denied_with_the_ticket(world):
    store = MemoryStore()
    async with aiohttp.ClientSession(middlewares=[world.auth(store)]) as http:
        get = asyncio.ensure_future(_get(http, world.sp + "photos/"))
        await world.owner.waiting()
        ticket = store.get_pending(world.sp).ticket
        [request] = await world.pending()
        await deny_request(world.am.ctx.sessions, request["id"], now=int(world.clock()))
        world.owner.release()
        with pytest.raises(AccessDenied) as denied:
            await asyncio.wait_for(get, 10)
    assert denied.value.error == "request_denied" and denied.value.ticket == ticket
    assert store.get_pending(world.sp) is None


async def test_slow_down_lengthens_the_interval(world):
    async with aiohttp.ClientSession(middlewares=[world.auth()]) as http:
        get = asyncio.ensure_future(_get(http, world.sp + "photos/"))
        assert await world.owner.waiting() == 5
        world.owner.release(advance=False)  # the poll comes too early for the AM
        assert await world.owner.waiting() == 10
        [request] = await world.pending()
        await approve_request(world.am.ctx.sessions, request["id"], now=int(world.clock()))
        world.owner.release()
        assert await asyncio.wait_for(get, 10) == 200
    polls = [s for s in world.steps if s.name == "poll"]
    assert [(p.status, p.detail["error"]) for p in polls] == [(400, "slow_down"), (200, None)]


async def test_timeout_raises_access_pending_and_the_next_request_resumes(world):
    store = MemoryStore()
    async with aiohttp.ClientSession(middlewares=[world.auth(store, timeout=12)]) as http:
        get = asyncio.ensure_future(_get(http, world.sp + "photos/"))
        for _ in range(2):
            assert await world.owner.waiting() == 5
            world.owner.release()
        with pytest.raises(AccessPending) as pending:
            await asyncio.wait_for(get, 10)
        assert world.owner.waits == [5, 5]  # a third wait would pass 12 s
        assert pending.value.ticket == store.get_pending(world.sp).ticket
        assert (pending.value.realm, pending.value.issuer, pending.value.resource) == (
            "photos", world.am.issuer, world.sp)
        assert "ticket" not in repr(pending.value) and pending.value.ticket not in str(pending.value)

        [request] = await world.pending()
        await approve_request(world.am.ctx.sessions, request["id"], now=int(world.clock()))
        world.steps.clear()
        assert await _get(http, world.sp + "photos/") == 200  # polls with the kept ticket first
    assert world.names() == ["challenge", "resource_metadata", "am_metadata", "poll", "retry"]
    assert store.get_pending(world.sp) is None and await world.requests_made() == 1


async def test_an_expired_kept_ticket_starts_afresh(world):
    store = MemoryStore()
    async with aiohttp.ClientSession(middlewares=[world.auth(store, timeout=0)]) as http:
        with pytest.raises(AccessPending) as first:
            await _get(http, world.sp + "photos/")
        world.clock.advance(901)
        world.steps.clear()
        with pytest.raises(AccessPending) as second:
            await _get(http, world.sp + "photos/")
    assert [(s.name, s.status, s.detail.get("error")) for s in world.steps[3:]] == [
        ("poll", 400, "invalid_grant"), ("token", 403, "request_submitted")]
    assert second.value.ticket != first.value.ticket and await world.requests_made() == 2


async def test_another_consumers_ticket_is_refused_and_the_consumer_asks_for_itself(world):
    alice, mallory = MemoryStore(), MemoryStore()
    async with aiohttp.ClientSession(middlewares=[world.auth(alice, timeout=0, name="alice")]) as http:
        with pytest.raises(AccessPending) as alices:
            await _get(http, world.sp + "photos/")
    async with aiohttp.ClientSession(middlewares=[world.auth(mallory, timeout=0, name="mallory")]) as http:
        with pytest.raises(AccessPending):
            await _get(http, world.sp + "photos/")
        own = mallory.get_pending(world.sp)
        mallory.put_pending(PendingTicket(ticket=alices.value.ticket, resource=own.resource, realm=own.realm,
                                          issuer=own.issuer, client_id=own.client_id, scopes=own.scopes,
                                          interval=own.interval))  # a leaked ticket, signed with her own key
        [alices_request, _] = await world.pending()
        await approve_request(world.am.ctx.sessions, alices_request["id"], now=int(world.clock()))
        world.steps.clear()
        with pytest.raises(AccessPending):
            await _get(http, world.sp + "photos/")
    assert [(s.name, s.status, s.detail.get("error")) for s in world.steps[3:]] == [
        ("poll", 400, "invalid_grant"), ("token", 403, "request_submitted")]


async def test_revoking_the_grant_revokes_live_tokens_and_the_next_request_asks_again(am, clock):
    realm, app, sock, resource = await _world(am, clock, "introspection")
    async with serve(app, sock):
        world = World(am, clock, resource, realm)
        store = MemoryStore()
        async with aiohttp.ClientSession(middlewares=[world.auth(store, timeout=0)]) as http:
            with pytest.raises(AccessPending):
                await _get(http, world.sp + "photos/")
            [request] = await world.pending()
            answer = await approve_request(am.ctx.sessions, request["id"], now=int(clock()))
            assert await _get(http, world.sp + "photos/") == 200
            held = store.get_token(world.sp).access_token
            result = await revoke_grant(am.ctx.sessions, answer["grant_id"], now=int(clock()))
            assert result["tokens_revoked"] == 1
            async with aiohttp.ClientSession() as plain:
                async with plain.get(world.sp + "photos/", headers={"Authorization": f"Bearer {held}"}) as r:
                    assert r.status == 401  # revoked at the AM, refused by the SP at once
            with pytest.raises(AccessPending):
                await _get(http, world.sp + "photos/")  # the grant is gone: the owner is asked again
    assert len(await world.pending()) == 1


async def test_consumer_cli_reports_pending_and_resumes_from_its_file_store(world, tmp_path):
    import io

    from consumer_sdk.__main__ import build_parser, run

    args = build_parser().parse_args(["get", world.sp + "photos/", "--scope", "read", "--approval-timeout", "0",
                                      "--store", str(tmp_path / "credentials.json")])
    out, err = io.BytesIO(), io.StringIO()
    assert await run(args, stdout=out, stderr=err) == 1
    assert "AccessPending" in err.getvalue() and "request_submitted" in err.getvalue()
    [request] = await world.pending()
    await approve_request(world.am.ctx.sessions, request["id"], now=int(world.clock()))
    out, err = io.BytesIO(), io.StringIO()
    assert await run(args, stdout=out, stderr=err) == 0, err.getvalue()
    assert b"photos" in out.getvalue() and await world.requests_made() == 1
