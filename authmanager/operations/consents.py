"""A person's consents (OAuth3 issuer step 7, "save decision"): one row per (application,
account, realm) in ``consents``, with the scopes approved and those refused, whole or partial.
No aiohttp here.

* :func:`record` merges a decision of the dialog into the row (a later decision updates it: a
  scope approved now is no longer refused and vice versa; a revoked consent starts afresh), in
  the caller's transaction — the one that issues the code.
* :func:`list_for` is "applications I allowed" (live consents of one account).
* :func:`revoke` ends one of them: ``revoked_at`` is set; that person's access tokens for that
  application and realm are revoked, each with its ``token_revoked`` feed event (so services and
  caches learn of it, as :mod:`.revocation` does for every revocation); their refresh tokens are
  revoked; their unredeemed codes expire. Audited as ``consent.revoke``, in the same transaction.
"""

from __future__ import annotations

from typing import Any, Collection

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .. import audit
from ..identifiers import is_row_id
from ..storage.db import insert_ignore
from ..storage.models import AccessToken, AuthorizationCode, Consent, Realm, RefreshToken
from .realms import AdminError
from .revocation import revoke_token

Sessions = async_sessionmaker[AsyncSession]


async def live(session: AsyncSession, *, client_id: str, account_id: int, realm_id: int) -> Consent | None:
    """The account's live consent for this application and realm, if any."""
    return await session.scalar(select(Consent).where(
        Consent.client_id == client_id, Consent.account_id == account_id, Consent.realm_id == realm_id,
        Consent.revoked_at.is_(None)))


async def record(session: AsyncSession, *, client_id: str, client_name: str, account_id: int, realm_id: int,
                 approved: Collection[str], refused: Collection[str], now: int) -> Consent:
    """Merge a decision into the (client, account, realm) row, creating it if need be: ``INSERT …
    ON CONFLICT DO NOTHING``, then the row is locked, so concurrent decisions serialise."""
    await session.execute(insert_ignore(session.bind.dialect.name, Consent).values(
        client_id=client_id, account_id=account_id, realm_id=realm_id, client_name=client_name[:200], scopes=[],
        refused_scopes=[], created_at=now, updated_at=now))
    row = await session.scalar(select(Consent).where(
        Consent.client_id == client_id, Consent.account_id == account_id, Consent.realm_id == realm_id)
        .with_for_update().execution_options(populate_existing=True))
    assert row is not None
    yes, no = set(approved), set(refused) - set(approved)
    if row.revoked_at is not None:  # a revoked consent is started afresh
        kept_yes, kept_no = set(), set()
        row.revoked_at, row.created_at = None, now
    else:
        kept_yes, kept_no = set(row.scopes), set(row.refused_scopes or [])
    row.scopes = sorted((kept_yes - no) | yes)
    row.refused_scopes = sorted((kept_no - yes) | no)
    row.client_name, row.updated_at = client_name[:200], now
    await session.flush()
    return row


def _dict(row: Consent, realm: str) -> dict[str, Any]:
    return {"id": row.id, "client_id": row.client_id, "client_name": row.client_name, "realm": realm,
            "scopes": row.scopes, "refused": row.refused_scopes, "created_at": row.created_at,
            "updated_at": row.updated_at}


async def list_for(sessions: Sessions, account_id: int) -> list[dict[str, Any]]:
    """The account's live consents, most recently decided first."""
    async with sessions() as session:
        rows = await session.execute(
            select(Consent, Realm.name).join(Realm, Realm.id == Consent.realm_id)
            .where(Consent.account_id == account_id, Consent.revoked_at.is_(None))
            .order_by(Consent.updated_at.desc(), Consent.id.desc()))
        return [_dict(row, realm) for row, realm in rows.all()]


async def revoke(sessions: Sessions, consent_id: int, *, account_id: int, now: int, actor: str) -> dict[str, Any]:
    """Revoke the account's consent ``consent_id`` and what it bought (see the module docstring).
    Another account's consent, or an unknown or already revoked one, is "no consent N"."""
    async with sessions.begin() as session:
        row = await session.scalar(select(Consent).where(Consent.id == consent_id).with_for_update()) \
            if is_row_id(consent_id) else None
        if row is None or row.account_id != account_id or row.revoked_at is not None:
            raise AdminError(f"no consent {consent_id}")
        row.revoked_at = now
        mine = (AccessToken.account_id == account_id, AccessToken.client_id == row.client_id,
                AccessToken.realm_id == row.realm_id)
        tokens = await session.scalars(select(AccessToken).where(
            *mine, AccessToken.revoked_at.is_(None), AccessToken.expires_at > now).order_by(AccessToken.issued_at))
        revoked = 0
        for token in tokens.all():
            revoked += await revoke_token(session, token, now=now)
        refresh = await session.execute(update(RefreshToken).where(
            RefreshToken.account_id == account_id, RefreshToken.client_id == row.client_id,
            RefreshToken.realm_id == row.realm_id, RefreshToken.revoked_at.is_(None)).values(revoked_at=now))
        await session.execute(update(AuthorizationCode).where(
            AuthorizationCode.account_id == account_id, AuthorizationCode.client_id == row.client_id,
            AuthorizationCode.realm_id == row.realm_id, AuthorizationCode.used_at.is_(None),
            AuthorizationCode.expires_at > now).values(expires_at=now))
        out = {"id": row.id, "client_id": row.client_id, "client_name": row.client_name,
               "tokens_revoked": revoked, "refresh_tokens_revoked": refresh.rowcount or 0}
        await audit.record(session, action="consent.revoke", actor=actor, now=now, realm_id=row.realm_id,
                           target=f"consent {row.id}", detail={k: v for k, v in out.items() if k != "id"})
        return out
