"""Saved grants and tickets (IndieAuth Ticket Auth): the owner's shares and their deliveries."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from .models import Realm, SavedGrant, Ticket


async def save_grant(session: AsyncSession, *, realm_id: int, subject: str, scopes: list[str],
                     max_ttl: int | None, now: int) -> SavedGrant:
    """Insert or update the (realm, subject) grant: the owner's latest decision wins."""
    row = await session.scalar(select(SavedGrant).where(SavedGrant.realm_id == realm_id,
                                                        SavedGrant.subject == subject))
    if row is None:
        row = SavedGrant(realm_id=realm_id, subject=subject, scopes=scopes, max_ttl=max_ttl, created_at=now)
        session.add(row)
    else:  # also revives a revoked grant
        row.scopes, row.max_ttl, row.created_at, row.revoked_at = scopes, max_ttl, now, None
    await session.flush()
    return row


async def add_ticket(session: AsyncSession, ticket: Ticket) -> Ticket:
    session.add(ticket)
    await session.flush()
    return ticket


async def by_hash(session: AsyncSession, ticket_hash: str) -> Ticket | None:
    return await session.scalar(select(Ticket).where(Ticket.ticket_hash == ticket_hash))


async def claim(session: AsyncSession, ticket_hash: str, *, now: int) -> bool:
    """Mark the ticket used, atomically: ``UPDATE … WHERE used_at IS NULL AND expires_at > now``.

    Exactly one of any number of concurrent claims sees ``rowcount == 1`` (on SQLite writers
    are serialised by ``BEGIN IMMEDIATE``; on PostgreSQL the row lock makes later updates
    re-check ``used_at`` after the first commits)."""
    result = await session.execute(
        update(Ticket).where(Ticket.ticket_hash == ticket_hash, Ticket.used_at.is_(None), Ticket.expires_at > now)
        .values(used_at=now))
    return result.rowcount == 1


async def record_delivery(session: AsyncSession, ticket_id: int, *, endpoint: str | None, delivered: bool,
                          status: int | None, error: str | None, now: int) -> None:
    await session.execute(update(Ticket).where(Ticket.id == ticket_id).values(
        endpoint=endpoint, delivery="delivered" if delivered else "failed", delivery_status=status,
        delivery_error=error, delivered_at=now))


async def list_all(session: AsyncSession) -> list[tuple[Ticket, str]]:
    """Every ticket with its realm's name, newest first."""
    rows = await session.execute(select(Ticket, Realm.name).join(Realm, Realm.id == Ticket.realm_id)
                                 .order_by(Ticket.id.desc()))
    return [(ticket, name) for ticket, name in rows.all()]
