"""One request can never decide another's answer in the token endpoint's group commit (issue 11,
item 2), on SQLite and PostgreSQL.

* A request naming a realm by an ``sph`` PostgreSQL cannot hold (``%00``) is refused before it is
  queued; it used to make asyncpg raise ``CharacterNotInRepertoireError`` inside the batch, and
  every request sharing that batch answered 500.
* A batch that still fails on one request's data is decided again in halves, down to the
  request that fails alone: it gets ``500 server_error`` (its nonce unspent), the others exactly
  what they would have got alone. Nothing the AM accepts still makes a batch fail, so the test
  makes the database itself refuse one row: a trigger on ``nonces`` raising, on PostgreSQL, the
  very error class of the original defect — a fault at the real seam, no AM code replaced.
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from amkit import counts, register, request_token
from signers import FORM, sign_9421
from sqlalchemy import func, select
from test_am_group_commit import CountingTransactor

from authmanager.storage.models import Nonce

POISON = "poison"
PG_TRIGGER = (
    "CREATE OR REPLACE FUNCTION protectserve_test_poison() RETURNS trigger AS $$ BEGIN "
    f"IF NEW.nonce LIKE '{POISON}%' THEN RAISE EXCEPTION 'the database refuses this row' "
    "USING ERRCODE = 'character_not_in_repertoire'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
    "CREATE TRIGGER poison BEFORE INSERT ON nonces FOR EACH ROW EXECUTE FUNCTION protectserve_test_poison()",
)
SQLITE_TRIGGER = (f"CREATE TRIGGER poison BEFORE INSERT ON nonces WHEN NEW.nonce LIKE '{POISON}%' "
                  "BEGIN SELECT RAISE(ABORT, 'the database refuses this row'); END",)


@pytest.fixture
async def world(am):
    realm = await am.create_realm("photos", resource="http://127.0.0.1:1/", scopes=["read"])
    await am.add_policy("photos", "permit", ["read"])
    async with aiohttp.ClientSession() as http:
        yield am, realm, http


async def one_batch(am, jobs):
    """Run ``jobs`` (coroutines each making one token request) so that they share one batch: the
    first batch is held until the others have queued behind it. Returns the answers and the sizes
    of the batches (transactions) the issuance queue ran."""
    counting = am.ctx.transact = CountingTransactor(am.ctx.transact)
    first = asyncio.ensure_future(jobs[0])
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not counting.sizes:  # the first request's batch of one is in the transactor, held
        assert loop.time() < deadline
        await asyncio.sleep(0.01)  # polling a condition, bounded by the deadline
    rest = asyncio.gather(*jobs[1:])
    while am.ctx.issuance.waiting < len(jobs) - 1:
        assert loop.time() < deadline, am.ctx.issuance.waiting
        await asyncio.sleep(0.01)
    counting.release.set()
    answers = [await first, *await rest]
    am.ctx.transact = counting.inner
    return answers, counting.sizes


async def test_a_nul_sph_is_refused_before_it_is_queued_and_decides_nothing_else(world):
    am, realm, http = world
    good = await register(http, am, "good")
    mallory = await register(http, am, "self-registered")
    body = b"grant_type=client_credentials&sph=%00&scope=read"

    async def nul_sph():
        headers = sign_9421(am.url("/token"), body, mallory["client_id"], mallory["client_secret"])
        async with http.post(am.url("/token"), data=body, headers={**headers, "Content-Type": FORM}) as r:
            return r.status, await r.json(), r.headers

    jobs = [request_token(http, am, good, realm.sph, "read") for _ in range(10)] + [nul_sph()] \
        + [request_token(http, am, good, realm.sph, "read") for _ in range(10)]
    answers, sizes = await one_batch(am, [request_token(http, am, good, realm.sph, "read"), *jobs])
    assert sizes[:2] == [1, 21], sizes  # the 20 and the bad one were decided in one batch
    statuses = [status for status, _, _ in answers]
    assert statuses == [200] * 11 + [400] + [200] * 10, statuses
    assert answers[11][1] == {"error": "invalid_request", "error_description": "unknown sph"}


@pytest.fixture
async def poisoned(world):
    """The database refuses to store any nonce beginning with "poison"."""
    am, realm, http = world
    postgres = am.ctx.engine.dialect.name == "postgresql"
    async with am.ctx.engine.begin() as conn:
        for ddl in PG_TRIGGER if postgres else SQLITE_TRIGGER:
            await conn.exec_driver_sql(ddl)
    try:
        yield am, realm, http
    finally:
        async with am.ctx.engine.begin() as conn:
            await conn.exec_driver_sql("DROP TRIGGER poison ON nonces" if postgres else "DROP TRIGGER poison")
            if postgres:
                await conn.exec_driver_sql("DROP FUNCTION protectserve_test_poison()")


async def test_a_batch_failing_on_one_request_answers_the_others_as_if_alone(poisoned, caplog):
    am, realm, http = poisoned
    good = [await register(http, am, f"good {i}") for i in range(4)]
    other = await register(http, am, "other")
    before = await counts(am)
    jobs = [request_token(http, am, good[i % 4], realm.sph, "read") for i in range(20)]
    jobs.insert(13, request_token(http, am, other, realm.sph, "read", nonce=f"{POISON}-1"))
    answers, sizes = await one_batch(am, [request_token(http, am, good[0], realm.sph, "read"), *jobs])
    assert sizes[1] == 21, sizes  # the poisoned request shared its batch with the 20
    statuses = [status for status, _, _ in answers]
    assert statuses == [200] * 14 + [500] + [200] * 7, statuses
    assert answers[14][1] == {"error": "server_error"}
    # Halves are decided apart, down to the poisoned request alone: a handful of transactions.
    assert len(sizes) <= 2 + 2 * 5, sizes
    after = await counts(am)
    assert after["access_tokens"] - before["access_tokens"] == 21
    async with am.ctx.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Nonce).where(
            Nonce.nonce.like(f"{POISON}%"))) == 0  # the failed request's nonce is unspent
    # The failed request alone: 500 again, the others unaffected.
    status, body, _ = await request_token(http, am, other, realm.sph, "read", nonce=f"{POISON}-2")
    assert (status, body) == (500, {"error": "server_error"})
    assert (await request_token(http, am, other, realm.sph, "read"))[0] == 200
