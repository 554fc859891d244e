"""Signatures made by consumer_sdk.signing, checked by the verifying half of the same libraries."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import time
from urllib.parse import urlsplit

import pytest
from http_message_signatures import HTTPMessageVerifier, InvalidSignature, MappingKeyResolver, algorithms
from oauthlib.common import Request
from oauthlib.oauth1.rfc5849 import signature as oauth1_signature

from consumer_sdk.signing import AUTH_METHOD_NAMES, FORM_CONTENT_TYPE, sign_token_request

URL = "http://127.0.0.1:8080/token"
BODY = b"grant_type=client_credentials&sph=sph-1&scope=photos%3Aread%20photos%3Awrite"
CK, CKS = "ck-123", "Zm9vYmFyYmF6-_secret"
REQUIRED = ("@method", "@target-uri", "content-digest")


@dataclasses.dataclass
class Message:
    method: str
    url: str
    headers: dict[str, str]


def sign(method: str, *, body: bytes = BODY, created: int | None = None, nonce: str = "n-1", url: str = URL):
    return sign_token_request(
        method, method="POST", url=url, headers={"Content-Type": FORM_CONTENT_TYPE, "User-Agent": "t"},
        body=body, client_id=CK, client_secret=CKS, created=int(time.time()) if created is None else created,
        nonce=nonce,
    )


def verifier(key: bytes = CKS.encode()) -> HTTPMessageVerifier:
    return HTTPMessageVerifier(
        signature_algorithm=algorithms.HMAC_SHA256,
        key_resolver=MappingKeyResolver(public_keys={CK: key}, private_keys={}),
    )


# --- RFC 9421 ------------------------------------------------------------------------------------


def test_rfc9421_signature_verifies_and_covers_the_required_components():
    created = int(time.time())
    headers = sign("rfc9421", created=created)
    [result] = verifier().verify(Message("POST", URL, headers), body=BODY, require_components=REQUIRED)
    assert result.parameters == {"created": created, "keyid": CK, "alg": "hmac-sha256", "nonce": "n-1"}
    assert list(result.covered_components)[:3] == ['"@method"', '"@target-uri"', '"content-digest"']
    assert result.covered_components['"@target-uri"'] == URL
    assert result.body == BODY
    assert headers["Content-Type"] == FORM_CONTENT_TYPE and headers["User-Agent"] == "t"


def test_rfc9421_content_digest_is_sha256_of_the_body():
    expected = base64.b64encode(hashlib.sha256(BODY).digest()).decode()
    assert sign("rfc9421")["Content-Digest"] == f"sha-256=:{expected}:"


def test_rfc9421_a_changed_body_byte_fails():
    headers = sign("rfc9421")
    tampered = bytearray(BODY)
    tampered[-1] ^= 0x01
    with pytest.raises(InvalidSignature):
        verifier().verify(Message("POST", URL, headers), body=bytes(tampered), require_components=REQUIRED)


def test_rfc9421_a_changed_digest_header_fails_the_signature():
    headers = sign("rfc9421")
    other = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    headers["Content-Digest"] = f"sha-256=:{other}:"
    with pytest.raises(InvalidSignature):
        verifier().verify(Message("POST", URL, headers))


@pytest.mark.parametrize(
    "message",
    [
        lambda h: Message("PUT", URL, h),
        lambda h: Message("POST", "http://127.0.0.1:8080/token2", h),
        lambda h: Message("POST", "http://127.0.0.2:8080/token", h),
    ],
)
def test_rfc9421_a_changed_method_or_target_fails(message):
    with pytest.raises(InvalidSignature):
        verifier().verify(message(sign("rfc9421")), body=BODY)


def test_rfc9421_key_is_the_utf8_bytes_of_the_client_secret():
    with pytest.raises(InvalidSignature):
        verifier(key=base64.urlsafe_b64decode(CKS + "==")).verify(Message("POST", URL, sign("rfc9421")), body=BODY)


# --- RFC 5849 ------------------------------------------------------------------------------------


def oauth1_request(headers: dict[str, str], body: bytes, url: str = URL) -> Request:
    """Collect parameters the way oauthlib's server endpoints do (RFC 5849 §3.4.1.3)."""
    request = Request(url, "POST", body.decode(), headers)
    params = []
    params += oauth1_signature.collect_parameters(headers=headers, exclude_oauth_signature=False, with_realm=True)
    params += oauth1_signature.collect_parameters(body=body.decode(), exclude_oauth_signature=False)
    params += oauth1_signature.collect_parameters(uri_query=urlsplit(url).query, exclude_oauth_signature=False)
    request.signature = dict(params)["oauth_signature"]
    request.params = [(k, v) for k, v in params if k != "oauth_signature"]
    return request


def test_rfc5849_signature_verifies_with_the_body_parameters_in_the_base_string():
    created = int(time.time())
    headers = sign("rfc5849", created=created)
    request = oauth1_request(headers, BODY)
    assert oauth1_signature.verify_hmac_sha256(request, client_secret=CKS, resource_owner_secret=None)
    oauth = dict(oauth1_signature.collect_parameters(headers=headers, exclude_oauth_signature=False))
    assert oauth["oauth_consumer_key"] == CK
    assert oauth["oauth_signature_method"] == "HMAC-SHA256"
    assert oauth["oauth_timestamp"] == str(created)
    assert oauth["oauth_nonce"] == "n-1"
    assert oauth["oauth_version"] == "1.0"
    assert ("scope", "photos:read photos:write") in request.params and ("sph", "sph-1") in request.params
    assert "Signature-Input" not in headers and "Content-Digest" not in headers


def test_rfc5849_a_changed_body_byte_fails():
    headers = sign("rfc5849")
    tampered = BODY.replace(b"sph-1", b"sph-2")
    assert not oauth1_signature.verify_hmac_sha256(oauth1_request(headers, tampered), client_secret=CKS)


def test_rfc5849_wrong_secret_or_url_fails():
    headers = sign("rfc5849")
    assert not oauth1_signature.verify_hmac_sha256(oauth1_request(headers, BODY), client_secret=CKS + "x")
    moved = oauth1_request(headers, BODY, url="http://127.0.0.1:8080/other")
    assert not oauth1_signature.verify_hmac_sha256(moved, client_secret=CKS)


def test_rfc5849_protocol_parameters_only_in_the_header():
    headers = sign("rfc5849")
    assert headers["Authorization"].startswith("OAuth ")
    assert not [k for k, _ in oauth1_signature.collect_parameters(body=BODY.decode()) if k.startswith("oauth_")]


# --- both ----------------------------------------------------------------------------------------


def test_fresh_nonce_changes_the_signature():
    assert sign("rfc9421", nonce="a", created=1)["Signature"] != sign("rfc9421", nonce="b", created=1)["Signature"]
    assert sign("rfc5849", nonce="a", created=1)["Authorization"] != sign("rfc5849", nonce="b", created=1)["Authorization"]


def test_signing_is_deterministic_for_fixed_inputs():
    assert sign("rfc9421", created=5) == sign("rfc9421", created=5)
    assert sign("rfc5849", created=5) == sign("rfc5849", created=5)


def test_unknown_method_and_auth_method_names():
    with pytest.raises(ValueError):
        sign("hmac")  # type: ignore[arg-type]
    assert AUTH_METHOD_NAMES == {"rfc9421": "http_message_signature_hmac_sha256", "rfc5849": "oauth1_hmac_sha256"}
