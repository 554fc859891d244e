"""The authorization request (RFC 6749 §4.1.1, OAuth 2.1 §4.1.1, RFC 9700 §2.1, RFC 7636, RFC
8707, RFC 9207): what is checked, in what order, and which failures may be redirected. No aiohttp.

Two kinds of failure (RFC 6749 §4.1.2.1):

1. "If the request fails due to a missing, invalid, or mismatching redirection URI, or if the
   client identifier is missing or invalid, the authorization server SHOULD inform the resource
   owner of the error and MUST NOT automatically redirect the user-agent to the invalid
   redirection URI." :func:`client_id_of` and :func:`redirect_uri_for` raise
   :class:`~authmanager.errors.UnknownClient`, shown on an error page (400) without a Location.
   ``redirect_uri`` is required even for a client with a single registered one (OAuth 2.1
   §4.1.1 lets that one be omitted; this AM is strict, so the URI the code is bound to is always
   the one the client named). It must match a registered one exactly, except for the port of an
   ``http`` loopback URI (RFC 8252 §7.3; :func:`authmanager.clients.redirect_uris.matches`).
2. Everything else is redirected to that URI with ``error``, ``error_description``, ``state``
   and ``iss`` (:func:`error_location`): :func:`check` raises ``invalid_request`` (a parameter
   given twice, §3.1; no PKCE; ``plain``; a malformed challenge or state), ``unsupported_response_type``
   (anything but ``code``), ``unauthorized_client`` (a client not registered for
   ``authorization_code``), ``invalid_scope`` (none, or malformed) and ``invalid_target`` (RFC 8707
   §2: no, several, or a malformed ``resource``).

PKCE (RFC 7636, OAuth 2.1 §4.1.1, RFC 9700 §2.1.1) is required of every client, public or
confidential, and only ``S256``: "If the server supporting PKCE does not support the requested
transformation, the authorization endpoint MUST return the authorization error response with
"error" value set to "invalid_request"" (RFC 7636 §4.4.1). The challenge is 43 to 128 characters
of ``[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"`` (§4.2). Unknown parameters are ignored
(§3.1: "MUST ignore unrecognized request parameters").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from ..clients import ClientInfo
from ..clients.redirect_uris import MAX_LENGTH as MAX_REDIRECT
from ..clients.redirect_uris import find
from ..errors import (
    InvalidRequest,
    InvalidScope,
    InvalidTarget,
    OAuthError,
    UnauthorizedClient,
    UnknownClient,
    UnsupportedResponseType,
)
from ..identifiers import is_scope_token
from ..operations.targets import target_key

Params = Sequence[tuple[str, str]]
#: The parameters this endpoint reads; each may appear at most once (RFC 6749 §3.1).
KNOWN = ("client_id", "redirect_uri", "response_type", "state", "scope", "code_challenge",
         "code_challenge_method", "resource")
CHALLENGE = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
MAX_STATE, MAX_CLIENT_ID, MAX_SCOPES = 2000, 2000, 50
#: RFC 6749 Appendix A.5: state is 1*VSCHAR (%x20-7E).
_VSCHAR = re.compile(r"[\x20-\x7e]+")


@dataclass(frozen=True, slots=True)
class Checked:
    """A request that passed every check that needs no database."""

    client: ClientInfo
    redirect_uri: str
    state: str | None
    code_challenge: str
    resource: str
    #: ``resource`` normalised (:func:`authmanager.operations.targets.target_key`).
    resource_key: str
    scopes: tuple[str, ...]


def _all(params: Params, name: str) -> list[str]:
    return [value for key, value in params if key == name]


def _one(params: Params, name: str) -> str | None:
    values = _all(params, name)
    return values[0] if values else None


def client_id_of(params: Params) -> str:
    """The ``client_id``, once, non-empty, printable (else an error page)."""
    values = _all(params, "client_id")
    if len(values) != 1 or not values[0] or len(values[0]) > MAX_CLIENT_ID or not values[0].isprintable():
        raise UnknownClient("client_id is missing, invalid or given more than once")
    return values[0]


def redirect_uri_for(client: ClientInfo, params: Params) -> str:
    """The presented ``redirect_uri`` if it is one of the client's registered ones (else an error page)."""
    values = _all(params, "redirect_uri")
    if len(values) != 1 or not values[0]:
        raise UnknownClient("redirect_uri is required (once) and must be one the application registered")
    if len(values[0]) > MAX_REDIRECT or find(client.redirect_uris, values[0]) is None:
        raise UnknownClient("redirect_uri does not match any the application registered")
    return values[0]


def state_of(params: Params) -> str | None:
    """The ``state`` to echo: the first one given, if it is 1 to 2000 VSCHARs (else none is echoed)."""
    value = _one(params, "state")
    return value if value and len(value) <= MAX_STATE and _VSCHAR.fullmatch(value) else None


def check(client: ClientInfo, redirect_uri: str, params: Params) -> Checked:
    """The remaining checks, in order; each failure is an OAuthError to redirect."""
    for name in KNOWN:
        if len(_all(params, name)) > 1 and name != "resource":
            raise InvalidRequest(f"{name} is given more than once")
    state = _one(params, "state")
    if state is not None and state_of(params) is None:
        raise InvalidRequest(f"state must be 1 to {MAX_STATE} printable ASCII characters")
    response_type = _one(params, "response_type")
    if not response_type:
        raise InvalidRequest("response_type is required")
    if response_type != "code":
        raise UnsupportedResponseType("only response_type=code is supported")
    if "authorization_code" not in client.grant_types:
        raise UnauthorizedClient("this application is not registered for the authorization_code grant")
    challenge, method = _one(params, "code_challenge"), _one(params, "code_challenge_method")
    if not challenge:
        raise InvalidRequest("code_challenge is required: PKCE (RFC 7636) with S256")
    if method != "S256":
        raise InvalidRequest("code_challenge_method must be S256 (plain is not supported)")
    if not CHALLENGE.fullmatch(challenge):
        raise InvalidRequest("code_challenge must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~")
    resources = _all(params, "resource")
    if len(resources) != 1:
        raise InvalidTarget("name exactly one resource (RFC 8707): the protected resource's URL")
    key = target_key(resources[0])  # RFC 8707 §2: malformed is invalid_target
    scope = _one(params, "scope")
    if not scope:
        raise InvalidScope("scope is required: the scopes of the resource's realm, space-separated")
    scopes = scope.split(" ")
    if len(scopes) > MAX_SCOPES or not all(is_scope_token(s) for s in scopes):
        raise InvalidScope("scope must be space-separated scope tokens (RFC 6749 §3.3)")
    return Checked(client=client, redirect_uri=redirect_uri, state=state, code_challenge=challenge,
                   resource=resources[0], resource_key=key, scopes=tuple(sorted(set(scopes))))


def location(redirect_uri: str, fields: dict[str, str | None]) -> str:
    """``redirect_uri`` with ``fields`` added to its query (RFC 6749 §4.1.2: "retaining" the
    query it has); fields that are None are left out."""
    query = urlencode({k: v for k, v in fields.items() if v is not None})
    return redirect_uri + ("&" if "?" in redirect_uri else "?") + query


def success_location(redirect_uri: str, *, code: str, state: str | None, issuer: str) -> str:
    """RFC 6749 §4.1.2 with RFC 9207 §2 ``iss``."""
    return location(redirect_uri, {"code": code, "state": state, "iss": issuer})


def error_location(redirect_uri: str, err: OAuthError, *, state: str | None, issuer: str) -> str:
    """RFC 6749 §4.1.2.1 with RFC 9207 §2 ``iss`` ("in both successful and error responses")."""
    return location(redirect_uri, {"error": err.error, "error_description": err.description or None,
                                   "state": state, "iss": issuer})
