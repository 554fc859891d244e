"""Realm admins: accounts, their realm limits, API tokens (by SHA-256) and console sessions
(by the SHA-256 of the session id)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..identifiers import is_name
from .models import Admin, AdminRealm, AdminSession, AdminToken, Realm


async def by_name(session: AsyncSession, name: str) -> Admin | None:
    """The account named ``name``; a name outside the admins' character set (letters, digits,
    ``-_.``: :func:`authmanager.identifiers.is_name`) names none and is not looked up."""
    return await session.scalar(select(Admin).where(Admin.name == name)) if is_name(name) else None


async def get(session: AsyncSession, admin_id: int) -> Admin | None:
    return await session.get(Admin, admin_id)


async def add(session: AsyncSession, admin: Admin, realm_ids: Iterable[int]) -> Admin:
    session.add(admin)
    await session.flush()
    for realm_id in realm_ids:
        session.add(AdminRealm(admin_id=admin.id, realm_id=realm_id))
    await session.flush()
    return admin


async def list_all(session: AsyncSession) -> list[Admin]:
    return list((await session.scalars(select(Admin).order_by(Admin.name))).all())


async def realm_ids(session: AsyncSession, admin_id: int) -> set[int]:
    return set((await session.scalars(select(AdminRealm.realm_id).where(AdminRealm.admin_id == admin_id))).all())


async def realm_names(session: AsyncSession, admin_id: int) -> list[str]:
    rows = await session.scalars(select(Realm.name).join(AdminRealm, AdminRealm.realm_id == Realm.id)
                                 .where(AdminRealm.admin_id == admin_id).order_by(Realm.name))
    return list(rows.all())


async def grant_realm(session: AsyncSession, admin_id: int, realm_id: int) -> None:
    session.add(AdminRealm(admin_id=admin_id, realm_id=realm_id))
    await session.flush()


async def add_token(session: AsyncSession, row: AdminToken) -> AdminToken:
    session.add(row)
    await session.flush()
    return row


async def token_by_hash(session: AsyncSession, token_hash: str) -> AdminToken | None:
    return await session.scalar(select(AdminToken).where(AdminToken.token_hash == token_hash))


async def token(session: AsyncSession, token_id: int, *, for_update: bool = False) -> AdminToken | None:
    query = select(AdminToken).where(AdminToken.id == token_id)
    return await session.scalar(query.with_for_update() if for_update else query)


async def tokens(session: AsyncSession) -> list[tuple[AdminToken, str]]:
    rows = await session.execute(select(AdminToken, Admin.name).join(Admin, Admin.id == AdminToken.admin_id)
                                 .order_by(AdminToken.id))
    return [(row, name) for row, name in rows.all()]


async def add_session(session: AsyncSession, row: AdminSession) -> None:
    session.add(row)
    await session.flush()


async def live_session(session: AsyncSession, id_hash: str, *, now: int) -> AdminSession | None:
    return await session.scalar(select(AdminSession).where(AdminSession.id_hash == id_hash,
                                                           AdminSession.expires_at > now))


async def end_session(session: AsyncSession, id_hash: str) -> int:
    return (await session.execute(delete(AdminSession).where(AdminSession.id_hash == id_hash))).rowcount or 0


async def end_expired_sessions(session: AsyncSession, *, now: int) -> int:
    return (await session.execute(delete(AdminSession).where(AdminSession.expires_at <= now))).rowcount or 0


async def revoke_token(session: AsyncSession, token_id: int, *, now: int) -> bool:
    result = await session.execute(update(AdminToken).where(AdminToken.id == token_id,
                                                            AdminToken.revoked_at.is_(None)).values(revoked_at=now))
    return result.rowcount == 1
