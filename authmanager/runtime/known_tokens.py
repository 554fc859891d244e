"""What this AM process has already looked up for introspection and IndieAuth verification:
realm credentials by ``sph``, and live tokens by the SHA-256 of their value.

Both hold only facts that never change or that are withdrawn through the revocation log:

* A realm's id, name, ``sph``, ``sph_secret`` digest and resource are fixed when it is created
  (realms are neither renamed, re-keyed nor deleted), so they are kept for good.
* A token row never changes but for its revocation, and every revocation appends an event to
  ``revocation_events`` in its own transaction (:mod:`authmanager.operations.revocation`). Events committed
  by this process are applied the moment their transaction commits
  (:data:`authmanager.storage.events.ON_COMMIT`); events from other processes — other AM
  workers, the ``authmanager`` command — when this process's feed poller reads them, within
  ``feed_poll_interval`` (0.2 s by default): the same bound resource servers get from the feed.
* Expiry is checked on every answer against the injected clock, so nothing expired is ever
  reported active.
* Remembered tokens are used only while the feed poller keeps up: its last complete read of the
  log began at most ``4 × feed_poll_interval`` ago. When it cannot read (the database is down),
  lookups go to the database again — and fail as it does, with a 503.

Tokens this process issues are remembered as soon as their transaction commits (the token
endpoint's group commit), so introspecting them needs no read at all.

A lookup that raced with a revocation (read the row before the revocation committed, and would
remember it after the event was applied) is not remembered: every applied event bumps a
generation counter, and a row is kept only if the generation did not move during its lookup.
Tokens never issued are not remembered (those lookups are throttled per realm instead).
No aiohttp here.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..storage.models import AccessToken, Realm


@dataclass(frozen=True, slots=True)
class RealmEntry:
    id: int
    name: str
    sph: str
    resource: str
    sph_secret_hash: str


@dataclass(frozen=True, slots=True)
class TokenEntry:
    jti: str
    client_id: str
    realm_id: int
    scope: str
    issued_at: int
    expires_at: int
    revoked: bool = False
    #: A person's token (authorization code, refresh): the account, whose subject is its ``sub``.
    account_id: int | None = None


_REALM = select(Realm.id, Realm.name, Realm.sph, Realm.resource, Realm.sph_secret_hash)
_TOKEN = select(AccessToken.jti, AccessToken.client_id, AccessToken.realm_id, AccessToken.scope,
                AccessToken.issued_at, AccessToken.expires_at, AccessToken.revoked_at.is_not(None),
                AccessToken.account_id).where(
    AccessToken.token_hash == bindparam("token_hash"))


class KnownTokens:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, size: int = 100_000,
                 following: Callable[[], bool] = lambda: True):
        """``following()`` says whether this process is keeping up with the revocation log (its
        feed poller read all of it recently); while it is not — the database is unreachable, say
        — remembered tokens are not used and every lookup reads the database."""
        self._sessions, self._size, self._following = sessions, size, following
        self._realms: dict[str, RealmEntry] = {}
        self._realm_ids: dict[int, RealmEntry] = {}
        self._tokens: OrderedDict[str, TokenEntry] = OrderedDict()
        self._by_jti: dict[str, str] = {}
        self._by_client: dict[str, set[str]] = {}
        self.generation = 0

    def __len__(self) -> int:
        return len(self._tokens)

    async def realm(self, sph: str) -> RealmEntry | None:
        entry = self._realms.get(sph)
        return entry if entry is not None else await self._load_realm(Realm.sph == sph)

    async def realm_by_id(self, realm_id: int) -> RealmEntry | None:
        entry = self._realm_ids.get(realm_id)
        return entry if entry is not None else await self._load_realm(Realm.id == realm_id)

    async def _load_realm(self, where: Any) -> RealmEntry | None:
        async with self._sessions() as session:
            row = (await session.execute(_REALM.where(where))).first()
        if row is None:
            return None
        entry = self._realms[row.sph] = self._realm_ids[row.id] = RealmEntry(*row)
        return entry

    async def token(self, token_hash: str) -> TokenEntry | None:
        """The token's row if it was ever issued (expiry and ``revoked`` are the caller's to check)."""
        entry = self._tokens.get(token_hash)
        if entry is not None and self._following():
            self._tokens.move_to_end(token_hash)
            return entry
        generation = self.generation
        async with self._sessions() as session:
            row = (await session.execute(_TOKEN, {"token_hash": token_hash})).first()
        if row is None:
            return None
        entry = TokenEntry(*row)
        if generation == self.generation and not entry.revoked:
            self._remember(token_hash, entry)
        return entry

    def issued(self, rows: Iterable[dict[str, Any]], *, since: int) -> None:
        """Remember tokens this process has just issued (``access_tokens`` rows, committed), unless
        a revocation was applied since ``since`` (the generation read before their transaction):
        it may concern them, and their first lookup will read the database instead."""
        if since != self.generation:
            return
        for row in rows:
            self._remember(row["token_hash"], TokenEntry(jti=row["jti"], client_id=row["client_id"],
                                                         realm_id=row["realm_id"], scope=row["scope"],
                                                         issued_at=row["issued_at"],
                                                         expires_at=row["expires_at"]))

    def _remember(self, token_hash: str, entry: TokenEntry) -> None:
        self._tokens[token_hash] = entry
        self._by_jti[entry.jti] = token_hash
        self._by_client.setdefault(entry.client_id, set()).add(token_hash)
        if len(self._tokens) > self._size:
            self._forget(next(iter(self._tokens)))

    def _forget(self, token_hash: str) -> None:
        entry = self._tokens.pop(token_hash, None)
        if entry is None:
            return
        self._by_jti.pop(entry.jti, None)
        hashes = self._by_client.get(entry.client_id)
        if hashes is not None:
            hashes.discard(token_hash)
            if not hashes:
                del self._by_client[entry.client_id]

    def apply(self, events: Iterable[Any]) -> None:
        """Forget what revocation events (``revocation_events`` rows) withdraw."""
        for event in events:
            self.generation += 1
            if event.kind == "token_revoked" and event.jti in self._by_jti:
                self._forget(self._by_jti[event.jti])
            elif event.kind == "client_revoked":
                before = event.issued_before or 0
                for token_hash in list(self._by_client.get(event.client_id, ())):
                    if self._tokens[token_hash].issued_at <= before:
                        self._forget(token_hash)
