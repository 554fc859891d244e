"""A family revoked while one of its refresh tokens is being rotated: once the revocation has
answered, the pair the rotation issued is revoked too, on SQLite and PostgreSQL. The rotation's
transaction is held before its commit; the revocation (RFC 7009, by the public client) is started
and shown to wait behind it (``blocked_or_done``, as in test_am_revocation_races.py)."""

from __future__ import annotations

import asyncio

import aiohttp

from authmanager.grants import refresh_token
from authmanager.grants.person_tokens import Lifetimes
from codekit import RESOURCE, account, code_form, introspect, make_code, post, public_client, refresh
from test_am_revocation_races import Hold, blocked_or_done


async def test_a_rotation_in_flight_cannot_outlive_its_familys_revocation(am):
    realm = await am.create_realm("photos", resource=RESOURCE, scopes=["read", "write"])
    person, client_id = await account(am), await public_client(am)
    client = await am.ctx.clients.find(client_id)
    code, verifier = await make_code(am, client_id=client_id, account_id=person)
    async with aiohttp.ClientSession() as http:
        status, first, _ = await post(http, am, code_form(code, verifier, client_id))
        assert status == 200
        hold = Hold()
        settings = am.settings
        lifetimes = Lifetimes(access=settings.token_ttl, refresh_idle=settings.refresh_idle_ttl,
                              refresh_absolute=settings.refresh_absolute_ttl)

        async def rotate_and_hold():
            async with am.ctx.sessions.begin() as session:
                issued = await refresh_token.refresh(
                    session, client=client, request=refresh_token.Request(first["refresh_token"], None),
                    keyring=am.ctx.keyring, issuer=am.issuer, now=int(am.clock()), lifetimes=lifetimes)
                await hold.here()
            return issued

        rotation = asyncio.create_task(rotate_and_hold())
        await hold.reached.wait()
        revocation = asyncio.create_task(post(http, am, {"token": first["refresh_token"], "client_id": client_id},
                                              path="/revoke"))
        await blocked_or_done(am, revocation)
        hold.release.set()
        issued = await rotation
        status, _, _ = await revocation
        assert status == 200
        assert await introspect(http, am, realm, issued.access_token) == {"active": False}
        status, body, _ = await refresh(http, am, issued.refresh_token, client_id)
        assert status == 400 and body["error"] == "invalid_grant"
