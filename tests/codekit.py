"""Helpers for the authorization-code and refresh grant tests (issue 12): accounts, public and
confidential clients, codes made with ``authorize.codes.issue`` as the dialog makes them, and the
token, introspection and revocation requests a client makes."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import aiohttp
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select, update

from authmanager.authorize import codes
from authmanager.grants.authorization_code import s256
from authmanager.secretbox import random_secret
from authmanager.storage.models import Account, Consumer, Realm
from signers import FORM, SIGNERS

RESOURCE = "http://127.0.0.1:1/"
REDIRECT = "http://127.0.0.1:9/callback"
PERSON_GRANTS = ["authorization_code", "refresh_token"]


async def account(am: Any, name: str = "alice") -> int:
    """A person who signs in and administers no realm."""
    async with am.ctx.sessions.begin() as session:
        row = Account(name=name, password_hash="unused", all_realms=False, administers=False,
                      created_at=int(am.clock()))
        session.add(row)
        await session.flush()
        return row.id


async def public_client(am: Any, *, grant_types: list[str] | None = None) -> str:
    """A registered public client, as ``/register`` stores one (token_endpoint_auth_method none)."""
    client_id = random_secret(16)
    async with am.ctx.sessions.begin() as session:
        session.add(Consumer(client_id=client_id, client_name="public app",
                             secret_sealed=am.ctx.box.seal(b"", aad=client_id),
                             client_metadata={"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none",
                                              "grant_types": grant_types or PERSON_GRANTS},
                             issued_at=int(am.clock())))
    return client_id


async def confidential_client(http: aiohttp.ClientSession, am: Any, *, code_grant: bool = True) -> dict[str, Any]:
    """A consumer key registered at /register (a signing method), given the code grant."""
    async with http.post(am.url("/register"), json={"client_name": "signed app"}) as r:
        assert r.status == 201
        client = await r.json()
    if code_grant:
        async with am.ctx.sessions.begin() as session:
            row = await session.get(Consumer, client["client_id"])
            await session.execute(update(Consumer).where(Consumer.client_id == client["client_id"]).values(
                client_metadata={**row.client_metadata, "redirect_uris": [REDIRECT], "grant_types": PERSON_GRANTS}))
    return client


async def realm_id(am: Any, name: str) -> int:
    async with am.ctx.sessions() as session:
        return await session.scalar(select(Realm.id).where(Realm.name == name))


async def make_code(am: Any, *, client_id: str, account_id: int, realm: str = "photos", scopes: list[str] | None = None,
                    redirect_uri: str = REDIRECT, resource: str = RESOURCE) -> tuple[str, str]:
    """A code as the dialog issues it, and its PKCE verifier."""
    verifier = random_secret(32)
    rid = await realm_id(am, realm)
    async with am.ctx.sessions.begin() as session:
        code = await codes.issue(session, client_id=client_id, account_id=account_id, realm_id=rid,
                                 redirect_uri=redirect_uri, code_challenge=s256(verifier), resource=resource,
                                 scopes=scopes or ["read", "write"], now=int(am.clock()))
    return code, verifier


def code_form(code: str, verifier: str, client_id: str | None, **extra: str) -> dict[str, str]:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier}
    if client_id is not None:
        form["client_id"] = client_id
    return {**form, **extra}


async def post(http: aiohttp.ClientSession, am: Any, form: dict[str, str] | bytes, *, path: str = "/token",
               signed_by: dict[str, Any] | None = None, signer: str = "rfc9421",
               headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any], Any]:
    body = form if isinstance(form, bytes) else urlencode(form).encode()
    sent = {"Content-Type": FORM, **(headers or {})}
    if signed_by is not None:
        sent.update(SIGNERS[signer](am.url(path), body, signed_by["client_id"], signed_by["client_secret"]))
    async with http.post(am.url(path), data=body, headers=sent) as r:
        return r.status, await r.json(), r.headers


async def refresh(http: aiohttp.ClientSession, am: Any, token: str, client_id: str, **extra: str):
    return await post(http, am, {"grant_type": "refresh_token", "refresh_token": token, "client_id": client_id,
                                 **extra})


async def claims(http: aiohttp.ClientSession, am: Any, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The token's header and claims, verified with the AM's published JWKS."""
    async with http.get(am.url("/jwks.json")) as r:
        keys = KeySet.import_key_set(await r.json())
    decoded = jwt.decode(token, keys, algorithms=["ES256"])
    return dict(decoded.header), dict(decoded.claims)


async def introspect(http: aiohttp.ClientSession, am: Any, realm: Any, token: str) -> dict[str, Any]:
    auth = {"Authorization": aiohttp.encode_basic_auth(realm.sph, realm.sph_secret)}
    async with http.post(am.url("/introspect"), data={"token": token}, headers=auth) as r:
        assert r.status == 200
        return await r.json()


def subject(am: Any, account_id: int) -> str:
    return f"{am.issuer}/people/{account_id}"
