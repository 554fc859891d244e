"""Realm limits: which realm an object belongs to, and whether the acting admin may touch it.

Shared by the console and the API, so both refuse the same things: an unknown object is
``404``, an object of a realm the admin is not limited to is ``403`` (:class:`AccessDenied`)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..errors import NotFound
from ..identifiers import is_row_id
from ..storage import access_requests as request_repo
from ..storage import grants as grant_repo
from ..storage import realms as realm_repo
from ..storage import tokens as token_repo
from ..storage.models import Policy, Realm
from .auth import Principal
from .errors import AccessDenied

Sessions = async_sessionmaker[AsyncSession]


def check(admin: Principal, realm_id: int) -> None:
    if not admin.may(realm_id):
        raise AccessDenied("this admin may not administer that realm")


def require_all_realms(admin: Principal) -> None:
    """Operations that reach across realms (creating realms, consumer keys) need every realm."""
    if not admin.all_realms:
        raise AccessDenied("only an admin of every realm may do this")


async def realm(sessions: Sessions, admin: Principal, name: str) -> Realm:
    async with sessions() as session:
        row = await realm_repo.by_name(session, name)
    if row is None:
        raise NotFound(f"no realm named {name!r}")
    check(admin, row.id)
    return row


def _realm_of(admin: Principal, kind: str, ident: object, realm_id: int | None) -> int:
    """The realm of a looked-up object (None: no such object, 404), if ``admin`` may touch it."""
    if realm_id is None:
        raise NotFound(f"no {kind} {ident}")
    check(admin, realm_id)
    return realm_id


async def policy(sessions: Sessions, admin: Principal, policy_id: int) -> int:
    async with sessions() as session:
        row = await session.get(Policy, policy_id)
    return _realm_of(admin, "policy", policy_id, row and row.realm_id)


async def request(sessions: Sessions, admin: Principal, request_id: int) -> int:
    async with sessions() as session:
        row = await request_repo.get(session, request_id)
    return _realm_of(admin, "request", request_id, row and row.realm_id)


async def grant(sessions: Sessions, admin: Principal, grant_id: int) -> int:
    async with sessions() as session:
        row = await grant_repo.get(session, grant_id)
    return _realm_of(admin, "grant", grant_id, row and row.realm_id)


async def token(sessions: Sessions, admin: Principal, jti: str) -> int:
    async with sessions() as session:
        row = await token_repo.by_jti(session, jti)
    return _realm_of(admin, "token", jti, row and row.realm_id)


def int_id(text: str) -> int:
    """A path id; anything but a positive integer an ``INTEGER`` column can hold is simply unknown."""
    if not (text.isascii() and text.isdigit() and len(text) <= 12 and is_row_id(int(text))):
        raise NotFound(f"no such object {text[:40]!r}")
    return int(text)
