"""RFC 7523 client assertions for AM tests, built independently of the AM with PyJWT, and
``private_key_jwt`` consumers inserted through the storage layer (the CLI and registration
surfaces for keys are another branch's)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
import jwt as pyjwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from authmanager.clients.keys import public_jwk
from authmanager.secretbox import random_secret
from authmanager.storage import client_keys as client_key_repo
from authmanager.storage.models import Consumer

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALG_KEYS = {"ES256": lambda: ec.generate_private_key(ec.SECP256R1()),
            "EdDSA": ed25519.Ed25519PrivateKey.generate,
            "PS256": lambda: rsa.generate_private_key(65537, 2048),
            "RS256": lambda: rsa.generate_private_key(65537, 2048)}


@dataclass
class DeviceKey:
    private: Any
    alg: str
    kid: str
    id: int
    public_pem: bytes


@dataclass
class KeyClient:
    client_id: str
    keys: list[DeviceKey] = field(default_factory=list)


def public_pem(private: Any) -> bytes:
    return private.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)


async def key_client(am: Any, *, name: str = "device consumer") -> KeyClient:
    """A consumer registered for ``private_key_jwt``, as the key-management surfaces store one:
    no cks (a sealed empty secret), its keys in ``client_keys``."""
    client_id = random_secret(16)
    async with am.ctx.sessions.begin() as session:
        session.add(Consumer(client_id=client_id, client_name=name,
                             secret_sealed=am.ctx.box.seal(b"", aad=client_id),
                             client_metadata={"client_name": name, "token_endpoint_auth_method": "private_key_jwt",
                                              "grant_types": ["client_credentials"]},
                             issued_at=int(am.clock())))
    return KeyClient(client_id)


async def add_key(am: Any, client: KeyClient, alg: str = "ES256", *, kid: str | None = None,
                  ceiling: list[str] | None = None) -> DeviceKey:
    private = ALG_KEYS[alg]()
    pem = public_pem(private)
    jwk = public_jwk(pem)
    if kid is not None:
        jwk["kid"] = kid
    async with am.ctx.sessions.begin() as session:
        row = await client_key_repo.add(session, client_id=client.client_id, jwk=jwk, now=int(am.clock()),
                                        scope_ceiling=ceiling)
        key = DeviceKey(private=private, alg=alg, kid=row.kid, id=row.id, public_pem=pem)
    client.keys.append(key)
    return key


def claims(am: Any, client_id: str, **overrides: Any) -> dict[str, Any]:
    """Authlib's claims (RFC 7523 §3): iss = sub = client_id, aud the token endpoint, an hour."""
    now = int(am.clock())
    out = {"iss": client_id, "sub": client_id, "aud": am.issuer + "/token", "iat": now, "exp": now + 3600,
           "jti": secrets.token_urlsafe(18)}
    out.update(overrides)
    return {k: v for k, v in out.items() if v is not None}


def secret_jwt(am: Any, client: dict[str, Any], *, headers: dict[str, Any] | None = None, **overrides: Any) -> str:
    """``client_secret_jwt``: HS256 keyed with the cks."""
    return pyjwt.encode(claims(am, client["client_id"], **overrides), client["client_secret"].encode(),
                        algorithm="HS256", headers=headers)


def key_jwt(am: Any, client: KeyClient, key: DeviceKey | None = None, *, kid: Any = "auto",
            headers: dict[str, Any] | None = None, **overrides: Any) -> str:
    """``private_key_jwt`` signed by ``key`` (the client's first by default), naming its kid."""
    key = key or client.keys[0]
    head = dict(headers or {})
    if kid == "auto":
        head["kid"] = key.kid
    elif kid is not None:
        head["kid"] = kid
    return pyjwt.encode(claims(am, client.client_id, **overrides), key.private, algorithm=key.alg, headers=head)


def assertion_form(assertion: str, **params: str) -> dict[str, str]:
    return {**params, "client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion}


async def post_form(http: aiohttp.ClientSession, am: Any, form: dict[str, str], *, path: str = "/token",
                    headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    async with http.post(am.url(path), data=urlencode(form).encode(),
                         headers={"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}) as r:
        return r.status, await r.json()


async def token_with(http: aiohttp.ClientSession, am: Any, assertion: str, sph: str, scope: str = "read",
                     **params: str) -> tuple[int, dict[str, Any]]:
    form = assertion_form(assertion, grant_type="client_credentials", sph=sph, scope=scope, **params)
    return await post_form(http, am, form)
