"""Revocation propagation: revoke at the AM, then measure until the SP (another process,
validating offline) rejects the token. Each sample is an upper bound (2 ms polling)."""

from __future__ import annotations

import secrets
import statistics
import time
from urllib.parse import quote, urlencode

import aiohttp

from consumer_sdk.signing import FORM_CONTENT_TYPE, sign_token_request

from .services import Deployment, deployment


async def _token(http: aiohttp.ClientSession, d, client: dict) -> str:  # type: ignore[no-untyped-def]
    url = d.issuer + "/token"
    body = urlencode([("grant_type", "client_credentials"), ("sph", d.realm["sph"]), ("scope", "read")],
                     quote_via=quote).encode()
    headers = sign_token_request("rfc9421", method="POST", url=url, headers={"Content-Type": FORM_CONTENT_TYPE},
                                 body=body, client_id=client["client_id"], client_secret=client["client_secret"],
                                 created=int(time.time()), nonce=secrets.token_urlsafe(16))
    async with http.post(url, data=body, headers=headers) as r:
        assert r.status == 200, await r.text()
        return (await r.json())["access_token"]


async def measure(*, samples: int = 50, database_url: str | None = None, d: Deployment | None = None
                  ) -> dict[str, float]:
    if d is None:
        async with deployment(database_url=database_url) as d:
            return await measure(samples=samples, d=d)
    delays: list[float] = []
    async with aiohttp.ClientSession() as http:
        async with http.post(d.issuer + "/register", json={"client_name": "bench"}) as r:
            client = await r.json()
        basic = {"Authorization": aiohttp.encode_basic_auth(d.realm["sph"], d.realm["sph_secret"])}
        for _ in range(samples):
            token = await _token(http, d, client)
            bearer = {"Authorization": f"Bearer {token}"}
            async with http.get(d.resource + "photos/1", headers=bearer) as r:
                assert r.status == 200  # cached as valid at the SP
            start = time.perf_counter()
            async with http.post(d.issuer + "/revoke", data={"token": token}, headers=basic) as r:
                assert r.status == 200
            deadline = start + 5
            while time.perf_counter() < deadline:
                async with http.get(d.resource + "photos/1", headers=bearer) as r:
                    if r.status == 401:
                        break
                await _pause()
            delays.append(time.perf_counter() - start)
    delays.sort()
    return {"p50_s": statistics.median(delays), "p99_s": delays[min(len(delays) - 1, int(len(delays) * 0.99))],
            "max_s": delays[-1], "samples": float(len(delays))}


async def _pause() -> None:
    import asyncio

    await asyncio.sleep(0.002)  # polling granularity of the measurement, not synchronisation
