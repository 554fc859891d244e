"""ProtectServe step 1's token request: RFC 6749 §4.4 client credentials, naming the realm by ``sph``.

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
from ..errors import InvalidRequest, InvalidScope
from ..identifiers import is_key
from .assessment import rule_of, saved_decision
from .issuance import MAX_SCOPES, ConsumerLike, RealmLike, TokenResponse, parse_scope, policy_client, within_subkey_limits

GRANT_TYPE = "client_credentials"
__all__ = ["GRANT_TYPE", "MAX_SCOPES", "TokenResponse", "Request", "parse", "judge"]


@dataclass(frozen=True, slots=True)
class Request:
    """The parameters of a client-credentials request (§4.4.2 plus ProtectServe's ``sph``)."""

    sph: str
    scopes: frozenset[str]


def parse(params: Mapping[str, str]) -> Request:
    """The request's ``sph`` (a generated identifier: base64url, at most 64 characters, see
    :mod:`authmanager.identifiers`) and scopes; anything else is refused before it is queued."""
    sph = params.get("sph")
    if not sph:
        raise InvalidRequest("sph is required")
    if not is_key(sph):
        raise InvalidRequest("unknown sph")
    return Request(sph=sph, scopes=parse_scope(params.get("scope")))


def judge(*, consumer: ConsumerLike, realm: RealmLike, realm_scopes: Iterable[str], policies: Iterable[Any],
          saved: Any | None, requested: frozenset[str], now: int, default_ttl: int) -> policy.Decision:
    """Decide a request. ``policies`` are the realm's policy rows in order and ``saved`` the
    requester's live saved grant row (or None), as read in the issuing transaction.

    Scopes the realm does not have are ``invalid_scope``. A grasshopper sub-key is judged as its
    master key (so it never gets more than the master could), may have been narrowed at
    creation, and is refused by realms that forbid sub-keys."""
    unknown = requested - frozenset(realm_scopes)
    if unknown:
        raise InvalidScope(f"not scopes of realm {realm.name}: {' '.join(sorted(unknown))}")
    requested = within_subkey_limits(consumer, realm, requested)
    return policy.evaluate([rule_of(row) for row in policies],
                           requester=policy.Requester(client_id=policy_client(consumer)),
                           requested=requested, default_ttl=default_ttl, now=now, saved=saved_decision(saved))
