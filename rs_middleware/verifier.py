"""Access-token verification at the resource server (docs/protocol.md §6–§8).

* ``JWKSVerifier`` — offline validation of RFC 9068 JWT access tokens against the AM's JWKS
  (RFC 7517): signature by ``joserfc`` with pinned algorithms (RFC 8725 §3.1), ``typ``
  ``at+jwt`` (RFC 9068 §4), ``iss``/``aud``/``exp``/``nbf``/``iat`` (RFC 7519 §4.1, §7.2), and
  ProtectServe's ``realm`` claim: it must name this SP's realm (docs/protocol.md §6, §7).
* ``IntrospectionVerifier`` — RFC 7662 §2 introspection with ``sph:sph_secret``; the answer's
  ``realm`` must name this SP's realm too.

``aud`` alone does not say which realm a token is for: the AM refuses a second realm on a
resource URL it already protects, and the SP checks ``realm`` as well, so neither alone has to
hold. A token without ``realm`` is refused (the AM always sets it).

Expiry follows ``claims.expired`` in both: refused from ``now >= exp + leeway`` on (RFC 7519
§4.1.4, ``exp`` exclusive) — the rule the token cache applies to its hits as well.

Both raise ``InvalidToken`` for a token that must be refused (→ 401 ``invalid_token``) and
``AMUnavailable`` when verification is impossible right now (→ 503).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import aiohttp
from joserfc import errors as jose, jwt
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from .am_client import AMUnavailable, fetch_json
from .claims import InvalidToken as InvalidToken, expired

Claims = Mapping[str, Any]
log = logging.getLogger("rs_middleware")

#: RFC 9068 §4: "at+jwt", compared case-insensitively, also with the "application/" prefix.
ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})
#: Header parameters that would let a token name its own key (RFC 8725 §3.10); refused.
KEY_REFERENCE_HEADERS = ("jku", "x5u", "jwk", "x5c")
_CLAIM_ERRORS = {
    "iss": "token issuer is not the authorization manager",
    "aud": "token audience is not this resource",
    "nbf": "token is not yet valid",
    "iat": "token issued in the future",
    "exp": "token expiry is not a number",
    "realm": "token is for another realm",
}


def check_realm(claims: Mapping[str, Any], realm: str) -> None:
    """The token (or introspection answer) is for ``realm``; ``InvalidToken`` otherwise."""
    if "realm" not in claims:
        raise InvalidToken("missing claim: realm")
    if claims["realm"] != realm:
        raise InvalidToken(_CLAIM_ERRORS["realm"])


class VerifierUnavailable(AMUnavailable):
    """No signing keys are known yet (the JWKS has never been fetched successfully)."""


class TokenVerifier(Protocol):
    """What the middleware needs from a verifier."""

    async def verify(self, token: str) -> Claims:
        """Return the token's claims or raise ``InvalidToken`` / ``AMUnavailable``."""
        ...


def _registry(algorithms: Sequence[str]) -> JWSRegistry:
    """A JWS registry pinned to ``algorithms`` that refuses key-reference and ``b64`` headers.

    joserfc never dereferences ``jku``/``x5u``/``jwk``/``x5c``; dropping them from the registry
    (strict header checking is on) makes such tokens fail outright.  ``b64`` (RFC 7797
    unencoded payload) has no place in a JWT either.
    """
    registry = JWSRegistry(algorithms=list(algorithms))
    for name in (*KEY_REFERENCE_HEADERS, "b64"):
        registry.header_registry.pop(name, None)
    return registry


def _audience_ok(aud: Any, audience: str) -> bool:
    if isinstance(aud, str):
        return aud == audience
    return isinstance(aud, list) and all(isinstance(a, str) for a in aud) and audience in aud


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_scope_type(claims: Mapping[str, Any]) -> None:
    if "scope" in claims and not isinstance(claims["scope"], str):
        raise InvalidToken("scope claim is not a string")


class JWKSVerifier:
    """Offline RFC 9068 validation; the JWKS is parsed once per fetch into joserfc keys.

    The hot path does no I/O.  An unknown ``kid`` causes at most one JWKS refetch per
    ``refetch_interval`` seconds (measured with ``now``); concurrent callers share a single
    in-flight fetch and wait for it at most ``fetch_timeout`` seconds.
    """

    def __init__(
        self, *, issuer: str, audience: str, realm: str, jwks_uri: str, session: aiohttp.ClientSession | None,
        algorithms: Sequence[str] = ("ES256",), leeway: int = 30, refetch_interval: float = 60.0,
        now: Callable[[], float] = time.time, fetch_timeout: float = 5.0,
    ) -> None:
        self.issuer, self.audience, self.realm, self.jwks_uri = issuer, audience, realm, jwks_uri
        self._session = session
        self._algorithms = list(algorithms)
        self._registry = _registry(algorithms)
        self._leeway, self._refetch_interval, self._now = leeway, refetch_interval, now
        self._fetch_timeout = fetch_timeout
        self._keys: KeySet | None = None
        self._last_fetch: float | None = None
        self._inflight: asyncio.Task[None] | None = None
        self._kid_credit = False  # one early unknown-kid refetch, granted by refresh(fresh=True)
        #: Signature verifications attempted (a counter for tests and metrics).
        self.signature_checks = 0

    @property
    def has_keys(self) -> bool:
        return self._keys is not None

    def load_jwks(self, jwks: Mapping[str, Any]) -> None:
        """Replace the key set with the public signature keys of an RFC 7517 §5 JWK Set.

        Symmetric (``oct``) keys, private keys and keys not meant for signatures are skipped.
        """
        entries = jwks.get("keys")
        if not isinstance(entries, list):
            raise AMUnavailable("JWKS has no 'keys' array")
        usable = [
            k for k in entries
            if isinstance(k, dict) and k.get("kty") in ("EC", "RSA", "OKP")
            and "d" not in k and k.get("use", "sig") == "sig"
        ]
        try:
            self._keys = KeySet.import_key_set({"keys": usable})
        except (jose.JoseError, ValueError, TypeError) as exc:
            raise AMUnavailable(f"JWKS could not be imported: {type(exc).__name__}") from exc
        log.info("loaded %d signing key(s) from %s", len(usable), self.jwks_uri)

    async def refresh(self, *, fresh: bool = False) -> None:
        """Fetch the JWKS now (single-flight); raises ``AMUnavailable`` or ``TimeoutError``.

        ``fresh=True`` (after ``keys_changed``) never settles for a fetch that was already in
        flight — it may predate the change: it lets that one finish, then joins or starts the next.
        It also allows one unknown-``kid`` refetch regardless of ``refetch_interval``, in case the
        JWKS it got was served by an AM process that had not yet loaded the new key.
        """
        if fresh:
            if self._inflight is not None:
                await asyncio.wait([self._inflight], timeout=self._fetch_timeout)
            self._kid_credit = True
        if self._inflight is None:
            self._last_fetch = self._now()
            task = asyncio.create_task(self._fetch())
            task.add_done_callback(self._fetch_done)
            self._inflight = task
        await asyncio.wait_for(asyncio.shield(self._inflight), self._fetch_timeout)

    async def _fetch(self) -> None:
        if self._session is None:
            raise AMUnavailable("no HTTP session to fetch the JWKS with")
        self.load_jwks(await fetch_json(self._session, self.jwks_uri))

    def _fetch_done(self, task: asyncio.Task[None]) -> None:
        self._inflight = None
        if not task.cancelled():
            task.exception()  # mark as retrieved even if every waiter timed out

    async def close(self) -> None:
        task = self._inflight
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def verify(self, token: str) -> Claims:
        if self._keys is None:
            raise VerifierUnavailable("signing keys of the authorization manager not yet known")
        try:
            decoded = self._decode(token)
        except jose.InvalidKeyIdError:
            if not await self._refetch_for_unknown_kid():
                raise InvalidToken("unknown signing key") from None
            try:
                decoded = self._decode(token)
            except jose.InvalidKeyIdError:
                raise InvalidToken("unknown signing key") from None
        return self._validate(decoded)

    async def _refetch_for_unknown_kid(self) -> bool:
        if self._inflight is None and self._last_fetch is not None:
            if self._now() - self._last_fetch < self._refetch_interval:
                if not self._kid_credit:
                    return False
                self._kid_credit = False
        try:
            await self.refresh()
        except (AMUnavailable, TimeoutError) as exc:
            log.warning("JWKS refetch for an unknown kid failed: %s", str(exc) or type(exc).__name__)
            return False
        return True

    def _decode(self, token: str) -> jwt.Token:
        assert self._keys is not None
        self.signature_checks += 1
        try:
            return jwt.decode(token, self._keys, algorithms=self._algorithms, registry=self._registry)
        except jose.InvalidKeyIdError:
            raise
        except jose.UnsupportedAlgorithmError:
            raise InvalidToken("signing algorithm not allowed") from None
        except jose.UnsupportedHeaderError:
            raise InvalidToken("unsupported token header parameter") from None
        except jose.BadSignatureError:
            raise InvalidToken("signature verification failed") from None
        except (jose.JoseError, ValueError, TypeError):
            raise InvalidToken("malformed token") from None

    def _validate(self, decoded: jwt.Token) -> Claims:
        typ = decoded.header.get("typ")
        if not isinstance(typ, str) or typ.lower() not in ACCESS_TOKEN_TYPES:
            raise InvalidToken("token type is not at+jwt")
        claims = decoded.claims
        if not isinstance(claims, dict):
            raise InvalidToken("malformed token claims")
        # RFC 7519 §4.1 / RFC 9068 §4 checks, as plain comparisons (no per-call registry object:
        # this is the first-sight hot path). Parsing and the signature stay with joserfc.
        if claims.get("iss") != self.issuer or not isinstance(claims["iss"], str):
            raise InvalidToken(_CLAIM_ERRORS["iss"] if "iss" in claims else "missing claim: iss")
        if "aud" not in claims:
            raise InvalidToken("missing claim: aud")
        if not _audience_ok(claims["aud"], self.audience):
            raise InvalidToken(_CLAIM_ERRORS["aud"])
        check_realm(claims, self.realm)
        now = self._now()
        for name in ("exp", "iat"):
            if name not in claims:
                raise InvalidToken(f"missing claim: {name}")
            if not _is_number(claims[name]):
                raise InvalidToken(_CLAIM_ERRORS[name] if name == "exp" else "invalid claim")
        if expired(claims["exp"], now, self._leeway):
            raise InvalidToken("token expired")
        if claims["iat"] > now + self._leeway:
            raise InvalidToken(_CLAIM_ERRORS["iat"])
        nbf = claims.get("nbf")
        if nbf is not None and (not _is_number(nbf) or nbf > now + self._leeway):
            raise InvalidToken(_CLAIM_ERRORS["nbf"])
        _check_scope_type(claims)
        return claims


class IntrospectionVerifier:
    """RFC 7662 introspection: POST ``token=…`` with HTTP Basic ``sph:sph_secret`` (§2.1).

    ``active`` must be ``true`` (§2.2); ``iss``, ``aud`` and ``realm`` of the answer must name the
    AM, this resource and this realm, and an ``exp`` already past (beyond ``leeway``) is refused
    as well.
    """

    def __init__(
        self, *, session: aiohttp.ClientSession, introspection_endpoint: str, sph: str,
        sph_secret: str, issuer: str, audience: str, realm: str, leeway: int = 30,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._session = session
        self.introspection_endpoint = introspection_endpoint
        # RFC 7617 §2 Basic credentials, docs/protocol.md §8: base64(sph:sph_secret).
        if ":" in sph:
            raise ValueError("sph must not contain ':' (RFC 7617 §2)")
        self._authorization = aiohttp.encode_basic_auth(sph, sph_secret)
        self.issuer, self.audience, self.realm = issuer, audience, realm
        self._leeway, self._now = leeway, now

    async def verify(self, token: str) -> Claims:
        form = {"token": token, "token_type_hint": "access_token"}
        answer = await fetch_json(self._session, self.introspection_endpoint, method="POST",
                                  data=form, headers={"Authorization": self._authorization})
        if answer.get("active") is not True:
            raise InvalidToken("token is not active")
        if answer.get("iss") != self.issuer:
            raise InvalidToken(_CLAIM_ERRORS["iss"])
        if not _audience_ok(answer.get("aud"), self.audience):
            raise InvalidToken(_CLAIM_ERRORS["aud"])
        check_realm(answer, self.realm)
        exp = answer.get("exp")
        if exp is not None and (not isinstance(exp, (int, float)) or expired(exp, self._now(), self._leeway)):
            raise InvalidToken("token expired")
        _check_scope_type(answer)
        return answer
