"""What verifying a consumer's signature needs, kept per process: the key's unsealed secret and
its immutable attributes.

A consumer key's secret, parent and expiry never change once issued, so they can be remembered
(bounded LRU) instead of read and unsealed on every token request. What does change — revocation,
deletion, a master key's death — is never taken from here: the transaction that issues a token
checks it against the database (:mod:`authmanager.grants.group_commit`), and so do the other
signed endpoints (:func:`authmanager.endpoints.token.authenticate`). An entry is therefore only
ever a cache of facts that cannot go stale. Unknown keys are not remembered (a miss costs one
indexed read; registration and token requests are rate limited). No aiohttp here.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..clients.registration import is_public
from ..secretbox import SecretBox
from ..storage import consumers as consumer_repo
from ..storage.models import Consumer


@dataclass(frozen=True, slots=True)
class ConsumerKey:
    """The immutable part of a :class:`~authmanager.storage.models.Consumer` (same attribute
    names, so the grant helpers accept either) plus its unsealed secret."""

    client_id: str
    client_name: str
    secret: str
    parent_id: str | None
    expires_at: int | None
    client_metadata: dict[str, Any]

    @property
    def public(self) -> bool:
        """A public client (RFC 7591 ``token_endpoint_auth_method: none``): it has no secret."""
        return is_public(self.client_metadata)

    def __repr__(self) -> str:  # never print the secret
        return f"ConsumerKey({self.client_id!r}, parent_id={self.parent_id!r})"


class ConsumerKeys:
    """A bounded LRU of :class:`ConsumerKey` by ``client_id``, filled from the database."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], box: SecretBox, *, size: int = 10_000):
        self._sessions, self._box, self._size = sessions, box, size
        self._entries: OrderedDict[str, ConsumerKey] = OrderedDict()

    async def get(self, client_id: str) -> ConsumerKey | None:
        """The key, or None if no such key was ever issued or it is already revoked."""
        key = self._entries.get(client_id)
        if key is not None:
            self._entries.move_to_end(client_id)
            return key
        async with self._sessions() as session:
            row = await consumer_repo.get_active(session, client_id)
        if row is None:
            return None
        return self.remember(row)

    async def active(self, client_id: str) -> ConsumerKey | None:
        """The key if it is not revoked *now*: unlike :meth:`get`, always asks the database
        (one indexed read), since a revocation is never taken from the cache. For
        :class:`authmanager.clients.registry.ClientRegistry`, whose answer decides whether the
        authorization endpoint serves a client at all."""
        async with self._sessions() as session:
            row = await consumer_repo.get_active(session, client_id)
        if row is None:
            return None
        key = self._entries.get(client_id)
        if key is not None:
            self._entries.move_to_end(client_id)
            return key
        return self.remember(row)

    def remember(self, row: Consumer) -> ConsumerKey:
        """A public client's (``token_endpoint_auth_method: none``) secret is ``""`` whatever its
        row holds; :func:`authmanager.client_auth.verify` refuses an empty secret, so such a key
        can never sign."""
        public = is_public(row.client_metadata)
        key = ConsumerKey(client_id=row.client_id, client_name=row.client_name,
                          secret="" if public else self._box.open(row.secret_sealed, aad=row.client_id).decode(),
                          parent_id=row.parent_id, expires_at=row.expires_at,
                          client_metadata=dict(row.client_metadata or {}))
        self._entries[key.client_id] = key
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return key
