"""The token endpoint's group commit, as SQL: what one batch of token requests reads and writes.

Everything here runs on one synchronous ``Connection`` inside the batch's transaction (see
:mod:`.transact` for how that reaches either database), as a handful of
set-based statements whatever the batch size: five reads (realms by ``sph``, their scopes, their
policies, the consumer keys' liveness, the saved grants; a sixth, realms by resource key, when
some request names its realm by an RFC 8707 ``resource``) and up to four writes (nonces, access
requests, tokens, consumers' ``last_used_at``; the audit rows are :mod:`authmanager.audit`'s).
Rows come back as SQLAlchemy ``Row`` objects, whose attributes carry the models' column names.

The reads a token depends on are locked against revocation (PostgreSQL; on SQLite ``BEGIN
IMMEDIATE`` already makes every write transaction run alone): the consumer keys' rows and the
saved grants' are read ``FOR SHARE``, and a revocation updates the row it revokes before it
looks for tokens to revoke (:mod:`authmanager.operations.revocation`). Either the revocation
commits first and the batch reads the key as revoked, or it waits for the batch's commit and
then revokes the tokens the batch issued. The keys are locked masters first, then sub-keys, in
the order a revocation takes them, so the two never deadlock. ``last_used_at`` is refreshed
only on rows no one else holds a lock on (``SKIP LOCKED``): it never waits, so two transactions
sharing a key's lock never deadlock upgrading it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Row, bindparam, insert, select

from .consumers import mark_used_statement
from .db import insert_ignore
from .models import AccessRequest, AccessToken, Consumer, Nonce, Policy, Realm, RealmScope, SavedGrant


@dataclass(slots=True)
class BatchReads:
    """The state a batch of decisions is made against, read inside the batch's transaction."""

    realms: dict[str, Row[Any]] = field(default_factory=dict)            # by sph
    by_key: dict[str, Row[Any]] = field(default_factory=dict)            # by resource_key (RFC 8707)
    scopes: dict[int, set[str]] = field(default_factory=dict)            # realm id -> scope names
    policies: dict[int, list[Row[Any]]] = field(default_factory=dict)    # realm id -> in order
    consumers: dict[str, Row[Any]] = field(default_factory=dict)         # by client_id
    grants: dict[tuple[int, str], Row[Any]] = field(default_factory=dict)  # (realm id, client_id), live


def _any_of(column: Any, name: str) -> Any:
    return column.in_(bindparam(name, expanding=True))


# Built once: constructing a statement costs more than executing it from the compiled cache.
_REALMS = select(Realm.__table__).where(_any_of(Realm.sph, "sphs"))
_REALMS_BY_KEY = select(Realm.__table__).where(_any_of(Realm.resource_key, "keys"))
#: Resource keys per ``IN`` list: well inside SQLite's and asyncpg's bound-parameter limits.
KEYS_PER_QUERY = 4096
_SCOPES = select(RealmScope.realm_id, RealmScope.name).where(_any_of(RealmScope.realm_id, "realm_ids"))
_POLICIES = (select(Policy.__table__).where(_any_of(Policy.realm_id, "realm_ids"))
             .order_by(Policy.realm_id, Policy.position))
_CONSUMERS = (select(Consumer.client_id, Consumer.revoked_at, Consumer.last_used_at)
              .where(_any_of(Consumer.client_id, "client_ids"))
              .order_by(Consumer.parent_id.is_not(None), Consumer.client_id).with_for_update(read=True))
_GRANTS = select(SavedGrant.__table__).where(_any_of(SavedGrant.realm_id, "realm_ids"),
                                             _any_of(SavedGrant.client_id, "client_ids"),
                                             SavedGrant.revoked_at.is_(None)).with_for_update(read=True)
_CLAIM = {dialect: insert_ignore(dialect, Nonce.__table__).returning(Nonce.client_id, Nonce.nonce)
          for dialect in ("sqlite", "postgresql")}
_ADD_TOKENS = insert(AccessToken.__table__)
_ADD_REQUESTS = insert(AccessRequest.__table__)
_MARK_USED = mark_used_statement(_any_of(Consumer.client_id, "client_ids"))


def read(conn: Connection, *, sphs: Collection[str], client_ids: Collection[str],
         resource_keys: Collection[str] = ()) -> BatchReads:
    """Read the realms named by ``sphs`` or whose resource key is among ``resource_keys`` (the
    candidates of RFC 8707 ``resource`` indicators, :mod:`authmanager.operations.targets`), with
    their scopes and policies, and for ``client_ids`` (keys and their masters) their liveness and
    their live saved grants in those realms."""
    out = BatchReads()
    clients = {"client_ids": list(client_ids)}
    for row in conn.execute(_REALMS, {"sphs": list(sphs)}):
        out.realms[row.sph] = row
    keys = sorted(resource_keys)
    for start in range(0, len(keys), KEYS_PER_QUERY):  # one query unless the batch is huge
        for row in conn.execute(_REALMS_BY_KEY, {"keys": keys[start:start + KEYS_PER_QUERY]}):
            out.by_key[row.resource_key] = row
            out.realms[row.sph] = row
    for row in conn.execute(_CONSUMERS, clients):
        out.consumers[row.client_id] = row
    if not out.realms:
        return out
    realms = {"realm_ids": [row.id for row in out.realms.values()]}
    for realm_id, name in conn.execute(_SCOPES, realms):
        out.scopes.setdefault(realm_id, set()).add(name)
    for row in conn.execute(_POLICIES, realms):
        out.policies.setdefault(row.realm_id, []).append(row)
    for row in conn.execute(_GRANTS, {**realms, **clients}):
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
    return {(client_id, nonce) for client_id, nonce in conn.execute(_CLAIM[conn.dialect.name], rows)}


def add_tokens(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(_ADD_TOKENS, rows)


def add_requests(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(_ADD_REQUESTS, rows)


def mark_used(conn: Connection, client_ids: Collection[str], now: int) -> None:
    if client_ids:
        conn.execute(_MARK_USED, {"client_ids": list(client_ids), "now": now})
