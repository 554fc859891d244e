"""The audit log: every decision, appended in the transaction that made it.

What is recorded (``action``), by whom (``actor``) and on what (``target``); ``detail`` carries
the rest (granted scopes, a jti, a policy's fields). Never a secret, never a token value. The
row is written by the code that makes the decision, inside its transaction, so the log cannot
claim a decision that was rolled back, nor miss one that was committed. No aiohttp here.
"""

from __future__ import annotations

from typing import Any, Iterable

from sqlalchemy import Connection, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from .storage.models import AuditEvent

#: The actions the AM records. Grouped by who decides: the token endpoint (issue, deny, ask),
#: the owner or an admin (approve, deny, revoke, policy and realm changes), and sign-in.
ACTIONS = frozenset({
    "token.issue", "token.deny", "request.ask", "request.approve", "request.deny", "token.revoke",
    "grant.revoke", "consumer.revoke", "consumer.delete", "realm.create", "realm.update", "scope.set",
    "policy.add", "policy.update", "policy.move", "policy.remove", "share.create",
    "admin.login", "admin.login_failed", "admin.logout", "admin.create", "admin.token_create",
    "admin.token_revoke",
    # the person at the browser (issue 12): the dialog's decisions and "applications I allowed"
    "consent.approve", "consent.deny", "consent.revoke",
    # a consumer's public keys (issue 13 §3): by the CLI or the consumer itself at /keys
    "client_key.add", "client_key.revoke",
})


_INSERT = insert(AuditEvent.__table__)


def entry(*, action: str, actor: str, at: int, realm_id: int | None = None, target: str | None = None,
          detail: dict[str, Any] | None = None) -> dict[str, Any]:
    """One row as a dict, for :func:`write_rows` (the token endpoint's group commit)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    return {"at": at, "actor": actor[:600], "action": action, "realm_id": realm_id,
            "target": None if target is None else target[:600], "detail": detail or {}}


async def record(session: AsyncSession, *, action: str, actor: str, now: int, realm_id: int | None = None,
                 target: str | None = None, detail: dict[str, Any] | None = None) -> None:
    """Append one event in the caller's transaction."""
    await session.execute(insert(AuditEvent), [entry(action=action, actor=actor, at=now, realm_id=realm_id,
                                                     target=target, detail=detail)])


def write_rows(conn: Connection, rows: Iterable[dict[str, Any]]) -> None:
    """Append prepared :func:`entry` rows in one ``executemany`` (synchronous: the token
    endpoint's group commit, :mod:`authmanager.storage.transact`)."""
    rows = list(rows)
    if rows:
        conn.execute(_INSERT, rows)


async def page(session: AsyncSession, *, before: int | None = None, limit: int = 50,
               realm_ids: Iterable[int] | None = None, action: str | None = None) -> list[AuditEvent]:
    """Newest first; ``before`` is the id to continue below (keyset paging, stable under appends).
    ``realm_ids`` restricts to those realms (an admin limited to some realms)."""
    stmt = select(AuditEvent)
    if before is not None:
        stmt = stmt.where(AuditEvent.id < before)
    if realm_ids is not None:
        stmt = stmt.where(AuditEvent.realm_id.in_(list(realm_ids)))
    if action is not None:
        stmt = stmt.where(AuditEvent.action == action)
    return list((await session.scalars(stmt.order_by(AuditEvent.id.desc()).limit(limit))).all())
