"""Rate limits on registration and token requests: 429 + Retry-After, nothing stored."""

import asyncio
import secrets

import aiohttp
import pytest

from amkit import counts, register, request_token
from conftest import running_am


async def test_flood_of_ten_thousand_registrations_leaves_a_bounded_row_count(sqlite_am):
    am = sqlite_am  # default quotas: 20/minute per client IP, 600/minute overall
    statuses: dict[int, int] = {}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=50)) as http:
        async def one() -> None:
            async with http.post(am.url("/register"), json={"client_name": "flood"}) as r:
                statuses[r.status] = statuses.get(r.status, 0) + 1
                if r.status == 429:
                    assert int(r.headers["Retry-After"]) >= 1
                    assert (await r.json())["error"] == "slow_down"

        await asyncio.gather(*(one() for _ in range(10_000)))
    assert statuses == {201: 20, 429: 9_980}
    assert (await counts(am))["consumers"] == 20


async def test_token_requests_over_quota_are_429_and_store_no_nonce(clock, tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'am.db'}"
    async with running_am(url, clock, tmp_path, token_limit_per_ip="3/minute") as am:
        realm = await am.create_realm("photos", resource="http://127.0.0.1:1/", scopes=["read"])
        await am.add_policy("photos", "permit", ["read"])
        async with aiohttp.ClientSession() as http:
            client = await register(http, am)
            results = [(await request_token(http, am, client, realm.sph, "read"))[0] for _ in range(4)]
            assert results == [200, 200, 200, 429]
            assert (await counts(am))["nonces"] == 3 and (await counts(am))["access_tokens"] == 3


async def test_global_quota_applies_across_clients(clock, tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'am.db'}"
    async with running_am(url, clock, tmp_path, registration_limit="2/minute") as am:
        async with aiohttp.ClientSession() as http:
            codes = []
            for _ in range(3):
                async with http.post(am.url("/register"), json={}) as r:
                    codes.append(r.status)
    assert codes == [201, 201, 429]


async def test_processes_of_one_am_share_counters_in_redis(clock, tmp_path):
    """Two AM instances with one issuer share a Redis-backed quota; skipped visibly without Redis."""
    import os

    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", 6379), 2)
        writer.close()
        await writer.wait_closed()
    except OSError:
        if os.environ.get("PROTECTSERVE_REQUIRE_REDIS") == "1":
            pytest.fail("Redis is required in CI")
        pytest.skip("Redis unreachable on 127.0.0.1:6379")
    db = f"sqlite+aiosqlite:///{tmp_path / 'am.db'}"
    shared = dict(rate_limit_storage="redis://127.0.0.1:6379", registration_limit_per_ip="3/minute",
                  issuer=f"https://am-{secrets.token_hex(4)}.test")  # a fresh namespace for this test
    async with running_am(db, clock, tmp_path, **shared) as one, running_am(db, clock, tmp_path, **shared) as two:
        codes = []
        async with aiohttp.ClientSession() as http:
            for am in (one, two, one, two):
                async with http.post(am.url("/register"), json={}) as r:
                    codes.append(r.status)
    assert codes == [201, 201, 201, 429]
