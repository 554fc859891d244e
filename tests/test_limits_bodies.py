"""Body caps (issue 7): every AM endpoint that reads a body answers ``413`` with an RFC 6749 §5.2
body for one byte over ``max_body`` — announced by ``Content-Length`` or streamed chunked without
one — and stores nothing; a body at the cap is read and judged on its merits."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from amkit import counts
from conftest import running_am

CAP = 4096
ENDPOINTS = ["/register", "/token", "/introspect", "/revoke", "/grasshopper"]


async def chunked(body: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(body), 1000):
        yield body[start:start + 1000]


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_one_byte_over_max_body_is_413_and_stores_nothing(database_url, clock, tmp_path, path):
    async with running_am(database_url, clock, tmp_path, max_body=CAP) as am, aiohttp.ClientSession() as http:
        await am.create_realm("photos", resource="http://127.0.0.1:1/", scopes=["read"])
        before = await counts(am)
        content_type = "application/json" if path == "/register" else "application/x-www-form-urlencoded"
        over = b"token=" + b"t" * (CAP + 1 - len(b"token="))
        for data in (over, chunked(over)):
            async with http.post(am.url(path), data=data, headers={"Content-Type": content_type}) as r:
                assert r.status == 413, (path, await r.text())
                assert (await r.json())["error"] == "invalid_request"
        at_cap = over[:CAP]
        async with http.post(am.url(path), data=at_cap, headers={"Content-Type": content_type}) as r:
            assert r.status not in (413, 500)  # read, then judged (400, 401 or 200 by the endpoint's rules)
        assert await counts(am) == before
