"""Refresh tokens (RFC 6749 §6, RFC 9700 §4.14.2), kept by the SHA-256 of their value, never the
value; grouped in *families* (one per authorization-code grant). No aiohttp here.

* :func:`add` starts or continues a family; ``expires_at`` is the idle limit, never past the
  family's ``absolute_expires_at``.
* :func:`claim` is the rotation's one atomic step: ``UPDATE … SET used_at WHERE used_at IS NULL
  AND revoked_at IS NULL AND`` unexpired, so of two concurrent uses exactly one wins.
* :func:`revoke_family` revokes every refresh token of a family and every access token issued
  from it (one ``token_revoked`` feed event each, :func:`authmanager.operations.revocation.revoke_token`).
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from .. import audit
from ..operations.revocation import revoke_token
from .models import AccessToken, RefreshToken


async def add(session: AsyncSession, row: RefreshToken) -> None:
    session.add(row)
    await session.flush()


async def by_hash(session: AsyncSession, token_hash: str) -> RefreshToken | None:
    return await session.scalar(select(RefreshToken).where(RefreshToken.token_hash == token_hash))


async def claim(session: AsyncSession, token_hash: str, *, now: int) -> bool:
    """Mark a live refresh token used (rotated), atomically; True for exactly one caller."""
    result = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.token_hash == token_hash, RefreshToken.used_at.is_(None),
               RefreshToken.revoked_at.is_(None), RefreshToken.expires_at > now,
               RefreshToken.absolute_expires_at > now)
        .values(used_at=now))
    return result.rowcount == 1


async def revoke_family(session: AsyncSession, family_id: str, now: int, *, actor: str | None = None,
                        reason: str = "revoked") -> int:
    """Revoke a whole family: its refresh tokens (used or not) and every live access token that
    carries its ``family_id``. Returns the number of access tokens revoked. With ``actor`` the
    decision is audited as ``token.revoke`` with target ``family:<id>`` (by family id, never a token value); each access
    token's revocation appends a feed event, so resource servers and caches learn of it."""
    # Until a pass finds nothing: on PostgreSQL a rotation in flight holds the old token's row, so
    # the first pass waits for it to commit, and only a later statement (a new snapshot) sees the
    # token that rotation inserted. A rotation can only start from a row not yet revoked, so this
    # ends (SQLite serialises writers: one pass revokes everything, the second finds nothing).
    while (await session.execute(update(RefreshToken).where(
            RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None)).values(revoked_at=now))).rowcount:
        pass
    live = await session.scalars(select(AccessToken).where(  # after the passes: sees their access tokens
        AccessToken.family_id == family_id, AccessToken.revoked_at.is_(None), AccessToken.expires_at > now)
        .order_by(AccessToken.issued_at))
    count = 0
    realm_id = None
    for token in live.all():
        realm_id = token.realm_id
        count += await revoke_token(session, token, now=now)
    if actor is not None:
        if realm_id is None:
            realm_id = await session.scalar(select(RefreshToken.realm_id).where(RefreshToken.family_id == family_id)
                                            .limit(1))
        await audit.record(session, action="token.revoke", actor=actor, now=now, realm_id=realm_id,
                           target=f"family:{family_id}", detail={"reason": reason, "access_tokens": count})
    return count


async def families_of(session: AsyncSession, *, client_id: str, account_id: int, realm_id: int | None = None) -> list[str]:
    """The live families an application holds for a person (in one realm, or all): what revoking
    a consent revokes (:func:`revoke_family` each)."""
    query = select(RefreshToken.family_id).where(RefreshToken.client_id == client_id,
                                                 RefreshToken.account_id == account_id,
                                                 RefreshToken.revoked_at.is_(None))
    if realm_id is not None:
        query = query.where(RefreshToken.realm_id == realm_id)
    return sorted(set((await session.scalars(query)).all()))
