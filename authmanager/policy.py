"""The policy evaluator: pure, ordered, deterministic and explainable.

Rules, in the order the realm lists its policies:

1. A policy *matches* when its consumer is ``*`` or the requesting consumer key.
2. The permitted set is the union of the scopes of matching ``permit`` policies.
3. Deny overrides: scopes of matching ``deny`` policies are removed whatever the order.
4. The granted scope is ``requested ∩ permitted − denied``. Empty means the request is denied.
5. The token lifetime is the smallest ``max_ttl`` among the permits that contributed a granted
   scope, capped by the AM's default lifetime.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

EFFECTS = ("permit", "deny")


@dataclass(frozen=True, slots=True)
class Rule:
    id: int
    effect: str
    scopes: frozenset[str]
    consumer: str = "*"
    max_ttl: int | None = None

    def matches(self, consumer: str) -> bool:
        return self.consumer in ("*", consumer)


@dataclass(frozen=True, slots=True)
class Decision:
    granted: frozenset[str]
    ttl: int
    reasons: tuple[str, ...] = field(default=())

    @property
    def permitted(self) -> bool:
        return bool(self.granted)


def evaluate(rules: Iterable[Rule], *, consumer: str, requested: frozenset[str], default_ttl: int) -> Decision:
    permitted: set[str] = set()
    denied: set[str] = set()
    reasons: list[str] = []
    matching = [r for r in rules if r.matches(consumer)]
    for rule in matching:
        hit = rule.scopes & requested
        if not hit:
            continue
        (permitted if rule.effect == "permit" else denied).update(hit)
        reasons.append(f"policy {rule.id} ({rule.effect}) covers {' '.join(sorted(hit))}")
    granted = frozenset(requested & permitted - denied)
    if not reasons:
        reasons.append("no policy matched: deny")
    elif not granted:
        reasons.append("nothing left to grant: deny")
    ttls = [r.max_ttl for r in matching if r.effect == "permit" and r.max_ttl and r.scopes & granted]
    return Decision(granted=granted, ttl=min([default_ttl, *ttls]), reasons=tuple(reasons))
