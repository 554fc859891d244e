"""RFC 5849 OAuth 1.0a signatures with ``HMAC-SHA256`` — the 2009-era encoding of "sign with cks".

* Protocol parameters come from exactly one place: the ``Authorization: OAuth`` header
  (§3.5.1) or the form body (§3.5.2); each appears once (§3.5: duplicates are refused).
* The signature base string (§3.4.1) covers the method, the base string URI (§3.4.1.2, from
  the AM's configured endpoint URL) and every request parameter, form body included (§3.4.1.3).
* The HMAC key is ``cks&`` (§3.4.2: client secret, ``&``, empty token secret).
* Base string and comparison are oauthlib's (``signature.verify_hmac_sha256``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from oauthlib.common import Request
from oauthlib.oauth1.rfc5849 import signature as oauth_signature
from oauthlib.oauth1.rfc5849.utils import filter_oauth_params

from ..errors import InvalidClient

if TYPE_CHECKING:
    from . import RequestView, SecretLookup

METHOD = "oauth1_hmac_sha256"
SIGNATURE_METHOD = "HMAC-SHA256"
_MANDATORY = ("oauth_consumer_key", "oauth_signature_method", "oauth_timestamp", "oauth_nonce", "oauth_signature")


def _collect(request: "RequestView") -> tuple[list[tuple[str, str]], dict[str, str]]:
    """Return (all parameters but the signature, the OAuth protocol parameters)."""
    try:
        body = request.body.decode()
        auth = request.headers.get("Authorization")
        header_params = oauth_signature.collect_parameters(
            headers={"Authorization": auth} if auth else None, exclude_oauth_signature=False, with_realm=True
        )
        body_params = oauth_signature.collect_parameters(body=body, exclude_oauth_signature=False)
        query_params = oauth_signature.collect_parameters(
            uri_query=urlsplit(request.url).query, exclude_oauth_signature=False
        )
    except Exception as exc:  # undecodable body, malformed header
        raise InvalidClient("malformed OAuth parameters") from exc
    sources = [filter_oauth_params(p) for p in (header_params, body_params, query_params)]
    sources = [s for s in sources if s]
    if len(sources) != 1:
        raise InvalidClient("OAuth parameters must come from exactly one place")
    oauth_params = sources[0]
    names = [name for name, _ in oauth_params]
    if len(names) != len(set(names)):
        raise InvalidClient("duplicated OAuth parameter")
    params = [(k, v) for k, v in header_params + body_params + query_params if k not in ("oauth_signature", "realm")]
    return params, dict(oauth_params)


async def verify(request: "RequestView", lookup_secret: "SecretLookup") -> tuple[str, str, int, str]:
    params, oauth = _collect(request)
    if any(not oauth.get(name) for name in _MANDATORY):
        raise InvalidClient("missing OAuth parameter")
    if oauth["oauth_signature_method"] != SIGNATURE_METHOD:
        raise InvalidClient("unsupported oauth_signature_method")
    if oauth.get("oauth_version", "1.0") != "1.0" or oauth.get("oauth_token"):
        raise InvalidClient("unsupported oauth_version or unexpected oauth_token")
    timestamp = oauth["oauth_timestamp"]
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise InvalidClient("malformed oauth_timestamp")
    client_id = oauth["oauth_consumer_key"]
    secret = await lookup_secret(client_id)
    if secret is None:
        raise InvalidClient("unknown consumer key")
    checked = Request(request.url, request.method.upper(), request.body.decode(), {})
    checked.params = params
    checked.signature = oauth["oauth_signature"]
    if not oauth_signature.verify_hmac_sha256(checked, client_secret=secret, resource_owner_secret=None):
        raise InvalidClient("signature mismatch")
    return client_id, oauth["oauth_nonce"], int(timestamp), METHOD
