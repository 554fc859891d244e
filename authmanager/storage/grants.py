"""Saved grants: the owner's decisions per realm and party — a subject URL the realm was shared
with (``storage.shares.save_grant``) or a consumer key whose request the owner answered."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from .db import insert_ignore
from .models import Consumer, Realm, SavedGrant


def _locked(query: Select[Any], *, for_update: bool = False, share: bool = False) -> Select[Any]:
    """``share``: ``FOR SHARE``, for a read a token is issued on (a revocation, which takes the
    row ``FOR UPDATE`` first, then waits for it, or has committed and is seen); ``for_update``:
    ``FOR UPDATE``. Either way the row is refreshed from the database."""
    if not (for_update or share):
        return query
    return query.with_for_update(read=share and not for_update).execution_options(populate_existing=True)


async def live_for_consumer(session: AsyncSession, realm_id: int, client_id: str, *,
                            share: bool = False) -> SavedGrant | None:
    return await session.scalar(_locked(select(SavedGrant).where(
        SavedGrant.realm_id == realm_id, SavedGrant.client_id == client_id, SavedGrant.revoked_at.is_(None)),
        share=share))


async def live_for_subject(session: AsyncSession, realm_id: int, subject: str, *,
                           share: bool = False) -> SavedGrant | None:
    return await session.scalar(_locked(select(SavedGrant).where(
        SavedGrant.realm_id == realm_id, SavedGrant.subject == subject, SavedGrant.revoked_at.is_(None)),
        share=share))


async def get(session: AsyncSession, grant_id: int, *, for_update: bool = False,
              share: bool = False) -> SavedGrant | None:
    return await session.scalar(_locked(select(SavedGrant).where(SavedGrant.id == grant_id),
                                        for_update=for_update, share=share))


async def record_answer(session: AsyncSession, *, realm_id: int, client_id: str, approved: Iterable[str],
                        refused: Iterable[str], now: int) -> SavedGrant:
    """Merge the owner's answer into the (realm, consumer) grant: per scope the latest answer wins.

    The row is created with ``INSERT … ON CONFLICT DO NOTHING`` and then locked, so concurrent
    answers for one consumer serialise instead of failing on the unique constraint."""
    await session.execute(insert_ignore(session.bind.dialect.name, SavedGrant).values(
        realm_id=realm_id, client_id=client_id, scopes=[], refused_scopes=[], created_at=now))
    row = await session.scalar(select(SavedGrant).where(SavedGrant.realm_id == realm_id,
                                                        SavedGrant.client_id == client_id).with_for_update())
    assert row is not None
    yes, no = set(approved), set(refused)
    if row.revoked_at is not None:  # a revoked grant is started afresh
        kept_yes, kept_no = set(), set()
        row.revoked_at, row.created_at = None, now
    else:
        kept_yes, kept_no = set(row.scopes), set(row.refused_scopes or [])
    row.scopes = sorted((kept_yes - no) | yes)
    row.refused_scopes = sorted((kept_no - yes) | no)
    await session.flush()
    return row


async def list_live(session: AsyncSession, realm_id: int | None = None
                    ) -> list[tuple[SavedGrant, str, str | None]]:
    """Live grants with their realm's name and, for consumer grants, the consumer's name."""
    query = (select(SavedGrant, Realm.name, Consumer.client_name)
             .join(Realm, Realm.id == SavedGrant.realm_id)
             .outerjoin(Consumer, Consumer.client_id == SavedGrant.client_id)
             .where(SavedGrant.revoked_at.is_(None)).order_by(SavedGrant.id))
    if realm_id is not None:
        query = query.where(SavedGrant.realm_id == realm_id)
    return [(grant, realm, name) for grant, realm, name in (await session.execute(query)).all()]
