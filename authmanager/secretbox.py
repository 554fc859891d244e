"""Secrets at rest.

* Secrets the AM must use again (consumer secrets ``cks``, signing keys) are sealed with
  AES-256-GCM under a server key that lives outside the database (a 0600 key file or the
  ``AUTHMANAGER_SECRET_KEY`` environment variable). A copy of the database alone reveals none.
* Bearer values the AM only has to recognise (``sph_secret``, access tokens) are stored as
  SHA-256 digests. They carry 256 random bits, so a fast hash is enough (no password KDF
  needed); comparison is constant-time.
* Every identifier and secret the AM generates comes from :func:`random_secret` (the server key
  from :func:`random_bytes`): base64url that never begins with ``-``, so a command line never
  takes one for an option (``--sph -H7u…``, ``consumer revoke -abc…``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_NONCE = 12
_B64U = re.compile(r"[A-Za-z0-9_-]+")


class ServerKeyError(ValueError):
    """A server key that cannot be used (unreadable, not base64url, not 32 bytes). The message
    names where the key came from, never the key."""


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


#: The base64url value of ``-``: a first byte ``0xf8``–``0xfb`` (its top six bits) encodes to it.
_DASH = 62


def random_bytes(nbytes: int = 32) -> bytes:
    """``nbytes`` random bytes whose base64url form does not begin with ``-``.

    Draws are repeated until the first character is not ``-`` (rejection sampling), so the
    result is uniform over the other 63/64 of the values: log2(64/63) ≈ 0.023 bits fewer than
    ``8 * nbytes`` (255.98 bits for 32 bytes, 127.98 for 16, 95.98 for 12). Length, alphabet and
    every later character are unchanged."""
    if nbytes < 1:
        raise ValueError("nbytes must be positive")
    while True:
        data = secrets.token_bytes(nbytes)
        if data[0] >> 2 != _DASH:
            return data


def random_secret(nbytes: int = 32) -> str:
    """A base64url random string of ``nbytes`` random bytes (default 256 bits, less 0.023: see
    :func:`random_bytes`), never beginning with ``-``."""
    return b64u(random_bytes(nbytes))


def digest(value: str) -> str:
    """SHA-256 of a high-entropy bearer value, hex."""
    return hashlib.sha256(value.encode()).hexdigest()


def digest_matches(value: str, stored: str) -> bool:
    return hmac.compare_digest(digest(value), stored)


class SecretBox:
    """AES-256-GCM sealing with associated data binding a ciphertext to its row."""

    def __init__(self, key: bytes):
        if len(key) != 32:
            raise ValueError("server key must be 32 bytes")
        self._aead = AESGCM(key)
        self._key = key

    def derive(self, purpose: str, length: int = 32) -> bytes:
        """A key for another use (e.g. the admin console's session cookies), derived from the
        server key with HKDF-SHA256 (RFC 5869), ``purpose`` as the info: nothing new is stored."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        return HKDF(algorithm=hashes.SHA256(), length=length, salt=None,
                    info=b"protectserve/" + purpose.encode()).derive(self._key)

    def seal(self, plaintext: bytes, *, aad: str) -> str:
        nonce = os.urandom(_NONCE)
        return b64u(nonce + self._aead.encrypt(nonce, plaintext, aad.encode()))

    def open(self, sealed: str, *, aad: str) -> bytes:
        raw = unb64u(sealed)
        return self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], aad.encode())

    @classmethod
    def from_settings(cls, *, secret_key: str | None, key_file: Path, create: bool = True) -> "SecretBox":
        """The key from ``secret_key`` (setting or ``AUTHMANAGER_SECRET_KEY``) or from ``key_file``,
        which is created (0600) if absent and ``create``. Anything unusable: ``ServerKeyError``."""
        if secret_key:
            return cls(_server_key(secret_key, "secret_key (AUTHMANAGER_SECRET_KEY)"))
        try:
            return cls(_server_key(key_file.read_text(encoding="ascii").strip(), f"server key file {key_file}"))
        except FileNotFoundError:
            if not create:
                raise ServerKeyError(f"server key file {key_file} not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else "not base64url text"
            raise ServerKeyError(f"cannot read server key file {key_file}: {why}") from None
        key = random_bytes(32)  # its base64url form is handled like the other secrets
        try:
            key_file.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it since we looked
            return cls.from_settings(secret_key=None, key_file=key_file, create=False)
        except OSError as exc:
            raise ServerKeyError(f"cannot create server key file {key_file}: {exc.strerror}") from None
        with os.fdopen(fd, "w") as fh:
            fh.write(b64u(key) + "\n")
        return cls(key)


def _server_key(text: str, source: str) -> bytes:
    """A base64url server key (strict: no other characters) of exactly 32 bytes."""
    if not _B64U.fullmatch(text) or len(text) % 4 == 1:
        raise ServerKeyError(f"{source} is not base64url (43 characters of A-Z a-z 0-9 - _)")
    key = unb64u(text)
    if len(key) != 32:
        raise ServerKeyError(f"{source} holds {len(key)} bytes; a server key has 32")
    return key
