"""Whether a consumer's registered key (:class:`~authmanager.storage.models.ClientKey`) is still
live, read in the transaction that acts on an assertion it signed — never from a cache.

The row is read ``FOR SHARE`` (PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already serialises
writers), after the consumer's own row, as consumer liveness is: a revocation of the key (an
``UPDATE`` of its row, then of the tokens obtained with it) either commits first and the key is
read as revoked, or waits for the issuing transaction and then revokes the token it issued.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from .models import ClientKey

_LIVE = (select(ClientKey.id).where(ClientKey.id.in_(bindparam("ids", expanding=True)),
                                    ClientKey.revoked_at.is_(None))
         .order_by(ClientKey.id).with_for_update(read=True))


async def is_live(session: AsyncSession, key_id: int, *, client_id: str) -> bool:
    """The key exists, is the consumer's, and is not revoked (its row read ``FOR SHARE``)."""
    found = await session.scalar(select(ClientKey.client_id).where(
        ClientKey.id == key_id, ClientKey.revoked_at.is_(None)).with_for_update(read=True))
    return found == client_id


def live_ids(conn: Connection, key_ids: Collection[int]) -> set[int]:
    """For a group-commit batch: which of ``key_ids`` are unrevoked, read ``FOR SHARE`` in id order
    (two batches locking the same keys wait for each other, never deadlock)."""
    if not key_ids:
        return set()
    return set(conn.execute(_LIVE, {"ids": sorted(key_ids)}).scalars())
