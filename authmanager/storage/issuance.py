"""The token endpoint's group commit, as SQL: what one batch of token requests reads and writes.

Everything here runs on one synchronous ``Connection`` inside the batch's transaction (see
:mod:`.transact` for how that reaches either database), as a handful of
set-based statements whatever the batch size: five reads (realms by ``sph``, their scopes, their
policies, the consumer keys' liveness, the saved grants) and up to four writes (nonces, access
requests, tokens, consumers' ``last_used_at``; the audit rows are :mod:`authmanager.audit`'s).
Rows come back as SQLAlchemy ``Row`` objects, whose attributes carry the models' column names.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update

from .db import insert_ignore
from .models import AccessRequest, AccessToken, Consumer, Nonce, Policy, Realm, RealmScope, SavedGrant


@dataclass(slots=True)
class BatchReads:
    """The state a batch of decisions is made against, read inside the batch's transaction."""

    realms: dict[str, Row[Any]] = field(default_factory=dict)            # by sph
    scopes: dict[int, set[str]] = field(default_factory=dict)            # realm id -> scope names
    policies: dict[int, list[Row[Any]]] = field(default_factory=dict)    # realm id -> in order
    consumers: dict[str, Row[Any]] = field(default_factory=dict)         # by client_id
    grants: dict[tuple[int, str], Row[Any]] = field(default_factory=dict)  # (realm id, client_id), live


def read(conn: Connection, *, sphs: Collection[str], client_ids: Collection[str]) -> BatchReads:
    """Read the realms named by ``sphs`` with their scopes and policies, and for ``client_ids``
    (keys and their masters) their liveness and their live saved grants in those realms."""
    out = BatchReads()
    for row in conn.execute(select(Realm.__table__).where(Realm.sph.in_(sphs))):
        out.realms[row.sph] = row
    realm_ids = [row.id for row in out.realms.values()]
    if realm_ids:
        for realm_id, name in conn.execute(
                select(RealmScope.realm_id, RealmScope.name).where(RealmScope.realm_id.in_(realm_ids))):
            out.scopes.setdefault(realm_id, set()).add(name)
        for row in conn.execute(select(Policy.__table__).where(Policy.realm_id.in_(realm_ids))
                                .order_by(Policy.realm_id, Policy.position)):
            out.policies.setdefault(row.realm_id, []).append(row)
    for row in conn.execute(
            select(Consumer.client_id, Consumer.revoked_at, Consumer.expires_at, Consumer.parent_id,
                   Consumer.last_used_at).where(Consumer.client_id.in_(client_ids))):
        out.consumers[row.client_id] = row
    if realm_ids:
        for row in conn.execute(select(SavedGrant.__table__).where(
                SavedGrant.realm_id.in_(realm_ids), SavedGrant.client_id.in_(client_ids),
                SavedGrant.revoked_at.is_(None))):
            out.grants[(row.realm_id, row.client_id)] = row
    return out


def claim_nonces(conn: Connection, claims: Iterable[Mapping[str, Any]]) -> set[tuple[str, str]]:
    """Insert (client_id, nonce, expires_at) rows with ``ON CONFLICT DO NOTHING``; return the
    pairs that were new. One atomic statement, so concurrent batches — in this process or in
    another AM process on the same database — never both win one nonce. The caller passes
    pairs that are distinct from one another."""
    rows = list(claims)
    if not rows:
        return set()
    stmt = insert_ignore(conn.dialect.name, Nonce.__table__).returning(Nonce.client_id, Nonce.nonce)
    return {(client_id, nonce) for client_id, nonce in conn.execute(stmt, rows)}


def add_tokens(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(AccessToken.__table__), rows)


def add_requests(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(AccessRequest.__table__), rows)


def mark_used(conn: Connection, client_ids: Collection[str], now: int) -> None:
    if client_ids:
        conn.execute(update(Consumer).where(Consumer.client_id.in_(client_ids)).values(last_used_at=now))
