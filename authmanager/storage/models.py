"""SQLAlchemy 2 typed models. Times are integer Unix seconds from the injected clock."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Consumer(Base):
    """A consumer key (RFC 7591 client). ``secret_sealed`` is AES-GCM under the server key."""

    __tablename__ = "consumers"
    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_name: Mapped[str] = mapped_column(String(200))
    secret_sealed: Mapped[str] = mapped_column(Text)
    client_metadata: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    issued_at: Mapped[int] = mapped_column(BigInteger)
    last_used_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class Realm(Base):
    """A protection realm; ``sph`` is the service-provider handle, its secret stored as a digest."""

    __tablename__ = "realms"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    sph: Mapped[str] = mapped_column(String(64), unique=True)
    sph_secret_hash: Mapped[str] = mapped_column(String(64))
    resource: Mapped[str] = mapped_column(Text)
    resource_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[int] = mapped_column(BigInteger)


class RealmScope(Base):
    __tablename__ = "realm_scopes"
    realm_id: Mapped[int] = mapped_column(ForeignKey("realms.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    icon_uri: Mapped[str | None] = mapped_column(Text, nullable=True)


class Policy(Base):
    __tablename__ = "policies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    realm_id: Mapped[int] = mapped_column(ForeignKey("realms.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    effect: Mapped[str] = mapped_column(String(10))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    consumer: Mapped[str] = mapped_column(String(64), default="*")
    max_ttl: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)


class Nonce(Base):
    """A used request nonce; the primary key makes replay detection one atomic insert."""

    __tablename__ = "nonces"
    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(128), primary_key=True)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)


class AccessToken(Base):
    """An issued access token, kept by the SHA-256 of its value, never the value."""

    __tablename__ = "access_tokens"
    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    realm_id: Mapped[int] = mapped_column(ForeignKey("realms.id", ondelete="CASCADE"), index=True)
    scope: Mapped[str] = mapped_column(Text)
    issued_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class SigningKey(Base):
    """A token-signing key; the private half sealed under the server key."""

    __tablename__ = "signing_keys"
    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(10))
    private_sealed: Mapped[str] = mapped_column(Text)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(12))  # staged | active | retired
    created_at: Mapped[int] = mapped_column(BigInteger)


Index("ix_access_tokens_expires", AccessToken.expires_at)
__all__ = ["Base", "Consumer", "Realm", "RealmScope", "Policy", "Nonce", "AccessToken", "SigningKey"]
