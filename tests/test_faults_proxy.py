"""Slow and broken links between the AM and PostgreSQL (issue 7), through a fault-injecting TCP
proxy: a slow link only slows answers; a blackholed or resetting one gives 503 with Retry-After
within ``db_timeout`` (never a 500, never a hang) and readiness says so; when the link heals the
AM serves again without a restart."""

import time

import aiohttp

from conftest import PG_ADMIN_DSN, running_am
from tcpproxy import FaultProxy


async def test_am_survives_delay_reset_and_blackhole_to_postgresql(pg_url, clock, tmp_path):
    host_port = PG_ADMIN_DSN.split("@", 1)[1].split("/", 1)[0]
    host, port = host_port.split(":")
    async with FaultProxy(host, int(port)) as proxy:
        via_proxy = pg_url.replace(host_port, f"127.0.0.1:{proxy.port}")
        async with running_am(via_proxy, clock, tmp_path, db_timeout=1.0) as am, aiohttp.ClientSession() as http:
            async def register() -> tuple[int, float, dict]:
                started = time.monotonic()
                async with http.post(am.url("/register"), json={"client_name": "faults"}) as r:
                    return r.status, time.monotonic() - started, dict(r.headers)

            status, _, _ = await register()
            assert status == 201

            proxy.set("delay", 0.05)
            status, elapsed, _ = await register()
            assert status == 201 and elapsed >= 0.05  # slower, still correct

            for fault in ("blackhole", "reset"):
                proxy.set(fault)
                status, elapsed, headers = await register()
                assert status == 503 and int(headers["Retry-After"]) >= 1, fault
                assert elapsed < 5, f"{fault}: took {elapsed:.1f} s"
                async with http.get(am.url("/health/ready")) as r:
                    assert r.status == 503
                async with http.get(am.url("/health/alive")) as r:
                    assert r.status == 200

            proxy.set("pass")
            status, _, _ = await register()
            assert status == 201  # healed without a restart
            async with http.get(am.url("/health/ready")) as r:
                assert r.status == 200
