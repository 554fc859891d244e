"""Client authentication: every method a consumer authenticates with, behind one interface.

:func:`verify` picks the method the request carries — exactly one (RFC 6749 §2.3: "The client
MUST NOT use more than one authentication method in each request"; two are ``invalid_client``)
— and answers a :class:`VerifiedSignature`:

* :mod:`.rfc9421` — HTTP Message Signatures, ``hmac-sha256``, keyed with cks;
* :mod:`.rfc5849` — OAuth 1.0a, ``HMAC-SHA256`` (the 2009-era signature), keyed with cks;
* :mod:`.jwt_assertion` — RFC 7523 §2.2 client assertions in the form: ``client_secret_jwt``
  (HS256 keyed with cks) and ``private_key_jwt`` (a registered public key, which then names
  itself in ``client_key_id`` and may carry a scope ceiling).

:mod:`.public` (``none``, a public client's ``client_id``) is the endpoints' alternative when a
request carries none of these (:func:`.public.carries_signature`).

Each only *verifies*: parsing and signature checks are delegated to well-kept libraries
(``http-message-signatures``, ``oauthlib``, ``joserfc``). Replay is decided by the caller with
the values returned here (``nonce`` — an assertion's ``jti`` — spent until ``expires`` or the
end of the window); the signatures' freshness (``created`` within the window of the AM's clock,
an RFC 9421 ``expires`` after it) is checked here, an assertion's by :mod:`.jwt_assertion`.
Every failure raises :class:`~authmanager.errors.InvalidClient`, whose body is the same
whatever the cause.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Awaitable, Callable, Mapping

from ..errors import InvalidClient
from ..identifiers import is_key, is_nonce, is_text
from . import jwt_assertion, rfc5849, rfc9421

SecretLookup = Callable[[str], Awaitable[str | None]]

#: The request-signature methods (keyed with cks). Registration defaults to the first.
METHODS = {
    "http_message_signature_hmac_sha256": "RFC 9421 HTTP Message Signatures, hmac-sha256",
    "oauth1_hmac_sha256": "RFC 5849 OAuth 1.0a, HMAC-SHA256",
}
#: The RFC 7523 assertion methods (:mod:`.jwt_assertion`).
JWT_METHODS = jwt_assertion.METHODS
#: Every method a consumer authenticates with at the token endpoint, but ``none``.
ALL_METHODS = {**METHODS, **JWT_METHODS}


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
    #: RFC 9421 §2.3 ``expires``, when the signer set one (already checked to be after now); for
    #: an RFC 7523 assertion its ``exp`` (accepted up to the window after it).
    expires: int | None = None
    #: RFC 7523 ``private_key_jwt``: the registered key (``client_keys.id``) that signed, and its
    #: scope ceiling (None: the key follows its consumer). The token obtained names the key
    #: (``access_tokens.client_key_id``) and never carries a scope beyond the ceiling.
    client_key_id: int | None = None
    scope_ceiling: tuple[str, ...] | None = None


async def verify(
    request: RequestView, lookup_secret: SecretLookup, *, now: float, window: int,
    lookup_assertion: jwt_assertion.ClientLookup | None = None, audiences: tuple[str, ...] = (),
) -> VerifiedSignature:
    """Verify whichever client authentication the request carries; exactly one must be present.

    An RFC 7523 assertion is accepted only where the caller passes ``lookup_assertion`` (the
    consumer's method, cks and live keys) and the ``audiences`` that identify the AM; the
    assertion's ``jti`` is the returned nonce.

    The key id (ck) must be a generated identifier (:func:`authmanager.identifiers.is_key`)
    before it is looked up, and the nonce 1-128 printable ASCII characters
    (:func:`~authmanager.identifiers.is_nonce`) before anyone may store it: any other value is
    the same ``invalid_client`` as a wrong signature, and never reaches the database."""

    async def lookup_key(client_id: str) -> str | None:
        # An empty secret is a public client's (token_endpoint_auth_method none): no key at all,
        # so its signed requests get the same invalid_client as an unknown key's.
        secret = await lookup_secret(client_id) if is_key(client_id) else None
        return secret or None

    # A header holding bytes that are not UTF-8 (a lone surrogate once decoded) cannot be part
    # of any signature base: refused before a verifier trips over it.
    if not all(is_text(value, max_len=len(value)) for _, value in request.header_lines or request.headers.items()):
        raise InvalidClient("a header is not UTF-8 text")
    has_9421 = "Signature-Input" in request.headers or "Signature" in request.headers
    has_5849 = request.headers.get("Authorization", "").lstrip().lower().startswith("oauth ") or (
        "oauth_signature" in (request.form or {})
    )
    has_jwt = jwt_assertion.carried(request.form)
    carried = has_9421 + has_5849 + has_jwt
    if carried != 1:
        raise InvalidClient("no client authentication" if not carried else "two authentication methods at once")
    if has_jwt:
        if lookup_assertion is None:
            raise InvalidClient("this endpoint takes no client assertion")
        if request.headers.get("Authorization"):  # Basic, Bearer...: a second method (RFC 6749 §2.3)
            raise InvalidClient("an Authorization header beside a client assertion")
        assertion = await jwt_assertion.verify(request.form or {}, lookup_assertion, audiences=audiences,
                                               now=now, skew=window)
        key = assertion.key
        return VerifiedSignature(
            client_id=assertion.client_id, nonce=assertion.jti, created=assertion.created,
            method=assertion.method, expires=assertion.exp, client_key_id=key.id if key is not None else None,
            scope_ceiling=tuple(key.scope_ceiling) if key is not None and key.scope_ceiling is not None else None)
    if has_9421:
        result = await rfc9421.verify(request, lookup_key)
    else:
        result = await rfc5849.verify(request, lookup_key)
    client_id, nonce, created, expires, method = result
    if not is_nonce(nonce):
        raise InvalidClient("missing, oversized or malformed nonce")
    if abs(now - created) > window:
        raise InvalidClient("stale or future timestamp")
    if expires is not None and expires <= now:  # RFC 9421 §2.3, against the AM's clock
        raise InvalidClient("signature expired")
    return VerifiedSignature(client_id=client_id, nonce=nonce, created=created, method=method, expires=expires)
