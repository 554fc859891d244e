"""Issued access tokens, looked up by the SHA-256 of their value, or by jti (a generated
identifier: anything else names no token and is not looked up)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..identifiers import is_key
from .models import AccessToken


async def add(session: AsyncSession, token: AccessToken) -> None:
    session.add(token)
    await session.flush()


async def by_jti(session: AsyncSession, jti: str) -> AccessToken | None:
    return await session.get(AccessToken, jti) if is_key(jti) else None


async def by_hash(session: AsyncSession, token_hash: str) -> AccessToken | None:
    return await session.scalar(select(AccessToken).where(AccessToken.token_hash == token_hash))
