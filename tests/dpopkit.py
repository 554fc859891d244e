"""Test-side DPoP proofs (RFC 9449 §4.2) built independently of rs_middleware and consumer_sdk:
PyJWT for well-formed proofs, and by hand (base64url of JSON pieces, signed with cryptography)
for malformed ones.  The RFC 7638 thumbprint and ``ath`` are recomputed here from their
definitions, so that tests double as interop evidence."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

#: RFC 9449 §4.1, Figure 2: the specification's own example proof, and §6.1 / Figure 9: the
#: thumbprint of its key.  (iat 1562262616, htm POST, htu https://server.example.com/token)
RFC9449_PROOF = (
    "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6Ik"
    "VDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCR"
    "nMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JE"
    "QSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIj"
    "oiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwia"
    "WF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg"
    "4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg"
)
RFC9449_JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
RFC9449_IAT = 1562262616
#: RFC 9449 §7.1: the example access token and the ath of it in the example proof.
RFC9449_TOKEN = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
RFC9449_ATH = "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"

#: RFC 7638 §3.1: the example RSA key and its SHA-256 thumbprint.
RFC7638_JWK = {
    "kty": "RSA",
    "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebW"
         "KRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQM"
         "icAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2Nc"
         "Rwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
    "e": "AQAB",
    "alg": "RS256",
    "kid": "2011-04-29",
}
RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"

#: RFC 7638 §3.2: the members a thumbprint covers, per key type.
_REQUIRED = {"EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x"), "RSA": ("e", "kty", "n")}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def part(value: Any) -> str:
    """base64url(JSON) of a header or claims set; a str is taken as the JSON text itself."""
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return b64url(text.encode())


def jkt(jwk: dict[str, Any]) -> str:
    """RFC 7638 §3: SHA-256 over the required members, sorted, no whitespace."""
    canonical = {name: jwk[name] for name in _REQUIRED[jwk["kty"]]}
    return b64url(hashlib.sha256(json.dumps(canonical, separators=(",", ":"), sort_keys=True).encode()).digest())


def ath(token: str) -> str:
    return b64url(hashlib.sha256(token.encode("ascii")).digest())


@dataclass
class ProofKey:
    """A private key, the JWS alg it signs, and its public JWK (exported by PyJWT)."""

    private: Any
    alg: str
    jwk: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        public = self.private.public_key()
        if isinstance(public, ec.EllipticCurvePublicKey):
            self.jwk = ECAlgorithm.to_jwk(public, as_dict=True)
        elif isinstance(public, rsa.RSAPublicKey):
            self.jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
        else:
            self.jwk = OKPAlgorithm.to_jwk(public, as_dict=True)

    @classmethod
    def es256(cls) -> ProofKey:
        return cls(ec.generate_private_key(ec.SECP256R1()), "ES256")

    @classmethod
    def es384(cls) -> ProofKey:
        return cls(ec.generate_private_key(ec.SECP384R1()), "ES384")

    @classmethod
    def ed25519(cls, alg: str = "EdDSA") -> ProofKey:
        return cls(ed25519.Ed25519PrivateKey.generate(), alg)

    @classmethod
    def ed448(cls) -> ProofKey:
        return cls(ed448.Ed448PrivateKey.generate(), "EdDSA")

    @classmethod
    def rsa(cls) -> ProofKey:
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256")

    @property
    def private_jwk(self) -> dict[str, Any]:
        if isinstance(self.private, ec.EllipticCurvePrivateKey):
            return ECAlgorithm.to_jwk(self.private, as_dict=True)
        return OKPAlgorithm.to_jwk(self.private, as_dict=True)

    def sign(self, signing_input: bytes) -> bytes:
        """The raw JWS signature (RFC 7518 §3.4: R || S for ECDSA), by cryptography."""
        if isinstance(self.private, ec.EllipticCurvePrivateKey):
            r, s = decode_dss_signature(self.private.sign(signing_input, ec.ECDSA(hashes.SHA256())))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return self.private.sign(signing_input)


def claims(method: str, url: str, *, now: float, **extra: Any) -> dict[str, Any]:
    """§4.2 claims with a fresh 128-bit jti; ``extra`` adds or (with None) removes claims."""
    out: dict[str, Any] = {"jti": secrets.token_urlsafe(16), "htm": method, "htu": url, "iat": int(now)}
    for name, value in extra.items():
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
    return out


def pyjwt_proof(key: ProofKey, body: dict[str, Any], *, jwk: dict[str, Any] | None = None,
                alg: str | None = None, **header: Any) -> str:
    """A proof signed by PyJWT, header ``typ`` dpop+jwt and the key's public ``jwk`` by default."""
    headers = {"typ": "dpop+jwt", "jwk": key.jwk if jwk is None else jwk, **header}
    return jwt.encode(body, key.private, algorithm=alg or key.alg, headers=headers)


def hand_proof(header: dict[str, Any] | str, body: dict[str, Any] | str, *, key: ProofKey | None = None,
               signature: str | None = None) -> str:
    """A compact JWS assembled by hand: base64url(JSON) pieces, signed by ``key`` (or the given
    ``signature`` segment, e.g. "" for alg none)."""
    signing_input = f"{part(header)}.{part(body)}"
    if signature is None:
        assert key is not None
        signature = b64url(key.sign(signing_input.encode()))
    return f"{signing_input}.{signature}"


def header_for(key: ProofKey, **changes: Any) -> dict[str, Any]:
    """The well-formed protected header of ``key``; ``changes`` set (or, with None, drop) members."""
    out: dict[str, Any] = {"typ": "dpop+jwt", "alg": key.alg, "jwk": key.jwk}
    for name, value in changes.items():
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
    return out
