"""A person's consents (OAuth3 issuer step 7, "save decision"): one row per (application,
account, realm) in ``consents``, with the scopes approved and those refused, whole or partial.
No aiohttp here.

* :func:`record` merges a decision of the dialog into the row (a later decision updates it: a
  scope approved now is no longer refused and vice versa; a revoked consent starts afresh), in
  the caller's transaction — the one that issues the code.
* :func:`list_for` is "applications I allowed" (live consents of one account);
  :func:`list_for_realm` is the realm admin's side (issue 12 §5: "revocable ... by the realm
  admin"): the live consents of the realms an admin administers (``visible``: ``None`` for an
  admin of every realm, else those realm ids), with the person's account name.
* :func:`revoke` ends one of them: ``revoked_at`` is set; that person's access tokens for that
  application and realm are revoked, each with its ``token_revoked`` feed event (so services and
  caches learn of it, as :mod:`.revocation` does for every revocation); their refresh tokens are
  revoked; their unredeemed codes expire. Audited as ``consent.revoke``, in the same transaction.
  The person may revoke their own consent (``account_id``); an admin of the consent's realm may
  revoke anyone's (``realm_ids``). Anyone else, like an unknown or already revoked consent, gets
  the same :class:`UnknownConsent` ("no consent N"): nothing tells them that it exists.

**Ordering against issuance in flight** (as issue 11 §3 did for consumer keys and grants,
:func:`.revocation.revoke_consumer`). A code redemption or a refresh rotation that is running
while a consent is revoked could otherwise write an access token and a refresh token that the
revocation's statements do not see (PostgreSQL, READ COMMITTED: each statement sees what was
committed when it began), and they would stay live once ``revoke`` has answered. So:

* the redemption and the rotation read the consent row ``FOR SHARE`` (:func:`given`) *before*
  they claim the code or the refresh token, and refuse (``invalid_grant``) a revoked consent;
* :func:`revoke` takes that row ``FOR UPDATE`` first, before it looks for anything.

Either the issuer holds its share lock first, and ``revoke`` waits for it to commit, after which
every statement of ``revoke`` (a new snapshot each) sees and revokes the tokens it wrote; or
``revoke`` holds the row first, and the issuer, once it gets its lock, reads the row as revoked
and issues nothing. The lock order is the same everywhere (the consent, then codes or tokens),
so the two cannot deadlock. On SQLite every write transaction begins with ``BEGIN IMMEDIATE``
(the database's one write lock), so the two are wholly ordered anyway; ``FOR SHARE``/``FOR
UPDATE`` render as nothing there, and the code path is the same. A code or a refresh token of
an application for which no consent row exists (none is issued without one by the dialog) locks
nothing and is not refused.
"""

from __future__ import annotations

from typing import Any, Collection

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .. import audit
from ..identifiers import is_row_id
from ..storage.db import insert_ignore
from ..storage.models import AccessToken, Account, AuthorizationCode, Consent, Realm, RefreshToken
from .realms import AdminError
from .revocation import revoke_token

Sessions = async_sessionmaker[AsyncSession]


class UnknownConsent(AdminError):
    """No live consent of that id that this caller may revoke (unknown, revoked, or not theirs)."""


async def given(session: AsyncSession, *, client_id: str, account_id: int, realm_id: int) -> bool:
    """In an issuing transaction (a code redemption, a refresh rotation), before the code or the
    refresh token is claimed: read the (client, account, realm) consent ``FOR SHARE`` and say
    whether issuing may go on, i.e. the row is not revoked (see the module docstring). No row:
    True, and nothing is locked."""
    found = (await session.execute(select(Consent.revoked_at).where(
        Consent.client_id == client_id, Consent.account_id == account_id, Consent.realm_id == realm_id)
        .with_for_update(read=True))).first()
    return found is None or found.revoked_at is None


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


async def list_for_realm(sessions: Sessions, *, realm: str | None = None,
                         visible: Collection[int] | None = None) -> list[dict[str, Any]]:
    """Live consents of ``realm`` (a name; None: every realm), restricted to the realm ids in
    ``visible`` (None: no restriction, an admin of every realm or the CLI), most recently decided
    first; each names the person (``account``, ``account_id``). An unknown realm is an
    :class:`AdminError`; a realm outside ``visible`` simply has nothing to show."""
    async with sessions() as session:
        query = (select(Consent, Realm.name, Account.name).join(Realm, Realm.id == Consent.realm_id)
                 .join(Account, Account.id == Consent.account_id).where(Consent.revoked_at.is_(None)))
        if realm is not None:
            realm_id = await session.scalar(select(Realm.id).where(Realm.name == realm))
            if realm_id is None:
                raise AdminError(f"no realm named {realm!r}")
            query = query.where(Consent.realm_id == realm_id)
        if visible is not None:
            query = query.where(Consent.realm_id.in_(list(visible)))
        rows = await session.execute(query.order_by(Consent.updated_at.desc(), Consent.id.desc()))
        return [{**_dict(row, realm_name), "account": account, "account_id": row.account_id}
                for row, realm_name, account in rows.all()]


async def list_for(sessions: Sessions, account_id: int) -> list[dict[str, Any]]:
    """The account's live consents, most recently decided first."""
    async with sessions() as session:
        rows = await session.execute(
            select(Consent, Realm.name).join(Realm, Realm.id == Consent.realm_id)
            .where(Consent.account_id == account_id, Consent.revoked_at.is_(None))
            .order_by(Consent.updated_at.desc(), Consent.id.desc()))
        return [_dict(row, realm) for row, realm in rows.all()]


async def revoke(sessions: Sessions, consent_id: int, *, now: int, actor: str, account_id: int | None = None,
                 realm_ids: Collection[int] | None = frozenset()) -> dict[str, Any]:
    """Revoke consent ``consent_id`` and what it bought (see the module docstring), if it is the
    consent of ``account_id`` (a person revoking their own) or of a realm in ``realm_ids`` (the
    realms the caller administers; None: every realm, as for the CLI). Anything else, like an
    unknown or already revoked consent, is :class:`UnknownConsent` and changes nothing.

    The consent row is locked (``FOR UPDATE``) before anything else is read, so a redemption or
    a rotation in flight for it has committed first, or refuses (module docstring)."""
    async with sessions.begin() as session:
        row = await session.scalar(select(Consent).where(Consent.id == consent_id).with_for_update()
                                   .execution_options(populate_existing=True)) if is_row_id(consent_id) else None
        allowed = row is not None and (
            (account_id is not None and row.account_id == account_id)
            or realm_ids is None or row.realm_id in realm_ids)
        if row is None or not allowed or row.revoked_at is not None:
            raise UnknownConsent(f"no consent {consent_id}")
        row.revoked_at = now
        person = row.account_id
        mine = (AccessToken.account_id == person, AccessToken.client_id == row.client_id,
                AccessToken.realm_id == row.realm_id)
        tokens = await session.scalars(select(AccessToken).where(
            *mine, AccessToken.revoked_at.is_(None), AccessToken.expires_at > now).order_by(AccessToken.issued_at))
        revoked = 0
        for token in tokens.all():
            revoked += await revoke_token(session, token, now=now)
        refresh = await session.execute(update(RefreshToken).where(
            RefreshToken.account_id == person, RefreshToken.client_id == row.client_id,
            RefreshToken.realm_id == row.realm_id, RefreshToken.revoked_at.is_(None)).values(revoked_at=now))
        await session.execute(update(AuthorizationCode).where(
            AuthorizationCode.account_id == person, AuthorizationCode.client_id == row.client_id,
            AuthorizationCode.realm_id == row.realm_id, AuthorizationCode.used_at.is_(None),
            AuthorizationCode.expires_at > now).values(expires_at=now))
        out = {"id": row.id, "client_id": row.client_id, "client_name": row.client_name,
               "account_id": person, "tokens_revoked": revoked, "refresh_tokens_revoked": refresh.rowcount or 0}
        await audit.record(session, action="consent.revoke", actor=actor, now=now, realm_id=row.realm_id,
                           target=f"consent {row.id}", detail={k: v for k, v in out.items() if k != "id"})
        return out
