"""JWT client assertions: RFC 7523 §2.2 client authentication (the RFC 7521 §4.2 form).

The client sends ``client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer``
and ``client_assertion=<JWS>`` in the form (RFC 7521 §4.2). Two methods (RFC 7591 §2
``token_endpoint_auth_method``, OpenID Connect Core §9):

* ``client_secret_jwt``: ``HS256`` keyed with the consumer's cks (the UTF-8 bytes of
  ``client_secret``): ProtectServe's "signed with cks" in the form every OAuth library speaks.
  Any consumer that holds a cks may use it: the signing-method consumers and those registered
  with ``client_secret_jwt``.
* ``private_key_jwt``: ``ES256``, ``EdDSA``, ``RS256`` or ``PS256`` with one of the consumer's
  registered public keys (:mod:`authmanager.storage.client_keys`, live ones only), for consumers
  registered with ``private_key_jwt`` (and only for them).

What the assertion must satisfy (RFC 7523 §3 and RFC 7521 §4.2, as numbered there):

* the form: ``client_assertion_type`` exactly the URN above, ``client_assertion`` at most
  :data:`MAX_ASSERTION` bytes; a ``client_id`` parameter, if sent, equal to the assertion's
  ``sub`` (RFC 7521 §4.2: "the client_id ... MUST identify the client");
* §3 items 1-2: ``iss`` = ``sub`` = the ``client_id``;
* §3 item 3: ``aud`` identifies the AM: the issuer or the token endpoint URL ("The token endpoint
  URL of the authorization server MAY be used"), or the URL of the endpoint the assertion is sent
  to (Authlib signs that URL at ``/revoke``). A string, or an array whose *every* element is one
  of them: no foreign audience rides along;
* §3 item 4: ``exp`` required, not before now minus the skew (the ``signature_window``), and at
  most :data:`MAX_LIFETIME` plus the skew ahead (the assertion is replay-tracked that long);
* §3 items 5-6: ``nbf`` and ``iat``, when present, not in the future beyond the skew;
* §3 item 7: ``jti`` required, 1-128 printable ASCII characters; single use is the caller's,
  which spends ``(client_id, jti)`` in the nonce table until the assertion could no longer pass
  (``exp`` plus the skew), whatever the answer;
* §3 item 9 (RFC 7515 §4.1.1, RFC 8725 §3.1): the algorithm comes from the registered method and
  key, never from the header alone: ``HS256`` for ``client_secret_jwt``; for ``private_key_jwt``
  one of :func:`authmanager.clients.keys.algorithms` of the key, so never ``none`` and never
  ``HS256`` keyed with a public key. The key is chosen by ``kid``; without one, the consumer's
  only live key (several: ``kid`` required). Keys in the header (``jwk``, ``jku``, ``x5c``,
  ``x5u``) are refused, never used; ``typ``, if present, is ``JWT`` (or RFC 7523bis
  ``client-authentication+jwt``).

Parsing and signature verification are joserfc's (``jws.extract_compact``, ``jwt.decode``); the
claim rules are checked here against the AM's (injectable) clock. Every failure raises
:class:`~authmanager.errors.InvalidClient`, the same body whatever the cause. No aiohttp here.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from joserfc import jws, jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import OctKey, import_key

from ..clients.keys import algorithms
from ..errors import InvalidClient
from ..identifiers import is_key, is_nonce

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CLIENT_SECRET_JWT = "client_secret_jwt"
PRIVATE_KEY_JWT = "private_key_jwt"
METHODS = {
    CLIENT_SECRET_JWT: "RFC 7523 JWT client assertion, HS256 keyed with cks",
    PRIVATE_KEY_JWT: "RFC 7523 JWT client assertion signed with a registered public key",
}
#: ``token_endpoint_auth_signing_alg_values_supported`` (RFC 8414 §2).
SIGNING_ALGS = ("HS256", "ES256", "EdDSA", "RS256", "PS256")
MAX_ASSERTION = 8192
#: The longest an assertion may be valid ahead (Authlib's default lifetime is 3600 s).
MAX_LIFETIME = 3600
_TYPS = frozenset({"jwt", "client-authentication+jwt"})
_HEADER_KEYS = ("jwk", "jku", "x5c", "x5u")


class RegisteredKey(Protocol):
    """A :class:`~authmanager.storage.models.ClientKey` as the verifier reads it."""

    id: int
    kid: str
    jwk: dict[str, Any]
    scope_ceiling: list[str] | None


@dataclass(frozen=True, slots=True)
class AssertionClient:
    """What the AM holds to check a consumer's assertion: its method, its cks (``""``: none) and,
    for ``private_key_jwt``, its live registered keys."""

    method: str
    secret: str = ""
    keys: Sequence[RegisteredKey] = field(default_factory=tuple)


ClientLookup = Callable[[str], Awaitable[AssertionClient | None]]


@dataclass(frozen=True, slots=True)
class Assertion:
    """A verified assertion: who, which key, and the claims the caller's checks need."""

    client_id: str
    method: str
    jti: str
    created: int
    exp: int
    key: RegisteredKey | None


def carried(form: Mapping[str, str] | None) -> bool:
    """Whether the form carries a client assertion (either parameter is enough to select this
    method; the other is then required)."""
    return bool(form) and ("client_assertion" in form or "client_assertion_type" in form)  # type: ignore[operator]


def _number(claims: Mapping[str, Any], name: str, *, required: bool) -> float | None:
    value = claims.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidClient(f"{name} must be a NumericDate")
    return float(value)


def _unverified(value: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The protected header and the claims, read (not trusted) to find the consumer and its key."""
    try:
        compact = jws.extract_compact(value.encode())
        claims = json.loads(compact.payload)
        header = dict(compact.headers())
    except Exception as exc:  # joserfc DecodeError, bad base64, bad JSON, a non-ASCII value
        raise InvalidClient("malformed client_assertion") from exc
    if not isinstance(claims, dict):
        raise InvalidClient("the assertion's payload is not a claims set")
    return header, claims


def _key_for(client: AssertionClient, header: Mapping[str, Any]) -> tuple[Any, str, RegisteredKey | None]:
    """The verification key and the one algorithm it is used with, from the registration only."""
    alg = header.get("alg")
    if client.method != PRIVATE_KEY_JWT:
        if not client.secret:
            raise InvalidClient("the consumer has no cks to key client_secret_jwt with")
        if alg != "HS256":
            raise InvalidClient("client_secret_jwt is HS256 only")
        return OctKey.import_key(client.secret.encode()), "HS256", None
    kid = header.get("kid")
    if kid is None:
        if len(client.keys) != 1:
            raise InvalidClient("no kid, and the consumer has not exactly one live key")
        (registered,) = client.keys
    else:
        matching = [k for k in client.keys if k.kid == kid]
        if not matching:
            raise InvalidClient("unknown or revoked kid")
        (registered,) = matching
    if not isinstance(alg, str) or alg not in algorithms(registered.jwk):
        raise InvalidClient(f"alg {alg!r} does not fit the registered key")
    return import_key(registered.jwk), alg, registered


def _check_claims(claims: Mapping[str, Any], client_id: str, *, audiences: Collection[str], now: float,
                  skew: int) -> tuple[str, int, int]:
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise InvalidClient("iss and sub must both be the client_id")
    aud = claims.get("aud")
    values = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) and aud else None
    if values is None or not all(isinstance(v, str) and v in audiences for v in values):
        raise InvalidClient("aud is not (only) this AM")
    exp = _number(claims, "exp", required=True)
    assert exp is not None
    if exp + skew < now:
        raise InvalidClient("assertion expired")
    if exp > now + MAX_LIFETIME + skew:
        raise InvalidClient("exp too far ahead")
    for name in ("nbf", "iat"):
        at = _number(claims, name, required=False)
        if at is not None and at > now + skew:
            raise InvalidClient(f"{name} in the future")
    jti = claims.get("jti")
    if not is_nonce(jti):
        raise InvalidClient("jti missing, oversized or malformed")
    iat = _number(claims, "iat", required=False)
    return jti, int(iat if iat is not None else now), math.ceil(exp)


async def verify(form: Mapping[str, str], lookup: ClientLookup, *, audiences: Collection[str], now: float,
                 skew: int) -> Assertion:
    """Verify the form's client assertion; see the module's rules. Raises InvalidClient."""
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        raise InvalidClient("client_assertion_type is not the RFC 7523 jwt-bearer URN")
    value = form.get("client_assertion")
    if not value or len(value) > MAX_ASSERTION or not value.isascii():
        raise InvalidClient("client_assertion missing or oversized")
    header, unverified = _unverified(value)
    if any(name in header for name in _HEADER_KEYS):
        raise InvalidClient("a key in the JWT header is never used")
    typ = header.get("typ")
    if typ is not None and (not isinstance(typ, str) or typ.lower() not in _TYPS):
        raise InvalidClient("typ is neither JWT nor client-authentication+jwt")
    client_id = unverified.get("sub")
    if not isinstance(client_id, str) or not is_key(client_id) or unverified.get("iss") != client_id:
        raise InvalidClient("iss and sub must both be a client_id")
    if "client_id" in form and form["client_id"] != client_id:
        raise InvalidClient("client_id is not the assertion's sub")
    client = await lookup(client_id)
    if client is None:
        raise InvalidClient("unknown consumer, or one that cannot use client assertions")
    key, alg, registered = _key_for(client, header)
    try:
        with warnings.catch_warnings():  # joserfc flags EdDSA as deprecated by RFC 9864: still RFC 8037's
            warnings.simplefilter("ignore", SecurityWarning)
            token = jwt.decode(value, key, algorithms=[alg])
    except Exception as exc:  # joserfc's BadSignatureError, DecodeError, UnsupportedAlgorithmError...
        raise InvalidClient(f"assertion signature rejected: {type(exc).__name__}") from exc
    jti, created, exp = _check_claims(token.claims, client_id, audiences=audiences, now=now, skew=skew)
    method = PRIVATE_KEY_JWT if client.method == PRIVATE_KEY_JWT else CLIENT_SECRET_JWT
    return Assertion(client_id=client_id, method=method, jti=jti, created=created, exp=exp, key=registered)
