"""Token-signing keys."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .models import SigningKey


async def published(session: AsyncSession) -> list[SigningKey]:
    rows = await session.scalars(
        select(SigningKey).where(SigningKey.state.in_(("staged", "active"))).order_by(SigningKey.created_at)
    )
    return list(rows.all())


async def add(session: AsyncSession, key: SigningKey) -> None:
    session.add(key)
    await session.flush()
