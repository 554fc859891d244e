"""What the identifiers and texts a request carries may contain, defined once.

A string that the database cannot take fails its statement: PostgreSQL's text types cannot hold
NUL (asyncpg: ``CharacterNotInRepertoireError``), a value longer than its ``VARCHAR`` is refused,
and no driver can send a lone surrogate — what a non-UTF-8 byte of a header or of a command-line
argument decodes to (``surrogateescape``). In a transaction of its own that is one request's
500; in the token endpoint's group commit it was every request of the batch. So every string a
request, a form, a JSON body or a command line supplies is checked against its character set
here before it is queued, looked up or stored, and a value outside it is simply not one:

* **generated identifiers** — ``ck`` (client_id), ``sph``, ``jti``, admin API tokens: base64url
  (RFC 4648 §5), which is what :func:`authmanager.secretbox.random_secret` produces, at most
  64 characters (their columns' length);
* **nonces** — the characters of an RFC 8941 sf-string (``%x20-7E``), which is every RFC 9421
  nonce and every RFC 5849 nonce the usual libraries send (digits, hex, base64), 1-128;
* **names** an admin chooses — realms, admin accounts: letters, digits, ``-``, ``_``, ``.``, 1-100;
* **bearer values** (RFC 6750 §2.1 ``b64token``), looked up by digest only;
* **URLs** (RFC 3986 §2): printable ASCII without spaces;
* **free text** (titles, descriptions, client names, labels): any Unicode scalar value but NUL,
  bounded by its column;
* **row ids**: positive and within the ``INTEGER`` columns' range.

* **scope names**: RFC 6749 §3.3 scope-tokens, at most 100 characters.

No I/O and no aiohttp here.
"""

from __future__ import annotations

import re

#: The longest ck, sph or jti (their columns are ``VARCHAR(64)``).
MAX_KEY = 64
MAX_NONCE = 128
MAX_NAME = 100
#: The longest scope name (the realm scopes' column).
MAX_SCOPE = 100
MAX_URL = 2000
#: ``INTEGER`` ids (PostgreSQL ``int4``).
MAX_ROW_ID = 2**31 - 1
#: Unix times in ``BIGINT`` columns: up to 9999-12-31.
MAX_TIME = 253402300799

_KEY = re.compile(r"[A-Za-z0-9_-]{1,%d}" % MAX_KEY)
_NONCE = re.compile(r"[\x20-\x7e]{1,%d}" % MAX_NONCE)
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]{1,%d}" % MAX_SCOPE)
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_URL = re.compile(r"[\x21-\x7e]+")
_NOT_TEXT = re.compile("[\x00\ud800-\udfff]")


def is_key(value: object, *, max_len: int = MAX_KEY) -> bool:
    """A generated identifier: base64url, 1 to ``max_len`` characters."""
    return isinstance(value, str) and len(value) <= max_len and _KEY.fullmatch(value) is not None


def is_nonce(value: object) -> bool:
    """A request nonce: 1-128 printable ASCII characters (the characters of an RFC 8941 sf-string)."""
    return isinstance(value, str) and _NONCE.fullmatch(value) is not None


def is_name(value: object) -> bool:
    """A realm's or an admin's name: 1-100 letters, digits, ``-``, ``_`` or ``.``."""
    return (isinstance(value, str) and 0 < len(value) <= MAX_NAME
            and value.replace("-", "").replace("_", "").replace(".", "").isalnum())


def is_scope_token(value: object) -> bool:
    """An RFC 6749 §3.3 scope-token (printable ASCII but space, ``"`` and ``\\``), 1-100 characters."""
    return isinstance(value, str) and _SCOPE_TOKEN.fullmatch(value) is not None


def is_b64token(value: object, *, max_len: int = 8192) -> bool:
    """An RFC 6750 §2.1 ``b64token`` (what a bearer value can be), at most ``max_len`` characters."""
    return isinstance(value, str) and len(value) <= max_len and _B64TOKEN.fullmatch(value) is not None


def is_url_text(value: object, *, max_len: int = MAX_URL) -> bool:
    """Characters a URI may hold (RFC 3986 §2: printable ASCII, no space), at most ``max_len``."""
    return isinstance(value, str) and len(value) <= max_len and _URL.fullmatch(value) is not None


def is_text(value: object, *, max_len: int) -> bool:
    """Free text a database can store: no NUL, no lone surrogate, at most ``max_len`` characters."""
    return isinstance(value, str) and len(value) <= max_len and _NOT_TEXT.search(value) is None


def is_row_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ROW_ID


def is_time(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_TIME
