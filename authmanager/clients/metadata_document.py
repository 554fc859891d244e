"""What a client ID metadata document URL and its document may be (draft-ietf-oauth-client-id-
metadata-document; section numbers are those of -01, whose titles later revisions keep). No
aiohttp here: :mod:`.cimd` fetches and caches.

* :func:`is_client_id_url` — §3 "Client Identifier": which ``client_id`` values name a document.
* :func:`parse` and :func:`read_document` — §4.1 "Client Metadata Document": a JSON object whose
  ``client_id`` is the URL, read into the :class:`ClientInfo` the dialog and the grants use.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from yarl import URL

from ..errors import ClientMetadataDocumentError, InvalidRedirectUri
from ..outbound.guard import numeric_trick
from . import PUBLIC, ClientInfo
from .redirect_uris import check_all, is_loopback_host


class _Refused(Exception):  # why a document is refused; read_document raises it as ClientMetadataDocumentError
    pass


MAX_URL_LENGTH = 2000
MAX_NAME_LENGTH = 100
#: §6.2: "clients MAY establish credentials ... by publishing the public key in their metadata
#: document". ``private_key_jwt`` (with ``jwks``/``jwks_uri``) joins this set when client
#: assertions arrive; until then it is refused by name in ``_auth_method``.
AUTH_METHODS = frozenset({PUBLIC})
#: §4.1: "MUST NOT include client_secret_post, client_secret_basic, client_secret_jwt, or any
#: other method based around a shared symmetric secret" and "the client_secret and
#: client_secret_expires_at properties MUST NOT be used".
SHARED_SECRET_METHODS = frozenset({"client_secret_basic", "client_secret_post", "client_secret_jwt"})
FORBIDDEN_FIELDS = ("client_secret", "client_secret_expires_at")
GRANT_TYPES = ("authorization_code", "refresh_token")
_NOT_DISPLAYABLE = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}  # controls, bidi overrides, zero-widths


def url_problem(value: object, allow_private_targets: bool) -> str | None:
    """Why ``value`` is not a client ID metadata document URL (§3), or None."""
    if not isinstance(value, str) or not value or len(value) > MAX_URL_LENGTH:
        return f"a client ID URL is a string of at most {MAX_URL_LENGTH} characters"
    if not all(0x20 < ord(c) < 0x7F for c in value):
        return "a client ID URL has no spaces, control or non-ASCII characters"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a bad port ("MAY contain a port")
        canonical = str(URL(value))
    except ValueError:
        return "not a URL"
    loopback_http = parts.scheme == "http" and allow_private_targets and is_loopback_host(parts.hostname)
    if parts.scheme != "https" and not loopback_http:
        return "a client ID URL MUST have an https scheme" + (
            " (or http on a loopback host, since private targets are allowed)" if allow_private_targets else "")
    if not parts.hostname or "@" in parts.netloc:
        return "a client ID URL has a host and MUST NOT contain a username or password"
    if "#" in value:
        return "a client ID URL MUST NOT contain a fragment"
    if "?" in value:  # "SHOULD NOT include a query string": refused, so the URL is the document
        return "a client ID URL may not include a query string"
    if parts.path in ("", "/"):
        return "a client ID URL MUST contain a path component"
    if any(segment in (".", "..") for segment in parts.path.split("/")):
        return "a client ID URL MUST NOT contain single-dot or double-dot path segments"
    if numeric_trick(parts.hostname):
        return "a client ID URL may not use a numeric shorthand host"
    if canonical != value:  # what would be fetched differs from what was named (%2e%2e, case, :443)
        return f"a client ID URL must be written in canonical form ({_short(canonical)})"
    return None


def is_client_id_url(value: object, *, allow_private_targets: bool = False) -> bool:
    """Whether ``client_id`` names a metadata document (§3 "Client Identifier"): "Client
    identifier URLs MUST have an "https" scheme, MUST contain a path component, MUST NOT contain
    single-dot or double-dot path segments, MUST NOT contain a fragment component and MUST NOT
    contain a username or password. Client identifier URLs SHOULD NOT include a query string
    component, and MAY contain a port."

    Chosen here: a path other than ``/``; no query string at all (the SHOULD NOT, made strict);
    any port; no numeric-shorthand host; and the URL in canonical form (``str(yarl.URL(v)) == v``:
    lower-case host, no default port, no percent-encoded dot segments or needless escapes), so
    that the URL fetched is, character for character, the ``client_id`` the document must repeat.
    With ``allow_private_targets`` (tests, internal deployments) ``http`` on a loopback host
    (127.0.0.0/8, ``[::1]``, ``localhost``) is admitted too."""
    return url_problem(value, allow_private_targets) is None


def _short(text: object, limit: int = 80) -> str:
    text = repr(text) if not isinstance(text, str) else text
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _auth_method(doc: Mapping[str, Any]) -> str:
    method = doc.get("token_endpoint_auth_method", PUBLIC)
    if not isinstance(method, str):
        raise _Refused("token_endpoint_auth_method must be a string")
    if method in AUTH_METHODS:
        return method
    if method in SHARED_SECRET_METHODS or method.startswith("client_secret"):
        raise _Refused(f"token_endpoint_auth_method {method} needs a shared secret, which a metadata "
                       "document cannot establish; use none (a public client with PKCE)")
    if method == "private_key_jwt":
        raise _Refused("token_endpoint_auth_method private_key_jwt (keys in jwks or jwks_uri) is not "
                       "supported by this authorization server yet; use none (a public client with PKCE)")
    raise _Refused(f"token_endpoint_auth_method {_short(method)} is not supported; "
                   "use none (a public client with PKCE)")


def _string_list(doc: Mapping[str, Any], name: str, default: list[str]) -> list[str]:
    value = doc.get(name, default)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise _Refused(f"{name} must be a non-empty list of strings")
    return value


def _grant_types(doc: Mapping[str, Any]) -> tuple[str, ...]:
    """RFC 7591 §2 (default ``authorization_code``). Grants this AM does not serve to such a
    client (``urn:ietf:params:oauth:grant-type:device_code`` in VS Code's document, ...) are left
    out, as RFC 7591 §2 lets an AS "replace any of the client's requested metadata values"; the
    token endpoint allows a client only the grants in its ``ClientInfo``."""
    requested = _string_list(doc, "grant_types", ["authorization_code"])
    if "authorization_code" not in requested:
        raise _Refused("grant_types must include authorization_code")
    if "code" not in _string_list(doc, "response_types", ["code"]):
        raise _Refused("response_types must include code")
    return tuple(g for g in GRANT_TYPES if g in requested)


def _client_name(doc: Mapping[str, Any], default: str) -> str:
    name = doc.get("client_name")
    if name is None:
        return default
    if not isinstance(name, str):
        raise _Refused("client_name must be a string")
    name = name.strip()
    if len(name) > MAX_NAME_LENGTH:
        raise _Refused(f"client_name is longer than {MAX_NAME_LENGTH} characters")
    if any(unicodedata.category(c) in _NOT_DISPLAYABLE for c in name):
        raise _Refused("client_name contains control, format (e.g. bidirectional) or unassigned characters")
    return name or default


def _display_url(doc: Mapping[str, Any], name: str, allow_private_targets: bool) -> str | None:
    """``logo_uri`` / ``client_uri``: shown (and the logo loaded by the person's browser) in the
    dialog, so only https, or http on loopback when private targets are allowed."""
    value = doc.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_URL_LENGTH or not all(0x20 < ord(c) < 0x7F for c in value):
        raise _Refused(f"{name} must be a URL of at most {MAX_URL_LENGTH} printable ASCII characters")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018
    except ValueError:
        raise _Refused(f"{name} is not a URL") from None
    ok_scheme = parts.scheme == "https" or (
        parts.scheme == "http" and allow_private_targets and is_loopback_host(parts.hostname))
    if not ok_scheme or not parts.hostname or "@" in parts.netloc or numeric_trick(parts.hostname):
        raise _Refused(f"{name} must be an https URL with a host and no user information")
    return value


def read_document(client_id: str, doc: object, *, allow_private_targets: bool = False) -> ClientInfo:
    """The ``ClientInfo`` of a parsed document (§4.1 "Client Metadata Document"): "MUST contain a
    client_id property whose value MUST match the URL of the document using simple string
    comparison"; ``redirect_uris`` required and checked like a registration's (§4.5; RFC 9700
    exact matching); no shared secret (§4.1). Unknown members are ignored (RFC 7591 §2).
    Else ``ClientMetadataDocumentError`` saying why."""
    try:
        return _read(client_id, doc, allow_private_targets)
    except _Refused as exc:
        raise ClientMetadataDocumentError(client_id, str(exc)) from None


def _read(client_id: str, doc: object, allow_private_targets: bool) -> ClientInfo:
    if not isinstance(doc, dict):
        raise _Refused("is not a JSON object")
    if doc.get("client_id") != client_id:
        raise _Refused(f"its client_id ({_short(doc.get('client_id'))}) is not the URL it was fetched from")
    for name in FORBIDDEN_FIELDS:
        if name in doc:
            raise _Refused(f"contains {name}, which a metadata document MUST NOT use")
    auth_method = _auth_method(doc)
    try:
        redirect_uris = check_all(doc.get("redirect_uris"))
    except InvalidRedirectUri as exc:
        raise _Refused(f"redirect_uris: {exc.description}") from None
    grant_types = _grant_types(doc)
    host = urlsplit(client_id).hostname or client_id
    return ClientInfo(
        client_id=client_id, client_name=_client_name(doc, host), redirect_uris=redirect_uris,
        auth_method=auth_method, grant_types=grant_types,
        logo_uri=_display_url(doc, "logo_uri", allow_private_targets),
        client_uri=_display_url(doc, "client_uri", allow_private_targets), source="metadata_document")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Duplicate members are refused: two parsers could otherwise read two different documents."""
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _Refused("is not valid JSON: it has duplicate member names")
    return out


def _no_constant(name: str) -> None:
    raise _Refused(f"is not valid JSON: {name} is no JSON number")


def parse(client_id: str, body: bytes) -> object:
    """The JSON value of a document's body (RFC 8259: UTF-8 §8.1, unique names §4, no NaN or
    Infinity §6), else ``ClientMetadataDocumentError``."""
    try:
        return json.loads(body.decode("utf-8"), object_pairs_hook=_object, parse_constant=_no_constant)
    except _Refused as exc:
        raise ClientMetadataDocumentError(client_id, str(exc)) from None
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ClientMetadataDocumentError(client_id, "is not valid JSON") from None
