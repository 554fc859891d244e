"""Small helpers for AM tests: register a consumer, request tokens, count rows."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import aiohttp
from sqlalchemy import func, select

from authmanager.storage.models import AccessToken, Consumer, Nonce, Policy, Realm
from signers import SIGNERS, token_form

UMA_TICKET = "urn:ietf:params:oauth:grant-type:uma-ticket"


async def register(http: aiohttp.ClientSession, am: Any, name: str = "test consumer") -> dict[str, Any]:
    async with http.post(am.url("/register"), json={"client_name": name}) as r:
        assert r.status == 201
        return await r.json()


async def request_token(http: aiohttp.ClientSession, am: Any, client: dict[str, Any], sph: str, scope: str,
                        *, signer: str = "rfc9421", **sign_kw: Any) -> tuple[int, dict[str, Any], Any]:
    body = token_form(sph, scope)
    headers = SIGNERS[signer](am.url("/token"), body, client["client_id"], client["client_secret"], **sign_kw)
    async with http.post(am.url("/token"), data=body, headers=headers) as r:
        return r.status, await r.json(), r.headers


async def poll(http: aiohttp.ClientSession, am: Any, client: dict[str, Any], ticket: str, *,
               signer: str = "rfc9421", **sign_kw: Any) -> tuple[int, dict[str, Any], Any]:
    """Poll a request put to the owner: the UMA ticket grant, signed like a token request."""
    body = urlencode({"grant_type": UMA_TICKET, "ticket": ticket}).encode()
    headers = SIGNERS[signer](am.url("/token"), body, client["client_id"], client["client_secret"], **sign_kw)
    async with http.post(am.url("/token"), data=body, headers=headers) as r:
        return r.status, await r.json(), r.headers


async def counts(am: Any) -> dict[str, int]:
    async with am.ctx.sessions() as session:
        return {model.__tablename__: await session.scalar(select(func.count()).select_from(model))
                for model in (Consumer, Nonce, AccessToken, Realm, Policy)}
