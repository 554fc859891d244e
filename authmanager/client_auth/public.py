"""``token_endpoint_auth_method: none`` (RFC 7591 §2): a *public* client (OAuth 2.1 §2.1, RFC 6749
§2.1), which has no credentials. It identifies itself by ``client_id`` in the form (RFC 6749
§3.2.1: "A client MAY use the client_id request parameter to identify itself when sending
requests to the token endpoint") and sends no signature; its codes are bound to a PKCE
challenge instead (RFC 7636). No aiohttp here.

Beside :func:`authmanager.client_auth.verify` (the signature methods, for confidential clients)
this is the third way a client is known at the token and revocation endpoints:

* :func:`carries_signature` says which applies: a request that carries a signature is judged by
  its signature alone (a public client's "signature" is refused there: it has no secret);
* :func:`verify` answers the public client a request names, or ``invalid_client`` (no or an
  unknown ``client_id``, a client that is confidential, so must sign, or a metadata document
  that cannot be read). Every cause gets the same body (:class:`~authmanager.errors.InvalidClient`).

What a public client may do is limited by the grants (only ``authorization_code`` and
``refresh_token``, :mod:`authmanager.grants.authorization_code`), never by this module.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from ..clients import PUBLIC, ClientInfo
from ..errors import ClientMetadataDocumentError, InvalidClient
from ..identifiers import is_text
from . import jwt_assertion

if TYPE_CHECKING:
    from . import RequestView

METHOD = PUBLIC
DESCRIPTION = "none: a public client (client_id in the form, PKCE; OAuth 2.1 §2.1)"
MAX_CLIENT_ID = 512

FindClient = Callable[[str], Awaitable[ClientInfo | None]]


def carries_signature(request: "RequestView") -> bool:
    """Whether the request carries client authentication: an RFC 9421 or RFC 5849 signature or
    an RFC 7523 client assertion (as :func:`authmanager.client_auth.verify` detects them)."""
    if jwt_assertion.carried(request.form):
        return True
    if "Signature-Input" in request.headers or "Signature" in request.headers:
        return True
    if request.headers.get("Authorization", "").lstrip().lower().startswith("oauth "):
        return True
    return "oauth_signature" in (request.form or {})


async def verify(request: "RequestView", find_client: FindClient) -> ClientInfo:
    """The public client the request's ``client_id`` names; else ``InvalidClient``."""
    if carries_signature(request):
        raise InvalidClient("a signed request is not a public client's")
    if request.headers.get("Authorization"):
        raise InvalidClient("unsupported Authorization scheme at the token endpoint")
    client_id = (request.form or {}).get("client_id")
    if not client_id:
        raise InvalidClient("no client authentication and no client_id")
    if len(client_id) > MAX_CLIENT_ID or not is_text(client_id, max_len=MAX_CLIENT_ID):
        raise InvalidClient("malformed client_id")
    try:
        client = await find_client(client_id)
    except ClientMetadataDocumentError as exc:
        raise InvalidClient(f"client metadata document: {exc.reason}") from None
    if client is None:
        raise InvalidClient("unknown client_id")
    if not client.public:
        raise InvalidClient("a confidential client must sign its request")
    return client
