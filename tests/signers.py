"""Test-side request signers built directly on the independent libraries (not on consumer_sdk),
so that AM tests double as interop evidence."""

from __future__ import annotations

import secrets
import time
from datetime import datetime, timezone
from urllib.parse import urlencode

from http_message_signatures import HTTPMessageSigner, algorithms
from http_message_signatures.resolvers import HTTPSignatureKeyResolver
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA256, Client

FORM = "application/x-www-form-urlencoded"


class _Key(HTTPSignatureKeyResolver):
    def __init__(self, secret: str):
        self.secret = secret

    def resolve_private_key(self, key_id: str) -> bytes:
        return self.secret.encode()


class _Msg:
    def __init__(self, method: str, url: str, headers: dict[str, str]):
        self.method, self.url, self.headers = method, url, headers


def sign_9421(url: str, body: bytes, ck: str, cks: str, *, created: float | None = None, nonce: str | None = None,
              components: tuple[str, ...] = ("@method", "@target-uri", "content-digest"),
              method: str = "POST", expires: float | None = None) -> dict[str, str]:
    """Headers for an RFC 9421 hmac-sha256 signed request (via http-message-signatures)."""
    msg = _Msg(method, url, {"Content-Type": FORM})
    HTTPMessageSigner(signature_algorithm=algorithms.HMAC_SHA256, key_resolver=_Key(cks)).sign(
        msg, key_id=ck, created=datetime.fromtimestamp(created if created is not None else time.time(), timezone.utc),
        expires=datetime.fromtimestamp(expires, timezone.utc) if expires is not None else None,
        nonce=nonce or secrets.token_urlsafe(16), covered_component_ids=components, body=body,
    )
    return dict(msg.headers)


def sign_5849(url: str, body: bytes, ck: str, cks: str, *, timestamp: float | None = None,
              nonce: str | None = None) -> dict[str, str]:
    """Headers for an RFC 5849 HMAC-SHA256 signed request (via oauthlib's OAuth1 client)."""
    client = Client(ck, client_secret=cks, signature_method=SIGNATURE_HMAC_SHA256,
                    timestamp=str(int(timestamp if timestamp is not None else time.time())),
                    nonce=nonce or secrets.token_hex(16))
    _, headers, _ = client.sign(url, "POST", body.decode(), {"Content-Type": FORM})
    return dict(headers)


def token_form(sph: str, scope: str, grant_type: str = "client_credentials") -> bytes:
    return urlencode({"grant_type": grant_type, "sph": sph, "scope": scope}).encode()


SIGNERS = {"rfc9421": sign_9421, "rfc5849": sign_5849}
