"""Where a person lands after signing in (issue 12 §1): back on the authorization request they
came from, never anywhere else. No aiohttp here.

``next`` is accepted only as a same-origin *relative* reference whose path is exactly
``/authorize``, optionally followed by a query: ``/authorize`` or ``/authorize?…``. Anything else
— an absolute URL, a scheme-relative ``//host``, a backslash (which browsers read as ``/``),
``/authorize/../admin``, an encoded or control character in the path, a fragment, more than
:data:`MAX_NEXT` characters — is ignored and the person lands on their own console page. So the
sign-in page is no open redirector (RFC 9700 §4.11)."""

from __future__ import annotations

from urllib.parse import urlsplit

from ..authorize import PATH

MAX_NEXT = 8000


def safe_next(value: object) -> str | None:
    """``value`` if it is an authorization request path on this AM, else None."""
    if not isinstance(value, str) or not value or len(value) > MAX_NEXT:
        return None
    if not value.isascii() or any(ord(c) <= 0x20 or ord(c) == 0x7F or c == "\\" for c in value):
        return None
    if value.partition("?")[0] != PATH or "#" in value:
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or parts.path != PATH:
        return None
    return value
