"""One lookup for every client the authorization and token endpoints meet: a consumer key
registered at ``/register`` (its RFC 7591 metadata in ``consumers.client_metadata``) or a client ID
metadata document URL (:class:`~.cimd.MetadataDocuments`). No aiohttp here.

``find`` answers ``None`` for an unknown or revoked consumer key; a document that cannot be fetched
or read raises :class:`~authmanager.errors.ClientMetadataDocumentError` (the authorization endpoint
shows it on its error page, never as a redirect)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from . import ClientInfo
from .metadata_document import is_client_id_url
from .registration import SIGNING_METHOD


class _Keys(Protocol):
    async def active(self, client_id: str) -> Any: ...


class _Documents(Protocol):
    async def get(self, client_id: str) -> ClientInfo: ...


def from_registration(client_id: str, metadata: dict[str, Any]) -> ClientInfo:
    """The :class:`ClientInfo` of a registered consumer key, from the metadata it registered."""
    return ClientInfo(
        client_id=client_id,
        client_name=str(metadata.get("client_name") or "unnamed consumer"),
        redirect_uris=tuple(metadata.get("redirect_uris") or ()),
        # Only an explicit ``none`` is public: keys registered before public clients existed,
        # grasshopper sub-keys and CLI-made keys name no method, and they sign.
        auth_method=str(metadata.get("token_endpoint_auth_method") or SIGNING_METHOD),
        grant_types=tuple(metadata.get("grant_types") or ("client_credentials",)),
        logo_uri=metadata.get("logo_uri"),
        client_uri=metadata.get("client_uri"),
        source="registered",
    )


class ClientRegistry:
    def __init__(self, *, keys: _Keys, documents: _Documents, allow_private_targets: bool = False,
                 now: Callable[[], float] = time.time):
        self._keys, self._documents, self._private, self._now = keys, documents, allow_private_targets, now

    def names_document(self, client_id: str) -> bool:
        return is_client_id_url(client_id, allow_private_targets=self._private)

    async def find(self, client_id: str) -> ClientInfo | None:
        if self.names_document(client_id):
            return await self._documents.get(client_id)
        key = await self._keys.active(client_id)  # read now: a revoked key is None at once
        if key is None or (key.expires_at is not None and key.expires_at <= self._now()):
            return None
        return from_registration(key.client_id, key.client_metadata)
