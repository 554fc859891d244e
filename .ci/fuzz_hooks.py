"""Schemathesis hooks for ``.ci/fuzz`` (loaded through ``SCHEMATHESIS_HOOKS``): credentials, so
that generated requests reach past client authentication into the endpoints' own logic.

``.ci/fuzz`` seeds the AM before the run — a realm with documented scopes, a permit policy and
an ask policy, a registered consumer and one access token — and names the JSON file holding
them in ``PROTECTSERVE_FUZZ_SEED``. Then, before every call:

* ``POST /token`` and ``POST /grasshopper``: the exact body about to be sent is signed with the
  consumer's secret (``consumer_sdk.signing.sign_token_request``, RFC 9421 or RFC 5849 in turn),
  with a fresh nonce and the current time, for the endpoint URL the AM verifies against;
* ``POST /introspect``: HTTP Basic ``sph:sph_secret``;
* ``POST /revoke``: Basic as the realm's SP, or signed as the consumer, in turn;
* ``GET /token``: ``Authorization: Bearer`` with the seeded token.

One request in four keeps whatever credentials were generated, so hostile ``Authorization``
headers stay fuzzed too. Generated client-credentials bodies of ``POST /token`` mostly name the
seeded realm's ``sph`` and scopes, introspection bodies the seeded token half of the time, and
``/realms/{realm}/scopes`` the seeded realm half of the time, so that tokens are really issued,
active tokens really introspected and scope documents really served.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import secrets
import time
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import schemathesis
from requests.models import RequestEncodingMixin
from schemathesis.core import NotSet

from consumer_sdk.signing import sign_token_request

SEED: dict[str, Any] = json.loads(Path(os.environ["PROTECTSERVE_FUZZ_SEED"]).read_text())
FORM = "application/x-www-form-urlencoded"
SIGNED = {("POST", "/token"), ("POST", "/grasshopper")}
_turn = itertools.count()


def _wire_body(body: Any) -> bytes:
    """The bytes Schemathesis' form serializer would send for ``body`` (via ``requests``)."""
    if body is None or isinstance(body, NotSet):
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    if isinstance(body, Mapping):
        return RequestEncodingMixin._encode_params(dict(body)).encode()
    return json.dumps(body).encode()


def _sign(case: Any, kwargs: dict[str, Any], method: str) -> None:
    body = _wire_body(case.body)

    def sign(method: str) -> dict[str, str]:
        return sign_token_request(method, method="POST", url=SEED["issuer"] + case.operation.path,
                                  headers={"Content-Type": FORM}, body=body, client_id=SEED["client_id"],
                                  client_secret=SEED["client_secret"], created=int(time.time()),
                                  nonce=secrets.token_urlsafe(16))

    try:
        headers = sign(method)
    except (ValueError, RuntimeError):  # oauthlib signs form bodies only; RFC 9421 signs any bytes
        headers = sign("rfc9421")
    kwargs["data"] = body  # exactly what was signed
    case.headers = {**(case.headers or {}), **headers}


def _basic() -> str:
    return "Basic " + base64.b64encode(f"{SEED['sph']}:{SEED['sph_secret']}".encode()).decode()


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    operation = (case.method.upper(), case.operation.path)
    turn = next(_turn)
    if turn % 4 == 3:
        return  # as generated
    method = "rfc9421" if turn % 3 else "rfc5849"
    if operation in SIGNED:
        _sign(case, kwargs, method)
    elif operation == ("POST", "/introspect"):
        case.headers = {**(case.headers or {}), "Authorization": _basic()}
    elif operation == ("POST", "/revoke"):
        if turn % 2:
            case.headers = {**(case.headers or {}), "Authorization": _basic()}
        else:
            _sign(case, kwargs, method)
    elif operation == ("GET", "/token"):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {SEED['access_token']}"}


def _half(value: Any) -> bool:
    """A stable coin per generated value (Hypothesis' own randomness stays in charge)."""
    return zlib.crc32(repr(value).encode()) % 2 == 0


@schemathesis.hook("map_body").apply_to(method="POST", path="/token")
def seeded_token_request(context: Any, body: Any) -> Any:
    """Client-credentials bodies: three in four name the seeded realm, two in four also some of
    its scopes (the first is permitted, the second asks the owner: see ``.ci/fuzz``)."""
    if isinstance(body, dict) and "sph" in body:
        coin = zlib.crc32(repr(body).encode())
        if coin % 4:
            body = {**body, "sph": SEED["sph"]}
            if coin % 4 != 1:
                permitted, asked = SEED["scopes"]
                body["scope"] = (permitted, asked, f"{permitted} {asked}")[coin // 4 % 3]
    return body


@schemathesis.hook("map_body").apply_to(method="POST", path="/introspect")
def seeded_introspection(context: Any, body: Any) -> Any:
    if isinstance(body, dict) and "token" in body and _half(body):
        return {**body, "token": SEED["access_token"]}
    return body


@schemathesis.hook("map_path_parameters").apply_to(method="GET", path_regex=r"^/realms/")
def seeded_realm(context: Any, path_parameters: Any) -> Any:
    if isinstance(path_parameters, dict) and _half(path_parameters):
        return {**path_parameters, "realm": SEED["realm"]}
    return path_parameters
