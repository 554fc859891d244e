"""Group commit for client-credentials token requests: many requests, one transaction.

Token issuance is a short write transaction per request: claim the nonce, read the realm's
policies and the requester's saved grant, persist the token. Done one request at a time, the
round trips to the database, not the work, set the rate (about 150 tokens/s on SQLite). Here
requests whose signature has been verified wait in a queue; one task takes whatever has queued
up and decides all of it in a single transaction with a fixed number of set-based statements
(:mod:`authmanager.storage.issuance`), then answers every request once the transaction has
committed. Under light load a batch is one request and nothing waits; under heavy load batches
grow by themselves, and so does throughput.

Nothing is decided on stale state: the realm, its scopes and policies, the consumer key's
liveness (revoked, deleted, an expired sub-key or a dead master) and the saved grants are read
inside the batch's transaction, so each decision is exactly what one transaction per request
would have decided. Per request, the outcomes are those of RFC 6749 §5 and UMA 2.0 Grant §3.3.6:

* a dead consumer key, or a nonce already used (in this batch, an earlier one, or by another AM
  process: one atomic ``INSERT … ON CONFLICT DO NOTHING``) → ``invalid_client``, nothing stored;
* an unknown ``sph`` → ``invalid_request``; a scope the realm lacks → ``invalid_scope``;
* denied by policy → ``request_denied`` (the decision is audited; the nonce is not spent);
* some scope to be put to the owner → the request is recorded, ``request_submitted`` with a ticket;
* permitted → a token, persisted by its digest, with the ``token.issue`` audit row.

A failure of the transaction fails every request of the batch alike (``503`` when the database
is unavailable) and stores nothing. No aiohttp here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from .. import audit
from ..errors import InvalidClient, InvalidRequest, OAuthError, RequestDenied, RequestSubmitted, TemporarilyUnavailable
from ..runtime.consumer_keys import ConsumerKey
from ..runtime.keyring import KeyRing
from ..runtime.known_tokens import KnownTokens
from ..storage import issuance as store
from ..storage.db import UNAVAILABLE
from ..storage.transact import Transactor
from . import client_credentials
from .issuance import TokenResponse, mint, policy_client
from .uma_ticket import new_request

log = logging.getLogger("authmanager.issuance")

#: ``last_used_at`` only has to be good enough for purging keys unused for days; refreshing it
#: at most hourly saves a write on nearly every batch.
LAST_USED_GRANULARITY = 3600
#: Idle event-loop turns a batch waits for requests already being read (``IssuanceQueue._gather``).
LINGER_TURNS = 3


@dataclass(frozen=True, slots=True)
class Terms:
    """What the AM's settings say about issuing."""

    issuer: str
    default_ttl: int
    request_ttl: int
    poll_interval: int


@dataclass(eq=False, slots=True)
class Pending:
    """One verified token request waiting for its batch."""

    key: ConsumerKey
    request: client_credentials.Request
    nonce: str
    nonce_expires_at: int
    future: asyncio.Future[TokenResponse] = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    def settle(self, result: TokenResponse | BaseException) -> None:
        if self.future.done():  # the client went away meanwhile
            return
        if isinstance(result, BaseException):
            self.future.set_exception(result)
        else:
            self.future.set_result(result)


class IssuanceQueue:
    """Collects verified requests and decides them in batches of at most ``max_batch``."""

    def __init__(self, transact: Callable[[], Transactor], *, terms: Terms, keyring: Callable[[], KeyRing],
                 known: Callable[[], KnownTokens], now: Callable[[], int], max_batch: int = 256):
        """``transact``, ``keyring`` and ``known`` are read at each batch (the AM's current ones)."""
        self._transact, self._terms, self._keyring, self._now = transact, terms, keyring, now
        self._known = known
        self._max_batch = max_batch
        self._queue: asyncio.Queue[Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="protectserve-issuance")

    @property
    def waiting(self) -> int:
        """Requests queued for the next batch."""
        return self._queue.qsize()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        while not self._queue.empty():
            self._queue.get_nowait().settle(TemporarilyUnavailable("the AM is shutting down"))

    async def issue(self, key: ConsumerKey, request: client_credentials.Request, *, nonce: str,
                    nonce_expires_at: int) -> TokenResponse:
        """Queue a request whose signature was verified; the token, or the request's OAuthError."""
        if self._task is None or self._task.done():
            raise TemporarilyUnavailable("the AM is not issuing tokens")
        pending = Pending(key=key, request=request, nonce=nonce, nonce_expires_at=nonce_expires_at)
        self._queue.put_nowait(pending)
        return await pending.future

    async def _run(self) -> None:
        while True:
            batch = await self._gather()
            try:
                await self._decide(batch)
            except asyncio.CancelledError:  # shutting down with a batch in flight: answer it
                for item in batch:
                    item.settle(TemporarilyUnavailable("the AM is shutting down"))
                raise
            except UNAVAILABLE:
                log.exception("database unavailable during token issuance")
                for item in batch:
                    item.settle(TemporarilyUnavailable("the database is unavailable"))
            except Exception:
                log.exception("token issuance batch failed")
                for item in batch:
                    item.settle(RuntimeError("token issuance failed"))

    async def _gather(self) -> list[Pending]:
        """Wait for a request, then take whatever else is queued. Requests whose bytes have
        already arrived join the queue a loop turn or two later (read, then verified), so the
        batch gives the event loop up to ``LINGER_TURNS`` idle turns — microseconds, no timer —
        for them to join, rather than leave them to transactions of their own."""
        batch = [await self._queue.get()]
        idle = 0
        while len(batch) < self._max_batch:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                idle = 0
            elif idle < LINGER_TURNS:
                idle += 1
                await asyncio.sleep(0)
            else:
                break
        return batch

    async def _decide(self, batch: list[Pending]) -> None:
        known = self._known()
        since = known.generation
        results, tokens = await self._transact()(self._decide_in_transaction, batch, self._now(), self._keyring())
        known.issued(tokens, since=since)  # committed: introspection need not read them back
        for item in batch:
            item.settle(results[item])

    def _decide_in_transaction(self, conn: Connection, batch: list[Pending], now: int, keyring: KeyRing
                               ) -> tuple[dict[Pending, TokenResponse | OAuthError], list[dict[str, Any]]]:
        """The whole batch, synchronously, in the transaction ``conn`` is in (see
        :mod:`authmanager.storage.transact`): the answer to give each request once it commits,
        and the rows of the tokens issued."""
        terms = self._terms
        keys = {item.key.client_id for item in batch} | {item.key.parent_id for item in batch if item.key.parent_id}
        reads = store.read(conn, sphs={item.request.sph for item in batch}, client_ids=keys)
        results: dict[Pending, TokenResponse | OAuthError] = {}
        decided: list[tuple[Pending, Any, Any]] = []  # (item, realm, decision) that spend the nonce
        audit_rows: list[dict[str, Any]] = []
        memo: dict[tuple[Any, ...], Any] = {}
        for item in batch:
            try:
                realm, decision = self._judge(item, reads, now, memo)
            except OAuthError as err:
                results[item] = err
                continue
            if decision.ask or decision.permitted:
                decided.append((item, realm, decision))
                continue
            results[item] = RequestDenied("the realm's policies deny this request")
            audit_rows.append(audit.entry(action="token.deny", actor=f"consumer:{item.key.client_id}", at=now,
                                          realm_id=realm.id, target=item.key.client_id,
                                          detail={"requested": sorted(item.request.scopes)}))
        won = store.claim_nonces(conn, _distinct_nonces(decided))
        tokens, requests, used = [], [], set()
        for item, realm, decision in decided:
            if (item.key.client_id, item.nonce) not in won:
                results[item] = InvalidClient("replayed nonce")
                continue
            won.discard((item.key.client_id, item.nonce))  # a copy later in this batch loses
            actor = f"consumer:{item.key.client_id}"
            master = reads.consumers[policy_client(item.key)]
            if (master.last_used_at or 0) <= now - LAST_USED_GRANULARITY:
                used.add(master.client_id)
            if decision.ask:
                ticket, row = new_request(consumer=item.key, realm=realm, requested=item.request.scopes,
                                          ask=decision.ask, now=now, request_ttl=terms.request_ttl)
                requests.append(row)
                results[item] = RequestSubmitted(ticket=ticket, interval=terms.poll_interval)
                audit_rows.append(audit.entry(action="request.ask", actor=actor, at=now, realm_id=realm.id,
                                              target=item.key.client_id,
                                              detail={"requested": sorted(item.request.scopes),
                                                      "ask": sorted(decision.ask)}))
                continue
            issued, row = mint(consumer=item.key, realm=realm, decision=decision, keyring=keyring,
                               issuer=terms.issuer, now=now)
            tokens.append(row)
            results[item] = issued
            audit_rows.append(audit.entry(action="token.issue", actor=actor, at=now, realm_id=realm.id,
                                          target=row["jti"], detail={"scope": row["scope"],
                                                                     "exp": row["expires_at"]}))
        store.add_tokens(conn, tokens)
        store.add_requests(conn, requests)
        store.mark_used(conn, used, now)
        audit.write_rows(conn, audit_rows)
        return results, tokens

    def _judge(self, item: Pending, reads: store.BatchReads, now: int,
               memo: dict[tuple[Any, ...], Any]) -> tuple[Any, Any]:
        key = item.key
        if not _live(key, reads, now):
            raise InvalidClient("revoked, deleted or expired consumer key")
        realm = reads.realms.get(item.request.sph)
        if realm is None:
            raise InvalidRequest("unknown sph")
        # The evaluation is a pure function of these: requests alike in them are decided once per batch.
        master = policy_client(key)
        facts = (realm.id, master, item.request.scopes, key.parent_id is not None, key.client_metadata.get("scope"))
        decision = memo.get(facts)
        if decision is None:
            decision = memo[facts] = client_credentials.judge(
                consumer=key, realm=realm, realm_scopes=reads.scopes.get(realm.id, ()),
                policies=reads.policies.get(realm.id, ()), saved=reads.grants.get((realm.id, master)),
                requested=item.request.scopes, now=now, default_ttl=self._terms.default_ttl)
        return realm, decision


def _distinct_nonces(decided: list[tuple[Pending, Any, Any]]) -> list[dict[str, Any]]:
    """The nonce rows to claim, each (client_id, nonce) once."""
    rows = {(item.key.client_id, item.nonce): item.nonce_expires_at for item, _, _ in decided}
    return [{"client_id": ck, "nonce": nonce, "expires_at": exp} for (ck, nonce), exp in rows.items()]


def _live(key: ConsumerKey, reads: store.BatchReads, now: int) -> bool:
    """Unrevoked and present; a sub-key also unexpired, with its master unrevoked and present."""
    row = reads.consumers.get(key.client_id)
    if row is None or row.revoked_at is not None:
        return False
    if key.parent_id is None:
        return True
    master = reads.consumers.get(key.parent_id)
    return key.expires_at is not None and key.expires_at > now and master is not None and master.revoked_at is None
