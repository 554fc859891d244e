"""Revoking tokens and consumer keys; every revocation also appends a feed event in the same
transaction, so the push to resource servers can never disagree with the database. Given an
``actor``, a revocation is also recorded in the audit log (``token.revoke``) in that transaction."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from .. import audit
from ..storage import events as event_repo
from ..storage.models import AccessToken, Consumer


async def revoke_token(session: AsyncSession, token: AccessToken, *, now: int, actor: str | None = None) -> bool:
    """Revoke one token; False if it was already revoked. With ``actor`` (``consumer:<ck>``,
    ``admin:<name>``, ``cli``, …) the revocation is audited as ``token.revoke`` (by jti, never the
    token); without, the caller audits the decision it is part of (e.g. ``grant.revoke``)."""
    if token.revoked_at is not None:
        return False
    await session.execute(update(AccessToken).where(AccessToken.jti == token.jti).values(revoked_at=now))
    await event_repo.append(session, kind="token_revoked", realm_id=token.realm_id, jti=token.jti,
                            exp=token.expires_at, now=now)
    if actor is not None:
        await audit.record(session, action="token.revoke", actor=actor, now=now, realm_id=token.realm_id,
                           target=token.jti, detail={"client_id": token.client_id, "scope": token.scope})
    return True


async def revoke_consumer(session: AsyncSession, client_id: str, *, now: int, delete: bool = False) -> int:
    """Revoke a consumer key, its grasshopper sub-keys, and every live token they obtained.

    Returns the number of tokens revoked. One ``client_revoked`` event per (key, realm) tells
    resource servers to reject tokens of that key issued up to then.

    The key's row is updated first, then its sub-keys', and only then are the tokens looked
    for: a transaction that read a key as live (``FOR SHARE``: the group commit, the UMA poll,
    the grasshopper endpoint) holds a lock that makes this wait for its commit, so the tokens
    or sub-keys it wrote are seen and revoked here; one that starts later reads the key as
    revoked. ``issued_before`` covers every token revoked here, even one stamped by a
    clock a little ahead of this one.
    """
    revoked_at = func.coalesce(Consumer.revoked_at, now)  # every row locked, even one already revoked
    await session.execute(update(Consumer).where(Consumer.client_id == client_id).values(revoked_at=revoked_at))
    subkeys = await session.scalars(update(Consumer).where(Consumer.parent_id == client_id)
                                    .values(revoked_at=revoked_at).returning(Consumer.client_id))
    keys = [client_id, *subkeys.all()]
    live = (AccessToken.client_id.in_(keys), AccessToken.revoked_at.is_(None), AccessToken.expires_at > now)
    groups = (await session.execute(
        select(AccessToken.client_id, AccessToken.realm_id, func.max(AccessToken.expires_at),
               func.max(AccessToken.issued_at))
        .where(*live).group_by(AccessToken.client_id, AccessToken.realm_id)
    )).all()
    revoked = (await session.execute(update(AccessToken).where(*live).values(revoked_at=now))).rowcount or 0
    for key, realm_id, last_exp, last_issued in groups:
        await event_repo.append(session, kind="client_revoked", realm_id=realm_id, client_id=key,
                                issued_before=max(now, last_issued), exp=last_exp, now=now)
    if delete:
        for key in reversed(keys):  # sub-keys first
            row = await session.get(Consumer, key)
            if row is not None:
                await session.delete(row)
        await session.flush()
    return revoked


async def revoke_tokens_of(session: AsyncSession, client_ids: list[str], realm_id: int, *, now: int) -> int:
    """Revoke the live tokens ``client_ids`` hold for one realm (a revoked saved grant), one
    ``token_revoked`` event each: unlike ``client_revoked``, that never touches a token the same
    party obtains afterwards under other policies. Returns how many were revoked."""
    live = await session.scalars(select(AccessToken).where(
        AccessToken.client_id.in_(client_ids), AccessToken.realm_id == realm_id, AccessToken.revoked_at.is_(None),
        AccessToken.expires_at > now).order_by(AccessToken.issued_at))
    count = 0
    for token in live.all():
        count += await revoke_token(session, token, now=now)
    return count
