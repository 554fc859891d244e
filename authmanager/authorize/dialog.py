"""What the dialog offers and what a decision does (OAuth3 issuer steps 5–7). No aiohttp here.

* :func:`target` — RFC 8707: the realm whose resource the request's ``resource`` names (the
  realm's resource URL equals it or is a path prefix of it at a ``/`` boundary; the longest
  wins — :mod:`authmanager.operations.targets`, the token endpoint's rule too), and its
  documented scopes; ``invalid_target`` / ``invalid_scope`` otherwise.
* :func:`offer` — the realm's policies decide, through the one evaluator
  (:func:`authmanager.grants.assessment.assess`, the application's saved grant included), for
  the requester (the application's ``client_id``, the account as ``account:<name>``, its stable
  subject URL):

  - ``deny`` scopes are never offered;
  - ``permit`` scopes are offered;
  - ``ask`` scopes are offered to an account that administers the realm (its approval is the
    owner's answer); for anyone else they are put to the owner as a pending request (the UMA
    path, :mod:`authmanager.operations.approvals`) — possible only for an application registered
    here, since a request names a consumer key; a client ID metadata document client cannot be
    asked for, and the dialog says so.

  Scopes the person approved before (``consents``) are shown again, for confirmation (step 5).
* :func:`decide` — approve (all or some of what was offered) or deny. An approval saves the
  consent (whole or partial, :func:`authmanager.operations.consents.record`), creates the owner
  request for the ``ask`` scopes the person chose to ask for, and issues a code bound to the
  approved scopes only (:func:`.codes.issue`); all in one transaction, with its audit events.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .. import audit
from ..accounts import ACCOUNT_PREFIX, subject_of
from ..accounts.auth import Principal
from ..errors import AuthorizationDenied, InvalidScope
from ..grants.assessment import assess
from ..policy import Requester
from ..secretbox import digest, random_secret
from ..storage import access_requests as request_repo
from ..storage import realms as realm_repo
from ..storage.models import AccessRequest, Consumer, Realm, RealmScope
from ..operations import consents
from ..operations.targets import find_realm
from . import codes
from .request import Checked


@dataclass(frozen=True, slots=True)
class Target:
    realm: Realm
    docs: dict[str, RealmScope]


@dataclass(slots=True)
class Offer:
    """What the dialog shows for one request and one person."""

    target: Target
    #: May be approved here, in the realm's scope order.
    offered: list[str]
    #: Of those, approved before by this person for this application (shown for confirmation).
    allowed_before: set[str] = field(default_factory=set)
    #: Refused before (offered again, unticked).
    refused_before: set[str] = field(default_factory=set)
    #: ``ask`` scopes offered because this person administers the realm.
    as_owner: set[str] = field(default_factory=set)
    #: ``ask`` scopes to put to the realm's owner (someone else).
    ask_owner: list[str] = field(default_factory=list)
    #: Whether ``ask_owner`` can be put to the owner (a registered application only).
    can_ask: bool = True
    #: Requested, but denied by the realm's policies: never offered.
    denied: list[str] = field(default_factory=list)


async def target(session: AsyncSession, checked: Checked) -> Target:
    """The realm ``resource`` names by the token endpoint's rule
    (:func:`authmanager.operations.targets.find_realm`: one indexed query), and its scopes."""
    realm = await find_realm(session, checked.resource_key)
    docs = {s.name: s for s in await realm_repo.scopes(session, realm.id)}
    unknown = set(checked.scopes) - set(docs)
    if unknown:
        raise InvalidScope(f"not scopes of this resource: {' '.join(sorted(unknown))}")
    return Target(realm=realm, docs=docs)


def requester(checked: Checked, who: Principal, issuer: str) -> Requester:
    return Requester(client_id=checked.client.client_id, subject=subject_of(issuer, who.admin_id), account=who.name)


async def offer(session: AsyncSession, checked: Checked, where: Target, who: Principal, *, issuer: str, now: int,
                default_ttl: int) -> Offer:
    decision = await assess(session, realm_id=where.realm.id, requester=requester(checked, who, issuer),
                            requested=frozenset(checked.scopes), now=now, default_ttl=default_ttl)
    owner = who.may(where.realm.id)
    offered = set(decision.granted) | (set(decision.ask) if owner else set())
    before = await consents.live(session, client_id=checked.client.client_id, account_id=who.admin_id,
                                 realm_id=where.realm.id)
    ordered = [name for name in checked.scopes]
    return Offer(target=where, offered=[s for s in ordered if s in offered],
                 allowed_before=offered & set(before.scopes if before else ()),
                 refused_before=offered & set(before.refused_scopes if before else ()),
                 as_owner=set(decision.ask) if owner else set(),
                 ask_owner=[] if owner else [s for s in ordered if s in decision.ask],
                 can_ask=checked.client.source == "registered",
                 denied=[s for s in ordered if s in decision.denied])


@dataclass(frozen=True, slots=True)
class Outcome:
    code: str | None
    approved: list[str]
    asked: list[str]
    request_id: int | None = None


async def _ask_owner(session: AsyncSession, checked: Checked, realm: Realm, scopes: list[str], *, now: int,
                     request_ttl: int) -> int | None:
    """A pending owner request for ``scopes`` (reusing one of this application's that asks for
    them all already). Its ticket is never handed out: the person comes back to the dialog once
    the owner has answered, and the answer (the saved grant) is what the policies then see."""
    if await session.get(Consumer, checked.client.client_id) is None:
        return None
    pending = await session.scalars(select(AccessRequest).where(
        AccessRequest.client_id == checked.client.client_id, AccessRequest.realm_id == realm.id,
        AccessRequest.status == request_repo.PENDING, AccessRequest.expires_at > now))
    for row in pending.all():
        if set(scopes) <= set(row.ask_scopes):
            return row.id
    row = await request_repo.add(session, AccessRequest(
        ticket_hash=digest(random_secret(32)), realm_id=realm.id, client_id=checked.client.client_id,
        scopes=list(checked.scopes), ask_scopes=sorted(scopes), status=request_repo.PENDING, created_at=now,
        expires_at=now + request_ttl, last_polled_at=now))
    return row.id


async def decide(session: AsyncSession, checked: Checked, found: Offer, who: Principal, *, approve: bool,
                 chosen: Collection[str], ask: Collection[str], now: int, request_ttl: int) -> Outcome:
    """Carry out the person's decision; raises ``access_denied`` when no code can follow."""
    realm, actor = found.target.realm, f"{ACCOUNT_PREFIX}{who.name}"
    detail = {"client_id": checked.client.client_id, "requested": list(checked.scopes)}
    if not approve:
        await audit.record(session, action="consent.deny", actor=actor, now=now, realm_id=realm.id,
                           target=checked.client.client_id, detail=detail)
        raise AuthorizationDenied("the person denied the request")
    approved = [s for s in found.offered if s in set(chosen)]  # never more than was offered
    asked = [s for s in found.ask_owner if s in set(ask)] if found.can_ask else []
    request_id = None
    if asked:
        request_id = await _ask_owner(session, checked, realm, asked, now=now, request_ttl=request_ttl)
        await audit.record(session, action="request.ask", actor=actor, now=now, realm_id=realm.id,
                           target=f"request {request_id}", detail={**detail, "ask": asked, "via": "dialog"})
    if not approved:
        if asked:
            raise AuthorizationDenied(f"the realm's owner has been asked for {' '.join(asked)}; "
                                      "try again once they have answered")
        raise AuthorizationDenied("no scope was approved")
    refused = [s for s in found.offered if s not in approved]
    row = await consents.record(session, client_id=checked.client.client_id, client_name=checked.client.client_name,
                                account_id=who.admin_id, realm_id=realm.id, approved=approved, refused=refused,
                                now=now)
    code = await codes.issue(session, client_id=checked.client.client_id, account_id=who.admin_id, realm_id=realm.id,
                             redirect_uri=checked.redirect_uri, code_challenge=checked.code_challenge,
                             resource=checked.resource, scopes=approved, now=now)
    await audit.record(session, action="consent.approve", actor=actor, now=now, realm_id=realm.id,
                       target=checked.client.client_id,
                       detail={**detail, "approved": approved, "refused": refused, "consent_id": row.id,
                               **({"as_owner": sorted(found.as_owner & set(approved))} if found.as_owner else {})})
    return Outcome(code=code, approved=approved, asked=asked, request_id=request_id)
