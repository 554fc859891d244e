"""ProtectServe step 1's token request: RFC 6749 §4.4 client credentials, naming the realm by
``sph`` or by an RFC 8707 ``resource`` indicator (or both, which must then name the same realm;
the matching rule is :mod:`authmanager.operations.targets`).

No aiohttp and no I/O here. :func:`parse` checks the form (before anything is queued);
:func:`judge` makes the decision against state read inside the issuing transaction — the
realm's scopes, its ordered policies and the requester's saved grant — through the one policy
evaluator, :func:`authmanager.policy.evaluate`. The token endpoint runs these for many requests
at once in one transaction (:mod:`.group_commit`), which also claims the nonces, mints the
tokens and records the requests put to the owner.

When the decision is to ask the realm owner about some requested scopes, no token is issued:
the request is recorded and answered ``request_submitted`` (UMA 2.0 Grant §3.3.6) with a ticket
to poll with (:mod:`.uma_ticket`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .. import policy
from ..errors import InvalidRequest, InvalidScope, InvalidTarget
from ..identifiers import is_key
from ..operations.targets import candidates, most_specific, target_key
from .assessment import rule_of, saved_decision
from .issuance import (MAX_SCOPES, ConsumerLike, RealmLike, TokenResponse, parse_scope, policy_client, within_ceiling,
                       within_subkey_limits)

GRANT_TYPE = "client_credentials"
__all__ = ["GRANT_TYPE", "MAX_SCOPES", "TokenResponse", "Request", "parse", "realm_of", "judge"]


@dataclass(frozen=True, slots=True)
class Request:
    """The parameters of a client-credentials request (§4.4.2, ProtectServe's ``sph`` and RFC
    8707's ``resource``, normalised; at least one of the two)."""

    sph: str | None
    scopes: frozenset[str]
    #: ``resource`` normalised (:func:`authmanager.operations.targets.target_key`), if sent.
    resource_key: str | None = None

    @property
    def candidates(self) -> tuple[str, ...]:
        """The realm resource keys that could cover ``resource_key`` (none without one)."""
        return candidates(self.resource_key) if self.resource_key is not None else ()


def parse(params: Mapping[str, str]) -> Request:
    """The request's ``sph`` (a generated identifier: base64url, at most 64 characters, see
    :mod:`authmanager.identifiers`), its ``resource`` (RFC 8707 §2: malformed is
    ``invalid_target``) and scopes; anything else is refused before it is queued. Neither
    ``sph`` nor ``resource``: ``invalid_request``, as before resource indicators."""
    sph, resource = params.get("sph"), params.get("resource")
    key = target_key(resource) if resource is not None else None
    if not sph and key is None:
        raise InvalidRequest("sph is required")
    if sph is not None and not is_key(sph):
        raise InvalidRequest("unknown sph")
    return Request(sph=sph or None, scopes=parse_scope(params.get("scope")), resource_key=key)


def realm_of(request: Request, *, by_sph: Mapping[str, Any], by_key: Mapping[str, Any]) -> Any:
    """The realm ``request`` names, from realms read by ``sph`` and by resource key. With a
    ``resource``, the most specific realm covering it (none: ``invalid_target``), which a ``sph``
    sent beside it must name too (else ``invalid_target``: the two disagree). Without one, the
    realm of ``sph`` (unknown: ``invalid_request``, as before)."""
    if request.resource_key is None:
        realm = by_sph.get(request.sph or "")
        if realm is None:
            raise InvalidRequest("unknown sph")
        return realm
    found = most_specific((by_key[k] for k in request.candidates if k in by_key), request.resource_key)
    if found is None:
        raise InvalidTarget("no realm of this authorization server protects that resource (RFC 8707 §2)")
    if request.sph is not None and found.sph != request.sph:
        raise InvalidTarget("sph and resource name different realms")
    return found


def judge(*, consumer: ConsumerLike, realm: RealmLike, realm_scopes: Iterable[str], policies: Iterable[Any],
          saved: Any | None, requested: frozenset[str], now: int, default_ttl: int,
          ceiling: frozenset[str] | None = None) -> policy.Decision:
    """Decide a request. ``policies`` are the realm's policy rows in order and ``saved`` the
    requester's live saved grant row (or None), as read in the issuing transaction.

    Scopes the realm does not have are ``invalid_scope``. A grasshopper sub-key is judged as its
    master key (so it never gets more than the master could), may have been narrowed at
    creation, and is refused by realms that forbid sub-keys. A request signed by a registered key
    with a scope ``ceiling`` is judged for the requested scopes within it, whatever the policies
    permit (:func:`.issuance.within_ceiling`)."""
    unknown = requested - frozenset(realm_scopes)
    if unknown:
        raise InvalidScope(f"not scopes of realm {realm.name}: {' '.join(sorted(unknown))}")
    requested = within_ceiling(within_subkey_limits(consumer, realm, requested), ceiling)
    return policy.evaluate([rule_of(row) for row in policies],
                           requester=policy.Requester(client_id=policy_client(consumer)),
                           requested=requested, default_ttl=default_ttl, now=now, saved=saved_decision(saved))
