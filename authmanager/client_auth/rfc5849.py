"""RFC 5849 OAuth 1.0a signatures with ``HMAC-SHA256`` — the 2009-era encoding of "sign with cks".

* Protocol parameters come from exactly one place: the ``Authorization: OAuth`` header
  (§3.5.1) or the form body (§3.5.2); each appears once (§3.5: duplicates are refused).
* The signature base string (§3.4.1) covers the method, the base string URI (§3.4.1.2, from
  the AM's configured endpoint URL) and the request parameters (§3.4.1.3): the header's
  protocol parameters (not its ``realm``) and *the form the endpoint parsed and acts on*
  (``RequestView.form``), never a second reading of the body (oauthlib's own body reader
  silently reads nothing of a body holding ``[`` or a raw space, which let a signature made over
  one form authorise another). A body that was not read as a form is refused, never taken as
  empty. The endpoints take no query parameters (they are refused before this is reached), and
  a URL with a query is refused here too, so there is no third source.
* The HMAC key is ``cks&`` (§3.4.2: client secret, ``&``, empty token secret).
* Normalisation (§3.4.1.3.2), base string and comparison are oauthlib's
  (``signature.collect_parameters``, ``signature.verify_hmac_sha256``).
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
    form = request.form
    if form is None:
        if request.body:
            raise InvalidClient("the body was not read as a form")
        form = {}
    if urlsplit(request.url).query:
        raise InvalidClient("query parameters are not signed here")
    try:
        auth = request.headers.get("Authorization")
        header_params = oauth_signature.collect_parameters(
            headers={"Authorization": auth} if auth else None, exclude_oauth_signature=False
        )  # without the header's realm (§3.4.1.3.1)
        body_params = oauth_signature.collect_parameters(body=list(form.items()), exclude_oauth_signature=False)
    except Exception as exc:  # malformed header
        raise InvalidClient("malformed OAuth parameters") from exc
    sources = [filter_oauth_params(p) for p in (header_params, body_params)]
    sources = [s for s in sources if s]
    if len(sources) != 1:
        raise InvalidClient("OAuth parameters must come from exactly one place")
    oauth_params = sources[0]
    names = [name for name, _ in oauth_params]
    if len(names) != len(set(names)):
        raise InvalidClient("duplicated OAuth parameter")
    params = [(k, v) for k, v in header_params + body_params if k != "oauth_signature"]
    return params, dict(oauth_params)


async def verify(request: "RequestView", lookup_secret: "SecretLookup") -> tuple[str, str, int, None, str]:
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
    if not secret:  # unknown, or a public client's empty secret: never an HMAC key
        raise InvalidClient("unknown consumer key")
    checked = Request(request.url, request.method.upper(), "", {})  # the parameters are set below
    checked.params = params
    checked.signature = oauth["oauth_signature"]
    if not oauth_signature.verify_hmac_sha256(checked, client_secret=secret, resource_owner_secret=None):
        raise InvalidClient("signature mismatch")
    return client_id, oauth["oauth_nonce"], int(timestamp), None, METHOD
