"""rs_middleware.dpop: the RFC 9449 §4.3 proof check, one test per check, with proofs built
independently (PyJWT, or by hand in tests/dpopkit.py) — never by consumer_sdk."""

from __future__ import annotations

import gc
import json
import tracemalloc

import jwt as pyjwt
import pytest
from dpopkit import (
    RFC7638_JWK,
    RFC7638_THUMBPRINT,
    RFC9449_ATH,
    RFC9449_IAT,
    RFC9449_JKT,
    RFC9449_PROOF,
    RFC9449_TOKEN,
    ProofKey,
    ath,
    b64url,
    claims,
    hand_proof,
    header_for,
    jkt,
    part,
    pyjwt_proof,
)

from rs_middleware.dpop import (
    SUPPORTED_ALGORITHMS,
    DPoPNonces,
    InvalidDPoPProof,
    ReplayCache,
    ReplayCacheFull,
    UseDPoPNonce,
    access_token_hash,
    check_proof,
    thumbprint,
)
from rs_middleware.dpop import proof as proof_module

NOW = 1_800_000_000.0
URL = "https://rs.example:8443/photos/1"


@pytest.fixture(scope="module")
def es() -> ProofKey:
    return ProofKey.es256()


def check(proof: str, **kw):  # type: ignore[no-untyped-def]
    kw.setdefault("method", "GET")
    kw.setdefault("url", URL)
    kw.setdefault("now", NOW)
    return check_proof(proof, **kw)


def refused(proof: str, fragment: str, **kw) -> InvalidDPoPProof:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidDPoPProof) as info:
        check(proof, **kw)
    assert fragment in info.value.description, info.value.description
    assert info.value.error == "invalid_dpop_proof"
    return info.value


# --- valid proofs ---------------------------------------------------------------------------


def test_rfc9449_example_proof_is_accepted_with_its_published_thumbprint() -> None:
    result = check_proof(RFC9449_PROOF, method="POST", url="https://server.example.com/token",
                         now=RFC9449_IAT + 10)
    assert (result.jkt, result.jti, result.iat, result.alg) == (RFC9449_JKT, "-BwC3ESc6acc2lTc", RFC9449_IAT, "ES256")
    assert result.replay_until == RFC9449_IAT + 60
    assert not result.key.is_private


def test_es256_proof_from_pyjwt_returns_what_the_caller_needs(es: ProofKey) -> None:
    body = claims("GET", URL, now=NOW)
    result = check(pyjwt_proof(es, body))
    assert result.jkt == jkt(es.jwk) == thumbprint(es.jwk)
    assert (result.jti, result.iat, result.replay_until) == (body["jti"], NOW, NOW + 60)
    assert result.key.as_dict(private=False)["x"] == es.jwk["x"] and not result.key.is_private


def test_eddsa_ed25519_proof_from_pyjwt_is_accepted() -> None:
    key = ProofKey.ed25519()
    result = check(pyjwt_proof(key, claims("GET", URL, now=NOW)))
    assert (result.alg, result.jkt) == ("EdDSA", jkt(key.jwk))


def test_rfc9864_ed25519_alg_proof_by_hand_is_accepted() -> None:
    key = ProofKey.ed25519(alg="Ed25519")
    result = check(hand_proof(header_for(key), claims("GET", URL, now=NOW), key=key))
    assert (result.alg, result.jkt) == ("Ed25519", jkt(key.jwk))


def test_the_same_key_for_many_proofs_each_checked_in_full(es: ProofKey) -> None:
    """The per-process key memo never skips a check: a known key with a bad signature fails."""
    first = pyjwt_proof(es, claims("GET", URL, now=NOW))
    assert check(first).jkt == check(pyjwt_proof(es, claims("GET", URL, now=NOW))).jkt
    head, _, sig = first.split(".")
    forged = f"{head}.{part(claims('GET', URL, now=NOW))}.{sig}"
    refused(forged, "signature does not verify")


# --- size caps, before any decoding -----------------------------------------------------------


def test_oversized_proof_is_refused_before_decoding(es: ProofKey) -> None:
    refused("A" * 4097, "too large")  # not even a JWS: refused for its size alone
    big = pyjwt_proof(es, claims("GET", URL, now=NOW, pad="x" * 4000))
    refused(big, "too large")
    small = pyjwt_proof(es, claims("GET", URL, now=NOW))
    refused(small, "too large", max_length=len(small) - 1)
    check(small, max_length=len(small))


def test_oversized_protected_header_is_refused(es: ProofKey) -> None:
    proof = hand_proof(header_for(es, kid="k" * 900), claims("GET", URL, now=NOW), key=es)
    assert len(proof) < 4096
    refused(proof, "too large")


# --- §4.3 step 2: a single, well-formed JWT -----------------------------------------------------


@pytest.mark.parametrize("value", [
    "", "abc", "a.b", "a.b.c.d", "a.b.c.d.e", "..", "!!!.e30.e30",
    part("[]") + "." + part({}) + ".AAAA",  # header is not an object
    part("{not json") + "." + part({}) + ".AAAA",
    "eyJ0eXAiOiJkcG9wK2p3dCJ9=.e30.AAAA",  # padded base64
])
def test_malformed_jws_is_refused(value: str) -> None:
    with pytest.raises(InvalidDPoPProof):
        check(value)


def test_non_ascii_proof_is_refused(es: ProofKey) -> None:
    refused(pyjwt_proof(es, claims("GET", URL, now=NOW)) + "é", "well-formed")


@pytest.mark.parametrize("body", ["[1, 2]", "not json", '"a string"'])
def test_payload_that_is_not_a_json_object_is_refused(es: ProofKey, body: str) -> None:
    with pytest.raises(InvalidDPoPProof):
        check(hand_proof(header_for(es), body, key=es))


# --- §4.3 step 4: typ ------------------------------------------------------------------------


@pytest.mark.parametrize("typ", [None, "JWT", "DPoP+JWT", "application/dpop+jwt", "at+jwt"])
def test_typ_other_than_dpop_jwt_is_refused(es: ProofKey, typ: str | None) -> None:
    refused(hand_proof(header_for(es, typ=typ), claims("GET", URL, now=NOW), key=es), "typ")


# --- §4.3 step 5: alg ------------------------------------------------------------------------


def test_alg_none_is_refused(es: ProofKey) -> None:
    proof = hand_proof(header_for(es, alg="none"), claims("GET", URL, now=NOW), signature="")
    refused(proof, "alg is not allowed")


def test_symmetric_hs256_is_refused(es: ProofKey) -> None:
    secret = b"s" * 32
    proof = pyjwt.encode(claims("GET", URL, now=NOW), secret, algorithm="HS256",
                         headers={"typ": "dpop+jwt", "jwk": {"kty": "oct", "k": b64url(secret)}})
    refused(proof, "alg is not allowed")
    # ... even with an asymmetric public jwk beside it
    proof = pyjwt.encode(claims("GET", URL, now=NOW), secret, algorithm="HS256",
                         headers={"typ": "dpop+jwt", "jwk": es.jwk})
    refused(proof, "alg is not allowed")


@pytest.mark.parametrize("make", [ProofKey.rsa, ProofKey.es384])
def test_asymmetric_algs_outside_the_allow_list_are_refused(make) -> None:  # type: ignore[no-untyped-def]
    key = make()
    refused(pyjwt_proof(key, claims("GET", URL, now=NOW)), "alg is not allowed")


def test_the_allow_list_is_the_callers_and_only_narrows() -> None:
    key = ProofKey.ed25519()
    proof = pyjwt_proof(key, claims("GET", URL, now=NOW))
    refused(proof, "alg is not allowed", algorithms=("ES256",))
    with pytest.raises(ValueError):
        check(proof, algorithms=("ES256", "HS256"))
    assert SUPPORTED_ALGORITHMS == ("ES256", "EdDSA", "Ed25519")


# --- §4.3 step 7: the jwk is a public key of the alg's type ----------------------------------------


def test_missing_jwk_is_refused(es: ProofKey) -> None:
    refused(hand_proof(header_for(es, jwk=None), claims("GET", URL, now=NOW), key=es), "jwk")


def test_jwk_that_is_not_an_object_is_refused(es: ProofKey) -> None:
    refused(hand_proof(header_for(es, jwk="x"), claims("GET", URL, now=NOW), key=es), "jwk")


def test_private_jwk_is_refused(es: ProofKey) -> None:
    proof = pyjwt_proof(es, claims("GET", URL, now=NOW), jwk=es.private_jwk)
    refused(proof, "private")
    refused(proof, "private")  # refused again: a refused header is never remembered
    ed = ProofKey.ed25519()
    refused(pyjwt_proof(ed, claims("GET", URL, now=NOW), jwk=ed.private_jwk), "private")


def test_symmetric_member_in_jwk_is_refused(es: ProofKey) -> None:
    proof = pyjwt_proof(es, claims("GET", URL, now=NOW), jwk={**es.jwk, "k": "AAAA"})
    refused(proof, "private or symmetric")


def test_jwk_of_the_wrong_key_type_is_refused(es: ProofKey) -> None:
    ed = ProofKey.ed25519()
    # an EC key named for an EdDSA signature, and an OKP key for ES256 (each signed correctly)
    refused(hand_proof(header_for(ed, jwk=es.jwk), claims("GET", URL, now=NOW), key=ed), "OKP/Ed25519")
    refused(hand_proof(header_for(es, jwk=ed.jwk), claims("GET", URL, now=NOW), key=es), "EC/P-256")
    p384 = ProofKey.es384()
    refused(hand_proof(header_for(es, jwk=p384.jwk), claims("GET", URL, now=NOW), key=es), "EC/P-256")


def test_eddsa_with_an_ed448_key_is_refused() -> None:
    key = ProofKey.ed448()
    refused(pyjwt_proof(key, claims("GET", URL, now=NOW)), "OKP/Ed25519")


def test_jwk_point_not_on_the_curve_is_refused(es: ProofKey) -> None:
    bad = {**es.jwk, "y": es.jwk["x"]}
    refused(hand_proof(header_for(es, jwk=bad), claims("GET", URL, now=NOW), key=es), "not a valid public key")


def test_key_reference_headers_are_refused(es: ProofKey) -> None:
    for name, value in (("jku", "https://attacker.example/jwks"), ("x5c", ["MIIB"]), ("x5u", "https://a.example/c")):
        with pytest.raises(InvalidDPoPProof):
            check(hand_proof(header_for(es, **{name: value}), claims("GET", URL, now=NOW), key=es))


# --- §4.3 step 6: the signature verifies with the jwk ----------------------------------------------


def test_signature_by_another_key_is_refused(es: ProofKey) -> None:
    other = ProofKey.es256()
    refused(pyjwt_proof(other, claims("GET", URL, now=NOW), jwk=es.jwk), "signature does not verify")


def test_tampered_and_truncated_signatures_are_refused(es: ProofKey) -> None:
    head, body, sig = pyjwt_proof(es, claims("GET", URL, now=NOW)).split(".")
    with pytest.raises(InvalidDPoPProof):
        check(f"{head}.{body}.{sig[:-4]}")
    with pytest.raises(InvalidDPoPProof):
        check(f"{head}.{body}.{sig[:-2]}{'A' if sig[-2] != 'A' else 'B'}{sig[-1]}")
    with pytest.raises(InvalidDPoPProof):
        check(f"{head}.{body}.")


# --- §4.3 step 3: required claims, typed ------------------------------------------------------


@pytest.mark.parametrize("name", ["jti", "htm", "htu", "iat"])
def test_missing_claim_is_refused(es: ProofKey, name: str) -> None:
    refused(pyjwt_proof(es, claims("GET", URL, now=NOW, **{name: None})), f"{name} claim is missing")


@pytest.mark.parametrize(("name", "value"), [
    ("jti", 12345), ("jti", ""), ("jti", "j" * 129), ("jti", ["a"]),
    ("htm", ["GET"]), ("htm", 1), ("htu", 443), ("htu", {"u": URL}),
    ("iat", str(int(NOW))), ("iat", True), ("iat", None),
])
def test_claim_of_the_wrong_type_is_refused(es: ProofKey, name: str, value: object) -> None:
    body = claims("GET", URL, now=NOW)
    body[name] = value
    refused(hand_proof(header_for(es), body, key=es), f"{name} claim")


def test_iat_that_is_not_finite_is_refused(es: ProofKey) -> None:
    body = json.dumps(claims("GET", URL, now=NOW, iat=0)).replace('"iat": 0', '"iat": NaN')
    assert "NaN" in body
    refused(hand_proof(header_for(es), body, key=es), "iat claim")


# --- §4.3 step 8: htm ------------------------------------------------------------------------


def test_htm_other_than_the_request_method_is_refused(es: ProofKey) -> None:
    refused(pyjwt_proof(es, claims("GET", URL, now=NOW)), "htm", method="POST")
    refused(pyjwt_proof(es, claims("get", URL, now=NOW)), "htm", method="GET")  # methods are case-sensitive


# --- §4.3 step 9: htu ------------------------------------------------------------------------


@pytest.mark.parametrize("htu", [
    "https://other.example:8443/photos/1",  # host
    "https://rs.example/photos/1",  # port (443, not 8443)
    "https://rs.example:8444/photos/1",
    "http://rs.example:8443/photos/1",  # scheme
    "https://rs.example:8443/photos/2",  # path
    "https://rs.example:8443/photos/1/",
    "https://rs.example:8443/photos",
    "https://user@rs.example:8443/photos/1",
    "/photos/1", "rs.example:8443/photos/1", "ftp://rs.example:8443/photos/1", "https://",
])
def test_htu_other_than_the_configured_url_is_refused(es: ProofKey, htu: str) -> None:
    refused(pyjwt_proof(es, claims("GET", htu, now=NOW)), "htu")


@pytest.mark.parametrize(("htu", "url"), [
    (URL + "?size=big", URL),  # the proof's query and fragment are ignored ...
    (URL + "#top", URL),
    (URL, URL + "?size=big#x"),  # ... and so are the configured URL's
    ("HTTPS://RS.Example:8443/photos/1", URL),  # §6.2.2.1 case of scheme and host
    ("https://rs.example:443/token", "https://rs.example/token"),  # §6.2.3 default port
    ("http://rs.example:80/token", "http://rs.example/token"),
    ("https://rs.example", "https://rs.example/"),  # §6.2.3 empty path is "/"
    ("https://rs.example/a%2fb", "https://rs.example/a%2Fb"),  # §6.2.2.1 percent-encoding case
    ("https://rs.example/%7Euser/%41", "https://rs.example/~user/A"),  # §6.2.2.2 unreserved
    ("https://rs.example/a/./b/../c", "https://rs.example/a/c"),  # §6.2.2.3 dot segments
    ("https://[::1]:443/x", "https://[::1]/x"),
])
def test_htu_equal_after_normalisation_is_accepted(es: ProofKey, htu: str, url: str) -> None:
    check(pyjwt_proof(es, claims("GET", htu, now=NOW)), url=url)


def test_encoded_slash_is_not_a_path_separator(es: ProofKey) -> None:
    refused(pyjwt_proof(es, claims("GET", "https://rs.example/a%2Fb", now=NOW)), "htu", url="https://rs.example/a/b")


# --- §4.3 step 11: iat within the window -------------------------------------------------------


def test_iat_window_past_and_future(es: ProofKey) -> None:
    check(pyjwt_proof(es, claims("GET", URL, now=NOW - 60)))
    refused(pyjwt_proof(es, claims("GET", URL, now=NOW - 61)), "too old")
    check(pyjwt_proof(es, claims("GET", URL, now=NOW + 5)))
    refused(pyjwt_proof(es, claims("GET", URL, now=NOW + 6)), "future")


def test_iat_window_is_configurable(es: ProofKey) -> None:
    old = pyjwt_proof(es, claims("GET", URL, now=NOW - 200))
    result = check(old, max_age=300)
    assert result.replay_until == NOW - 200 + 300
    refused(old, "too old", max_age=100)
    ahead = pyjwt_proof(es, claims("GET", URL, now=NOW + 30))
    check(ahead, max_ahead=30)
    refused(ahead, "future", max_ahead=29)


# --- §4.3 step 12 / §4.2: ath with an access token ------------------------------------------------


def test_ath_is_base64url_sha256_of_the_token() -> None:
    assert access_token_hash(RFC9449_TOKEN) == RFC9449_ATH == ath(RFC9449_TOKEN)


def test_ath_required_and_matched_with_an_access_token(es: ProofKey) -> None:
    token = "eyJ.access.token"
    check(pyjwt_proof(es, claims("GET", URL, now=NOW, ath=ath(token))), access_token=token)
    refused(pyjwt_proof(es, claims("GET", URL, now=NOW)), "ath claim is missing", access_token=token)
    refused(pyjwt_proof(es, claims("GET", URL, now=NOW, ath=ath("another"))), "ath does not match", access_token=token)
    refused(pyjwt_proof(es, claims("GET", URL, now=NOW, ath=42)), "ath claim", access_token=token)
    refused(pyjwt_proof(es, claims("GET", URL, now=NOW, ath=ath(token))), "ath does not match", access_token="tøken")
    # at the token endpoint there is no access token: ath is not asked for
    check(pyjwt_proof(es, claims("POST", URL, now=NOW, ath=ath(token))), method="POST")


# --- §4.3 step 10: server nonces (§8, §9) ------------------------------------------------------------


@pytest.fixture
def nonces() -> DPoPNonces:
    return DPoPNonces(b"k" * 32, step=300)


def test_nonce_required_when_the_server_uses_them(es: ProofKey, nonces: DPoPNonces) -> None:
    with pytest.raises(UseDPoPNonce) as info:
        check(pyjwt_proof(es, claims("GET", URL, now=NOW)), nonces=nonces)
    assert info.value.error == "use_dpop_nonce" and "required" in info.value.description
    assert info.value.nonce == nonces.issue(NOW)
    check(pyjwt_proof(es, claims("GET", URL, now=NOW, nonce=info.value.nonce)), nonces=nonces)


def test_wrong_nonce_gets_a_fresh_one(es: ProofKey, nonces: DPoPNonces) -> None:
    other = DPoPNonces(b"o" * 32, step=300)
    for wrong in ("made-up", other.issue(NOW)):
        with pytest.raises(UseDPoPNonce) as info:
            check(pyjwt_proof(es, claims("GET", URL, now=NOW, nonce=wrong)), nonces=nonces)
        assert info.value.nonce == nonces.issue(NOW) != wrong and "stale" in info.value.description


def test_previous_step_nonce_accepted_older_refused(es: ProofKey, nonces: DPoPNonces) -> None:
    earlier = NOW - 300
    previous, older, later = nonces.issue(earlier), nonces.issue(NOW - 600), nonces.issue(NOW + 300)
    assert len({previous, older, later, nonces.issue(NOW)}) == 4
    check(pyjwt_proof(es, claims("GET", URL, now=NOW, nonce=previous)), nonces=nonces)
    for stale in (older, later):
        with pytest.raises(UseDPoPNonce):
            check(pyjwt_proof(es, claims("GET", URL, now=NOW, nonce=stale)), nonces=nonces)


def test_nonce_of_the_wrong_type_is_invalid(es: ProofKey, nonces: DPoPNonces) -> None:
    refused(pyjwt_proof(es, claims("GET", URL, now=NOW, nonce=123)), "nonce", nonces=nonces)


def test_use_dpop_nonce_only_for_an_otherwise_valid_proof(es: ProofKey, nonces: DPoPNonces) -> None:
    """A bad proof without nonce is invalid_dpop_proof, not an invitation to retry."""
    refused(pyjwt_proof(es, claims("GET", URL, now=NOW)), "htm", method="POST", nonces=nonces)
    refused(pyjwt_proof(es, claims("GET", URL, now=NOW - 61)), "too old", nonces=nonces)


def test_nonce_ignored_when_the_server_does_not_use_them(es: ProofKey) -> None:
    check(pyjwt_proof(es, claims("GET", URL, now=NOW, nonce="anything")))


def test_nonces_need_no_shared_state_and_a_real_key() -> None:
    a, b = DPoPNonces(b"s" * 32), DPoPNonces(b"s" * 32)  # two processes, one key
    assert a.issue(NOW) == b.issue(NOW) and b.accepts(a.issue(NOW), NOW)
    assert DPoPNonces(b"s" * 32, context="sp").issue(NOW) != a.issue(NOW)
    assert len(a.issue(NOW)) == 43 and not a.accepts(None, NOW) and not a.accepts("é", NOW)
    with pytest.raises(ValueError):
        DPoPNonces(b"short")


# --- RFC 7638 thumbprints --------------------------------------------------------------------


def test_thumbprint_is_rfc7638s_example_value() -> None:
    assert thumbprint(RFC7638_JWK) == RFC7638_THUMBPRINT
    bare = {name: RFC7638_JWK[name] for name in ("kty", "n", "e")}
    assert thumbprint(bare) == RFC7638_THUMBPRINT  # optional members (alg, kid) are not covered
    with pytest.raises(ValueError):
        thumbprint({"kty": "EC", "crv": "P-256"})


def test_errors_of_joserfc_never_escape(es: ProofKey) -> None:
    """Whatever the input, the caller sees InvalidDPoPProof (or UseDPoPNonce), nothing else."""
    header = header_for(es)
    for mutate in ({"crit": ["exp"]}, {"b64": False}, {"alg": 5}, {"kid": 7}, {"jwk": {"kty": "EC"}},
                   {"jwk": {"kty": "EC", "crv": "P-256", "x": "!!", "y": "??"}}):
        with pytest.raises(InvalidDPoPProof):
            check(hand_proof({**header, **mutate}, claims("GET", URL, now=NOW), key=es))


def test_key_memo_is_bounded(es: ProofKey, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(proof_module, "KEY_MEMO_SIZE", 3)
    monkeypatch.setattr(proof_module, "_keys", {})
    for _ in range(7):
        key = ProofKey.es256()
        check(pyjwt_proof(key, claims("GET", URL, now=NOW)))
        assert len(proof_module._keys) <= 3


# --- ReplayCache: the SP's per-process jti memory (§11.1) --------------------------------------


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_replay_cache_claims_once_then_forgets_after_the_window() -> None:
    clock = FakeClock(NOW)
    cache = ReplayCache(now=clock)
    assert cache.claim("j1", NOW + 60) is True
    assert cache.claim("j1", NOW + 60) is False and cache.replays == 1
    clock.now = NOW + 60  # still inside: until is inclusive
    assert cache.claim("j1", NOW + 60) is False
    clock.now = NOW + 60.5  # its proof would fail the iat check now: forgotten
    assert cache.claim("other", NOW + 120) is True
    assert len(cache) == 1 and cache.claim("j1", NOW + 120.5) is True


def test_replay_cache_is_bounded_and_never_forgets_a_live_entry() -> None:
    clock = FakeClock(NOW)
    cache = ReplayCache(max_entries=3, now=clock)
    for i, until in enumerate((NOW + 10, NOW + 60, NOW + 60)):
        assert cache.claim(f"j{i}", until)
    with pytest.raises(ReplayCacheFull):
        cache.claim("j3", NOW + 60)
    assert cache.refusals == 1 and len(cache) == 3
    assert cache.claim("j0", NOW + 10) is False  # the full cache still knows every live jti
    clock.now = NOW + 11  # j0's window is over: room for one
    assert cache.claim("j3", NOW + 60) is True and len(cache) == 3
    assert cache.claim("past", NOW) is True and len(cache) == 3  # already outside any window


def test_replay_cache_with_real_proofs(es: ProofKey) -> None:
    cache = ReplayCache(now=lambda: NOW)
    proof = pyjwt_proof(es, claims("GET", URL, now=NOW))
    first = check(proof)
    assert cache.claim(first.jti, first.replay_until)
    again = check(proof)  # check_proof itself never decides replay ...
    assert not cache.claim(again.jti, again.replay_until)  # ... the caller's cache does


def test_replay_cache_memory_per_entry_is_as_documented() -> None:
    """The docstring's figure (about 200 bytes per entry, jti string included), measured."""
    entries = 10_000
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        cache = ReplayCache(max_entries=entries, now=lambda: NOW)
        for i in range(entries):
            cache.claim(b64url(i.to_bytes(16, "big")), NOW + 60)  # 22 characters, like token_urlsafe(16)
        per_entry = (tracemalloc.get_traced_memory()[0] - base) / entries
    finally:
        tracemalloc.stop()
    assert len(cache) == entries
    assert 120 < per_entry < 260, per_entry


@pytest.mark.parametrize("members", [{"use": "enc"}, {"alg": "ES384"}, {"key_ops": ["sign"]}])
def test_jwk_meant_for_something_else_is_refused(es: ProofKey, members: dict) -> None:  # type: ignore[type-arg]
    proof = hand_proof(header_for(es, jwk={**es.jwk, **members}), claims("GET", URL, now=NOW), key=es)
    refused(proof, "jwk does not fit alg")
