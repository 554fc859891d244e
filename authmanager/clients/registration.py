"""The client metadata of an RFC 7591 registration: what is kept, and which clients are public.
No aiohttp here (:mod:`authmanager.endpoints.registration` is the handler).

* §2: unknown metadata (``application_type``, ...) is ignored; the AS may replace
  requested values, and the response carries the ones registered.
* ``grant_types`` (§2): ``client_credentials``, ``authorization_code`` and ``refresh_token``
  (the last only beside ``authorization_code``, since a refresh token is only ever issued with
  one). Absent, it is ``authorization_code`` (the RFC's default) when the registration names
  ``redirect_uris``, a response type or the method ``none``; else ``client_credentials``,
  which keeps today's machine-to-machine registrations as they were.
* ``response_types`` (§2.1, "The grant_types and response_types values ... MUST be
  consistent"): ``["code"]`` exactly when ``authorization_code`` is a grant, else empty.
* ``redirect_uris``: required with ``authorization_code``; each checked by
  :func:`.redirect_uris.check` (https, or http on loopback; no fragment). §3.2.2: bad ones are
  ``invalid_redirect_uri``; every other bad value is ``invalid_client_metadata``.
* ``token_endpoint_auth_method``: ``none`` (a public client, OAuth 2.1 §2.1: PKCE, no secret)
  or one of the signature methods (:data:`authmanager.client_auth.METHODS`) or
  ``client_secret_jwt`` (RFC 7523, HS256 keyed with the cks issued here). Absent, an
  authorization-code client with redirect URIs is public — what native apps such as MCP clients
  expect — and any other client signs (the first method, as before). A public client may use only
  ``authorization_code`` and ``refresh_token``: ``client_credentials`` needs a client that can
  authenticate.
* ``client_secret_jwt`` and ``private_key_jwt`` (RFC 7523 §2.2, RFC 7591 §2): the first is
  issued cks as ``client_secret``, like a signing client, and signs HS256 assertions with it; the
  second gets no secret and must register ``jwks`` (§2: "Client's JSON Web Key Set document
  value, which contains the client's public keys"), each key checked by
  :func:`authmanager.clients.keys.public_jwks` (public members only, EC P-256, Ed25519, RSA of
  2048 bits or more) and stored as a ``client_keys`` row in the registration's transaction
  (:func:`registered_keys`). ``jwks`` with any other method is ``invalid_client_metadata``.
  ``jwks_uri`` is refused: the AM never fetches a key set (an outbound fetch chosen by an
  anonymous registrant is an SSRF surface); keys are rotated with ``authmanager consumer key
  add`` or the self-service ``/keys`` endpoint instead.
* ``client_uri`` and ``logo_uri``: shown in the dialog (and the logo loaded by the person's
  browser), so https, or http on loopback, with a host and no user information.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from ..client_auth import METHODS
from ..client_auth.jwt_assertion import CLIENT_SECRET_JWT
from ..errors import InvalidClientMetadata
from ..identifiers import is_text
from ..secretbox import SecretBox, random_secret
from ..storage.models import Consumer
from . import PUBLIC
from .keys import KeyRejected, public_jwks
from .redirect_uris import MAX_LENGTH, check_all, is_loopback_host

MAX_NAME = 200
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
SIGNING_METHOD = next(iter(METHODS))
#: RFC 7523 §2.2 methods (RFC 7591 §2 ``token_endpoint_auth_method`` values).
CLIENT_SECRET_JWT = "client_secret_jwt"
PRIVATE_KEY_JWT = "private_key_jwt"
JWT_METHODS = (CLIENT_SECRET_JWT, PRIVATE_KEY_JWT)
#: Every method a registration may name, the signing methods first (the default is the first).
AUTH_METHODS = tuple(dict.fromkeys((*METHODS, *JWT_METHODS, PUBLIC)))
#: The methods a registered consumer with a cks authenticates by: the request signatures and
#: RFC 7523 ``client_secret_jwt`` (HS256 keyed with cks).
SECRET_METHODS = (*METHODS, CLIENT_SECRET_JWT)
_STRINGS = ("client_name", "client_uri", "logo_uri", "software_id", "software_version", "scope")
_LISTS = ("contacts", "grant_types", "response_types")


def _display_url(name: str, value: str) -> str:
    """``client_uri``/``logo_uri``: https, or http on a loopback host (no ``javascript:``,
    ``data:``, user information or control characters)."""
    if len(value) > MAX_LENGTH or not all(0x20 < ord(c) < 0x7F for c in value):
        raise InvalidClientMetadata(f"{name} must be a URL of at most {MAX_LENGTH} printable ASCII characters")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise InvalidClientMetadata(f"{name} is not a URL") from None
    ok = parts.scheme == "https" or (parts.scheme == "http" and is_loopback_host(parts.hostname))
    if not ok or not parts.hostname or "@" in parts.netloc:
        raise InvalidClientMetadata(f"{name} must be an https URL (or http on loopback) with a host "
                                    "and no user information")
    return value


def _grants(metadata: dict[str, Any], kept: dict[str, Any], method: object) -> list[str]:
    if "grant_types" in kept:
        grants = list(dict.fromkeys(kept["grant_types"]))
    elif "redirect_uris" in metadata or kept.get("response_types") or method == PUBLIC:
        grants = ["authorization_code"]  # RFC 7591 §2's default
    else:
        grants = ["client_credentials"]  # a machine-to-machine consumer key, as before
    unknown = [g for g in grants if g not in GRANT_TYPES]
    if unknown or not grants:
        raise InvalidClientMetadata(f"grant_types may hold only {', '.join(GRANT_TYPES)}")
    if "refresh_token" in grants and "authorization_code" not in grants:
        raise InvalidClientMetadata("the refresh_token grant is only issued with authorization_code")
    return grants


def validate(metadata: Any) -> dict[str, Any]:
    """The metadata registered (also the body of the §3.2.1 response, less the credentials),
    or ``invalid_client_metadata`` / ``invalid_redirect_uri`` saying why."""
    if not isinstance(metadata, dict):
        raise InvalidClientMetadata("the body must be a JSON object")
    kept: dict[str, Any] = {}
    for name in _STRINGS:
        if name in metadata:
            value = metadata[name]
            if not is_text(value, max_len=MAX_NAME * 10):  # storable: no NUL, no lone surrogate
                raise InvalidClientMetadata(f"{name} must be a string")
            kept[name] = value
    for name in _LISTS:
        if name in metadata:
            value = metadata[name]
            if not isinstance(value, list) or not all(is_text(v, max_len=MAX_NAME * 10) for v in value) \
                    or len(value) > 20:
                raise InvalidClientMetadata(f"{name} must be a list of strings")
            kept[name] = value
    for name in ("client_uri", "logo_uri"):
        if name in kept:
            _display_url(name, kept[name])
    method = metadata.get("token_endpoint_auth_method")
    named = "token_endpoint_auth_method" in metadata  # a JSON null is a bad value, not an absent one
    if named and (not isinstance(method, str) or method not in AUTH_METHODS):
        raise InvalidClientMetadata(
            f"token_endpoint_auth_method must be one of {', '.join(AUTH_METHODS)}")
    if "jwks_uri" in metadata:
        raise InvalidClientMetadata("register jwks; jwks_uri is not fetched")
    grants = _grants(metadata, kept, method)
    kept["grant_types"] = grants
    code = "authorization_code" in grants
    if "response_types" in kept and list(dict.fromkeys(kept["response_types"])) != (["code"] if code else []):
        raise InvalidClientMetadata('response_types must be ["code"] with the authorization_code grant, '
                                    "and empty without it (RFC 7591 §2.1)")
    if code:
        kept["response_types"] = ["code"]
    else:
        kept.pop("response_types", None)
    if code or "redirect_uris" in metadata:
        kept["redirect_uris"] = list(check_all(metadata.get("redirect_uris")))
    if not named:
        method = PUBLIC if code and "client_credentials" not in grants else SIGNING_METHOD
    if method == PUBLIC and "client_credentials" in grants:
        raise InvalidClientMetadata("a public client (token_endpoint_auth_method none) cannot use the "
                                    "client_credentials grant: it has no credentials")
    kept["token_endpoint_auth_method"] = method
    if method == PRIVATE_KEY_JWT or "jwks" in metadata:
        kept["jwks"] = {"keys": registered_keys(metadata, method)}
    name = kept.get("client_name", "").strip()
    if len(name) > MAX_NAME:
        raise InvalidClientMetadata(f"client_name is longer than {MAX_NAME} characters")
    kept["client_name"] = name or "unnamed consumer"
    return kept


def registered_keys(metadata: dict[str, Any], method: object) -> list[dict[str, Any]]:
    """The checked public keys of a ``private_key_jwt`` registration's ``jwks`` (RFC 7591 §2), or
    ``invalid_client_metadata`` saying why: no ``jwks``, ``jwks`` with another method, or a key
    :func:`authmanager.clients.keys.public_jwks` refuses (its message is safe to show)."""
    if method != PRIVATE_KEY_JWT:
        raise InvalidClientMetadata("jwks is registered only with token_endpoint_auth_method private_key_jwt")
    if "jwks" not in metadata:
        raise InvalidClientMetadata("private_key_jwt needs jwks: the client's public keys (jwks_uri is not fetched)")
    try:
        return public_jwks(metadata["jwks"])
    except KeyRejected as exc:
        raise InvalidClientMetadata(f"jwks: {exc}") from None


def stored_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """What ``consumers.client_metadata`` keeps: everything but ``jwks``, whose keys live in
    ``client_keys`` (they change by ``consumer key add``/``revoke`` after registration)."""
    return {k: v for k, v in metadata.items() if k != "jwks"}


def is_public(metadata: dict[str, Any] | None) -> bool:
    """Whether a registered consumer key is a public client. Only an explicit ``none`` is:
    keys registered before public clients existed, grasshopper sub-keys and keys created by the
    CLI carry no method, and they sign."""
    return (metadata or {}).get("token_endpoint_auth_method") == PUBLIC


def new_consumer(box: SecretBox, metadata: dict[str, Any], *, now: int) -> tuple[Consumer, str]:
    """The row of a consumer key registered with ``metadata`` (from :func:`validate`) and its
    secret: 256 random bits, stored only sealed under the server key; ``""`` for a public client,
    whose row holds a sealed empty secret (the column is NOT NULL) that no verifier accepts; ``""``
    too for ``private_key_jwt``, whose credentials are its registered public keys."""
    client_id = random_secret(16)
    keyless = is_public(metadata) or metadata.get("token_endpoint_auth_method") == PRIVATE_KEY_JWT
    secret = "" if keyless else random_secret(32)
    return Consumer(client_id=client_id, client_name=metadata["client_name"],
                    secret_sealed=box.seal(secret.encode(), aad=client_id), client_metadata=stored_metadata(metadata),
                    issued_at=now), secret


def registration_response(consumer: Consumer, secret: str,
                          keys: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """RFC 7591 §3.2.1: the registered metadata, ``client_id`` and ``client_id_issued_at``;
    ``client_secret`` and ``client_secret_expires_at`` (0: never) only when a secret is issued;
    ``jwks`` (public members only, each with its ``kid``) when keys were registered."""
    answer: dict[str, Any] = {**consumer.client_metadata, "client_id": consumer.client_id,
                              "client_id_issued_at": consumer.issued_at}
    if keys:
        answer["jwks"] = {"keys": [dict(k) for k in keys]}
    if secret:
        answer |= {"client_secret": secret, "client_secret_expires_at": 0}
    return answer
