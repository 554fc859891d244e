"""Protection realms, their documented scopes and their ordered policies.

A name or ``sph`` outside its character set (:mod:`authmanager.identifiers`) names no realm:
``None``, without a query."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..identifiers import is_key, is_name, is_scope_token
from .models import Policy, Realm, RealmScope


async def by_name(session: AsyncSession, name: str, *, for_update: bool = False) -> Realm | None:
    if not is_name(name):
        return None
    query = select(Realm).where(Realm.name == name)
    return await session.scalar(query.with_for_update() if for_update else query)


async def by_sph(session: AsyncSession, sph: str) -> Realm | None:
    return await session.scalar(select(Realm).where(Realm.sph == sph)) if is_key(sph) else None


async def scope(session: AsyncSession, realm_id: int, name: str) -> RealmScope | None:
    """One of the realm's scopes; a name that is no RFC 6749 §3.3 scope-token names none."""
    return await session.get(RealmScope, (realm_id, name)) if is_scope_token(name) else None


async def by_resource_key(session: AsyncSession, key: str) -> Realm | None:
    return await session.scalar(select(Realm).where(Realm.resource_key == key))


async def by_resource_keys(session: AsyncSession, keys: Iterable[str]) -> list[Realm]:
    """The realms whose normalised resource is one of ``keys``: one query on the unique index."""
    wanted = list(keys)
    if not wanted:
        return []
    return list((await session.scalars(select(Realm).where(Realm.resource_key.in_(wanted)))).all())


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
