"""Token-signing keys."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from .models import SigningKey


async def published(session: AsyncSession, *, now: int) -> list[SigningKey]:
    """Keys not yet retired, oldest activation first."""
    rows = await session.scalars(
        select(SigningKey)
        .where(or_(SigningKey.retires_at.is_(None), SigningKey.retires_at > now))
        .order_by(SigningKey.activates_at, SigningKey.created_at)
    )
    return list(rows.all())


async def all_keys(session: AsyncSession) -> list[SigningKey]:
    return list((await session.scalars(select(SigningKey).order_by(SigningKey.activates_at))).all())


async def add(session: AsyncSession, key: SigningKey) -> None:
    session.add(key)
    await session.flush()
