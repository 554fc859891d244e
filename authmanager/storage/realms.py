"""Protection realms, their documented scopes and their ordered policies."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from .models import Policy, Realm, RealmScope


async def by_name(session: AsyncSession, name: str) -> Realm | None:
    return await session.scalar(select(Realm).where(Realm.name == name))


async def by_sph(session: AsyncSession, sph: str) -> Realm | None:
    return await session.scalar(select(Realm).where(Realm.sph == sph))


async def by_resource_key(session: AsyncSession, key: str) -> Realm | None:
    return await session.scalar(select(Realm).where(Realm.resource_key == key))


async def by_id(session: AsyncSession, realm_id: int) -> Realm | None:
    return await session.get(Realm, realm_id)


async def list_all(session: AsyncSession) -> list[Realm]:
    return list((await session.scalars(select(Realm).order_by(Realm.name))).all())


async def scopes(session: AsyncSession, realm_id: int) -> list[RealmScope]:
    rows = await session.scalars(select(RealmScope).where(RealmScope.realm_id == realm_id).order_by(RealmScope.name))
    return list(rows.all())


async def all_scope_names(session: AsyncSession) -> list[str]:
    return sorted(set((await session.scalars(select(RealmScope.name))).all()))


async def policies(session: AsyncSession, realm_id: int) -> list[Policy]:
    rows = await session.scalars(select(Policy).where(Policy.realm_id == realm_id).order_by(Policy.position))
    return list(rows.all())


async def next_policy_position(session: AsyncSession, realm_id: int) -> int:
    top = await session.scalar(select(func.max(Policy.position)).where(Policy.realm_id == realm_id))
    return (top or 0) + 1
