"""Used request nonces: replay protection as one atomic insert."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from .db import insert_ignore
from .models import Nonce


async def claim(session: AsyncSession, *, client_id: str, nonce: str, expires_at: int) -> bool:
    """Record ``nonce`` for ``client_id``; False if it was already used.

    ``INSERT ... ON CONFLICT DO NOTHING`` on the (client_id, nonce) primary key is atomic on both
    SQLite and PostgreSQL, so concurrent copies of one request (even across AM processes) see
    exactly one winner.
    """
    stmt = insert_ignore(session.bind.dialect.name, Nonce).values(
        client_id=client_id, nonce=nonce, expires_at=expires_at
    )
    result = await session.execute(stmt)
    return result.rowcount == 1


async def purge_expired(session: AsyncSession, *, now: int) -> int:
    result = await session.execute(delete(Nonce).where(Nonce.expires_at < now))
    return result.rowcount or 0
