"""The policy evaluator (authmanager/policy.py), pure: ordering, deny overrides, intersection,
validity windows on an injected ``now``, TTL caps, subjects, ask, saved grants and explanations."""

import pytest

from authmanager.policy import Requester, Rule, SavedDecision, evaluate

NOW = 1_800_000_000
ALICE = Requester(client_id="ck-alice")
BOB_URL = "https://bob.example/"


def rule(id, effect, scopes, consumer="*", **kw):
    return Rule(id=id, effect=effect, scopes=frozenset(scopes.split()), consumer=consumer, **kw)


def decide(rules, scopes, *, requester=ALICE, saved=None, now=NOW, default_ttl=900):
    return evaluate(rules, requester=requester, requested=frozenset(scopes.split()), default_ttl=default_ttl, now=now,
                    saved=saved)


def by(decision):
    return {v.scope: (v.effect, v.by) for v in decision.verdicts}


def test_nothing_matched_means_deny():
    d = decide([], "read")
    assert d.outcome == "deny" and not d.permitted and d.denied == {"read"}
    assert by(d) == {"read": ("deny", None)}
    assert d.reasons == ("read: no policy covers it: deny", "outcome deny: nothing requested is permitted")


def test_granted_is_requested_intersect_permitted():
    d = decide([rule(1, "permit", "read write")], "read admin")
    assert d.granted == {"read"} and d.denied == {"admin"} and d.outcome == "permit"


def test_deny_overrides_whatever_the_order():
    permit_first = decide([rule(1, "permit", "read write"), rule(2, "deny", "write")], "read write")
    deny_first = decide([rule(2, "deny", "write"), rule(1, "permit", "read write")], "read write")
    for d in (permit_first, deny_first):
        assert d.granted == {"read"} and by(d)["write"] == ("deny", "policy 2")
    assert "denied by policy 2, overriding policy 1's permit (deny overrides)" in permit_first.reasons[1]


def test_the_first_policy_in_order_is_named_as_the_decider():
    d = decide([rule(7, "permit", "read"), rule(3, "permit", "read write")], "read write")
    assert by(d) == {"read": ("permit", "policy 7"), "write": ("permit", "policy 3")}
    d = decide([rule(3, "permit", "read write"), rule(7, "permit", "read")], "read")
    assert by(d) == {"read": ("permit", "policy 3")}


def test_consumer_specific_policies_apply_only_to_that_consumer():
    rules = [rule(1, "permit", "read", consumer="ck-bob")]
    assert decide(rules, "read").outcome == "deny"
    assert decide(rules, "read", requester=Requester(client_id="ck-bob")).granted == {"read"}


def test_subject_policies_match_only_the_verified_subject():
    rules = [rule(1, "permit", "read", consumer=f"subject:{BOB_URL}")]
    assert decide(rules, "read", requester=Requester(subject=BOB_URL)).granted == {"read"}
    assert decide(rules, "read", requester=Requester(subject="https://eve.example/")).outcome == "deny"
    # a consumer key equal to the URL is not a verified subject
    assert decide(rules, "read", requester=Requester(client_id=BOB_URL)).outcome == "deny"
    # a policy naming the URL as a consumer key does not match the subject either
    assert decide([rule(2, "permit", "read", consumer=BOB_URL)], "read",
                  requester=Requester(subject=BOB_URL)).outcome == "deny"


@pytest.mark.parametrize("now, applies", [(NOW - 1, False), (NOW, True), (NOW + 99, True), (NOW + 100, False)])
def test_validity_window_is_not_before_inclusive_not_after_exclusive(now, applies):
    rules = [rule(1, "permit", "read", not_before=NOW, not_after=NOW + 100)]
    d = decide(rules, "read", now=now)
    assert d.permitted is applies
    if not applies:
        assert "policy 1 does not apply now: outside its validity window" in d.reasons


def test_a_deny_outside_its_window_does_not_deny():
    rules = [rule(1, "permit", "read"), rule(2, "deny", "read", not_after=NOW)]
    assert decide(rules, "read").granted == {"read"}
    assert decide(rules, "read", now=NOW - 1).outcome == "deny"


def test_ttl_is_the_smallest_cap_of_contributing_permits():
    rules = [rule(1, "permit", "read", max_ttl=300), rule(2, "permit", "read write", max_ttl=600),
             rule(3, "permit", "admin", max_ttl=10)]
    assert decide(rules, "write").ttl == 600
    assert decide(rules, "read write").ttl == 300  # policy 1 also covers a granted scope
    assert decide(rules, "read", default_ttl=120).ttl == 120
    assert decide(rules, "read write").reasons[-1] == "outcome permit: read write for 300 s (policy 1 max_ttl)"


def test_a_token_never_outlives_the_window_of_its_permit():
    d = decide([rule(1, "permit", "read", not_after=NOW + 42)], "read")
    assert d.ttl == 42 and d.reasons[-1].endswith("(policy 1 not_after)")


def test_ask_only_for_scopes_not_otherwise_permitted_and_not_denied():
    rules = [rule(1, "ask", "read write admin"), rule(2, "permit", "read"), rule(3, "deny", "admin")]
    d = decide(rules, "read write admin")
    assert d.outcome == "ask" and d.ask == {"write"} and d.granted == {"read"} and d.denied == {"admin"}
    assert by(d)["write"] == ("ask", "policy 1")
    assert d.reasons[-1] == "outcome ask: write awaits the owner"


def test_saved_grant_answers_the_question_and_new_scopes_are_asked():
    rules = [rule(1, "ask", "read write admin", max_ttl=200)]
    saved = SavedDecision(id=9, approved=frozenset({"read"}), refused=frozenset({"write"}))
    d = decide(rules, "read write", saved=saved)
    assert d.outcome == "permit" and d.granted == {"read"} and d.denied == {"write"} and not d.ask
    assert by(d) == {"read": ("permit", "grant 9"), "write": ("deny", "grant 9")}
    assert d.ttl == 200  # the ask policy's cap follows the scopes it asked about
    d = decide(rules, "read admin", saved=saved)
    assert d.ask == {"admin"} and d.granted == {"read"}


def test_deny_policies_override_saved_grants_and_permits_beat_refusals():
    saved = SavedDecision(id=4, approved=frozenset({"read"}), refused=frozenset({"write"}), max_ttl=60)
    d = decide([rule(1, "deny", "read"), rule(2, "permit", "write")], "read write", saved=saved)
    assert by(d) == {"read": ("deny", "policy 1"), "write": ("permit", "policy 2")}
    assert "overriding grant 4's permit" in d.reasons[0]
    assert d.ttl == 900  # the grant contributed nothing, so its max_ttl does not apply
    d = decide([], "read", saved=saved)
    assert d.granted == {"read"} and d.ttl == 60


def test_decision_as_dict_for_explain():
    d = decide([rule(1, "permit", "read", max_ttl=60), rule(2, "ask", "write")], "read write")
    assert d.as_dict() == {
        "outcome": "ask", "granted": ["read"], "ask": ["write"], "denied": [], "ttl": 60,
        "scopes": [{"scope": "read", "effect": "permit", "by": "policy 1", "reason": "permitted by policy 1"},
                   {"scope": "write", "effect": "ask", "by": "policy 2", "reason": "policy 2 asks the owner"}],
        "reasons": ["read: permitted by policy 1", "write: policy 2 asks the owner",
                    "outcome ask: write awaits the owner"]}


def test_rule_description():
    assert rule(5, "ask", "write read", consumer=f"subject:{BOB_URL}", max_ttl=60, not_after=NOW).describe() == (
        f"policy 5: ask read write for subject:{BOB_URL}, valid [-, {NOW}), max_ttl 60 s")
