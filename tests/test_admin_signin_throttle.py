"""The console's sign-in throttle under concurrency, with ``memory://`` and with Redis storage, on
SQLite and PostgreSQL: each attempt is spent atomically before its password is checked, so 40
concurrent wrong passwords get exactly the quota's number of password checks (counted by their
``admin.login_failed`` audit rows) and ``429`` for the rest; a correct password clears the
account's failures (the refund)."""

import asyncio
import os
import secrets
from collections import Counter

import aiohttp
import pytest
from sqlalchemy import select

from adminkit import PASSWORD, Browser, jar, make_admin
from authmanager.storage.models import AuditEvent
from conftest import running_am

REDIS = "redis://127.0.0.1:6379"


async def _redis_reachable() -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", 6379), 2)
    except (OSError, TimeoutError):
        return False
    writer.close()
    await writer.wait_closed()
    return True


@pytest.fixture(params=["memory", "redis"])
async def storage(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://"
    if not await _redis_reachable():
        if os.environ.get("PROTECTSERVE_REQUIRE_REDIS") == "1":
            pytest.fail("Redis is required in CI")
        pytest.skip("Redis unreachable on 127.0.0.1:6379")
    return REDIS


async def _actions(am) -> Counter:
    async with am.ctx.sessions() as session:
        return Counter((await session.scalars(select(AuditEvent.action))).all())


def _from(address: str) -> aiohttp.ClientSession:
    """A browser whose TCP peer address (the AM's idea of the client IP) is ``address``."""
    return aiohttp.ClientSession(cookie_jar=jar(), connector=aiohttp.TCPConnector(local_addr=(address, 0)))


async def _burst(browser: Browser, attempts: list[tuple[str, str]]) -> Counter:
    """All ``attempts`` (name, password) posted at once; the count of each status."""
    await browser.get("/admin/login")
    responses = await asyncio.gather(*(browser.post("/admin/login", {"name": n, "password": p}) for n, p in attempts))
    for r in responses:
        if r.status == 429:
            assert 1 <= int(r.headers["Retry-After"]) <= 60
    return Counter(r.status for r in responses)


async def test_concurrent_attempts_are_spent_before_any_password_is_checked(database_url, storage, clock, tmp_path):
    # A fresh issuer: the namespace of this AM's counters in a shared Redis.
    async with running_am(database_url, clock, tmp_path, rate_limit_storage=storage,
                          admin_login_limit_per_account="5/minute", admin_login_limit_per_ip="10/minute",
                          issuer=f"http://am-{secrets.token_hex(6)}.test") as am:
        await make_admin(am)
        await make_admin(am, "bob")
        # One account from one IP: 10 get past the IP's quota, 5 of those past the account's.
        async with _from("127.0.0.1") as http:
            assert await _burst(Browser(http, am), [("alice", f"wrong {i}") for i in range(40)]) == {403: 5, 429: 35}
        assert (await _actions(am))["admin.login_failed"] == 5
        # 40 accounts from another IP: exactly that IP's quota of 10 is checked.
        async with _from("127.0.0.2") as http:
            assert await _burst(Browser(http, am), [(f"user{i}", "wrong") for i in range(40)]) == {403: 10, 429: 30}
        assert (await _actions(am))["admin.login_failed"] == 15
        async with _from("127.0.0.3") as http:
            browser = Browser(http, am)
            assert (await browser.login("alice", PASSWORD)).status == 429  # alice's 5 are spent: refused unread
            for i in range(4):
                assert (await browser.login("bob", f"wrong {i}")).status == 403
            assert (await browser.login("bob", PASSWORD)).status == 303  # the 5th attempt, within the quota
        # The success cleared bob's failures: 5 more wrong passwords are checked, then 429.
        async with _from("127.0.0.4") as http:
            browser = Browser(http, am)
            assert await _burst(browser, [("bob", f"again {i}") for i in range(8)]) == {403: 5, 429: 3}
            assert (await browser.login("bob", PASSWORD)).status == 429
        actions = await _actions(am)
        assert (actions["admin.login_failed"], actions["admin.login"]) == (15 + 4 + 5, 1)
