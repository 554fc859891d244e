"""Policy administration: add, list, remove, reorder and explain a realm's ordered policies.

What the CLI calls (and, later, the console). ``explain`` runs the very evaluator the token
endpoint runs (:mod:`authmanager.grants.assessment`), saved grant included, so its answer is
the token endpoint's. Edits lock the realm's row, so concurrent edits of one realm serialise.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .grants.assessment import assess, rule_of
from .policy import ANY, EFFECTS, SUBJECT_PREFIX, Requester
from .realm_admin import AdminError
from .storage import consumers as consumer_repo
from .storage import realms as realm_repo
from .storage.models import Policy, Realm

Sessions = async_sessionmaker[AsyncSession]


def parse_time(value: str | int | None, option: str) -> int | None:
    """Unix seconds, or an ISO 8601 date-time (UTC unless it carries an offset)."""
    if value is None or isinstance(value, int):
        return value
    text = value.strip()
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise AdminError(f"{option} must be unix seconds or an ISO 8601 date-time, not {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp())


def applies_to(consumer: str | None, subject: str | None) -> str:
    """The stored form of who a policy applies to: ``*``, a consumer key or ``subject:<URL>``."""
    from .sharing.share import check_subject

    if subject is not None and consumer not in (None, ANY):
        raise AdminError("give --consumer or --subject, not both")
    if subject is None and consumer and consumer.startswith(SUBJECT_PREFIX):
        subject = consumer[len(SUBJECT_PREFIX):]
    if subject is not None:
        return SUBJECT_PREFIX + check_subject(subject, "--subject")
    consumer = consumer or ANY
    if len(consumer) > 64:
        raise AdminError("--consumer must be * or a consumer key")
    return consumer


async def _realm(session: AsyncSession, name: str, *, lock: bool = False) -> Realm:
    query = select(Realm).where(Realm.name == name)
    row = await session.scalar(query.with_for_update() if lock else query)
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
    not_after: str | int | None = None, now: int,
) -> int:
    """Append a policy to ``realm``'s order; returns its id."""
    if effect not in EFFECTS:
        raise AdminError(f"--effect must be one of {', '.join(EFFECTS)}")
    if max_ttl is not None and max_ttl <= 0:
        raise AdminError("--max-ttl must be positive")
    who = applies_to(consumer, subject)
    start, end = parse_time(not_before, "--not-before"), parse_time(not_after, "--not-after")
    if start is not None and end is not None and start >= end:
        raise AdminError("--not-before must be earlier than --not-after")
    async with sessions.begin() as session:
        row = await _realm(session, realm, lock=True)
        policy = Policy(realm_id=row.id, position=await realm_repo.next_policy_position(session, row.id),
                        effect=effect, scopes=await _scopes(session, row, scopes), consumer=who, max_ttl=max_ttl,
                        not_before=start, not_after=end, created_at=now)
        session.add(policy)
        await session.flush()
        return policy.id


def policy_dict(row: Policy, position: int) -> dict[str, Any]:
    return {"id": row.id, "position": position, "effect": row.effect, "scopes": row.scopes,
            "consumer": row.consumer, "max_ttl": row.max_ttl, "not_before": row.not_before,
            "not_after": row.not_after, "description": rule_of(row).describe()}


async def list_policies(sessions: Sessions, *, realm: str) -> list[dict[str, Any]]:
    async with sessions() as session:
        row = await _realm(session, realm)
        return [policy_dict(p, i) for i, p in enumerate(await realm_repo.policies(session, row.id), 1)]


async def _policy(session: AsyncSession, policy_id: int) -> tuple[Policy, Realm]:
    row = await session.get(Policy, policy_id)
    if row is None:
        raise AdminError(f"no policy {policy_id}")
    realm = await session.scalar(select(Realm).where(Realm.id == row.realm_id).with_for_update())
    assert realm is not None
    return row, realm


async def remove_policy(sessions: Sessions, policy_id: int) -> str:
    """Delete a policy; returns its realm's name. The others keep their relative order."""
    async with sessions.begin() as session:
        row, realm = await _policy(session, policy_id)
        await session.delete(row)
        return realm.name


async def move_policy(sessions: Sessions, policy_id: int, *, to: int) -> list[int]:
    """Move a policy to position ``to`` (1 = evaluated first); returns the realm's new order."""
    async with sessions.begin() as session:
        row, realm = await _policy(session, policy_id)
        order = [p for p in await realm_repo.policies(session, realm.id) if p.id != row.id]
        if not 1 <= to <= len(order) + 1:
            raise AdminError(f"--to must be between 1 and {len(order) + 1}")
        order.insert(to - 1, row)
        for position, policy in enumerate(order, 1):
            policy.position = position
        return [p.id for p in order]


async def explain(sessions: Sessions, *, realm: str, scopes: Sequence[str], consumer: str | None = None,
                  subject: str | None = None, now: int, default_ttl: int) -> dict[str, Any]:
    """What the token endpoint would decide now for ``consumer`` (or ``subject``) asking ``scopes``,
    and why: the decision of :func:`authmanager.policy.evaluate` plus the deciding policies."""
    if (consumer is None) == (subject is None):
        raise AdminError("give --consumer CK or --subject URL")
    async with sessions() as session:
        row = await _realm(session, realm)
        requested = frozenset(await _scopes(session, row, scopes))
        judged_as, note = consumer, None
        if consumer is not None:
            key = await consumer_repo.get(session, consumer)
            if key is None:
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
