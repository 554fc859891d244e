"""A consumer's registered public keys (:class:`~authmanager.storage.models.ClientKey`).

The repository only reads and writes rows; revoking a key's tokens and telling the SPs is
:mod:`authmanager.operations` work. A ``client_id`` that is not a generated identifier names no
key and a ``kid`` that is not 1-128 printable ASCII characters names no key: both are answered
without a query.
"""

from __future__ import annotations

from typing import Any, Sequence

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..clients.keys import MAX_KID
from ..identifiers import is_key
from .models import ClientKey


def _is_kid(kid: str) -> bool:
    return isinstance(kid, str) and 0 < len(kid) <= MAX_KID and kid.isascii() and kid.isprintable()


async def add(session: AsyncSession, *, client_id: str, jwk: dict[str, Any], now: int,
              name: str | None = None, scope_ceiling: Sequence[str] | None = None) -> ClientKey:
    """Store one checked public JWK (:func:`authmanager.clients.keys.public_jwk`) for the
    consumer; its ``kid`` comes from the JWK. A second live or revoked key with that ``kid`` for
    the same consumer violates ``uq_client_keys_client_kid`` (the caller says so)."""
    row = ClientKey(client_id=client_id, kid=jwk["kid"], jwk=dict(jwk), name=name,
                    scope_ceiling=sorted(set(scope_ceiling)) if scope_ceiling is not None else None,
                    created_at=now)
    session.add(row)
    await session.flush()
    return row


async def live(session: AsyncSession, client_id: str) -> list[ClientKey]:
    """The consumer's keys that are not revoked, oldest first."""
    if not is_key(client_id):
        return []
    return list(await session.scalars(select(ClientKey).where(
        ClientKey.client_id == client_id, ClientKey.revoked_at.is_(None)).order_by(ClientKey.id)))


async def list_all(session: AsyncSession, client_id: str) -> list[ClientKey]:
    """Every key of the consumer, revoked ones included, oldest first."""
    if not is_key(client_id):
        return []
    return list(await session.scalars(select(ClientKey).where(ClientKey.client_id == client_id)
                                      .order_by(ClientKey.id)))


async def get(session: AsyncSession, client_id: str, kid: str) -> ClientKey | None:
    """The consumer's key with this ``kid``, revoked or not."""
    if not is_key(client_id) or not _is_kid(kid):
        return None
    return await session.scalar(select(ClientKey).where(ClientKey.client_id == client_id, ClientKey.kid == kid))


async def mark_revoked(session: AsyncSession, key_id: int, *, now: int) -> bool:
    """Set ``revoked_at`` on a live key; False when it was already revoked (or is unknown)."""
    result = await session.execute(update(ClientKey).where(ClientKey.id == key_id, ClientKey.revoked_at.is_(None))
                                   .values(revoked_at=now))
    return bool(result.rowcount)  # type: ignore[attr-defined]
