"""The RFC 9449 (DPoP) proof check: one implementation, used by the AM's token endpoint and by
the resource-server middleware alike.

* ``check_proof`` — every check of RFC 9449 §4.3, each named after its step below, with joserfc
  for all JWS work (parsing, the embedded-``jwk`` signature check, the RFC 7638 thumbprint).
  Strict by default: ``typ`` exactly ``dpop+jwt``; ``alg`` only ES256, EdDSA (Ed25519 keys only)
  or Ed25519 (RFC 9864), never ``none`` nor a MAC; a public ``jwk`` of the alg's key type; the
  claims present and typed; ``htu`` compared after RFC 3986 §6.2.2/§6.2.3 normalisation against
  the URL the *caller* configured (never one rebuilt from ``Host``); ``iat`` inside
  ``[now - max_age, now + max_ahead]``; ``ath`` required with an access token; a server nonce
  (§8, §9) when the caller passes ``nonces``.  Size caps apply before anything is decoded.
* Replay (``jti`` single use, §11.1) is *not* decided here: the caller spends ``Proof.jti``
  until ``Proof.replay_until`` — the AM in its nonce table, an SP in ``ReplayCache``.
* ``InvalidDPoPProof`` (→ ``invalid_dpop_proof``, §5, §7.1) and ``UseDPoPNonce`` (→
  ``use_dpop_nonce`` with a ``DPoP-Nonce`` header, §8, §9); the caller picks the status (400 at
  the token endpoint, 401 with ``WWW-Authenticate: DPoP`` at a resource).

Cost (``bench.dpop_proof``): about twice one bare ES256 verify for a client's proofs after its
first — joserfc's parse and verify are most of the overhead — and about 3.5 times for the first
proof of a key, which joserfc imports and thumbprints once per process (``KEY_MEMO_SIZE``).

Pure: no I/O, no aiohttp.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from joserfc import errors as jose
from joserfc import jwt
from joserfc.jwk import JWKRegistry, Key
from joserfc.jws import CompactSignature, JWSRegistry
from yarl import URL

if TYPE_CHECKING:
    from .nonces import DPoPNonces

#: ``dpop_signing_alg_values_supported`` (RFC 9449 §5.1) and the ``algs`` of the
#: ``WWW-Authenticate: DPoP`` challenge (§7.1): the only algorithms a proof may use.
SUPPORTED_ALGORITHMS: tuple[str, ...] = ("ES256", "EdDSA", "Ed25519")
#: The key each algorithm takes: (``kty``, ``crv``).  "EdDSA" (RFC 8037) is pinned to Ed25519.
KEY_TYPES: Mapping[str, tuple[str, str]] = {
    "ES256": ("EC", "P-256"), "EdDSA": ("OKP", "Ed25519"), "Ed25519": ("OKP", "Ed25519"),
}
#: JWK members that only a private or symmetric key has (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2).
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
PROOF_TYPE = "dpop+jwt"
MAX_PROOF_LENGTH = 4096  # characters of the DPoP header value (an ES256 proof is ~600)
MAX_HEADER_LENGTH = 1024  # base64url characters of the protected header (~220 with an EC jwk)
MAX_SIGNATURE_LENGTH = 512  # base64url characters (ES256 and Ed25519: 86; RSA-2048: 342)
MAX_JTI_LENGTH = 128
DEFAULT_MAX_AGE = 60.0  # seconds a proof stays acceptable after its iat (§11.1)
DEFAULT_MAX_AHEAD = 5.0  # seconds of client clock running ahead tolerated
#: Embedded keys remembered per process (by their exact header), so that a client's every proof
#: after its first costs no key import and no thumbprint.  Bounded: reset when full.
KEY_MEMO_SIZE = 1024


class DPoPError(Exception):
    """A refused proof; ``error`` and ``description`` are safe to send to the client."""

    error = "invalid_dpop_proof"

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class InvalidDPoPProof(DPoPError):
    """RFC 9449 §5 (token endpoint, 400) and §7.1 (resource, 401): ``invalid_dpop_proof``."""


class UseDPoPNonce(DPoPError):
    """RFC 9449 §8 / §9: the proof is otherwise valid but lacks an accepted server nonce.

    ``nonce`` is the fresh one to send in ``DPoP-Nonce``; the client retries with it.
    """

    error = "use_dpop_nonce"

    def __init__(self, nonce: str, description: str = "a fresh DPoP nonce is required") -> None:
        super().__init__(description)
        self.nonce = nonce


@dataclass(frozen=True, slots=True)
class Proof:
    """What a valid proof tells its caller."""

    jkt: str  # RFC 7638 SHA-256 thumbprint of the proof key: cnf.jkt (RFC 9449 §6)
    jti: str  # to spend once (§11.1)
    iat: float
    replay_until: float  # the jti must be remembered until then: iat + max_age
    alg: str
    key: Key  # the public key (joserfc)


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 §3 SHA-256 thumbprint of a JWK: over its required members only, by joserfc."""
    try:
        return JWKRegistry.import_key(dict(jwk)).thumbprint()
    except (jose.JoseError, ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"not a usable JWK: {exc}") from exc


def access_token_hash(access_token: str) -> str:
    """``ath`` (RFC 9449 §4.2): base64url of the SHA-256 of the token's ASCII octets."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@lru_cache(maxsize=1024)
def normalized_htu(url: str) -> tuple[Any, ...]:
    """The comparable form of an HTTP URI without query and fragment (RFC 9449 §4.3).

    RFC 3986 §6.2.2 syntax-based (case of scheme and host, percent-encoding case, unreserved
    characters decoded, dot segments removed) and §6.2.3 scheme-based (default port, empty path
    is "/") normalisation, by yarl.  ``ValueError`` if it is not an absolute http(s) URL.
    """
    u = URL(url)
    if u.scheme not in ("http", "https") or not u.raw_host:
        raise ValueError("not an absolute http(s) URL")
    return (u.scheme, u.raw_user, u.raw_password, u.raw_host, u.port, u.raw_path or "/")


class _ProofRegistry(JWSRegistry):
    """joserfc's JWS registry pinned to the allowed algorithms, without key-reference headers.

    joserfc warns on every use of "EdDSA" because RFC 9864 deprecates that name for not saying
    which curve; here "EdDSA" only ever verifies with an Ed25519 key (``KEY_TYPES``), which is
    the fully-specified "Ed25519" (RFC 9864 §2), so the lookup does not warn.
    """

    def get_alg(self, name: str) -> Any:
        if not self.allowed or name not in self.allowed or name not in self.algorithms:
            raise jose.UnsupportedAlgorithmError(f"Algorithm of '{name}' is not allowed")
        return self.algorithms[name]


@lru_cache(maxsize=16)
def _registry(algorithms: tuple[str, ...], max_length: int) -> _ProofRegistry:
    registry = _ProofRegistry(algorithms=algorithms)
    # The key is the jwk alone: no jku/x5u/x5c/x5t (RFC 8725 §3.10); no b64 in a JWT (RFC 7797).
    for name in ("jku", "x5u", "x5c", "x5t", "x5t#S256", "b64"):
        registry.header_registry.pop(name, None)
    registry.max_header_length = MAX_HEADER_LENGTH
    registry.max_signature_length = MAX_SIGNATURE_LENGTH
    registry.max_payload_length = max_length
    return registry


_keys: dict[bytes, tuple[Key, str]] = {}  # protected-header segment -> (public key, jkt)


def _embedded_key(alg: str, jwk: Any) -> tuple[Key, str]:
    """The proof's ``jwk`` as a joserfc public key of ``alg``'s type, and its thumbprint."""
    # §4.3 step 7 / §4.2: "the jwk JOSE Header Parameter does not contain a private key".
    if not isinstance(jwk, dict):
        raise InvalidDPoPProof("jwk header parameter is not a JSON object")
    if PRIVATE_MEMBERS.intersection(jwk):
        raise InvalidDPoPProof("jwk header parameter contains private or symmetric key material")
    # §4.3 step 5: the alg's key type (an EC key cannot sign EdDSA, nor an Ed448 key EdDSA here).
    if (jwk.get("kty"), jwk.get("crv")) != KEY_TYPES.get(alg):
        raise InvalidDPoPProof(f"jwk is not a {'/'.join(KEY_TYPES[alg])} key as {alg} requires")
    try:
        key = JWKRegistry.import_key(jwk)  # checks the point is on the curve
    except (jose.JoseError, ValueError, TypeError) as exc:
        raise InvalidDPoPProof("jwk header parameter is not a valid public key") from exc
    return key, key.thumbprint()


def _resolve(obj: CompactSignature, found: list[tuple[Key, str]]) -> Key:
    """joserfc key resolver: the checks of the protected header, then its embedded key."""
    header = obj.headers()
    # §4.3 step 4: "the typ JOSE Header Parameter has the value dpop+jwt" (exactly).
    if header.get("typ") != PROOF_TYPE:
        raise InvalidDPoPProof("typ header parameter is not dpop+jwt")
    # §4.3 step 5 ("alg ... is not none, is supported ... acceptable per local policy"): the
    # registry's get_alg has refused every alg outside ``algorithms`` before this runs.
    alg = header["alg"]
    segment = obj.segments["header"]  # the exact header bytes: same key, same checks, same jkt
    hit = _keys.get(segment)
    if hit is None:
        hit = _embedded_key(alg, header.get("jwk"))
        if len(_keys) >= KEY_MEMO_SIZE:
            _keys.clear()  # simply reset when full, like the token cache's value pool
        _keys[segment] = hit
    found.append(hit)
    return hit[0]


def _jose_description(exc: jose.JoseError) -> str:
    if isinstance(exc, jose.BadSignatureError):
        return "signature does not verify with the jwk header parameter"
    if isinstance(exc, jose.UnsupportedAlgorithmError):
        return "alg is not allowed"
    if isinstance(exc, jose.ExceededSizeError):
        return "proof is too large"
    if isinstance(exc, (jose.MissingHeaderError, jose.InvalidHeaderValueError,
                        jose.UnsupportedHeaderError, jose.MissingCritHeaderError)):
        return f"header: {exc.description}"
    if isinstance(exc, (jose.KeyParameterError, jose.InvalidKeyCurveError)):
        return "jwk does not fit alg"
    return "proof is not a well-formed JWS"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_proof(
    proof: str, *, method: str, url: str, now: float, access_token: str | None = None,
    nonces: DPoPNonces | None = None, algorithms: Collection[str] = SUPPORTED_ALGORITHMS,
    max_age: float = DEFAULT_MAX_AGE, max_ahead: float = DEFAULT_MAX_AHEAD,
    max_length: int = MAX_PROOF_LENGTH,
) -> Proof:
    """Check one DPoP proof (RFC 9449 §4.3) for a request of ``method`` to ``url``.

    ``proof`` is the single ``DPoP`` header value (§4.3 step 1, "not more than one DPoP HTTP
    request header field", is the caller's).  ``url`` is the caller's configured URL of the
    endpoint or resource; its query and fragment are ignored like the proof's.  With
    ``access_token`` (a resource request) ``ath`` is required and must match; with ``nonces`` a
    nonce is required (``UseDPoPNonce`` otherwise, raised only for an otherwise valid proof).
    Raises ``InvalidDPoPProof``; never decides replay (spend ``jti`` until ``replay_until``).
    """
    bad = [a for a in algorithms if a not in SUPPORTED_ALGORITHMS]
    if bad:
        raise ValueError(f"not DPoP algorithms here: {bad}")
    # Size caps before any decoding.
    if not isinstance(proof, str) or len(proof) > max_length:
        raise InvalidDPoPProof("proof is too large")
    if not proof.isascii():
        raise InvalidDPoPProof("proof is not a well-formed JWS")
    # §4.3 step 2: "a single and well-formed JWT"; step 6: "the JWT signature verifies with the
    # public key contained in the jwk JOSE Header Parameter" (steps 4, 5, 7 run in ``_resolve``).
    found: list[tuple[Key, str]] = []
    try:
        token = jwt.decode(proof, lambda obj: _resolve(obj, found),
                           registry=_registry(tuple(algorithms), max_length))
    except jose.JoseError as exc:
        raise InvalidDPoPProof(_jose_description(exc)) from exc
    key, jkt = found[0]
    claims = token.claims
    # §4.3 step 3: "all required claims per Section 4.2 are contained in the JWT", typed.
    jti, htm, htu, iat = claims.get("jti"), claims.get("htm"), claims.get("htu"), claims.get("iat")
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
        raise InvalidDPoPProof(f"jti claim is missing or not a string of 1-{MAX_JTI_LENGTH} characters")
    if not isinstance(htm, str):
        raise InvalidDPoPProof("htm claim is missing or not a string")
    if not isinstance(htu, str):
        raise InvalidDPoPProof("htu claim is missing or not a string")
    if not _is_number(iat):
        raise InvalidDPoPProof("iat claim is missing or not a number")
    # §4.3 step 8: "the htm claim matches the HTTP method of the current request".
    if htm != method:
        raise InvalidDPoPProof("htm does not match the request method")
    # §4.3 step 9: "the htu claim matches the HTTP URI value for the HTTP request ... ignoring
    # any query and fragment parts", after RFC 3986 §6.2.2 / §6.2.3 normalisation.
    try:
        matches = normalized_htu(htu) == normalized_htu(url)
    except ValueError:
        matches = False
    if not matches:
        raise InvalidDPoPProof("htu does not match the request URI")
    # §4.3 step 11: "the creation time of the JWT ... is within an acceptable window" (§11.1).
    if now - iat > max_age:
        raise InvalidDPoPProof("iat is too old")
    if iat - now > max_ahead:
        raise InvalidDPoPProof("iat is in the future")
    # §4.3 step 12 / §4.2: with an access token, "ath" is REQUIRED and equals its hash.
    if access_token is not None:
        ath = claims.get("ath")
        if not isinstance(ath, str):
            raise InvalidDPoPProof("ath claim is missing")
        if not access_token.isascii():  # RFC 6750 §2.1 b64token: never the hash of such a token
            raise InvalidDPoPProof("ath does not match the access token")
        if not hmac.compare_digest(ath.encode(), access_token_hash(access_token).encode()):
            raise InvalidDPoPProof("ath does not match the access token")
    # §4.3 step 10: "if the server provided a nonce value to the client, the nonce claim matches".
    nonce = claims.get("nonce")
    if nonce is not None and not isinstance(nonce, str):
        raise InvalidDPoPProof("nonce claim is not a string")
    if nonces is not None:
        if nonce is None:
            raise UseDPoPNonce(nonces.issue(now), "a DPoP nonce is required")
        if not nonces.accepts(nonce, now):
            raise UseDPoPNonce(nonces.issue(now), "the DPoP nonce is stale or unknown")
    alg = token.header["alg"]
    return Proof(jkt=jkt, jti=jti, iat=iat, replay_until=iat + max_age, alg=alg, key=key)


