"""The revocation feed's events. Appends are serialised so ids commit in increasing order."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, event, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from .models import RevocationEvent

#: Events are kept this long past their ``exp``: an SP accepts tokens up to its clock leeway
#: (30 s by default) after ``exp``, and must still hear of their revocation until then.
GRACE = 60

#: Any constant: the PostgreSQL advisory lock that orders feed appends across AM processes.
_FEED_LOCK = 0x50534644  # "PSFD"

#: ``Session.info`` key of a callable that receives, right after a commit, the events that
#: transaction appended (the process's own caches forget revoked tokens at once; other processes
#: learn of them from their feed poller). Set on the AM's session factory.
ON_COMMIT = "protectserve_on_events"
_APPENDED = "protectserve_events"


@event.listens_for(Session, "after_commit")
def _deliver(session: Session) -> None:
    appended: list[Any] | None = session.info.pop(_APPENDED, None)
    listener = session.info.get(ON_COMMIT)
    if appended and listener is not None:
        listener(appended)


@event.listens_for(Session, "after_rollback")
def _drop(session: Session) -> None:
    session.info.pop(_APPENDED, None)


async def append(
    session: AsyncSession, *, kind: str, realm_id: int | None, exp: int, now: int, jti: str | None = None,
    client_id: str | None = None, issued_before: int | None = None,
) -> RevocationEvent:
    """Add an event in the caller's transaction. On PostgreSQL a transaction-scoped advisory lock
    makes id assignment and commit order agree (SQLite's ``BEGIN IMMEDIATE`` already does), so a
    reader never sees id N+1 before id N."""
    if session.bind.dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _FEED_LOCK})
    row = RevocationEvent(kind=kind, realm_id=realm_id, exp=exp, jti=jti, client_id=client_id,
                          issued_before=issued_before, created_at=now)
    session.add(row)
    await session.flush()
    session.info.setdefault(_APPENDED, []).append(row)
    return row


def _for_realm(realm_id: int):  # type: ignore[no-untyped-def]
    return or_(RevocationEvent.realm_id == realm_id, RevocationEvent.realm_id.is_(None))


#: Events read at a time.
PAGE = 1000


async def after(session: AsyncSession, *, cursor: int, realm_id: int | None = None,
                limit: int = PAGE) -> list[RevocationEvent]:
    stmt = select(RevocationEvent).where(RevocationEvent.id > cursor)
    if realm_id is not None:
        stmt = stmt.where(_for_realm(realm_id))
    return list((await session.scalars(stmt.order_by(RevocationEvent.id).limit(limit))).all())


async def still_relevant(session: AsyncSession, *, realm_id: int, now: int) -> list[RevocationEvent]:
    stmt = select(RevocationEvent).where(_for_realm(realm_id), RevocationEvent.exp > now - GRACE,
                                         RevocationEvent.kind != "keys_changed")
    return list((await session.scalars(stmt.order_by(RevocationEvent.id))).all())


async def latest_id(session: AsyncSession) -> int:
    return (await session.scalar(select(func.max(RevocationEvent.id)))) or 0


async def purge_expired(session: AsyncSession, *, now: int) -> int:
    result = await session.execute(delete(RevocationEvent).where(RevocationEvent.exp < now - GRACE))
    return result.rowcount or 0
