"""consumer_sdk.dpop: the consumer's key and proofs, checked by an independent verifier (PyJWT,
the RFC 7638 thumbprint recomputed by hand) and round-tripped through rs_middleware's checker."""

from __future__ import annotations

import json

import jwt as pyjwt
import pytest
from dpopkit import ath, jkt
from jwt.algorithms import ECAlgorithm

from consumer_sdk.dpop import DPoPKey, htu
from rs_middleware.dpop import DPoPNonces, InvalidDPoPProof, UseDPoPNonce, check_proof

NOW = 1_800_000_000.0
URL = "https://rs.example:8443/photos/1?size=big#top"


@pytest.fixture(scope="module")
def key() -> DPoPKey:
    return DPoPKey.generate()


def verify(proof: str) -> tuple[dict, dict]:  # type: ignore[type-arg]
    """PyJWT: the header, and the claims verified with the header's own jwk."""
    header = pyjwt.get_unverified_header(proof)
    public = ECAlgorithm.from_jwk(json.dumps(header["jwk"]))
    body = pyjwt.decode(proof, public, algorithms=["ES256"], options={"verify_iat": False})
    return header, body


def test_key_is_es256_with_a_public_jwk_and_its_thumbprint(key: DPoPKey) -> None:
    assert set(key.public_jwk) == {"kty", "crv", "x", "y"}
    assert (key.public_jwk["kty"], key.public_jwk["crv"]) == ("EC", "P-256")
    assert key.jkt == jkt(key.public_jwk)
    assert DPoPKey.generate().jkt != key.jkt


def test_proof_as_an_independent_verifier_sees_it(key: DPoPKey) -> None:
    header, body = verify(key.proof("get", URL, now=NOW + 0.9))
    assert header == {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.public_jwk}
    assert body["htm"] == "GET" and body["htu"] == "https://rs.example:8443/photos/1"
    assert body["iat"] == int(NOW) and isinstance(body["jti"], str) and len(body["jti"]) >= 16
    assert "ath" not in body and "nonce" not in body


def test_fresh_jti_each_time(key: DPoPKey) -> None:
    jtis = {verify(key.proof("GET", URL, now=NOW))[1]["jti"] for _ in range(50)}
    assert len(jtis) == 50


def test_ath_and_nonce_when_given(key: DPoPKey) -> None:
    token = "eyJ.the-access.token"
    _, body = verify(key.proof("GET", URL, access_token=token, nonce="n-1", now=NOW))
    assert body["ath"] == ath(token) and body["nonce"] == "n-1"


def test_htu_drops_query_and_fragment_only() -> None:
    assert htu("https://rs.example:8443/a/b?x=1#f") == "https://rs.example:8443/a/b"
    assert htu("http://127.0.0.1:8080/") == "http://127.0.0.1:8080/"


def test_round_trip_through_the_checker(key: DPoPKey) -> None:
    token = "eyJ.the-access.token"
    proof = key.proof("GET", URL, access_token=token, now=NOW)
    result = check_proof(proof, method="GET", url="https://rs.example:8443/photos/1", now=NOW, access_token=token)
    assert result.jkt == key.jkt
    with pytest.raises(InvalidDPoPProof):
        check_proof(proof, method="POST", url="https://rs.example:8443/photos/1", now=NOW, access_token=token)
    with pytest.raises(InvalidDPoPProof):
        check_proof(proof, method="GET", url="https://rs.example:8443/photos/1", now=NOW, access_token="other")


def test_round_trip_with_a_server_nonce(key: DPoPKey) -> None:
    nonces = DPoPNonces(b"n" * 32)
    token_url = "https://am.example/token"
    with pytest.raises(UseDPoPNonce) as info:
        check_proof(key.proof("POST", token_url, now=NOW), method="POST", url=token_url, now=NOW, nonces=nonces)
    retry = key.proof("POST", token_url, nonce=info.value.nonce, now=NOW)  # the SDK's one retry
    assert check_proof(retry, method="POST", url=token_url, now=NOW, nonces=nonces).jkt == key.jkt


def test_jwk_round_trip_for_the_credential_store(key: DPoPKey) -> None:
    stored = json.loads(json.dumps(key.to_jwk()))  # what the 0600 file keeps
    assert set(stored) == {"kty", "crv", "x", "y", "d"}
    again = DPoPKey.from_jwk(stored)
    assert again.jkt == key.jkt and again.public_jwk == key.public_jwk
    header, _ = verify(again.proof("GET", URL, now=NOW))
    assert header["jwk"] == key.public_jwk


@pytest.mark.parametrize("bad", [
    {"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"},  # public only
    {"kty": "EC", "crv": "P-384", "x": "AAAA", "y": "AAAA", "d": "AAAA"},
    {"kty": "OKP", "crv": "Ed25519", "x": "AAAA", "d": "AAAA"},
    {"kty": "EC", "crv": "P-256", "x": "!!", "y": "??", "d": "AAAA"},
    {},
])
def test_from_jwk_refuses_what_is_not_a_private_p256_key(bad: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError):
        DPoPKey.from_jwk(bad)


def test_private_key_never_in_repr(key: DPoPKey) -> None:
    assert key.to_jwk()["d"] not in repr(key) and key.jkt in repr(key)
