"""Policy administration: add, list, remove, reorder and explain a realm's ordered policies.

What the CLI, the console and the admin API call; every change is recorded in the audit log
(``policy.add|update|move|remove``) in its own transaction. ``explain`` runs the very evaluator the token
endpoint runs (:mod:`authmanager.grants.assessment`), saved grant included, so its answer is
the token endpoint's. Edits lock the realm's row, so concurrent edits of one realm serialise.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .. import audit
from ..grants.assessment import assess, rule_of
from ..policy import ACCOUNT_PREFIX, ANY, EFFECTS, SUBJECT_PREFIX, Requester
from ..storage import consumers as consumer_repo
from ..storage import realms as realm_repo
from ..identifiers import MAX_ROW_ID, is_key, is_name, is_row_id, is_time
from ..storage.models import Policy, Realm
from .realms import AdminError

Sessions = async_sessionmaker[AsyncSession]


def parse_time(value: str | int | None, option: str) -> int | None:
    """Unix seconds, or an ISO 8601 date-time (UTC unless it carries an offset), from 1970 to
    the end of 9999 (what both databases store and ISO 8601 can say)."""
    if value is None:
        return None
    if isinstance(value, int):
        seconds = value
    elif (text := value.strip()).isascii() and text.isdigit():
        seconds = int(text)
    else:
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=timezone.utc)
            seconds = int(moment.timestamp())
        except (ValueError, OverflowError):
            raise AdminError(f"{option} must be unix seconds or an ISO 8601 date-time, not {value!r}") from None
    if not is_time(seconds):
        raise AdminError(f"{option} must lie between 1970 and the end of 9999, not {value!r}")
    return seconds


def applies_to(consumer: str | None, subject: str | None) -> str:
    """The stored form of who a policy applies to: ``*``, a consumer key, ``subject:<URL>`` or
    ``account:<name>`` (a person signed in to the authorization dialog, issue 12)."""
    from ..sharing.share import check_subject

    if subject is not None and consumer not in (None, ANY):
        raise AdminError("give --consumer or --subject, not both")
    if subject is None and consumer and consumer.startswith(SUBJECT_PREFIX):
        subject = consumer[len(SUBJECT_PREFIX):]
    if subject is not None:
        return SUBJECT_PREFIX + check_subject(subject, "--subject")
    consumer = consumer or ANY
    if consumer.startswith(ACCOUNT_PREFIX):
        if not is_name(consumer[len(ACCOUNT_PREFIX):]):
            raise AdminError("--consumer account:NAME names an account (1-100 letters, digits, '-', '_' or '.')")
        return consumer
    if consumer != ANY and not is_key(consumer):
        raise AdminError("--consumer must be *, a consumer key or account:NAME")
    return consumer


async def _realm(session: AsyncSession, name: str, *, lock: bool = False) -> Realm:
    row = await realm_repo.by_name(session, name, for_update=lock)
    if row is None:
        raise AdminError(f"no realm named {name!r}")
    return row


async def _scopes(session: AsyncSession, realm: Realm, scopes: Sequence[str]) -> list[str]:
    known = {s.name for s in await realm_repo.scopes(session, realm.id)}
    if not scopes or set(scopes) - known:
        raise AdminError(f"scopes must be among the realm's: {' '.join(sorted(known))}")
    return sorted(set(scopes))


async def add_policy(
    sessions: Sessions, *, realm: str, effect: str, scopes: Sequence[str], consumer: str = ANY,
    subject: str | None = None, max_ttl: int | None = None, not_before: str | int | None = None,
    not_after: str | int | None = None, now: int, actor: str = "cli",
) -> int:
    """Append a policy to ``realm``'s order; returns its id."""
    fields = _fields(effect, consumer, subject, max_ttl, not_before, not_after)
    async with sessions.begin() as session:
        row = await _realm(session, realm, lock=True)
        policy = Policy(realm_id=row.id, position=await realm_repo.next_policy_position(session, row.id),
                        scopes=await _scopes(session, row, scopes), created_at=now, **fields)
        session.add(policy)
        await session.flush()
        await audit.record(session, action="policy.add", actor=actor, now=now, realm_id=row.id,
                           target=f"policy {policy.id}", detail=_summary(policy))
        return policy.id


def _fields(effect: str, consumer: str | None, subject: str | None, max_ttl: int | None,
            not_before: str | int | None, not_after: str | int | None) -> dict[str, Any]:
    """A policy's checked fields (all but its scopes); raises AdminError before anything is stored."""
    if effect not in EFFECTS:
        raise AdminError(f"--effect must be one of {', '.join(EFFECTS)}")
    if max_ttl is not None and not is_row_id(max_ttl):
        raise AdminError(f"--max-ttl must be between 1 and {MAX_ROW_ID} seconds")
    who = applies_to(consumer, subject)
    start, end = parse_time(not_before, "--not-before"), parse_time(not_after, "--not-after")
    if start is not None and end is not None and start >= end:
        raise AdminError("--not-before must be earlier than --not-after")
    return {"effect": effect, "consumer": who, "max_ttl": max_ttl, "not_before": start, "not_after": end}


def _summary(row: Policy) -> dict[str, Any]:
    return {"effect": row.effect, "scopes": row.scopes, "consumer": row.consumer, "max_ttl": row.max_ttl,
            "not_before": row.not_before, "not_after": row.not_after}


async def update_policy(
    sessions: Sessions, policy_id: int, *, effect: str, scopes: Sequence[str], consumer: str = ANY,
    subject: str | None = None, max_ttl: int | None = None, not_before: str | int | None = None,
    not_after: str | int | None = None, now: int, actor: str = "cli",
) -> dict[str, Any]:
    """Replace policy ``policy_id``'s fields in place (it keeps its id and position); returns the
    policy as :func:`policy_dict` shows it. Audited as ``policy.update`` with before and after."""
    fields = _fields(effect, consumer, subject, max_ttl, not_before, not_after)
    async with sessions.begin() as session:
        row, realm = await _policy(session, policy_id)
        before = _summary(row)
        fields["scopes"] = await _scopes(session, realm, scopes)
        for name, value in fields.items():
            setattr(row, name, value)
        await session.flush()
        await audit.record(session, action="policy.update", actor=actor, now=now, realm_id=realm.id,
                           target=f"policy {row.id}", detail={"before": before, "after": _summary(row)})
        return policy_dict(row, row.position)


async def policy_realm(sessions: Sessions, policy_id: int) -> tuple[int, str]:
    """The id and name of the realm policy ``policy_id`` belongs to (for access checks)."""
    async with sessions() as session:
        row = await session.get(Policy, policy_id) if is_row_id(policy_id) else None
        realm = None if row is None else await session.get(Realm, row.realm_id)
        if row is None or realm is None:
            raise AdminError(f"no policy {policy_id}")
        return realm.id, realm.name


def policy_dict(row: Policy, position: int) -> dict[str, Any]:
    return {"id": row.id, "position": position, "effect": row.effect, "scopes": row.scopes,
            "consumer": row.consumer, "max_ttl": row.max_ttl, "not_before": row.not_before,
            "not_after": row.not_after, "description": rule_of(row).describe()}


async def list_policies(sessions: Sessions, *, realm: str) -> list[dict[str, Any]]:
    async with sessions() as session:
        row = await _realm(session, realm)
        return [policy_dict(p, i) for i, p in enumerate(await realm_repo.policies(session, row.id), 1)]


async def _policy(session: AsyncSession, policy_id: int) -> tuple[Policy, Realm]:
    row = await session.get(Policy, policy_id) if is_row_id(policy_id) else None
    if row is None:
        raise AdminError(f"no policy {policy_id}")
    realm = await session.scalar(select(Realm).where(Realm.id == row.realm_id).with_for_update())
    assert realm is not None
    return row, realm


async def remove_policy(sessions: Sessions, policy_id: int, *, now: int | None = None, actor: str = "cli") -> str:
    """Delete a policy; returns its realm's name. The others keep their relative order."""
    async with sessions.begin() as session:
        row, realm = await _policy(session, policy_id)
        await audit.record(session, action="policy.remove", actor=actor, now=int(time.time()) if now is None else now,
                           realm_id=realm.id, target=f"policy {row.id}", detail=_summary(row))
        await session.delete(row)
        return realm.name


async def move_policy(sessions: Sessions, policy_id: int, *, to: int, now: int | None = None,
                      actor: str = "cli") -> list[int]:
    """Move a policy to position ``to`` (1 = evaluated first); returns the realm's new order."""
    async with sessions.begin() as session:
        row, realm = await _policy(session, policy_id)
        order = [p for p in await realm_repo.policies(session, realm.id) if p.id != row.id]
        if not 1 <= to <= len(order) + 1:
            raise AdminError(f"--to must be between 1 and {len(order) + 1}")
        order.insert(to - 1, row)
        for position, policy in enumerate(order, 1):
            policy.position = position
        await audit.record(session, action="policy.move", actor=actor, now=int(time.time()) if now is None else now,
                           realm_id=realm.id, target=f"policy {row.id}",
                           detail={"to": to, "order": [p.id for p in order]})
        return [p.id for p in order]


#: The note of every explanation given without the consumer-key table (a realm-limited admin).
KEYS_UNSEEN = ("judged as the key given: whether it exists, or is a grasshopper key judged as its master, "
               "is shown only to an admin of every realm")


async def explain(sessions: Sessions, *, realm: str, scopes: Sequence[str], consumer: str | None = None,
                  subject: str | None = None, now: int, default_ttl: int, reveal_keys: bool) -> dict[str, Any]:
    """What the token endpoint would decide now for ``consumer`` (or ``subject``) asking ``scopes``,
    and why: the decision of :func:`authmanager.policy.evaluate` plus the deciding policies.

    ``reveal_keys`` (the CLI, an admin of every realm): the consumer key is looked up, as the
    token endpoint does — an unknown key is noted, a grasshopper key is judged as its master and
    the master named. Without it (a realm-limited admin: consumer keys span realms) the key table
    is not read at all: the key is judged as given, against the realm's policies and the realm's
    saved grant for that very key, with one fixed note — the same answer whether the key exists,
    or is a sub-key, or not."""
    if (consumer is None) == (subject is None):
        raise AdminError("give --consumer CK or --subject URL")
    if consumer is not None:
        applies_to(consumer, None)  # * or a consumer key: nothing else is looked up
    async with sessions() as session:
        row = await _realm(session, realm)
        requested = frozenset(await _scopes(session, row, scopes))
        judged_as, note = consumer, None
        if consumer is not None and consumer.startswith(ACCOUNT_PREFIX):
            requester = Requester(account=consumer[len(ACCOUNT_PREFIX):])
        elif consumer is not None:
            if not reveal_keys:
                note = KEYS_UNSEEN
            elif (key := await consumer_repo.get(session, consumer)) is None:
                note = "unknown consumer key: only policies for * (or naming this key) apply"
            elif key.parent_id is not None:
                judged_as, note = key.parent_id, f"a grasshopper key, judged as its master {key.parent_id}"
            requester = Requester(client_id=judged_as)
        else:
            requester = Requester(subject=applies_to(None, subject)[len(SUBJECT_PREFIX):])
        decision = await assess(session, realm_id=row.id, requester=requester, requested=requested, now=now,
                                default_ttl=default_ttl)
        policies = {f"policy {p.id}": rule_of(p).describe() for p in await realm_repo.policies(session, row.id)}
    deciders = sorted({v.by for v in decision.verdicts if v.by and v.by in policies})
    return {"realm": realm, "consumer": consumer, "judged_as": judged_as, "subject": requester.subject,
            "requested": sorted(requested), "note": note, **decision.as_dict(),
            "policies": [policies[label] for label in deciders]}
