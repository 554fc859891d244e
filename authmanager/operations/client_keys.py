"""A consumer's public keys (RFC 7523 ``private_key_jwt``, device keys with scope ceilings, issue
13 §3): add, list and revoke, for the CLI (``authmanager consumer key …``) and the self-service
``/keys`` endpoint (:mod:`authmanager.endpoints.client_keys`). No aiohttp here.

* A key is a public JWK or PEM, checked by :func:`authmanager.clients.keys.public_jwk`; its
  ``kid`` is its own or its RFC 7638 thumbprint, unique per consumer (revoked keys included, so
  a ``kid`` in a log always names one key).
* Its optional ``scope_ceiling`` is a list of scope tokens (RFC 6749 §3.3), each one a scope of
  some realm: a token obtained with an assertion signed by the key never carries a scope beyond
  it. None: the key follows its consumer.
* Keys belong to consumers that can authenticate: not to a public client (``none``) and not to a
  grasshopper sub-key (short-lived, derived from a master: it has no devices).
* Revoking a key sets its ``revoked_at``, revokes every live access token obtained with it
  (``access_tokens.client_key_id``), one ``token_revoked`` feed event each
  (:func:`.revocation.revoke_token`), and records ``client_key.revoke`` in the audit log, all in
  one transaction. The consumer's other keys, and the tokens they obtained, are untouched.

Lock order (PostgreSQL; on SQLite ``BEGIN IMMEDIATE`` runs every write transaction alone)::

    consumers row  →  client_keys rows (by id)  →  access_tokens rows

* A transaction that issues a token with a key (the RFC 7523 verifier's, in the issuing
  transaction) reads the consumer ``FOR SHARE`` (as today), then the key's ``client_keys`` row
  ``FOR SHARE`` with ``revoked_at IS NULL``, then inserts the token naming ``client_key_id``.
* :func:`revoke_key` locks the consumer's live key rows ``FOR UPDATE`` in id order, sets
  ``revoked_at``, and only then looks for the key's tokens. So either it commits first and the
  issuing transaction reads the key as revoked (no token), or it waits for the issuing
  transaction's commit and its token search (a new statement, a new snapshot under READ
  COMMITTED) sees the token just issued and revokes it. A token issued concurrently with the
  key's revocation cannot stay live.
* Locking every live key of the consumer (not only the one revoked) serialises two revocations
  of one consumer's keys, so "never the last key" (self-service) holds under concurrency: the
  second waits, and re-reads the first key as revoked.
* :func:`.revocation.revoke_consumer` updates the consumer row first; nothing here takes the
  consumer row for writing, so the two never wait on each other in opposite orders.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .. import audit
from ..clients import PUBLIC
from ..clients.keys import KeyRejected, public_jwk
from ..grants.issuance import MAX_SCOPES
from ..identifiers import is_scope_token, is_text
from ..storage import client_keys as key_repo
from ..storage import consumers as consumer_repo
from ..storage.models import AccessToken, ClientKey, Consumer, RealmScope
from .realms import AdminError
from .revocation import revoke_token

#: Live keys a consumer may hold at once (each one a device, say): bounds what self-service adds.
MAX_LIVE_KEYS = 50
MAX_KEY_NAME = 100


class ClientKeyError(AdminError):
    """A key operation that cannot be carried out; the message is safe to show the caller."""


class UnknownConsumer(ClientKeyError):
    """No such consumer key, or one that cannot hold keys."""


class UnknownKey(ClientKeyError):
    """The consumer has no live key with that ``kid``."""


class DuplicateKid(ClientKeyError):
    """The consumer already has (or had) a key with that ``kid``."""


class LastKey(ClientKeyError):
    """Self-service may not revoke the consumer's last live key: it would lock itself out."""


class BadScope(ClientKeyError):
    """A scope ceiling that is not a list of scope tokens of some realm."""


class CeilingWidened(BadScope):
    """A key added or revoked by self-service reaches beyond the authenticating key's ceiling."""


def parse_key(value: Any) -> dict[str, Any]:
    """A checked public JWK from JWK/JWK Set JSON, a dict or PEM; :class:`ClientKeyError` if refused."""
    try:
        return public_jwk(value)
    except KeyRejected as exc:
        raise ClientKeyError(f"bad key: {exc}") from None


def check_name(name: str | None) -> str | None:
    if name is None:
        return None
    if not is_text(name, max_len=MAX_KEY_NAME) or not name.strip() or not name.isprintable():
        raise ClientKeyError(f"a key name is 1-{MAX_KEY_NAME} printable characters")
    return name.strip()


async def check_ceiling(session: AsyncSession, scopes: Iterable[str] | None) -> list[str] | None:
    """The ceiling as a sorted list, or None for none. Each scope must be an RFC 6749 §3.3
    scope-token and a scope of some realm (a typo would otherwise make a key that can never
    obtain anything)."""
    if scopes is None:
        return None
    ceiling = sorted(set(scopes))
    if not ceiling or len(ceiling) > MAX_SCOPES or not all(is_scope_token(s) for s in ceiling):
        raise BadScope(f"a scope ceiling is 1-{MAX_SCOPES} scope tokens (RFC 6749 §3.3)")
    known = set(await session.scalars(select(RealmScope.name).where(RealmScope.name.in_(ceiling)).distinct()))
    unknown = [s for s in ceiling if s not in known]
    if unknown:
        raise BadScope(f"scope {unknown[0]!r} is a scope of no realm")
    return ceiling


def within(ceiling: Sequence[str] | None, bound: Sequence[str] | None) -> bool:
    """Whether a key with ``ceiling`` reaches no further than one with ``bound`` (None: unbounded)."""
    if bound is None:
        return True
    return ceiling is not None and set(ceiling) <= set(bound)


async def ceiling_for_added_key(session: AsyncSession, requested: Iterable[str] | None,
                                bound: Sequence[str] | None) -> list[str] | None:
    """The ceiling of a key added by self-service, authenticated by a key whose ceiling is
    ``bound`` (None: no ceiling, or a credential that is not a key): ``requested`` checked by
    :func:`check_ceiling` and within ``bound``, else :class:`CeilingWidened`; not requested, it
    inherits ``bound``. A key can never mint a key that reaches further than itself."""
    if requested is None:
        return sorted(bound) if bound is not None else None
    ceiling = await check_ceiling(session, requested)
    if not within(ceiling, bound):
        raise CeilingWidened("a key added by a key with a scope ceiling cannot reach beyond that ceiling")
    return ceiling


def key_dict(row: ClientKey) -> dict[str, Any]:
    """What anyone may see of a key: its public JWK's type and algorithm, never more than public."""
    return {"kid": row.kid, "name": row.name, "kty": row.jwk.get("kty"), "alg": row.jwk.get("alg"),
            "scope_ceiling": row.scope_ceiling, "created_at": row.created_at, "revoked_at": row.revoked_at}


async def consumer_for_keys(session: AsyncSession, client_id: str) -> Consumer:
    """The consumer key that may hold device keys, or :class:`UnknownConsumer`."""
    consumer = await consumer_repo.get(session, client_id)
    if consumer is None or consumer.revoked_at is not None:
        raise UnknownConsumer(f"no consumer key {client_id!r}")
    if (consumer.client_metadata or {}).get("token_endpoint_auth_method") == PUBLIC:
        raise UnknownConsumer(f"{client_id} is a public client: it has no credentials, so no keys")
    if consumer.parent_id is not None:
        raise UnknownConsumer(f"{client_id} is a grasshopper sub-key: keys belong to its master")
    return consumer


async def add_key(session: AsyncSession, consumer: Consumer, jwk: dict[str, Any], *, now: int,
                  name: str | None = None, ceiling: list[str] | None = None, actor: str) -> ClientKey:
    """Store a checked key (:func:`parse_key`) with a checked ceiling (:func:`check_ceiling`) in
    the caller's transaction, audited as ``client_key.add``. A second key with one ``kid`` is
    :class:`DuplicateKid`, decided by the unique constraint inside a savepoint, so the caller's
    transaction (a spent nonce, say) survives the refusal."""
    live = await session.scalar(select(func.count()).select_from(ClientKey).where(
        ClientKey.client_id == consumer.client_id, ClientKey.revoked_at.is_(None)))
    if (live or 0) >= MAX_LIVE_KEYS:
        raise ClientKeyError(f"{consumer.client_id} already holds {MAX_LIVE_KEYS} live keys")
    if await key_repo.get(session, consumer.client_id, jwk["kid"]) is not None:
        raise DuplicateKid(f"{consumer.client_id} already has a key with kid {jwk['kid']!r}")
    try:
        async with session.begin_nested():
            row = await key_repo.add(session, client_id=consumer.client_id, jwk=jwk, now=now, name=name,
                                     scope_ceiling=ceiling)
    except IntegrityError:
        raise DuplicateKid(f"{consumer.client_id} already has a key with kid {jwk['kid']!r}") from None
    await audit.record(session, action="client_key.add", actor=actor, now=now, target=consumer.client_id,
                       detail={"kid": row.kid, "scope_ceiling": row.scope_ceiling, "name": row.name})
    return row


async def revoke_key(session: AsyncSession, client_id: str, kid: str, *, now: int, actor: str,
                     keep_one: bool = False, bound: Sequence[str] | None = None) -> int:
    """Revoke the consumer's live key ``kid`` and every live token obtained with it (one
    ``token_revoked`` event each), audited as ``client_key.revoke``; returns how many tokens.
    ``keep_one`` (self-service): refuse to revoke the last live key (:class:`LastKey`).
    ``bound``: the ceiling of the key asking (self-service), which may revoke only keys within
    it (:class:`CeilingWidened`). The lock order is the module's."""
    live = list(await session.scalars(
        select(ClientKey).where(ClientKey.client_id == client_id, ClientKey.revoked_at.is_(None))
        .order_by(ClientKey.id).with_for_update().execution_options(populate_existing=True)))
    target = next((k for k in live if k.kid == kid), None)
    if target is None:
        raise UnknownKey(f"{client_id} has no live key with kid {kid!r}")
    if not within(target.scope_ceiling, bound):
        raise CeilingWidened("the key reaches beyond the scope ceiling of the key that signed this request")
    if keep_one and len(live) == 1:
        raise LastKey("this is the consumer's last key: revoking it would lock the consumer out")
    await key_repo.mark_revoked(session, target.id, now=now)
    tokens = await session.scalars(select(AccessToken).where(
        AccessToken.client_key_id == target.id, AccessToken.revoked_at.is_(None), AccessToken.expires_at > now)
        .order_by(AccessToken.issued_at, AccessToken.jti))
    revoked = 0
    for token in tokens.all():
        revoked += await revoke_token(session, token, now=now)
    await audit.record(session, action="client_key.revoke", actor=actor, now=now, target=client_id,
                       detail={"kid": kid, "tokens_revoked": revoked})
    return revoked


# What the CLI calls: one transaction each.

async def add_client_key(sessions: async_sessionmaker[AsyncSession], client_id: str, key: Any, *, now: int,
                         name: str | None = None, scopes: Sequence[str] | None = None,
                         actor: str = "cli") -> dict[str, Any]:
    jwk = parse_key(key)
    label = check_name(name)
    async with sessions.begin() as session:
        consumer = await consumer_for_keys(session, client_id)
        ceiling = await check_ceiling(session, scopes)
        return key_dict(await add_key(session, consumer, jwk, now=now, name=label, ceiling=ceiling, actor=actor))


async def list_client_keys(sessions: async_sessionmaker[AsyncSession], client_id: str) -> list[dict[str, Any]]:
    async with sessions() as session:
        if await consumer_repo.get(session, client_id) is None:
            raise UnknownConsumer(f"no consumer key {client_id!r}")
        return [key_dict(k) for k in await key_repo.list_all(session, client_id)]


async def revoke_client_key(sessions: async_sessionmaker[AsyncSession], client_id: str, kid: str, *, now: int,
                            actor: str = "cli") -> int:
    async with sessions.begin() as session:
        if await consumer_repo.get(session, client_id) is None:
            raise UnknownConsumer(f"no consumer key {client_id!r}")
        return await revoke_key(session, client_id, kid, now=now, actor=actor)
