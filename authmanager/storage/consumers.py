"""Consumer keys (RFC 7591 clients)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .models import Consumer


async def add(session: AsyncSession, consumer: Consumer) -> None:
    session.add(consumer)
    await session.flush()


async def get_active(session: AsyncSession, client_id: str) -> Consumer | None:
    row = await session.get(Consumer, client_id)
    if row is None or row.revoked_at is not None:
        return None
    return row


async def list_all(session: AsyncSession) -> list[Consumer]:
    return list((await session.scalars(select(Consumer).order_by(Consumer.issued_at))).all())


async def get_live(session: AsyncSession, client_id: str, *, now: int) -> Consumer | None:
    """An unrevoked key; a grasshopper sub-key also needs to be unexpired and its master live."""
    row = await get_active(session, client_id)
    if row is None or row.parent_id is None:
        return row
    if row.expires_at is None or row.expires_at <= now or await get_active(session, row.parent_id) is None:
        return None
    return row


async def get(session: AsyncSession, client_id: str) -> Consumer | None:
    return await session.get(Consumer, client_id)
