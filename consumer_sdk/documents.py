"""The JSON documents of the handshake, read and checked; a refusal is a typed exception.

* RFC 9728 §2-3 protected resource metadata (with ProtectServe's ``realm`` and ``sph``):
  used only if ``resource`` is the identifier its URL derives from (§3.3) and the
  requested URL lies under it (§7.3).
* RFC 8414 §2-3 AM metadata: ``issuer`` identical to the one named (§3.3).
* RFC 7591 §3.2 client registration response (201) or error (400).
* RFC 6749 §5.1 token response, §5.2 error response.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .errors import AccessDenied, MetadataError, RegistrationError, TokenRequestError
from .messages import HttpResponse
from .store import ClientCredentials, Token
from .urls import is_http_url, is_under, metadata_matches_resource


@dataclass(frozen=True)
class ResourceMetadata:
    """The fields of RFC 9728 §2 (plus ProtectServe's ``realm`` and ``sph``) the consumer uses."""

    resource: str
    authorization_server: str
    sph: str
    realm: str | None
    scopes_supported: tuple[str, ...]


@dataclass(frozen=True)
class AuthorizationServer:
    """The fields of RFC 8414 §2 the consumer uses."""

    issuer: str
    token_endpoint: str
    registration_endpoint: str | None
    #: For a login (RFC 6749 §4.1; RFC 7636; RFC 9207 §3; draft-ietf-oauth-client-id-metadata-document).
    authorization_endpoint: str | None = None
    code_challenge_methods: tuple[str, ...] = ()
    iss_parameter_supported: bool = False
    client_id_metadata_document_supported: bool = False


def read_resource_metadata(reply: HttpResponse, *, metadata_url: str, requested_url: str) -> ResourceMetadata:
    """RFC 9728 §3.2 response from ``metadata_url``, validated per §3.3 against ``requested_url``."""
    if reply.status != 200:
        raise MetadataError(f"resource metadata answered HTTP {reply.status}", status=reply.status)
    doc = _json_object(reply, MetadataError("resource metadata is not a JSON object"))
    resource = doc.get("resource")
    if not isinstance(resource, str) or not metadata_matches_resource(metadata_url, resource):
        raise MetadataError("resource metadata names a resource its URL does not derive from (RFC 9728 §3.3)")
    if not is_under(requested_url, resource):
        raise MetadataError("the requested URL does not lie under the metadata's resource (RFC 9728 §7.3)")
    servers = doc.get("authorization_servers")
    if not isinstance(servers, list) or not servers or not is_http_url(servers[0]):
        raise MetadataError("resource metadata names no authorization server")
    sph, realm, scopes = doc.get("sph"), doc.get("realm"), doc.get("scopes_supported", [])
    if not isinstance(sph, str) or not sph:
        raise MetadataError("resource metadata has no sph")
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise MetadataError("scopes_supported is not a list of strings")
    methods = doc.get("bearer_methods_supported")
    if methods is not None and (not isinstance(methods, list) or "header" not in methods):
        raise MetadataError("the resource does not accept bearer tokens in the header (RFC 6750 §2.1)")
    return ResourceMetadata(resource, servers[0], sph, realm if isinstance(realm, str) else None, tuple(scopes))


def read_am_metadata(reply: HttpResponse, *, issuer: str, auth_method: str | None,
                     grant_type: str = "client_credentials") -> AuthorizationServer:
    """RFC 8414 §3.2 response for ``issuer``; refused unless it supports ``grant_type`` and accepts
    ``auth_method`` at the token endpoint (``None``: the grant needs no client authentication)."""
    if reply.status != 200:
        raise MetadataError(f"AM metadata answered HTTP {reply.status}", status=reply.status)
    doc = _json_object(reply, MetadataError("AM metadata is not a JSON object"))
    if doc.get("issuer") != issuer:  # RFC 8414 §3.3: MUST be identical
        raise MetadataError("AM metadata issuer differs from the authorization server named (RFC 8414 §3.3)")
    token_endpoint, registration_endpoint = doc.get("token_endpoint"), doc.get("registration_endpoint")
    if not is_http_url(token_endpoint):
        raise MetadataError("AM metadata has no usable token_endpoint")
    if registration_endpoint is not None and not is_http_url(registration_endpoint):
        raise MetadataError("AM metadata registration_endpoint is not an http(s) URL")
    auth_methods = doc.get("token_endpoint_auth_methods_supported")
    if auth_method is not None and isinstance(auth_methods, list) and auth_method not in auth_methods:
        raise MetadataError(f"the AM does not accept {auth_method}")
    grants = doc.get("grant_types_supported")
    if isinstance(grants, list) and grant_type not in grants:
        raise MetadataError(f"the AM does not support the {grant_type} grant")
    authorization_endpoint = doc.get("authorization_endpoint")
    if grant_type == "authorization_code" and not is_http_url(authorization_endpoint):
        raise MetadataError("AM metadata has no usable authorization_endpoint")
    methods = doc.get("code_challenge_methods_supported")
    methods = tuple(m for m in methods if isinstance(m, str)) if isinstance(methods, list) else ()
    return AuthorizationServer(
        issuer, token_endpoint, registration_endpoint,
        authorization_endpoint=authorization_endpoint if is_http_url(authorization_endpoint) else None,
        code_challenge_methods=methods,
        iss_parameter_supported=doc.get("authorization_response_iss_parameter_supported") is True,
        client_id_metadata_document_supported=doc.get("client_id_metadata_document_supported") is True)


def read_registration(reply: HttpResponse, *, issuer: str) -> ClientCredentials:
    """RFC 7591 §3.2.1 (201: ck = ``client_id``, cks = ``client_secret``) or §3.2.2 error."""
    if reply.status != 201:
        error, description = json_error(reply)
        raise RegistrationError(f"registration failed: {error or f'HTTP {reply.status}'}",
                                error=error, description=description, status=reply.status)
    doc = _json_object(reply, RegistrationError("registration response is not a JSON object", status=201))
    client_id, client_secret = doc.get("client_id"), doc.get("client_secret")
    if not isinstance(client_id, str) or not client_id or not isinstance(client_secret, str) or not client_secret:
        raise RegistrationError("registration response lacks client_id or client_secret", status=201)
    return ClientCredentials(client_id, client_secret, issuer)


def _json_object(reply: HttpResponse, error: Exception) -> dict[str, Any]:
    try:
        doc = json.loads(reply.body)
    except ValueError:
        raise error from None
    if not isinstance(doc, dict):
        raise error
    return doc


def json_error(reply: HttpResponse) -> tuple[str | None, str | None]:
    """The RFC 6749 §5.2 ``error``/``error_description`` of a response, if it has them."""
    try:
        doc = json.loads(reply.body)
    except ValueError:
        return None, None
    if not isinstance(doc, dict):
        return None, None
    error, description = doc.get("error"), doc.get("error_description")
    return (error if isinstance(error, str) else None, description if isinstance(description, str) else None)


def read_token(
    reply: HttpResponse, *, scopes: Iterable[str], requested_at: float, realm: ResourceMetadata, issuer: str
) -> Token:
    """RFC 6749 §5.1 success, or the §5.2 error as a typed exception."""
    return read_token_for(reply, scopes=scopes, requested_at=requested_at, realm=realm.realm,
                          resource=realm.resource, issuer=issuer)


def read_token_for(
    reply: HttpResponse, *, scopes: Iterable[str], requested_at: float, realm: str | None, resource: str, issuer: str
) -> Token:
    """``read_token`` for a token of ``resource`` (in ``realm``), without the resource's metadata at hand."""
    if reply.status != 200:
        error, description = json_error(reply)
        if reply.status == 403 and error == "request_denied":
            raise AccessDenied(error, description, reply.status)
        raise TokenRequestError(error, description, reply.status)
    body = _json_object(reply, TokenRequestError("invalid_response", "token response is not a JSON object", 200))
    access_token, token_type = body.get("access_token"), body.get("token_type")
    expires_in, scope = body.get("expires_in"), body.get("scope")
    if not isinstance(access_token, str) or not access_token:
        raise TokenRequestError("invalid_response", "no access_token", 200)
    if not isinstance(token_type, str) or token_type.lower() != "bearer":  # RFC 6749 §7.1
        raise TokenRequestError("invalid_response", "token_type is not Bearer", 200)
    if not isinstance(expires_in, int) or isinstance(expires_in, bool) or expires_in <= 0:
        raise TokenRequestError("invalid_response", "expires_in is not a positive integer", 200)
    if scope is not None and not isinstance(scope, str):
        raise TokenRequestError("invalid_response", "scope is not a string", 200)
    return Token(
        access_token=access_token,
        token_type="Bearer",
        expires_at=requested_at + expires_in,
        scope=frozenset(scope.split()) if scope is not None else frozenset(scopes),  # RFC 6749 §5.1
        realm=realm,
        resource=resource,
        issuer=issuer,
    )
