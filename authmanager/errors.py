"""OAuth error hierarchy (RFC 6749 §5.2, RFC 7591 §3.2.2, UMA 2.0 grant §3.3.6) and its renderer.

Every error carries ``error``, ``description``, ``status_code`` and extra ``headers``; one
function turns any of them into a JSON ``web.HTTPException`` with ``Cache-Control: no-store``.
"""

from __future__ import annotations

import json
from typing import ClassVar

from aiohttp import web


class OAuthError(Exception):
    error: ClassVar[str] = "invalid_request"
    status_code: ClassVar[int] = 400

    def __init__(self, description: str | None = None, *, headers: dict[str, str] | None = None):
        super().__init__(description or self.error)
        self.description = description
        self.headers = dict(headers or {})

    def body(self) -> dict[str, str]:
        out = {"error": self.error}
        if self.description:
            out["error_description"] = self.description
        return out


class InvalidRequest(OAuthError):
    error = "invalid_request"


class InvalidClient(OAuthError):
    """RFC 6749 §5.2. One identical body for every cause, so failures leak nothing."""

    error = "invalid_client"
    status_code = 401

    def __init__(self, description: str | None = None, *, headers: dict[str, str] | None = None):
        super().__init__("client authentication failed", headers=headers)
        #: Why, for logs only; never sent to the caller.
        self.reason = description or "unspecified"


class InvalidGrant(OAuthError):
    error = "invalid_grant"


class InvalidScope(OAuthError):
    error = "invalid_scope"


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"


class UnsupportedTokenType(OAuthError):
    error = "unsupported_token_type"


class InvalidClientMetadata(OAuthError):
    error = "invalid_client_metadata"


class InvalidRedirectUri(OAuthError):
    """RFC 7591 §3.2.2: a registered redirect URI that is not acceptable."""

    error = "invalid_redirect_uri"


class RequestDenied(OAuthError):
    """UMA 2.0 grant §3.3.6: the authorization server denies the request."""

    error = "request_denied"
    status_code = 403


class RecordedOutcome(OAuthError):
    """An answer that is not a token but whose bookkeeping must be kept (a pending request, a
    poll): ``storage.db.transaction`` commits the request's transaction, then raises it."""


class RequestSubmitted(RecordedOutcome):
    """UMA 2.0 grant §3.3.6: the owner must decide; poll with ``ticket`` every ``interval`` seconds."""

    error = "request_submitted"
    status_code = 403

    def __init__(self, *, ticket: str, interval: int, description: str | None = None):
        super().__init__(description or "the request awaits the realm owner's decision")
        self.ticket = ticket
        self.interval = interval

    def body(self) -> dict[str, object]:  # type: ignore[override]
        return {**super().body(), "ticket": self.ticket, "interval": self.interval}


class SlowDown(OAuthError):
    """RFC 8628 §3.5: still pending, and polled faster than ``interval``."""

    error = "slow_down"


class NotFound(OAuthError):
    """A public document that does not exist (e.g. the scopes of an unknown realm)."""

    error = "not_found"
    status_code = 404


class PayloadTooLarge(OAuthError):
    error = "invalid_request"
    status_code = 413


class ServerError(OAuthError):
    """The request failed on the server's side, alone (the body the error middleware gives any
    unexpected failure: ``{"error": "server_error"}``)."""

    error = "server_error"
    status_code = 500


class TemporarilyUnavailable(OAuthError):
    error = "temporarily_unavailable"
    status_code = 503

    def __init__(self, description: str | None = None, *, retry_after: int = 5):
        super().__init__(description, headers={"Retry-After": str(retry_after)})


NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def json_response(payload: object, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(payload, separators=(",", ":")).encode(),
        content_type="application/json",
        headers={**NO_STORE, **(headers or {})},
    )


_BY_STATUS: dict[int, type[web.HTTPException]] = {
    400: web.HTTPBadRequest,
    401: web.HTTPUnauthorized,
    403: web.HTTPForbidden,
    404: web.HTTPNotFound,
    429: web.HTTPTooManyRequests,
    500: web.HTTPInternalServerError,
    503: web.HTTPServiceUnavailable,
}


class _JSONError(web.HTTPException):
    """An HTTPException whose status is chosen at construction (for 413 and others)."""

    status_code = 400

    def __init__(self, status: int, **kwargs: object) -> None:
        self.status_code = status
        super().__init__(**kwargs)  # type: ignore[arg-type]


def to_http(err: OAuthError) -> web.HTTPException:
    """Render an OAuthError as the aiohttp exception to raise."""
    text = json.dumps(err.body(), separators=(",", ":"))
    headers = {**NO_STORE, **err.headers}
    cls = _BY_STATUS.get(err.status_code)
    if cls is None:
        return _JSONError(err.status_code, text=text, content_type="application/json", headers=headers)
    return cls(text=text, content_type="application/json", headers=headers)


class UnauthorizedClient(OAuthError):
    error = "unauthorized_client"


class InvalidTarget(OAuthError):
    """RFC 8707 §2: the ``resource`` is invalid, missing, unknown, malformed, or not the one the
    grant was made for."""

    error = "invalid_target"


class OutboundError(Exception):
    """An outbound push of the AM (ticket discovery or delivery) failed. The message is safe to
    show and log: it names URLs and statuses, never a ticket."""


class TargetRefused(OutboundError):
    """The SSRF guard refused the address a request would have connected to (docs/protocol.md §12)."""


def _printable(text: str, limit: int) -> str:
    """``text`` as one printable ASCII line of at most ``limit`` characters (else its ``ascii()``
    escape, cut with "..."), so a client-chosen value cannot break a log line or a page."""
    if not (text.isascii() and text.isprintable()):
        text = ascii(text)[1:-1]
    return text if len(text) <= limit else text[: limit - 3] + "..."


class ClientMetadataDocumentError(OAuthError):
    """draft-ietf-oauth-client-id-metadata-document: the document a URL ``client_id`` names could
    not be fetched, or is not acceptable ("If fetching the metadata document fails, the
    authorization server SHOULD abort the authorization request").

    For the authorization endpoint this is an unknown client: an error page, never a redirect
    (RFC 6749 §4.1.2.1). The message names the URL and the reason, each bounded and printable; it
    never contains the document's body, so it is safe to show and to log."""

    error = "invalid_client"

    def __init__(self, client_id: str, reason: str):
        self.client_id = client_id
        #: Why, in at most 300 printable characters (a field name, a status, a cap that was hit).
        self.reason = _printable(reason, 300)
        super().__init__(f"client metadata document {_printable(client_id, 200)}: {self.reason}")


class UnsupportedResponseType(OAuthError):
    """RFC 6749 §4.1.2.1: the authorization server does not support this ``response_type``."""

    error = "unsupported_response_type"


class AuthorizationDenied(OAuthError):
    """RFC 6749 §4.1.2.1 ``access_denied``: the person (or the realm's policies) denied the request."""

    error = "access_denied"
    status_code = 403


class UnknownClient(OAuthError):
    """RFC 6749 §4.1.2.1: a missing, invalid or unknown ``client_id``, or a redirect URI that does
    not match: the authorization endpoint shows an error page and MUST NOT redirect."""

    error = "invalid_request"
