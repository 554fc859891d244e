"""Client authentication by request signature, with the consumer secret ``cks`` as HMAC key.

Two encodings of ProtectServe's "sign using cks" are accepted:

* :mod:`.rfc9421` — HTTP Message Signatures, ``hmac-sha256``.
* :mod:`.rfc5849` — OAuth 1.0a, ``HMAC-SHA256`` (the 2009-era signature).

Both only *verify*: parsing and HMAC comparison are delegated to well-kept libraries
(``http-message-signatures`` and ``oauthlib``). Freshness and replay are decided by the caller
with the values returned here (``created`` within the window of the AM's clock, and an RFC 9421
``expires`` after it). Every failure raises :class:`~authmanager.errors.InvalidClient`,
whose body is the same whatever the cause.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Awaitable, Callable, Mapping

from ..errors import InvalidClient
from . import rfc5849, rfc9421

SecretLookup = Callable[[str], Awaitable[str | None]]

METHODS = {
    "http_message_signature_hmac_sha256": "RFC 9421 HTTP Message Signatures, hmac-sha256",
    "oauth1_hmac_sha256": "RFC 5849 OAuth 1.0a, HMAC-SHA256",
}


@dataclass(frozen=True, slots=True)
class RequestView:
    """What a verifier needs of an HTTP request. ``url`` is the endpoint URL as published by the
    AM (from configuration), never rebuilt from the request's Host header. ``form`` is the body
    as the endpoint parsed it (:func:`authmanager.endpoints.forms.parse_form`), the very
    parameters it acts on: RFC 5849 signs those, never a second reading of ``body``."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes
    header_lines: tuple[tuple[str, str], ...] = ()
    form: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class VerifiedSignature:
    client_id: str
    nonce: str
    created: int
    method: str
    #: RFC 9421 §2.3 ``expires``, when the signer set one (already checked to be after now).
    expires: int | None = None


async def verify(
    request: RequestView, lookup_secret: SecretLookup, *, now: float, window: int
) -> VerifiedSignature:
    """Verify whichever signature the request carries; exactly one must be present."""
    has_9421 = "Signature-Input" in request.headers or "Signature" in request.headers
    has_5849 = request.headers.get("Authorization", "").lstrip().lower().startswith("oauth ") or (
        "oauth_signature" in (request.form or {})
    )
    if has_9421 == has_5849:
        raise InvalidClient("no signature" if not has_9421 else "two signature methods at once")
    if has_9421:
        result = await rfc9421.verify(request, lookup_secret)
    else:
        result = await rfc5849.verify(request, lookup_secret)
    client_id, nonce, created, expires, method = result
    if not nonce or len(nonce) > 128:
        raise InvalidClient("missing or oversized nonce")
    if abs(now - created) > window:
        raise InvalidClient("stale or future timestamp")
    if expires is not None and expires <= now:  # RFC 9421 §2.3, against the AM's clock
        raise InvalidClient("signature expired")
    return VerifiedSignature(client_id=client_id, nonce=nonce, created=created, method=method, expires=expires)
