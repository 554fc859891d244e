"""The owner's side of asking (UMA 2.0 Grant §3.3.6 ``request_submitted``): pending requests,
their approval or denial, and the saved grants those decisions leave behind.

What ``authmanager requests …`` and ``authmanager grants …``, the console and the admin API call.
Every answer and revocation is recorded in the audit log (``request.approve``, ``request.deny``,
``grant.revoke``, with the ``actor`` who decided) in the transaction that makes it.

* ``approve_request(id, scopes=None)`` approves the asked scopes given (all of them by default)
  and refuses the rest; ``deny_request(id)`` refuses them all. Either way the answer is merged
  into the consumer's saved grant for the realm (its master key's, for a grasshopper key), so
  later requests for scopes already answered are decided without asking again, and only new
  scopes are put to the owner. The consumer's next poll gets the token, or ``request_denied``.
* Other pending requests of the same consumer and realm that the answer fully covers (a consumer
  that asked twice) are settled with it, so the owner never answers one question twice.
* ``revoke_grant(id)`` forgets the saved decision and revokes the party's live tokens for the
  realm, each with its ``token_revoked`` feed event (docs/protocol.md §11).

Each action is one transaction; a refused action (unknown, expired or already answered
request, a scope that was not asked) stores nothing.
"""

from __future__ import annotations

from typing import Any, Collection, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .. import audit
from ..identifiers import is_row_id
from ..storage import access_requests as request_repo
from ..storage import grants as grant_repo
from ..storage import realms as realm_repo
from ..storage.models import AccessRequest, Consumer, Realm, SavedGrant
from .realms import AdminError
from .revocation import revoke_tokens_of

Sessions = async_sessionmaker[AsyncSession]


async def list_requests(sessions: Sessions, *, now: int, realm_ids: Collection[int] | None = None
                        ) -> list[dict[str, Any]]:
    """Pending requests (of ``realm_ids`` if given), oldest first; each requested scope with its
    title and description."""
    async with sessions() as session:
        rows = await request_repo.list_pending(session, now=now)
        docs: dict[int, dict[str, Any]] = {}
        out = []
        for row, realm, consumer_name in rows:
            if realm_ids is not None and row.realm_id not in realm_ids:
                continue
            if row.realm_id not in docs:
                docs[row.realm_id] = {s.name: s for s in await realm_repo.scopes(session, row.realm_id)}
            scopes = docs[row.realm_id]
            out.append({
                "id": row.id, "client_id": row.client_id, "consumer": consumer_name, "realm": realm,
                "ask": row.ask_scopes, "created_at": row.created_at, "expires_at": row.expires_at,
                "scopes": [{"name": name, "title": scopes[name].title if name in scopes else name,
                            "description": scopes[name].description if name in scopes else "",
                            "icon_uri": scopes[name].icon_uri if name in scopes else None,
                            "ask": name in row.ask_scopes} for name in row.scopes]})
        return out


async def _pending(session: AsyncSession, request_id: int, now: int) -> tuple[AccessRequest, Consumer, str]:
    row = await request_repo.get(session, request_id, for_update=True) if is_row_id(request_id) else None
    if row is None:
        raise AdminError(f"no request {request_id}")
    if row.status != request_repo.PENDING:
        raise AdminError(f"request {request_id} was already {row.status}")
    if row.expires_at <= now:
        raise AdminError(f"request {request_id} has expired")
    consumer = await session.get(Consumer, row.client_id)
    realm = await session.get(Realm, row.realm_id)
    assert consumer is not None and realm is not None  # both cascade-delete their requests
    return row, consumer, realm.name


async def _answer(sessions: Sessions, request_id: int, *, approve: Sequence[str] | None, deny: bool = False,
                  now: int, actor: str) -> dict[str, Any]:
    async with sessions.begin() as session:
        row, consumer, realm = await _pending(session, request_id, now)
        asked = set(row.ask_scopes)
        approved = set() if deny else asked if approve is None else set(approve)
        if not deny and (not approved or approved - asked):
            raise AdminError(f"--scope must be among the scopes asked for: {' '.join(sorted(asked))}")
        refused = asked - approved
        master = consumer.parent_id or consumer.client_id
        grant = await grant_repo.record_answer(session, realm_id=row.realm_id, client_id=master,
                                               approved=approved, refused=refused, now=now)
        granted = set(grant.scopes)
        _decide(row, granted, now)
        settled = [other.id for other in await _siblings(session, row, master)
                   if _decide(other, granted, now, refused=grant.refused_scopes)]
        await audit.record(session, action="request.deny" if deny else "request.approve", actor=actor, now=now,
                           realm_id=row.realm_id, target=f"request {row.id}",
                           detail={"client_id": row.client_id, "approved": sorted(approved),
                                   "refused": sorted(refused), "grant_id": grant.id, "settled": settled})
        return {"id": row.id, "status": row.status, "realm": realm, "client_id": row.client_id,
                "approved": sorted(approved), "refused": sorted(refused), "grant_id": grant.id, "settled": settled}


def _decide(row: AccessRequest, approved: set[str], now: int, refused: Sequence[str] | None = None) -> bool:
    """Mark ``row`` answered by the grant; with ``refused``, only if the grant answers every scope
    it asks about (a duplicate request need not be answered twice)."""
    asked = set(row.ask_scopes)
    if refused is not None and not asked <= approved | set(refused):
        return False
    row.status = request_repo.APPROVED if asked & approved else request_repo.DENIED
    row.approved_scopes, row.decided_at = sorted(asked & approved), now
    return True


async def _siblings(session: AsyncSession, row: AccessRequest, master: str) -> list[AccessRequest]:
    """The other pending requests of the same realm by the same consumer (or its sub-keys)."""
    keys = select(Consumer.client_id).where((Consumer.client_id == master) | (Consumer.parent_id == master))
    found = await session.scalars(select(AccessRequest).where(
        AccessRequest.realm_id == row.realm_id, AccessRequest.id != row.id,
        AccessRequest.status == request_repo.PENDING, AccessRequest.client_id.in_(keys)).with_for_update())
    return list(found.all())


async def approve_request(sessions: Sessions, request_id: int, *, scopes: Sequence[str] | None = None,
                          now: int, actor: str = "cli") -> dict[str, Any]:
    """Approve the asked ``scopes`` (default: all asked), refuse the others, save the grant."""
    return await _answer(sessions, request_id, approve=list(scopes) if scopes else None, now=now, actor=actor)


async def deny_request(sessions: Sessions, request_id: int, *, now: int, actor: str = "cli") -> dict[str, Any]:
    """Refuse every asked scope and save that answer."""
    return await _answer(sessions, request_id, approve=None, deny=True, now=now, actor=actor)


def grant_dict(grant: SavedGrant, realm: str, consumer_name: str | None) -> dict[str, Any]:
    return {"id": grant.id, "realm": realm, "client_id": grant.client_id, "consumer": consumer_name,
            "subject": grant.subject, "scopes": grant.scopes, "refused": grant.refused_scopes or [],
            "max_ttl": grant.max_ttl, "created_at": grant.created_at}


async def list_grants(sessions: Sessions, *, realm: str | None = None, realm_ids: Collection[int] | None = None
                      ) -> list[dict[str, Any]]:
    """Live grants (of ``realm``, and of ``realm_ids`` if given)."""
    async with sessions() as session:
        realm_id = None
        if realm is not None:
            row = await realm_repo.by_name(session, realm)
            if row is None:
                raise AdminError(f"no realm named {realm!r}")
            realm_id = row.id
        return [grant_dict(g, r, name) for g, r, name in await grant_repo.list_live(session, realm_id)
                if realm_ids is None or g.realm_id in realm_ids]


async def revoke_grant(sessions: Sessions, grant_id: int, *, now: int, actor: str = "cli") -> dict[str, Any]:
    """Revoke a saved grant and the live tokens its party holds for the realm."""
    async with sessions.begin() as session:
        grant = await grant_repo.get(session, grant_id, for_update=True) if is_row_id(grant_id) else None
        if grant is None or grant.revoked_at is not None:
            raise AdminError(f"no live grant {grant_id}")
        grant.revoked_at = now
        if grant.client_id is not None:
            subkeys = await session.scalars(select(Consumer.client_id).where(Consumer.parent_id == grant.client_id))
            holders = [grant.client_id, *subkeys.all()]
        else:
            assert grant.subject is not None
            holders = [grant.subject]
        revoked = await revoke_tokens_of(session, holders, grant.realm_id, now=now)
        await audit.record(session, action="grant.revoke", actor=actor, now=now, realm_id=grant.realm_id,
                           target=f"grant {grant.id}", detail={"client_id": grant.client_id, "subject": grant.subject,
                                                               "tokens_revoked": revoked})
        return {"id": grant.id, "client_id": grant.client_id, "subject": grant.subject, "tokens_revoked": revoked}
