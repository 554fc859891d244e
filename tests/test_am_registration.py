"""Step 4: consumer key by RFC 7591 registration."""

import base64
from pathlib import Path

import aiohttp
import pytest

from amkit import counts, register


async def test_registration_returns_ck_and_a_256_bit_cks(am):
    async with aiohttp.ClientSession() as http:
        async with http.post(am.url("/register"), json={"client_name": "printer"}) as r:
            assert r.status == 201
            assert r.headers["Cache-Control"] == "no-store"
            reg = await r.json()
    assert reg["client_name"] == "printer"
    assert reg["client_id"] and reg["client_secret_expires_at"] == 0
    assert abs(reg["client_id_issued_at"] - am.clock()) < 5
    raw = base64.urlsafe_b64decode(reg["client_secret"] + "=" * (-len(reg["client_secret"]) % 4))
    assert len(raw) * 8 >= 256
    assert (await counts(am))["consumers"] == 1


@pytest.mark.parametrize("body, content_type", [
    (b"not json", "application/json"),
    (b"[1, 2]", "application/json"),
    (b'"a string"', "application/json"),
    (b'{"client_name": 42}', "application/json"),
    (b'{"client_name": "x", "grant_types": ["implicit"]}', "application/json"),
    (b'{"client_name": "x", "contacts": "not a list"}', "application/json"),
    (b'{"client_name": "x", "token_endpoint_auth_method": "client_secret_basic"}', "application/json"),
    (b'{"client_name": "' + b"x" * 300 + b'"}', "application/json"),
    (b"client_name=x", "application/x-www-form-urlencoded"),
    (b"\xff\xfe", "application/json"),
])
async def test_malformed_metadata_is_refused_and_nothing_stored(am, body, content_type):
    async with aiohttp.ClientSession() as http:
        async with http.post(am.url("/register"), data=body, headers={"Content-Type": content_type}) as r:
            assert r.status == 400
            assert (await r.json())["error"] == "invalid_client_metadata"
    assert (await counts(am))["consumers"] == 0


async def test_oversized_registration_is_413_and_nothing_stored(am):
    async with aiohttp.ClientSession() as http:
        body = b'{"client_name": "' + b"x" * (am.settings.max_body + 10) + b'"}'
        async with http.post(am.url("/register"), data=body, headers={"Content-Type": "application/json"}) as r:
            assert r.status == 413
            assert (await r.json())["error"] == "invalid_request"
    assert (await counts(am))["consumers"] == 0


async def test_database_file_alone_reveals_no_secret(sqlite_am):
    am = sqlite_am
    realm = await am.create_realm("photos", resource="http://127.0.0.1:1/", scopes=["read"])
    async with aiohttp.ClientSession() as http:
        reg = await register(http, am)
    await am.ctx.engine.dispose()  # checkpoint nothing away: read the main file and the WAL as they are
    db_file = Path(am.settings.database_url.split("///", 1)[1])
    blob = b"".join(p.read_bytes() for p in (db_file, Path(f"{db_file}-wal")) if p.exists())
    assert reg["client_id"].encode() in blob  # the file is readable; the ck is there...
    assert reg["client_secret"].encode() not in blob  # ...but the cks is not
    assert realm.sph_secret.encode() not in blob
    assert realm.sph.encode() in blob
