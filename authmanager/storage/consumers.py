"""Consumer keys (RFC 7591 clients).

A ``client_id`` that is not a generated identifier (:func:`authmanager.identifiers.is_key`) names
no key: it is answered ``None`` without a query, so no caller can send the database a value it
cannot hold.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Update, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..identifiers import is_key
from .models import Consumer


async def add(session: AsyncSession, consumer: Consumer) -> None:
    session.add(consumer)
    await session.flush()


async def get_active(session: AsyncSession, client_id: str) -> Consumer | None:
    row = await get(session, client_id)
    if row is None or row.revoked_at is not None:
        return None
    return row


async def list_all(session: AsyncSession) -> list[Consumer]:
    return list((await session.scalars(select(Consumer).order_by(Consumer.issued_at))).all())


#: The key and its master (if it is a sub-key), read ``FOR SHARE``, the master first.
_KEY_AND_MASTER = (
    select(Consumer)
    .where(or_(Consumer.client_id == bindparam("client_id"),
               Consumer.client_id == select(Consumer.parent_id)
               .where(Consumer.client_id == bindparam("client_id")).scalar_subquery()))
    .order_by(Consumer.parent_id.is_not(None)).with_for_update(read=True)
    .execution_options(populate_existing=True))


async def get_live(session: AsyncSession, client_id: str, *, now: int) -> Consumer | None:
    """An unrevoked key; a grasshopper sub-key also needs to be unexpired and its master live.

    One statement reads the key and its master ``FOR SHARE``, the master first (the order the
    group commit and a revocation take them in): a revocation of either waits for the caller's
    transaction to end, or has committed and is seen (:mod:`authmanager.storage.issuance`)."""
    if not is_key(client_id):
        return None
    rows = {row.client_id: row for row in await session.scalars(_KEY_AND_MASTER, {"client_id": client_id})}
    row = rows.get(client_id)
    if row is None or row.revoked_at is not None:
        return None
    if row.parent_id is None:
        return row
    master = rows.get(row.parent_id)
    if row.expires_at is None or row.expires_at <= now or master is None or master.revoked_at is not None:
        return None
    return row


async def get(session: AsyncSession, client_id: str) -> Consumer | None:
    return await session.get(Consumer, client_id) if is_key(client_id) else None


def mark_used_statement(which: Any) -> Update:
    """``UPDATE consumers SET last_used_at = :now`` for the rows ``which`` selects that no other
    transaction holds a lock on (``FOR NO KEY UPDATE SKIP LOCKED``): the refresh never waits,
    so two transactions holding a key ``FOR SHARE`` never deadlock upgrading that lock. A
    skipped refresh is made by a later request (``last_used_at`` is hourly at best anyway)."""
    unlocked = select(Consumer.client_id).where(which).with_for_update(key_share=True, skip_locked=True)
    return update(Consumer).where(Consumer.client_id.in_(unlocked.scalar_subquery())).values(
        last_used_at=bindparam("now"))


_MARK_ONE = mark_used_statement(Consumer.client_id == bindparam("key"))  # "client_id" is the column's own name


async def mark_used(session: AsyncSession, client_id: str, *, now: int) -> None:
    await session.execute(_MARK_ONE, {"key": client_id, "now": now})
