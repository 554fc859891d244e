"""Requests put to the realm owner (UMA 2.0 Grant §3.3.6 ``request_submitted``), kept by the
SHA-256 of their ticket."""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from .models import AccessRequest, Consumer, Realm

PENDING, APPROVED, DENIED = "pending", "approved", "denied"


async def add(session: AsyncSession, row: AccessRequest) -> AccessRequest:
    session.add(row)
    await session.flush()
    return row


async def by_hash(session: AsyncSession, ticket_hash: str, *, for_update: bool = False) -> AccessRequest | None:
    """The request a ticket names; ``for_update`` locks it (the poll: the request first, then the
    saved grant, the order an owner's answer takes them in)."""
    query = select(AccessRequest).where(AccessRequest.ticket_hash == ticket_hash)
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(query)


async def get(session: AsyncSession, request_id: int, *, for_update: bool = False) -> AccessRequest | None:
    query = select(AccessRequest).where(AccessRequest.id == request_id)
    return await session.scalar(query.with_for_update() if for_update else query)


async def note_poll(session: AsyncSession, request_id: int, *, now: int, interval: int) -> bool:
    """Record a poll answered "still pending"; False if the last one was less than ``interval``
    seconds ago (RFC 8628 §3.5 ``slow_down``). One conditional UPDATE, so of two concurrent
    polls inside one interval only one counts."""
    result = await session.execute(update(AccessRequest).where(
        AccessRequest.id == request_id, AccessRequest.last_polled_at <= now - interval).values(last_polled_at=now))
    return result.rowcount == 1


async def claim(session: AsyncSession, request_id: int, *, now: int) -> bool:
    """Spend the ticket: ``UPDATE … SET used_at WHERE used_at IS NULL AND expires_at > now``; of any
    number of concurrent polls exactly one obtains the token (as ``storage.shares.claim``)."""
    result = await session.execute(update(AccessRequest).where(
        AccessRequest.id == request_id, AccessRequest.used_at.is_(None), AccessRequest.expires_at > now)
        .values(used_at=now))
    return result.rowcount == 1


async def list_pending(session: AsyncSession, *, now: int) -> list[tuple[AccessRequest, str, str]]:
    """Pending, unexpired requests, oldest first, with the realm's and the consumer's names."""
    rows = await session.execute(
        select(AccessRequest, Realm.name, Consumer.client_name)
        .join(Realm, Realm.id == AccessRequest.realm_id)
        .join(Consumer, Consumer.client_id == AccessRequest.client_id)
        .where(AccessRequest.status == PENDING, AccessRequest.expires_at > now)
        .order_by(AccessRequest.id))
    return [(row, realm, name) for row, realm, name in rows.all()]


async def purge_expired(session: AsyncSession, *, now: int) -> int:
    result = await session.execute(delete(AccessRequest).where(AccessRequest.expires_at <= now))
    return result.rowcount or 0
