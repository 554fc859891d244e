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

* a dead consumer key → ``invalid_client``, nothing stored (a revoked, deleted or expired key
  never comes back, so its request can never succeed later either); so is a ``private_key_jwt``
  request whose registered key is revoked (its row read ``FOR SHARE`` in the batch too,
  :mod:`authmanager.storage.key_liveness`);
* otherwise the nonce is spent first, whatever the answer below: one atomic ``INSERT … ON
  CONFLICT DO NOTHING`` for the whole batch. A nonce already used (in this batch, an earlier
  one, or by another AM process) → ``invalid_client``, nothing else stored. So a captured
  request, however it was answered, can never be replayed for a different answer;
* a form refused before it was queued (no ``sph``, a malformed one, a bad ``scope``, an
  unsupported ``grant_type``) → that error;
* an unknown ``sph`` → ``invalid_request``; a ``resource`` no realm covers, or one naming
  another realm than the ``sph`` beside it → ``invalid_target`` (RFC 8707 §2); a scope the
  realm lacks → ``invalid_scope``;
* denied by policy → ``request_denied`` (the decision is audited);
* some scope to be put to the owner → the request is recorded, ``request_submitted`` with a ticket;
* permitted → a token, persisted by its digest (with the signing key's ``client_key_id``, and
  never beyond that key's scope ceiling), with the ``token.issue`` audit row.

The keys' and saved grants' rows are read ``FOR SHARE`` (:mod:`authmanager.storage.issuance`),
so a revocation either precedes the batch or waits for it and then revokes what it issued.

A batch whose transaction fails stores nothing. When the database is unavailable every request
of it gets ``503`` (its nonce unspent: it may be sent again). Any other failure is one request's
data the database refused, or a fault: the batch is split in halves and each decided again on
its own, down to single requests, so one request never decides another's answer and only the
request that fails alone gets ``500 server_error``. No aiohttp here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from .. import audit
from ..errors import (
    InvalidClient,
    OAuthError,
    RequestDenied,
    RequestSubmitted,
    ServerError,
    TemporarilyUnavailable,
)
from ..runtime.consumer_keys import ConsumerKey
from ..runtime.keyring import KeyRing
from ..runtime.known_tokens import KnownTokens
from ..storage import issuance as store
from ..storage import key_liveness
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
    """One verified token request waiting for its batch; ``request`` is the refusal when its
    form was refused before it was queued (the batch still spends its nonce)."""

    key: ConsumerKey
    request: client_credentials.Request | OAuthError
    nonce: str
    nonce_expires_at: int
    #: A ``private_key_jwt`` request's key (``client_keys.id``, its liveness read in the batch) and
    #: its scope ceiling (None: the key follows its consumer).
    client_key_id: int | None = None
    scope_ceiling: frozenset[str] | None = None
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

    async def issue(self, key: ConsumerKey, request: client_credentials.Request | OAuthError, *, nonce: str,
                    nonce_expires_at: int, client_key_id: int | None = None,
                    scope_ceiling: tuple[str, ...] | None = None) -> TokenResponse:
        """Queue a request whose signature was verified; the token, or the request's OAuthError.
        ``request`` may be the OAuthError its form already got: it is raised once the nonce is
        spent (or ``invalid_client`` if it already was)."""
        if self._task is None or self._task.done():
            raise TemporarilyUnavailable("the AM is not issuing tokens")
        pending = Pending(key=key, request=request, nonce=nonce, nonce_expires_at=nonce_expires_at,
                          client_key_id=client_key_id,
                          scope_ceiling=frozenset(scope_ceiling) if scope_ceiling is not None else None)
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
        """Decide ``batch`` in one transaction; if it fails on anything but an unavailable
        database, decide each half of it again on its own (one request alone: ``500``)."""
        known = self._known()
        since = known.generation
        try:
            results, tokens = await self._transact()(self._decide_in_transaction, batch, self._now(),
                                                     self._keyring())
        except UNAVAILABLE:
            log.exception("database unavailable during token issuance")
            for item in batch:
                item.settle(TemporarilyUnavailable("the database is unavailable"))
            return
        except Exception:
            if len(batch) == 1:
                log.exception("token issuance failed for one request (consumer %s)", batch[0].key.client_id)
                batch[0].settle(ServerError())
                return
            log.warning("a batch of %d token requests failed; deciding its halves apart", len(batch),
                        exc_info=True)
            half = len(batch) // 2
            await self._decide(batch[:half])
            await self._decide(batch[half:])
            return
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
        forms = [item.request for item in batch if isinstance(item.request, client_credentials.Request)]
        reads = store.read(conn, sphs={form.sph for form in forms if form.sph is not None}, client_ids=keys,
                           resource_keys={key for form in forms for key in form.candidates})
        results: dict[Pending, TokenResponse | OAuthError] = {}
        live_keys = key_liveness.live_ids(conn, {item.client_key_id for item in batch
                                                 if item.client_key_id is not None})
        live = {item for item in batch if _live(item.key, reads, now)
                and (item.client_key_id is None or item.client_key_id in live_keys)}
        won = store.claim_nonces(conn, _distinct_nonces(live))  # every live key's request spends its nonce
        tokens, requests, used = [], [], set()
        audit_rows: list[dict[str, Any]] = []
        memo: dict[tuple[Any, ...], Any] = {}
        for item in batch:
            pair = (item.key.client_id, item.nonce)
            if pair not in won:  # a dead key (nothing claimed), or a replay
                results[item] = InvalidClient("revoked, deleted or expired consumer key" if item not in live
                                              else "replayed nonce")
                continue
            won.discard(pair)  # a copy later in this batch loses
            if isinstance(item.request, OAuthError):  # refused before it was queued
                results[item] = item.request
                continue
            actor = f"consumer:{item.key.client_id}"
            try:
                realm, decision = self._judge(item, item.request, reads, now, memo)
            except OAuthError as err:
                results[item] = err
                continue
            if not (decision.ask or decision.permitted):
                results[item] = RequestDenied("the realm's policies deny this request")
                audit_rows.append(audit.entry(action="token.deny", actor=actor, at=now, realm_id=realm.id,
                                              target=item.key.client_id,
                                              detail={"requested": sorted(item.request.scopes)}))
                continue
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
                               issuer=terms.issuer, now=now, client_key_id=item.client_key_id)
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

    def _judge(self, item: Pending, request: client_credentials.Request, reads: store.BatchReads, now: int,
               memo: dict[tuple[Any, ...], Any]) -> tuple[Any, Any]:
        key = item.key
        realm = client_credentials.realm_of(request, by_sph=reads.realms, by_key=reads.by_key)
        # The evaluation is a pure function of these: requests alike in them are decided once per batch.
        master = policy_client(key)
        facts = (realm.id, master, request.scopes, key.parent_id is not None, key.client_metadata.get("scope"),
                 item.scope_ceiling)
        decision = memo.get(facts)
        if decision is None:
            decision = memo[facts] = client_credentials.judge(
                consumer=key, realm=realm, realm_scopes=reads.scopes.get(realm.id, ()),
                policies=reads.policies.get(realm.id, ()), saved=reads.grants.get((realm.id, master)),
                requested=request.scopes, now=now, default_ttl=self._terms.default_ttl, ceiling=item.scope_ceiling)
        return realm, decision


def _distinct_nonces(items: Iterable[Pending]) -> list[dict[str, Any]]:
    """The nonce rows to claim, each (client_id, nonce) once, in one order for every batch (two
    batches of two processes claiming the same pairs then wait for each other, never deadlock)."""
    rows = {(item.key.client_id, item.nonce): item.nonce_expires_at for item in items}
    return [{"client_id": ck, "nonce": nonce, "expires_at": rows[ck, nonce]} for ck, nonce in sorted(rows)]


def _live(key: ConsumerKey, reads: store.BatchReads, now: int) -> bool:
    """Unrevoked and present; a sub-key also unexpired, with its master unrevoked and present."""
    row = reads.consumers.get(key.client_id)
    if row is None or row.revoked_at is not None:
        return False
    if key.parent_id is None:
        return True
    master = reads.consumers.get(key.parent_id)
    return key.expires_at is not None and key.expires_at > now and master is not None and master.revoked_at is None
