"""Token issuance rate of one AM process: signed request verified, nonce stored, policy
evaluated, token persisted, JWT signed. The AM is pinned to one core, the signing client to the other."""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from urllib.parse import quote, urlencode

import aiohttp

from consumer_sdk.signing import FORM_CONTENT_TYPE, sign_token_request

from .services import deployment


def _signed(url: str, sph: str, client: dict, n: int) -> list[tuple[bytes, dict[str, str]]]:
    body = urlencode([("grant_type", "client_credentials"), ("sph", sph), ("scope", "read")],
                     quote_via=quote).encode()
    now = int(time.time())
    return [(body, sign_token_request("rfc9421", method="POST", url=url, headers={"Content-Type": FORM_CONTENT_TYPE},
                                      body=body, client_id=client["client_id"],
                                      client_secret=client["client_secret"], created=now,
                                      nonce=secrets.token_urlsafe(16))) for _ in range(n)]


async def measure(*, requests: int = 3000, concurrency: int = 32, database_url: str | None = None) -> dict[str, float]:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {1})  # this client on core 1; the AM on core 0
    async with deployment(database_url=database_url, am_cpu=0, sp_cpu=1) as d:
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as http:
            async with http.post(d.issuer + "/register", json={"client_name": "bench"}) as r:
                client = await r.json()
            url = d.issuer + "/token"
            work = _signed(url, d.realm["sph"], client, requests)  # signed before the clock starts
            queue: asyncio.Queue[tuple[bytes, dict[str, str]]] = asyncio.Queue()
            for item in work:
                queue.put_nowait(item)
            failures = 0

            async def worker() -> None:
                nonlocal failures
                while not queue.empty():
                    body, headers = queue.get_nowait()
                    async with http.post(url, data=body, headers=headers) as r:
                        await r.read()
                        failures += r.status != 200

            start = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            elapsed = time.perf_counter() - start
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    if failures:
        raise RuntimeError(f"{failures} token requests failed")
    return {"per_s": requests / elapsed, "requests": float(requests)}


if __name__ == "__main__":
    print(asyncio.run(measure()))
