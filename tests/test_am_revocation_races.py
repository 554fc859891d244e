"""No token of a revoked consumer key or saved grant is active once the revocation has answered
(issue 11, item 3), whatever was in flight when it began, on SQLite and PostgreSQL.

Each test holds a transaction that issues something — the group commit's batch, an UMA poll, a
grasshopper mint, a ticket redemption — between its reads and its commit, starts the revocation
from another connection, waits until the revocation is provably blocked (PostgreSQL: an ungranted
lock in ``pg_locks``) or has already answered, releases the held transaction, and checks that
everything it issued is revoked — by introspection, which answers from this process's memory of
tokens as well as from the database.

On PostgreSQL the issuing transactions read the key's (and the grant's) row ``FOR SHARE`` and a
revocation updates that row before it looks for tokens, so one waits for the other. On SQLite
every write transaction begins with ``BEGIN IMMEDIATE``, which takes the database's one write lock
for the whole transaction: the probe below shows that no other writer can even begin while the
held transaction runs, so a revocation necessarily comes wholly before or wholly after it."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import aiohttp
import asyncpg
import pytest
from adminkit import api, make_admin, make_token
from amkit import UMA_TICKET, register, request_token
from signers import FORM, sign_9421
from sqlalchemy.util import await_only
from test_am_identifiers import basic
from test_am_ticket import _shared

from authmanager.grants import uma_ticket
from authmanager.operations.approvals import approve_request, list_requests
from authmanager.secretbox import digest
from authmanager.storage import consumers as consumer_repo
from authmanager.storage import tokens as token_repo

RESOURCE = "http://127.0.0.1:1/"


class Hold:
    """Where a transaction is held: ``reached`` once it is there, ``release`` to let it commit."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.reached, self.release = asyncio.Event(), asyncio.Event()

    async def here(self) -> None:
        self.reached.set()
        await self.release.wait()

    def here_sync(self, conn) -> None:
        """From inside the group commit's synchronous transaction function: on PostgreSQL it runs
        in a greenlet of the event loop (await through it), on SQLite in the transactor's thread."""
        if conn.dialect.name == "postgresql":
            await_only(self.here())
            return
        done = threading.Event()
        self.loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self.here()).add_done_callback(
            lambda _: done.set()))
        done.wait(30)


class HeldBatch:
    """The AM's transactor, with the first batch held after all its statements, before COMMIT."""

    def __init__(self, inner, hold: Hold):
        self.inner, self.hold, self.sizes = inner, hold, []

    async def __call__(self, fn, batch, *args):
        self.sizes.append(len(batch))
        if len(self.sizes) > 1:
            return await self.inner(fn, batch, *args)

        def held(conn, *a):
            result = fn(conn, *a)
            self.hold.here_sync(conn)
            return result

        return await self.inner(held, batch, *args)

    async def close(self):
        await self.inner.close()


async def blocked_or_done(am, task: asyncio.Task) -> None:
    """Return once ``task`` (a revocation) has answered or is provably blocked behind the held
    transaction. On SQLite, prove instead that no writer can begin while it is held."""
    url = am.settings.database_url
    if url.startswith("sqlite"):
        probe = sqlite3.connect(url.split("///", 1)[1], timeout=0)
        try:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                probe.execute("BEGIN IMMEDIATE")
        finally:
            probe.close()
        return
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        deadline = asyncio.get_running_loop().time() + 10
        while not task.done():
            waiting = await conn.fetchval(
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE NOT l.granted AND a.datname = current_database()")
            if waiting:
                return
            assert asyncio.get_running_loop().time() < deadline, "the revocation neither waits nor answers"
            await asyncio.sleep(0.01)  # polling a condition, bounded by the deadline
    finally:
        await conn.close()


async def active(http, am, realm, token: str) -> bool:
    async with http.post(am.url("/introspect"), data={"token": token},
                         headers=basic(realm.sph, realm.sph_secret)) as r:
        return (await r.json())["active"]


@pytest.fixture
async def world(am):
    realm = await am.create_realm("photos", resource=RESOURCE, scopes=["read", "write"])
    await am.add_policy("photos", "permit", ["read"])
    await am.add_policy("photos", "ask", ["write"])
    await make_admin(am)
    async with aiohttp.ClientSession() as http:
        yield am, realm, http, await make_token(am)


@pytest.mark.parametrize("revoked", ["consumer", "grant"])
async def test_tokens_a_batch_issues_while_their_key_or_grant_is_revoked_are_revoked(world, revoked):
    am, realm, http, admin_token = world
    client = await register(http, am)
    # A token first: the key's secret is then in the AM's memory, and the held batch's requests
    # need not read it (on SQLite that read would wait behind the held write transaction).
    status, first, _ = await request_token(http, am, client, realm.sph, "read")
    assert status == 200
    scope = "read"
    if revoked == "grant":  # the tokens rest on the owner's saved answer
        scope = "write"
        assert (await request_token(http, am, client, realm.sph, scope))[1]["error"] == "request_submitted"
        [pending] = await list_requests(am.ctx.sessions, now=int(am.clock()))
        grant_id = (await approve_request(am.ctx.sessions, pending["id"], now=int(am.clock())))["grant_id"]
    hold = Hold()
    held = am.ctx.transact = HeldBatch(am.ctx.transact, hold)
    requests = asyncio.gather(*[request_token(http, am, client, realm.sph, scope) for _ in range(12)])
    await hold.reached.wait()
    deadline = asyncio.get_running_loop().time() + 10
    while held.sizes[0] + am.ctx.issuance.waiting < 12:  # the rest queue behind the held batch
        assert asyncio.get_running_loop().time() < deadline, am.ctx.issuance.waiting
        await asyncio.sleep(0.01)  # polling a condition; the held batch cannot finish meanwhile
    am.clock.advance(-2)  # the revoking side's clock a little behind the issuing one's
    path = f"/consumers/{client['client_id']}/revoke" if revoked == "consumer" else f"/grants/{grant_id}/revoke"
    revocation = asyncio.create_task(api(http, am, "POST", path, admin_token))
    await blocked_or_done(am, revocation)
    hold.release.set()
    answers = await requests
    assert (await revocation)[0] == 200
    am.ctx.transact = held.inner
    # The held batch's tokens, and those of a batch that ran before the revocation got its turn;
    # a batch after it is refused (invalid_client), or asked again (request_submitted).
    tokens = [body["access_token"] for status, body, _ in answers if status == 200]
    if revoked == "consumer":
        tokens.append(first["access_token"])
    assert tokens and {body.get("error") for status, body, _ in answers if status != 200} <= {
        "invalid_client", "request_submitted"}, answers
    assert [await active(http, am, realm, token) for token in tokens] == [False] * len(tokens)
    async with am.ctx.sessions() as session:  # the database agrees with this process's memory
        rows = [await token_repo.by_hash(session, digest(token)) for token in tokens]
    assert all(row.revoked_at is not None for row in rows)


async def test_a_token_an_uma_poll_issues_while_the_key_is_revoked_is_revoked(world, monkeypatch):
    am, realm, http, admin_token = world
    client = await register(http, am)
    status, body, _ = await request_token(http, am, client, realm.sph, "write", created=am.clock())
    [pending] = await list_requests(am.ctx.sessions, now=int(am.clock()))
    await approve_request(am.ctx.sessions, pending["id"], now=int(am.clock()))
    am.clock.advance(5)
    hold, mint = Hold(), uma_ticket.mint_for_consumer

    async def held_mint(*args, **kwargs):
        issued = await mint(*args, **kwargs)
        await hold.here()
        return issued

    monkeypatch.setattr(uma_ticket, "mint_for_consumer", held_mint)
    poll_body = f"grant_type={UMA_TICKET}&ticket={body['ticket']}".encode()
    headers = {**sign_9421(am.url("/token"), poll_body, client["client_id"], client["client_secret"],
                           created=am.clock()), "Content-Type": FORM}
    polled = asyncio.create_task(_post(http, am.url("/token"), poll_body, headers))
    await hold.reached.wait()
    revocation = asyncio.create_task(api(http, am, "POST", f"/consumers/{client['client_id']}/revoke", admin_token))
    await blocked_or_done(am, revocation)
    hold.release.set()
    status, answer = await polled
    assert status == 200 and (await revocation)[0] == 200
    assert await active(http, am, realm, answer["access_token"]) is False


async def test_a_sub_key_minted_while_its_master_is_revoked_is_revoked(world, monkeypatch):
    am, realm, http, admin_token = world
    parent = await register(http, am)
    hold, add = Hold(), consumer_repo.add

    async def held_add(session, consumer):
        await add(session, consumer)
        await hold.here()

    monkeypatch.setattr(consumer_repo, "add", held_add)
    body = b"ttl=600"
    headers = {**sign_9421(am.url("/grasshopper"), body, parent["client_id"], parent["client_secret"]),
               "Content-Type": FORM}
    minted = asyncio.create_task(_post(http, am.url("/grasshopper"), body, headers))
    await hold.reached.wait()
    revocation = asyncio.create_task(api(http, am, "POST", f"/consumers/{parent['client_id']}/revoke", admin_token))
    await blocked_or_done(am, revocation)
    hold.release.set()
    status, sub = await minted
    assert status == 201 and (await revocation)[0] == 200
    status, answer, _ = await request_token(http, am, sub, realm.sph, "read")
    assert (status, answer["error"]) == (401, "invalid_client")
    async with am.ctx.sessions() as session:
        assert (await consumer_repo.get(session, sub["client_id"])).revoked_at is not None


async def test_a_ticket_redeemed_while_its_grant_is_revoked_leaves_no_active_token(world, clock, monkeypatch):
    am, realm, http, admin_token = world
    _, form, _ = await _shared(am, clock)
    grant_id = (await api(http, am, "GET", "/grants", admin_token))[1][0]["id"]
    hold, add = Hold(), token_repo.add

    async def held_add(session, token):
        await add(session, token)
        await hold.here()

    monkeypatch.setattr(token_repo, "add", held_add)
    redeemed = asyncio.create_task(_post(http, am.url("/token"), f"grant_type=ticket&ticket={form['ticket']}".encode(),
                                         {"Content-Type": FORM}))
    await hold.reached.wait()
    revocation = asyncio.create_task(api(http, am, "POST", f"/grants/{grant_id}/revoke", admin_token))
    await blocked_or_done(am, revocation)
    hold.release.set()
    status, answer = await redeemed
    assert (await revocation)[0] == 200
    assert status == 200 and await active(http, am, realm, answer["access_token"]) is False


async def _post(http, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    async with http.post(url, data=body, headers=headers) as r:
        return r.status, await r.json()
