"""Test keys for ``private_key_jwt`` and device keys, made with cryptography and exported as JWK by
joserfc (independently of the AM's own parsing in :mod:`authmanager.clients.keys`)."""

from __future__ import annotations

import base64
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from joserfc import jwk


def private_key(kind: str) -> Any:
    """``ec`` (P-256), ``p384``, ``ed25519``, ``rsa`` (2048) or ``rsa1024``."""
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "p384":
        return ec.generate_private_key(ec.SECP384R1())
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "rsa1024":
        return rsa.generate_private_key(public_exponent=65537, key_size=1024)
    raise ValueError(kind)


def _kty(key: Any) -> str:
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        return "EC"
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)):
        return "OKP"
    return "RSA"


def public_pem(key: Any) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def private_pem(key: Any) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def jwk_of(key: Any, *, private: bool = False, **members: Any) -> dict[str, Any]:
    """The key as a JWK dict (public members only unless ``private``), plus ``members``."""
    if isinstance(key, rsa.RSAPrivateKey) and not private:  # joserfc warns (an error here) below 2048 bits
        numbers = key.public_key().public_numbers()
        return {"kty": "RSA", "n": _b64(numbers.n), "e": _b64(numbers.e), **members}
    pem = private_pem(key) if private else public_pem(key)
    out = dict(jwk.import_key(pem, _kty(key)).as_dict(private=private))
    out.pop("kid", None)
    return {**out, **members}


def _b64(n: int) -> str:
    return base64.urlsafe_b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()


def public_jwk(kind: str, **members: Any) -> dict[str, Any]:
    return jwk_of(private_key(kind), **members)


async def insert_token(am: Any, *, client_id: str, realm: str, client_key_id: int | None, ttl: int = 600) -> str:
    """An access token row as the issuing transaction would store it (client_key_id: the key that
    signed its assertion), through the storage layer; returns its jti."""
    import secrets

    from authmanager.secretbox import digest
    from authmanager.storage import realms as realm_repo
    from authmanager.storage.models import AccessToken

    now = int(am.clock())
    jti = secrets.token_urlsafe(16)
    async with am.ctx.sessions.begin() as session:
        row = await realm_repo.by_name(session, realm)
        session.add(AccessToken(jti=jti, token_hash=digest(secrets.token_urlsafe(32)), client_id=client_id,
                                realm_id=row.id, scope="read", issued_at=now, expires_at=now + ttl,
                                client_key_id=client_key_id))
    return jti


async def token_states(am: Any, jtis: list[str]) -> dict[str, bool]:
    """jti -> revoked?"""
    from authmanager.storage.models import AccessToken

    async with am.ctx.sessions() as session:
        return {jti: (await session.get(AccessToken, jti)).revoked_at is not None for jti in jtis}


async def feed_jtis(am: Any) -> list[str]:
    """The jtis of the ``token_revoked`` events in the revocation feed's table, in order."""
    from sqlalchemy import select

    from authmanager.storage.models import RevocationEvent

    async with am.ctx.sessions() as session:
        return list(await session.scalars(select(RevocationEvent.jti).where(RevocationEvent.kind == "token_revoked")
                                          .order_by(RevocationEvent.id)))
