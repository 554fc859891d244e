"""The policy evaluator: pure, ordered, deterministic and explainable (docs/protocol.md §13).

It is the one evaluator of the AM: the token endpoint (``client_credentials``, the UMA ticket
grant, the ticket grant) and ``authmanager policy explain`` all call :func:`evaluate`.

Inputs: the realm's policies in their order, who asks, the requested scopes, the requester's
saved grant (the owner's earlier answers, UMA 2.0 Grant §3.3.4 "authorization assessment"),
the default token lifetime and the time (injected, never read here).

1. A policy *applies* when its consumer is ``*``, the requesting consumer key,
   ``subject:<URL>`` naming the requester's verified subject URL, or ``account:<name>`` naming
   the signed-in account the authorization dialog asks for (issue 12), and ``now`` lies in its
   validity window: ``not_before <= now < not_after`` (either bound optional).
2. Each requested scope is decided on its own by the first of these that covers it:

   a. an applying ``deny`` policy — deny overrides, whatever the order;
   b. an applying ``permit`` policy;
   c. the saved grant: a scope the owner approved is permitted, one the owner refused is denied;
   d. an applying ``ask`` policy — the owner is asked (so ``ask`` only ever concerns requested
      scopes that are neither permitted otherwise nor denied);
   e. nothing — deny.

   Where several policies of the deciding kind cover the scope, the first in the realm's order
   is named as the one that decided.
3. ``granted = requested ∩ permitted`` (never wider than either); ``ask`` holds the scopes to put
   to the owner; everything else is denied.
4. The token lifetime is the smallest of: the AM default; the ``max_ttl`` of every applying
   ``permit`` policy covering a granted scope; for scopes granted by the saved grant, the grant's
   own ``max_ttl`` and the ``max_ttl`` of the applying ``ask`` policies covering them; and the time
   left before the ``not_after`` of any of those policies (a token never outlives its window).
5. The outcome is ``ask`` if any scope awaits the owner, else ``permit`` if anything is granted,
   else ``deny``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

PERMIT, DENY, ASK = "permit", "deny", "ask"
EFFECTS = (PERMIT, DENY, ASK)
ANY = "*"
SUBJECT_PREFIX = "subject:"
ACCOUNT_PREFIX = "account:"


@dataclass(frozen=True, slots=True)
class Requester:
    """Who asks: a consumer key, and/or a verified subject URL (IndieAuth Ticket Auth, §12),
    and/or the name of the signed-in account an application asks for (the dialog)."""

    client_id: str | None = None
    subject: str | None = None
    account: str | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    id: int
    effect: str
    scopes: frozenset[str]
    consumer: str = ANY
    max_ttl: int | None = None
    not_before: int | None = None
    not_after: int | None = None

    @property
    def label(self) -> str:
        return f"policy {self.id}"

    def applies_to(self, requester: Requester) -> bool:
        if self.consumer == ANY:
            return True
        if self.consumer.startswith(SUBJECT_PREFIX):
            return requester.subject is not None and self.consumer[len(SUBJECT_PREFIX):] == requester.subject
        if self.consumer.startswith(ACCOUNT_PREFIX):
            return requester.account is not None and self.consumer[len(ACCOUNT_PREFIX):] == requester.account
        return requester.client_id is not None and self.consumer == requester.client_id

    def active(self, now: int) -> bool:
        return (self.not_before is None or self.not_before <= now) and (self.not_after is None or now < self.not_after)

    def describe(self) -> str:
        who = "any consumer" if self.consumer == ANY else self.consumer
        text = f"{self.label}: {self.effect} {' '.join(sorted(self.scopes))} for {who}"
        if self.not_before is not None or self.not_after is not None:
            text += f", valid [{self.not_before if self.not_before is not None else '-'}, " \
                    f"{self.not_after if self.not_after is not None else '-'})"
        return text + (f", max_ttl {self.max_ttl} s" if self.max_ttl else "")


@dataclass(frozen=True, slots=True)
class SavedDecision:
    """The owner's earlier answers for this requester and realm (a row of ``grants``)."""

    id: int
    approved: frozenset[str]
    refused: frozenset[str] = frozenset()
    max_ttl: int | None = None

    @property
    def label(self) -> str:
        return f"grant {self.id}"


@dataclass(frozen=True, slots=True)
class Verdict:
    """How one requested scope was decided, and by what (``policy N``, ``grant N`` or nothing)."""

    scope: str
    effect: str
    by: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class Decision:
    granted: frozenset[str]
    ask: frozenset[str]
    denied: frozenset[str]
    ttl: int
    verdicts: tuple[Verdict, ...] = ()
    reasons: tuple[str, ...] = field(default=())

    @property
    def permitted(self) -> bool:
        return bool(self.granted)

    @property
    def outcome(self) -> str:
        return ASK if self.ask else PERMIT if self.granted else DENY

    def as_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "granted": sorted(self.granted), "ask": sorted(self.ask),
                "denied": sorted(self.denied), "ttl": self.ttl if self.granted else None,
                "scopes": [{"scope": v.scope, "effect": v.effect, "by": v.by, "reason": v.reason}
                           for v in self.verdicts],
                "reasons": list(self.reasons)}


def evaluate(rules: Iterable[Rule], *, requester: Requester, requested: frozenset[str], default_ttl: int, now: int,
             saved: SavedDecision | None = None) -> Decision:
    applying: list[Rule] = []
    notes: list[str] = []
    for rule in rules:
        if not rule.applies_to(requester):
            continue
        if rule.active(now):
            applying.append(rule)
        elif rule.scopes & requested:
            notes.append(f"{rule.label} does not apply now: outside its validity window")
    verdicts = tuple(_decide(scope, applying, saved) for scope in sorted(requested))
    granted = frozenset(v.scope for v in verdicts if v.effect == PERMIT)
    ask = frozenset(v.scope for v in verdicts if v.effect == ASK)
    ttl, ttl_reason = _ttl(applying, saved, verdicts, default_ttl=default_ttl, now=now)
    reasons = [f"{v.scope}: {v.reason}" for v in verdicts] + notes
    if ask:
        reasons.append(f"outcome ask: {' '.join(sorted(ask))} awaits the owner")
    elif granted:
        reasons.append(f"outcome permit: {' '.join(sorted(granted))} for {ttl} s ({ttl_reason})")
    else:
        reasons.append("outcome deny: nothing requested is permitted")
    return Decision(granted=granted, ask=ask, denied=frozenset(requested - granted - ask), ttl=ttl,
                    verdicts=verdicts, reasons=tuple(reasons))


def _first(rules: list[Rule], effect: str, scope: str) -> Rule | None:
    return next((r for r in rules if r.effect == effect and scope in r.scopes), None)


def _decide(scope: str, rules: list[Rule], saved: SavedDecision | None) -> Verdict:
    deny, permit, ask = (_first(rules, effect, scope) for effect in (DENY, PERMIT, ASK))
    approved = saved is not None and scope in saved.approved
    if deny is not None:
        beaten = permit.label if permit else saved.label if approved and saved else None
        also = f", overriding {beaten}'s permit" if beaten else ""
        return Verdict(scope, DENY, deny.label, f"denied by {deny.label}{also} (deny overrides)")
    if permit is not None:
        return Verdict(scope, PERMIT, permit.label, f"permitted by {permit.label}")
    if saved is not None and scope in saved.refused:
        return Verdict(scope, DENY, saved.label, f"refused by the owner ({saved.label})")
    if approved and saved is not None:
        return Verdict(scope, PERMIT, saved.label, f"approved by the owner ({saved.label})")
    if ask is not None:
        return Verdict(scope, ASK, ask.label, f"{ask.label} asks the owner")
    return Verdict(scope, DENY, None, "no policy covers it: deny")


def _ttl(rules: list[Rule], saved: SavedDecision | None, verdicts: tuple[Verdict, ...], *, default_ttl: int,
         now: int) -> tuple[int, str]:
    by_policy = {v.scope for v in verdicts if v.effect == PERMIT and v.by and v.by.startswith("policy")}
    by_grant = {v.scope for v in verdicts if v.effect == PERMIT and v.by and v.by.startswith("grant")}
    caps: list[tuple[int, str]] = [(default_ttl, "the AM default")]
    contributing = [r for r in rules if (r.effect == PERMIT and r.scopes & by_policy)
                    or (r.effect == ASK and r.scopes & by_grant)]
    for rule in contributing:
        if rule.max_ttl:
            caps.append((rule.max_ttl, f"{rule.label} max_ttl"))
        if rule.not_after is not None:
            caps.append((rule.not_after - now, f"{rule.label} not_after"))
    if by_grant and saved is not None and saved.max_ttl:
        caps.append((saved.max_ttl, f"{saved.label} max_ttl"))
    ttl, why = min(caps, key=lambda cap: cap[0])
    return ttl, why
