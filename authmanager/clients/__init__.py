"""OAuth clients as the authorization endpoint and the token endpoint see them, whatever their
origin: a consumer key registered at ``/register`` (RFC 7591, stored in ``consumers``) or a
client identified by an https URL that names its own metadata document
(draft-ietf-oauth-client-id-metadata-document, IndieAuth's client model; :mod:`.cimd`).

Both are read into one :class:`ClientInfo`, so the dialog and the grants never ask where a client
came from. No aiohttp here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

#: RFC 7591 §2 ``token_endpoint_auth_method`` of a public client (OAuth 2.1 §2.1): no client
#: authentication at the token endpoint, PKCE always.
PUBLIC = "none"


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """What the AM knows of a client that may use the authorization endpoint."""

    client_id: str
    client_name: str
    #: Registered redirect URIs, compared exactly (RFC 9700 §4.1.1; loopback ports: RFC 8252 §7.3).
    redirect_uris: tuple[str, ...]
    #: ``none`` for a public client, else the client authentication method it registered.
    auth_method: str
    grant_types: tuple[str, ...]
    logo_uri: str | None = None
    client_uri: str | None = None
    #: ``registered`` (a consumer key) or ``metadata_document`` (its client_id is the URL).
    source: Literal["registered", "metadata_document"] = "registered"

    @property
    def public(self) -> bool:
        return self.auth_method == PUBLIC

    @property
    def verified_origin(self) -> str:
        """The host the dialog shows as the application's verified origin: the host of its
        client ID URL (a metadata document), else of its first redirect URI."""
        url = self.client_id if self.source == "metadata_document" else (self.redirect_uris or ("",))[0]
        return urlsplit(url).hostname or ""
