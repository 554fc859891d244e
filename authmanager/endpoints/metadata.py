"""RFC 8414 authorization server metadata at ``/.well-known/oauth-authorization-server``."""

from __future__ import annotations

from aiohttp import web

from ..client_auth import ALL_METHODS, public
from ..client_auth.jwt_assertion import SIGNING_ALGS
from ..context import context
from ..errors import json_response
from ..storage import realms as realm_repo

PATH = "/.well-known/oauth-authorization-server"


def document(issuer: str, scopes: list[str]) -> dict:
    """RFC 8414 §2 fields. Every URL derives from the configured issuer, never the Host header.

    Issue 12: the authorization endpoint (RFC 6749 §4.1, ``code`` only), PKCE S256 only (RFC 7636
    §4.2, RFC 8414 ``code_challenge_methods_supported``), RFC 9207 ``iss`` in every authorization
    response, client ID metadata documents (draft-ietf-oauth-client-id-metadata-document
    ``client_id_metadata_document_supported``), and public clients (``none``).

    Issue 13: RFC 7523 client assertions (``client_secret_jwt``, ``private_key_jwt``) beside the
    request signatures; ``*_auth_signing_alg_values_supported`` (RFC 8414 §2) names the JWS
    algorithms of those assertions only (RFC 9421/5849 signatures are HMAC-SHA256 by method)."""
    base = issuer.rstrip("/")
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{base}/authorize",
        "token_endpoint": f"{base}/token",
        "registration_endpoint": f"{base}/register",
        "introspection_endpoint": f"{base}/introspect",
        "revocation_endpoint": f"{base}/revoke",
        "jwks_uri": f"{base}/jwks.json",
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials", "ticket",
                                  "urn:ietf:params:oauth:grant-type:uma-ticket"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,
        "client_id_metadata_document_supported": True,
        "token_endpoint_auth_methods_supported": [*ALL_METHODS, public.METHOD],
        "token_endpoint_auth_signing_alg_values_supported": list(SIGNING_ALGS),
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", *ALL_METHODS, public.METHOD],
        "revocation_endpoint_auth_signing_alg_values_supported": list(SIGNING_ALGS),
        "scopes_supported": scopes,
        "protectserve_revocation_feed": f"{base}/feed",
        "protectserve_grasshopper_endpoint": f"{base}/grasshopper",
    }


async def handle(request: web.Request) -> web.Response:
    ctx = context(request)
    async with ctx.sessions() as session:
        scopes = await realm_repo.all_scope_names(session)
    resp = json_response(document(ctx.settings.issuer, scopes))
    resp.headers["Cache-Control"] = "public, max-age=300"
    del resp.headers["Pragma"]
    return resp
