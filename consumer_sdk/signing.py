"""Signed client authentication for the token request (docs/protocol.md §5a, §5b).

Both methods are delegated to their reference libraries; nothing here builds a
signature base string or computes an HMAC by hand.

* ``rfc9421`` — RFC 9421 HTTP Message Signatures via ``http_message_signatures``:
  ``hmac-sha256`` (RFC 9421 §3.3.3) keyed with the UTF-8 bytes of cks,
  ``keyid`` = ck, covering ``("@method" "@target-uri" "content-digest")``
  (§2.2.1, §2.2.2) with ``created`` and ``nonce`` (§2.3), and a
  ``Content-Digest: sha-256=:…:`` of the body (RFC 9530 §2).
* ``rfc5849`` — OAuth 1.0a via ``oauthlib``: ``HMAC-SHA256`` in the
  ``Authorization: OAuth`` header (RFC 5849 §3.5.1); the form body parameters
  enter the signature base string (§3.4.1.3.1); the key is ``cks&`` (§3.4.2).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from http_message_signatures import HTTPMessageSigner, MappingKeyResolver, algorithms
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA256, SIGNATURE_TYPE_AUTH_HEADER, Client

SignatureMethod = Literal["rfc9421", "rfc5849"]

#: ``token_endpoint_auth_methods_supported`` names (docs/protocol.md §3).
AUTH_METHOD_NAMES: Mapping[str, str] = {
    "rfc9421": "http_message_signature_hmac_sha256",
    "rfc5849": "oauth1_hmac_sha256",
}

#: RFC 9421 components the AM requires (docs/protocol.md §5a).
COVERED_COMPONENTS = ("@method", "@target-uri", "content-digest")
SIGNATURE_LABEL = "sig1"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


@dataclass
class _Message:
    """The request view ``http_message_signatures`` resolves components from."""

    method: str
    url: str
    headers: dict[str, str]


def sign_rfc9421(
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    client_id: str,
    client_secret: str,
    created: int,
    nonce: str,
) -> dict[str, str]:
    """Return ``headers`` plus ``Content-Digest``, ``Signature-Input`` and ``Signature`` (RFC 9421 §4)."""
    message = _Message(method.upper(), url, dict(headers))
    signer = HTTPMessageSigner(
        signature_algorithm=algorithms.HMAC_SHA256,
        key_resolver=MappingKeyResolver(public_keys={}, private_keys={client_id: client_secret.encode("utf-8")}),
    )
    signer.sign(
        message,
        key_id=client_id,
        created=datetime.datetime.fromtimestamp(created, tz=datetime.UTC),
        nonce=nonce,
        label=SIGNATURE_LABEL,
        covered_component_ids=COVERED_COMPONENTS,
        body=body,  # the library adds Content-Digest (RFC 9530) and covers it
    )
    return message.headers


def sign_rfc5849(
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    client_id: str,
    client_secret: str,
    created: int,
    nonce: str,
) -> dict[str, str]:
    """Return ``headers`` plus ``Authorization: OAuth …`` (RFC 5849 §3.5.1); body params are signed."""
    client = Client(
        client_id,
        client_secret=client_secret,
        signature_method=SIGNATURE_HMAC_SHA256,
        signature_type=SIGNATURE_TYPE_AUTH_HEADER,
        nonce=nonce,
        timestamp=str(created),
    )
    sign_headers = {name: value for name, value in headers.items() if name.lower() != "content-type"}
    sign_headers["Content-Type"] = FORM_CONTENT_TYPE
    text = body.decode("utf-8")
    _, signed_headers, signed_body = client.sign(url, method.upper(), text, sign_headers)
    if signed_body != text:  # header signatures must not rewrite the body
        raise RuntimeError("oauthlib changed the request body while signing")
    return dict(signed_headers)


def sign_token_request(
    signature_method: SignatureMethod,
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    client_id: str,
    client_secret: str,
    created: int,
    nonce: str,
) -> dict[str, str]:
    """Sign a token request by ``signature_method``; returns the complete header set to send."""
    signers = {"rfc9421": sign_rfc9421, "rfc5849": sign_rfc5849}
    if signature_method not in signers:
        raise ValueError(f"unknown signature method {signature_method!r}")
    return signers[signature_method](
        method=method,
        url=url,
        headers=headers,
        body=body,
        client_id=client_id,
        client_secret=client_secret,
        created=created,
        nonce=nonce,
    )
