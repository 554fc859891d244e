"""Typed failures of the ProtectServe handshake.

Every exception carries the OAuth ``error`` code when the other party sent one
(RFC 6749 §5.2, RFC 7591 §3.2.2, RFC 6750 §3.1), so callers can branch on it
without parsing messages. Messages never contain secrets or tokens.
"""

from __future__ import annotations


class ProtectServeError(Exception):
    """Base class: the consumer could not obtain (or use) an access token."""

    def __init__(
        self,
        message: str,
        *,
        error: str | None = None,
        description: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.error = error
        self.description = description
        self.status = status


class ChallengeError(ProtectServeError):
    """The 401/403 ``WWW-Authenticate`` challenge is missing or malformed (RFC 6750 §3, RFC 9728 §5.1)."""


class MetadataError(ProtectServeError):
    """Resource (RFC 9728) or AM (RFC 8414) metadata is unavailable or must not be used."""


class RegistrationError(ProtectServeError):
    """Dynamic client registration failed (RFC 7591 §3.2.2)."""


class TokenRequestError(ProtectServeError):
    """The token endpoint refused the request (RFC 6749 §5.2)."""

    def __init__(self, error: str | None, description: str | None = None, status: int | None = None) -> None:
        message = f"token request failed: {error or 'unexpected response'}"
        if status is not None:
            message += f" (HTTP {status})"
        if description:
            message += f": {description}"
        super().__init__(message, error=error, description=description, status=status)


class AccessDenied(TokenRequestError):
    """The realm's policies, or its owner, deny the request: ``403 request_denied`` (UMA 2.0
    grant §3.3.6). ``ticket`` is the ticket of the request the owner denied, if there was one."""

    def __init__(self, error: str | None, description: str | None = None, status: int | None = None, *,
                 ticket: str | None = None) -> None:
        super().__init__(error, description, status)
        self.ticket = ticket


class AccessPending(TokenRequestError):
    """The realm owner has not answered within the approval timeout (UMA 2.0 grant §3.3.6
    ``request_submitted``). The request stays pending at the AM; its ``ticket`` is kept in the
    credential store for ``resource``, so the next request there polls instead of asking again."""

    def __init__(self, *, ticket: str, realm: str | None, issuer: str, resource: str, interval: int) -> None:
        super().__init__("request_submitted", "the realm owner has not decided yet; retry later", 403)
        self.ticket, self.realm, self.issuer = ticket, realm, issuer
        self.resource, self.interval = resource, interval

    def __repr__(self) -> str:  # never the ticket
        return f"AccessPending(realm={self.realm!r}, issuer={self.issuer!r}, resource={self.resource!r})"


class LoginError(ProtectServeError):
    """A native application's login (RFC 8252, authorization code + PKCE) did not complete."""


class AuthorizationError(LoginError):
    """The authorization response is an RFC 6749 §4.1.2.1 error (e.g. ``access_denied``), with the
    ``error`` and ``error_description`` the AM put in the redirect."""

    def __init__(self, error: str, description: str | None = None) -> None:
        message = f"authorization failed: {error}" + (f": {description}" if description else "")
        super().__init__(message, error=error, description=description)


class RedirectRejected(LoginError):
    """The redirect cannot be the answer to this login: wrong ``state`` (RFC 6749 §10.12, CSRF),
    wrong or missing ``iss`` (RFC 9207 §2.4, mix-up), or no ``code``. Nothing is exchanged."""


class LoginTimeout(LoginError):
    """No redirect reached the loopback receiver in time."""


class LoginRequired(ProtectServeError):
    """The stored login for ``resource`` cannot be refreshed (no refresh token, or the AM refused it
    with ``invalid_grant``): the person has to log in again. Never a silent fallback."""

    def __init__(self, resource: str, *, error: str | None = None, description: str | None = None) -> None:
        super().__init__(f"log in again: python -m consumer_sdk login {resource}", error=error,
                         description=description)
        self.resource = resource


class StoreError(ProtectServeError):
    """The credential store cannot be read or written."""
