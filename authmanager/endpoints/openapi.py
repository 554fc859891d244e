"""An OpenAPI 3.1 description of the AM's public endpoints, served at ``/openapi.json``.

It is also the contract the schema-driven fuzzing in ``.ci/run`` (Schemathesis) holds the AM to:
no input may produce a 5xx or a response that does not match what is written here.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..client_auth import ALL_METHODS
from ..context import context

PATH = "/openapi.json"

_ERROR = {"type": "object", "required": ["error"],
          "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}}}
_FORM = "application/x-www-form-urlencoded"


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_RETRY_AFTER = {"Retry-After": {"required": True, "description": "seconds (RFC 9110 §10.2.3)",
                                 "schema": {"type": "string", "pattern": "^[0-9]+$"}}}


def _errors(*codes: int) -> dict[str, Any]:
    """Error answers, each an RFC 6749 §5.2 body; every operation also has the request-head caps
    of ``serving.py`` (414, 431), answered before any handler runs."""
    text = {400: "invalid request (RFC 6749 §5.2)", 401: "client authentication failed",
            403: "denied by policy", 404: "no such document", 413: "body too large",
            414: "request line too long (max_request_line)",
            431: "a header field too long or too many (max_header_field, max_headers)",
            429: "rate limited (slow_down); see Retry-After", 503: "database unavailable; see Retry-After"}
    out = {str(code): _json({"$ref": "#/components/schemas/Error"}, text[code]) for code in (*codes, 414, 431)}
    for code in {429, 503} & set(codes):
        out[str(code)]["headers"] = _RETRY_AFTER
    return out


def _form(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    """A form body of these parameters (the endpoint reads no others); with none required, an
    empty body will do."""
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    return {"required": bool(required), "content": {_FORM: {"schema": schema}}}


_STR = {"type": "string"}
#: RFC 6749 §3.3: one or more scope-tokens (printable ASCII but ``"`` and ``\``), single spaces.
_SCOPE = {"type": "string", "pattern": "^[\\x21\\x23-\\x5B\\x5D-\\x7E]+( [\\x21\\x23-\\x5B\\x5D-\\x7E]+){0,49}$"}
#: A token as the endpoints take it: longer ones are refused unread.
_TOKEN = {"type": "string", "minLength": 1, "maxLength": 8192}
_NON_EMPTY = {"type": "string", "minLength": 1}
#: RFC 7591 string metadata as registration keeps it (no NUL, bounded).
_META_STR = {"type": "string", "maxLength": 2000, "pattern": "^[^\\u0000]*$"}


#: RFC 7521 §4.2 / RFC 7523 §2.2 client authentication in the form (docs/protocol.md §5c), and the
#: ``client_id`` that may repeat the assertion's ``sub``.
_ASSERTION = {"client_assertion_type": {"const": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
              "client_assertion": {"type": "string", "minLength": 1, "maxLength": 8192}}


def _variant(properties: dict[str, Any], *, authenticated: bool = False) -> dict[str, Any]:
    """One kind of form body: these parameters, all required, and no others (but, for a request
    the consumer authenticates, the optional client assertion and ``client_id``)."""
    optional = {**_ASSERTION, "client_id": _NON_EMPTY} if authenticated else {}
    return {"type": "object", "properties": {**properties, **optional}, "required": list(properties),
            "additionalProperties": False}


def _person_grant(grant_type: str, required: dict[str, Any], optional: dict[str, Any]) -> dict[str, Any]:
    """The authorization-code and refresh grants: ``client_id`` (a public client, or repeating the
    signing key's) and the optional parameters beside the required ones."""
    properties = {"grant_type": {"const": grant_type}, **required, **optional, "client_id": _NON_EMPTY, **_ASSERTION}
    return {"type": "object", "properties": properties, "required": ["grant_type", *required],
            "additionalProperties": False}


def document(issuer: str) -> dict[str, Any]:
    token_response = {"type": "object", "required": ["access_token", "token_type", "expires_in", "scope"],
                      "properties": {"access_token": _STR, "token_type": {"const": "Bearer"},
                                     "expires_in": {"type": "integer"}, "scope": _STR,
                                     "refresh_token": _STR}}  # authorization_code and refresh_token grants
    # RFC 7591 §3.2.1: client_secret and client_secret_expires_at only for a client that signs
    # (a public client, token_endpoint_auth_method none, gets neither).
    grants = {"type": "array", "items": {"enum": ["client_credentials", "authorization_code", "refresh_token"]},
              "maxItems": 20}
    uris = {"type": "array", "items": _STR, "maxItems": 20}
    auth_methods = {"enum": ["none", *ALL_METHODS]}
    registration = {"type": "object", "required": ["client_id", "client_id_issued_at", "client_name",
                                                   "token_endpoint_auth_method", "grant_types"],
                    "properties": {"client_id": _STR, "client_secret": _STR, "client_id_issued_at": {"type": "integer"},
                                   "client_secret_expires_at": {"type": "integer"}, "client_name": _STR,
                                   "token_endpoint_auth_method": auth_methods, "grant_types": grants,
                                   "redirect_uris": uris, "response_types": {"type": "array", "items": {"const": "code"}}}}
    # RFC 7591 §2: the client metadata this AM reads (others are ignored).
    client_metadata = {"type": "object", "properties": {
        **{name: _META_STR for name in ("client_uri", "logo_uri", "software_id", "software_version", "scope")},
        "client_name": {**_META_STR, "maxLength": 200},
        "contacts": {"type": "array", "items": _STR, "maxItems": 20},
        "grant_types": grants, "redirect_uris": uris,
        "response_types": {"type": "array", "items": {"const": "code"}, "maxItems": 20},
        "token_endpoint_auth_method": auth_methods}}
    sub_key = {"type": "object", "required": ["client_id", "client_secret", "client_id_issued_at",
                                              "client_secret_expires_at", "expires_in", "parent_client_id"],
               "properties": {"client_id": _STR, "client_secret": _STR, "client_id_issued_at": {"type": "integer"},
                              "client_secret_expires_at": {"type": "integer"}, "expires_in": {"type": "integer"},
                              "parent_client_id": _STR, "scope": _STR}}
    # RFC 7662 §2.2; anything not active is exactly {"active": false} (no hint for token fishing).
    active = {"scope": _STR, "client_id": _STR, "sub": _STR, "aud": _STR, "iss": {"const": issuer},
              "exp": {"type": "integer"}, "iat": {"type": "integer"}, "token_type": {"const": "Bearer"}, "jti": _STR,
              "realm": _STR}
    introspection = {"type": "object", "required": ["active"],
                     "properties": {"active": {"type": "boolean"}, **active},
                     "if": {"properties": {"active": {"const": True}}},
                     "then": {"required": list(active)}, "else": {"maxProperties": 1}}
    token_refused = {
        **_errors(400, 401, 403, 413, 429, 503),
        "400": _json({"$ref": "#/components/schemas/Error"},
                     "invalid request (RFC 6749 §5.2); slow_down when polling faster than interval (RFC 8628 §3.5)"),
        "403": _json({"anyOf": [{"$ref": "#/components/schemas/RequestSubmitted"},
                                {"$ref": "#/components/schemas/Error"}]},
                     "request_denied by policy or by the owner, or request_submitted: the owner is asked; poll with "
                     "the ticket (UMA 2.0 Grant §3.3.6)")}
    scope_document = {"type": "object", "required": ["realm", "scopes"], "properties": {
        "realm": _STR, "scopes": {"type": "array", "items": {
            "type": "object", "required": ["name", "title", "description", "icon_uri"],
            "properties": {"name": _STR, "title": _STR, "description": _STR,
                           "icon_uri": {"type": ["string", "null"]}}}}}}
    ok_empty = _json({"type": "object"}, "done (also for unknown tokens, RFC 7009 §2.2)")
    signed = [{"httpMessageSignature": []}, {"oauth1": []}]
    return {
        "openapi": "3.1.0",
        "info": {"title": "ProtectServe authorization manager", "version": "0.1.0",
                 "description": "Wire protocol: docs/protocol.md"},
        "servers": [{"url": issuer}],
        "paths": {
            "/.well-known/oauth-authorization-server": {"get": {
                "summary": "RFC 8414 metadata", "responses": {"200": _json(
                    {"type": "object", "required": ["issuer", "token_endpoint", "jwks_uri"]}, "metadata"),
                    **_errors(503)}}},
            "/jwks.json": {"get": {"summary": "RFC 7517 key set", "responses": {"200": {
                "description": "published keys", "content": {"application/jwk-set+json": {"schema": {
                    "type": "object", "required": ["keys"], "properties": {"keys": {"type": "array"}}}}}},
                **_errors(503)}}},
            "/register": {"post": {
                "summary": "RFC 7591 registration (consumer key)",
                "requestBody": {"required": True, "content": {"application/json": {"schema": client_metadata}}},
                "responses": {"201": _json(registration, "consumer key issued"), **_errors(400, 413, 429, 503)}}},
            "/token": {
                "post": {
                    "summary": "Access token (client credentials or UMA ticket polling, signed with cks; an "
                               "IndieAuth ticket; an authorization code or a refresh token, signed or from a "
                               "public client) or IndieAuth revocation",
                    "security": [*signed, {}],
                    "requestBody": {"required": True, "content": {_FORM: {"schema": {"oneOf": [
                        _variant({"grant_type": {"const": "client_credentials"}, "sph": _NON_EMPTY, "scope": _SCOPE},
                                 authenticated=True),
                        _variant({"grant_type": {"const": "urn:ietf:params:oauth:grant-type:uma-ticket"},
                                  "ticket": _NON_EMPTY}, authenticated=True),
                        _variant({"grant_type": {"const": "ticket"}, "ticket": _NON_EMPTY}),
                        _person_grant("authorization_code",
                                      {"code": _NON_EMPTY, "redirect_uri": _NON_EMPTY,
                                       "code_verifier": {"type": "string", "pattern": "^[A-Za-z0-9._~-]{43,128}$"}},
                                      {"resource": _NON_EMPTY, "scope": _SCOPE}),
                        _person_grant("refresh_token", {"refresh_token": _NON_EMPTY}, {"scope": _SCOPE}),
                        _variant({"action": {"const": "revoke"}, "token": _TOKEN}),
                    ]}}}},
                    "responses": {"200": _json({"oneOf": [token_response, {"type": "object", "maxProperties": 0}]},
                                               "token issued, or revocation done"),
                                  **token_refused}},
                "get": {
                    "summary": "IndieAuth access token verification", "security": [{"bearer": []}],
                    "responses": {"200": {"description": "me, client_id, scope", "content": {
                        "application/json": {"schema": {"type": "object", "required": ["me", "client_id", "scope"]}},
                        _FORM: {"schema": _STR}}}, **_errors(400, 401, 503)}}},
            "/introspect": {"post": {
                "summary": "RFC 7662 introspection", "security": [{"sph": []}],
                "requestBody": _form({"token": _TOKEN, "token_type_hint": _STR}, ["token"]),
                "responses": {"200": _json(introspection, "token state"), **_errors(400, 401, 413, 429, 503)}}},
            "/revoke": {"post": {
                "summary": "RFC 7009 revocation (access and refresh tokens)", "security": [{"sph": []}, *signed, {}],
                "requestBody": _form({"token": _TOKEN, "token_type_hint": _STR, "client_id": _NON_EMPTY, **_ASSERTION},
                                     ["token"]),
                "responses": {"200": ok_empty, **_errors(400, 401, 413, 503)}}},
            "/grasshopper": {"post": {
                "summary": "Grasshopper sub-key (signed with the master cks)", "security": signed,
                "requestBody": _form({"ttl": {"type": "string", "pattern": "^[1-9][0-9]{0,8}$"}, "scope": _SCOPE,
                                      "client_id": _NON_EMPTY, **_ASSERTION}),
                "responses": {"201": _json(sub_key, "sub-key issued"), **_errors(400, 401, 413, 429, 503)}}},
            "/realms/{realm}/scopes": {"get": {
                "summary": "The realm's scopes, documented (name, title, description, icon_uri)",
                "parameters": [{"name": "realm", "in": "path", "required": True, "schema": _STR}],
                "responses": {"200": _json(scope_document, "scope document"), **_errors(404, 503)}}},
            "/health/alive": {"get": {"summary": "liveness", "responses": {"200": _json({"type": "object"}, "up"),
                                                                           **_errors()}}},
            "/health/ready": {"get": {"summary": "readiness", "responses": {
                "200": _json({"type": "object"}, "database reachable"), **_errors(503)}}},
        },
        "components": {
            "schemas": {"Error": _ERROR, "RequestSubmitted": {
                "allOf": [{"$ref": "#/components/schemas/Error"}],
                "required": ["error", "ticket", "interval"],
                "properties": {"error": {"const": "request_submitted"}, "ticket": _STR,
                               "interval": {"type": "integer"}}}},
            "securitySchemes": {
                "sph": {"type": "http", "scheme": "basic", "description": "sph:sph_secret"},
                "bearer": {"type": "http", "scheme": "bearer"},
                "httpMessageSignature": {"type": "apiKey", "in": "header", "name": "Signature",
                                         "description": "RFC 9421 hmac-sha256, keyid = ck (docs/protocol.md §5a)"},
                "oauth1": {"type": "apiKey", "in": "header", "name": "Authorization",
                           "description": "RFC 5849 HMAC-SHA256 (docs/protocol.md §5b)"},
            },
        },
    }


async def handle(request: web.Request) -> web.Response:
    return web.json_response(document(context(request).settings.issuer))
