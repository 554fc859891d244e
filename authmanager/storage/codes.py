"""Authorization codes at the token endpoint (RFC 6749 §4.1.3), looked up by the SHA-256 of
their value. Issued by :func:`authmanager.authorize.codes.issue`; no aiohttp here."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from .models import AuthorizationCode


async def by_hash(session: AsyncSession, code_hash: str) -> AuthorizationCode | None:
    return await session.scalar(select(AuthorizationCode).where(AuthorizationCode.code_hash == code_hash))


async def claim(session: AsyncSession, code_hash: str, *, now: int) -> bool:
    """Mark the code used, atomically: ``UPDATE … WHERE used_at IS NULL AND expires_at > now``.

    Exactly one of any number of concurrent claims sees ``rowcount == 1`` (SQLite serialises
    writers with ``BEGIN IMMEDIATE``; on PostgreSQL a later UPDATE waits for the row lock and
    re-checks ``used_at`` once the first commits), as for tickets (``storage.shares.claim``)."""
    result = await session.execute(
        update(AuthorizationCode)
        .where(AuthorizationCode.code_hash == code_hash, AuthorizationCode.used_at.is_(None),
               AuthorizationCode.expires_at > now)
        .values(used_at=now))
    return result.rowcount == 1


async def record_issued(session: AsyncSession, code_id: int, *, token_jti: str, family_id: str) -> None:
    """Name what the redemption issued, so that a second redemption can revoke it (§4.1.2)."""
    await session.execute(update(AuthorizationCode).where(AuthorizationCode.id == code_id)
                          .values(token_jti=token_jti, family_id=family_id))
