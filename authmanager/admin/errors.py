"""Errors of the console and the admin API.

The API answers in the AM's style (:mod:`authmanager.errors`): ``{"error", "error_description"}``
JSON with ``Cache-Control: no-store``, rendered by the app's error middleware. The console
renders the same errors as a readable HTML page with the same status code."""

from __future__ import annotations

from ..errors import OAuthError
from ..signin.csrf import CsrfRefused

__all__ = ["AccessDenied", "CsrfRefused", "InvalidToken", "NotSignedIn"]


class InvalidToken(OAuthError):
    """RFC 6750 §3.1: no, an unknown or a revoked admin API token."""

    error = "invalid_token"
    status_code = 401

    def __init__(self, description: str = "a valid admin API token is required"):
        super().__init__(description, headers={"WWW-Authenticate": 'Bearer realm="admin", error="invalid_token"'})


class AccessDenied(OAuthError):
    """The admin may not touch this realm (or needs every realm for this operation)."""

    error = "access_denied"
    status_code = 403


class NotSignedIn(OAuthError):
    """A console POST without a live session (GETs are redirected to the sign-in page)."""

    error = "not_signed_in"
    status_code = 403
