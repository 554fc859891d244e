"""Authorization assessment (UMA 2.0 Grant §3.3.4): the realm's policies and the requester's saved
grant, loaded and handed to the one evaluator, :func:`authmanager.policy.evaluate`.

Used by every grant that consults policies and by ``authmanager policy explain``, so that what
the CLI explains is exactly what the token endpoint decides. No aiohttp here.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from .. import policy
from ..storage import grants as grant_repo
from ..storage import realms as realm_repo
from ..storage.models import Policy, SavedGrant


def rule_of(row: Policy) -> policy.Rule:
    return policy.Rule(id=row.id, effect=row.effect, scopes=frozenset(row.scopes), consumer=row.consumer,
                       max_ttl=row.max_ttl, not_before=row.not_before, not_after=row.not_after)


def saved_decision(row: SavedGrant | None) -> policy.SavedDecision | None:
    if row is None:
        return None
    return policy.SavedDecision(id=row.id, approved=frozenset(row.scopes), refused=frozenset(row.refused_scopes or ()),
                                max_ttl=row.max_ttl)


async def assess(session: AsyncSession, *, realm_id: int, requester: policy.Requester, requested: frozenset[str],
                 now: int, default_ttl: int, saved: policy.SavedDecision | None = None,
                 issuing: bool = False) -> policy.Decision:
    """Evaluate ``realm_id``'s policies for ``requester``. The saved grant is the consumer's (or
    the subject's) live grant in that realm, unless ``saved`` is given. ``issuing`` (a token
    may follow from the decision) reads that grant ``FOR SHARE``, so that revoking it waits for
    the caller's transaction and then revokes what it issued."""
    rules = [rule_of(row) for row in await realm_repo.policies(session, realm_id)]
    if saved is None:
        row = None
        if requester.client_id is not None:
            row = await grant_repo.live_for_consumer(session, realm_id, requester.client_id, share=issuing)
        elif requester.subject is not None:
            row = await grant_repo.live_for_subject(session, realm_id, requester.subject, share=issuing)
        saved = saved_decision(row)
    return policy.evaluate(rules, requester=requester, requested=requested, default_ttl=default_ttl, now=now,
                           saved=saved)
