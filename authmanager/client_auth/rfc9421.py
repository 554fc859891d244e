"""RFC 9421 HTTP Message Signatures with ``hmac-sha256`` (§3.3.3), keyed by ``cks``.

Required (RFC 9421 §2.3, §7.2.1): exactly one signature, covering at least ``"@method"``,
``"@target-uri"`` and ``"content-digest"`` (RFC 9530 §2, validated against the body), with
``created``, ``nonce`` and ``keyid`` (= ck) parameters. ``alg``, if present, must be
``hmac-sha256``; ``expires``, if present, must be an integer (the caller refuses it at or before
the AM's now: the library's own check reads the wall clock, so it is switched off with the skew). Parsing and verification are done by ``http_message_signatures``.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

import http_sf
from http_message_signatures import HTTPMessageVerifier, HTTPSignatureKeyResolver, algorithms
from http_message_signatures.exceptions import HTTPMessageSignaturesException

from ..errors import InvalidClient

if TYPE_CHECKING:
    from . import RequestView, SecretLookup

REQUIRED_COMPONENTS = ("@method", "@target-uri", "content-digest")
_REQUIRED_KEYS = frozenset(f'"{name}"' for name in REQUIRED_COMPONENTS)
METHOD = "http_message_signature_hmac_sha256"


class _OneKey(HTTPSignatureKeyResolver):
    def __init__(self, key_id: str, secret: str):
        self._key_id, self._secret = key_id, secret

    def resolve_public_key(self, key_id: str) -> bytes | None:
        return self._secret.encode() if key_id == self._key_id else None


class _Verifier(HTTPMessageVerifier):
    # Freshness (created, expires) is judged by the caller against the AM's (injectable) clock.
    max_clock_skew = datetime.timedelta(days=36500)


class _Message:
    """The request as http_message_signatures reads it: method, absolute url, header lines."""

    def __init__(self, request: "RequestView"):
        self.method = request.method.upper()
        self.url = request.url
        self.headers = _HeaderLines(request.header_lines or tuple(request.headers.items()))


class _HeaderLines:
    def __init__(self, lines: tuple[tuple[str, str], ...]):
        self._lines = lines

    def items(self) -> tuple[tuple[str, str], ...]:
        return self._lines

    def __iter__(self) -> Any:
        return iter(name for name, _ in self._lines)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(n.lower() == name.lower() for n, _ in self._lines)


def _signature_params(request: "RequestView") -> dict[str, Any]:
    """Read the single Signature-Input member's parameters (to find ``keyid`` before verifying)."""
    try:
        inputs = http_sf.parse(request.headers["Signature-Input"].encode(), tltype="dictionary")
    except Exception as exc:  # malformed structured field or missing header
        raise InvalidClient("malformed Signature-Input") from exc
    if len(inputs) != 1:
        raise InvalidClient("exactly one signature is required")
    (member, params), = inputs.values()
    if not isinstance(member, list):
        raise InvalidClient("Signature-Input member is not an inner list")
    return dict(params)


async def verify(request: "RequestView", lookup_secret: "SecretLookup") -> tuple[str, str, int, int | None, str]:
    params = _signature_params(request)
    key_id, nonce, created = params.get("keyid"), params.get("nonce"), params.get("created")
    if not isinstance(key_id, str) or not isinstance(nonce, str) or type(created) is not int:
        raise InvalidClient("keyid, nonce and created are required")
    expires = params.get("expires")
    if expires is not None and type(expires) is not int:
        raise InvalidClient("expires must be an integer")
    secret = await lookup_secret(key_id)
    if not secret:  # unknown, or a public client's empty secret: never an HMAC key
        raise InvalidClient("unknown consumer key")
    verifier = _Verifier(signature_algorithm=algorithms.HMAC_SHA256, key_resolver=_OneKey(key_id, secret))
    try:
        (result,) = verifier.verify(_Message(request), max_age=None, body=request.body)
    except HTTPMessageSignaturesException as exc:
        raise InvalidClient(f"signature rejected: {exc}") from exc
    # The coverage check the library leaves to the caller ("check returned coverage ... before
    # trusting message data"), on its own serialisation of the covered components: exactly the
    # required identifiers, unparameterised, or the request is refused.
    if not _REQUIRED_KEYS <= result.covered_components.keys():
        raise InvalidClient("the signature does not cover @method, @target-uri and content-digest")
    return key_id, nonce, created, expires, METHOD
