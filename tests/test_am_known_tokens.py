"""Introspection and IndieAuth verification answer from what the process already looked up
(authmanager/known_tokens.py); a revocation made elsewhere — another AM process, the
``authmanager`` command — is applied when the feed poller reads it, one made here at commit."""

import aiohttp
import pytest
from amkit import register, request_token

from authmanager.operations.realms import revoke_consumer_key, revoke_token_by_jti
from authmanager.runtime.known_tokens import KnownTokens
from authmanager.secretbox import digest
from authmanager.storage.db import make_engine, make_sessionmaker

RESOURCE = "http://127.0.0.1:1/"


@pytest.fixture
async def world(am):
    realm = await am.create_realm("photos", resource=RESOURCE, scopes=["read"])
    await am.add_policy("photos", "permit", ["read"])
    async with aiohttp.ClientSession() as http:
        client = await register(http, am)
        status, body, _ = await request_token(http, am, client, realm.sph, "read")
        assert status == 200
        yield am, realm, client, body["access_token"], http


async def introspect(http, am, realm, token):
    auth = {"Authorization": aiohttp.encode_basic_auth(realm.sph, realm.sph_secret)}
    async with http.post(am.url("/introspect"), data={"token": token}, headers=auth) as r:
        assert r.status == 200
        return (await r.json())["active"]


async def verify(http, am, token):
    async with http.get(am.url("/token"), headers={"Authorization": f"Bearer {token}",
                                                   "Accept": "application/json"}) as r:
        return r.status


def elsewhere(am):
    """Sessions of "another process": same database, none of this AM's commit hooks."""
    engine = make_engine(am.settings.database_url)
    return engine, make_sessionmaker(engine)


@pytest.mark.parametrize("how", ["token", "consumer"])
async def test_a_revocation_made_elsewhere_applies_when_the_feed_poller_reads_it(world, how):
    am, realm, client, token, http = world
    assert await introspect(http, am, realm, token) is True and await verify(http, am, token) == 200
    assert len(am.ctx.known) == 1  # remembered
    engine, sessions = elsewhere(am)
    try:
        if how == "token":
            jti = (await am.ctx.known.token(digest(token))).jti
            await revoke_token_by_jti(sessions, jti, now=int(am.clock()))
        else:
            await revoke_consumer_key(sessions, client["client_id"], now=int(am.clock()))
    finally:
        await engine.dispose()
    await am.ctx.feed.poll_once()  # what every AM process does every feed_poll_interval (unless it just did)
    assert len(am.ctx.known) == 0
    assert await introspect(http, am, realm, token) is False and await verify(http, am, token) == 401


async def test_a_revocation_made_here_applies_at_commit(world):
    am, realm, client, token, http = world
    assert await introspect(http, am, realm, token) is True
    await revoke_consumer_key(am.ctx.sessions, client["client_id"], now=int(am.clock()))
    assert len(am.ctx.known) == 0  # no feed poll needed
    assert await introspect(http, am, realm, token) is False and await verify(http, am, token) == 401


async def test_expiry_is_checked_on_every_answer(world):
    am, realm, _, token, http = world
    assert await introspect(http, am, realm, token) is True
    am.clock.advance(901)
    assert await introspect(http, am, realm, token) is False and await verify(http, am, token) == 401


class _RacingSessions:
    """A session factory whose lookup returns a live row while a revocation is applied meanwhile."""

    def __init__(self, row, during):
        self.row, self.during = row, during

    def __call__(self):
        return self

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return False

    async def execute(self, *args, **kwargs):
        self.during()
        row = self.row

        class Result:
            def first(self):
                return row

        return Result()


async def test_a_row_read_while_a_revocation_was_applied_is_not_remembered():
    row = ("jti-1", "ck", 1, "read", 100, 10_000, False)
    known = KnownTokens(None)

    class Event:
        kind, jti, client_id, issued_before = "token_revoked", "jti-1", None, None

    known._sessions = _RacingSessions(row, lambda: known.apply([Event()]))
    entry = await known.token("hash-1")
    assert entry is not None and entry.jti == "jti-1"  # this answer stands (the read preceded the event) …
    assert len(known) == 0  # … but it is not kept: the next lookup reads the database again
    known._sessions = _RacingSessions(row, lambda: None)
    await known.token("hash-1")
    assert len(known) == 1


async def test_tokens_issued_here_are_known_without_a_lookup_unless_a_revocation_came_between(world):
    am, realm, client, token, http = world
    assert len(am.ctx.known) == 1  # remembered at issuance, before any lookup
    assert (await am.ctx.known.token(digest(token))).client_id == client["client_id"]
    row = {"jti": "j2", "token_hash": "h2", "client_id": "ck", "realm_id": 1, "scope": "read", "issued_at": 1,
           "expires_at": 2}
    since = am.ctx.known.generation

    class Event:
        kind, jti, client_id, issued_before = "client_revoked", None, "ck", 10

    am.ctx.known.apply([Event()])  # applied while the batch was in its transaction
    am.ctx.known.issued([row], since=since)
    assert len(am.ctx.known) == 1


async def test_remembered_tokens_are_not_used_while_the_feed_poller_is_behind():
    row = ("jti-1", "ck", 1, "read", 100, 10_000, False)
    reads = []
    keeping_up = [True]
    known = KnownTokens(None, following=lambda: keeping_up[0])
    known._sessions = _RacingSessions(row, lambda: reads.append(1))
    await known.token("hash-1")
    await known.token("hash-1")
    assert len(reads) == 1  # remembered
    keeping_up[0] = False  # e.g. the database is down: the poller cannot read the log
    await known.token("hash-1")
    assert len(reads) == 2  # asked the database (which would have answered 503)


async def test_the_feed_poller_reports_whether_it_keeps_up(am):
    assert am.ctx.feed.following(1.0)
    am.ctx.feed.read_at -= 10  # as if the last good read were ten seconds ago
    assert not am.ctx.feed.following(1.0)
    await am.ctx.feed.poll_once()
    assert am.ctx.feed.following(1.0)
