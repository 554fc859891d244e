"""The public keys a ``private_key_jwt`` consumer registers (RFC 7523 §2.2, RFC 7591 ``jwks``).

A key arrives as a JWK (a JSON object), a JWK Set (``{"keys": [...]}``, RFC 7517 §5) or a PEM
``SubjectPublicKeyInfo``. :func:`public_jwk` accepts exactly these, and only public keys:

* ``EC`` on ``P-256`` (``ES256``), ``OKP`` ``Ed25519`` (``EdDSA``), ``RSA`` of 2048 bits or more
  (``RS256``, ``PS256``). Any other type, curve or size is refused; so is ``oct`` (a shared
  secret is ``client_secret_jwt``'s, keyed with cks, never registered as a JWK).
* A JWK carrying private members (``d``, ``p``, ``q``, ``dp``, ``dq``, ``qi``, ``oth``, ``k``)
  or a PEM holding a private key is refused: the AM must never hold a consumer's private key.
* What is kept are the public members of RFC 7518 §6 / RFC 8037 §2 and, when the JWK had
  one, its own ``kid`` (RFC 7517 §4.5); otherwise ``kid`` is the RFC 7638 thumbprint.
  ``use``, when given, must be ``sig``; ``alg``, when given, must be one this key type allows,
  and then it is the only algorithm the key verifies (RFC 7517 §4.4).

Parsing is joserfc's (``joserfc.jwk``) and cryptography's; the checks are ours. No aiohttp here.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from joserfc import jwk

from ..identifiers import is_text

#: Algorithms by key type (RFC 7518 §3.1, RFC 8037 §3.1). The algorithm of an assertion comes
#: from here and the registered key only, never from the JWT header alone.
ALGS_BY_KTY: dict[str, tuple[str, ...]] = {"EC": ("ES256",), "OKP": ("EdDSA",), "RSA": ("RS256", "PS256")}
#: Every ``private_key_jwt`` algorithm, for ``token_endpoint_auth_signing_alg_values_supported``.
ASYMMETRIC_ALGS: tuple[str, ...] = ("ES256", "EdDSA", "RS256", "PS256")
MIN_RSA_BITS = 2048
MAX_KEYS = 10  # per JWK Set in a registration
MAX_KID = 128
_PRIVATE = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
_PUBLIC_MEMBERS = {"EC": ("kty", "crv", "x", "y"), "OKP": ("kty", "crv", "x"), "RSA": ("kty", "n", "e")}


class KeyRejected(ValueError):
    """A key that cannot be registered; the message says why (safe to show the registrant)."""


def public_jwk(value: Any) -> dict[str, Any]:
    """One public key as a checked JWK dict (with ``kid``), from a JWK dict, JSON text or PEM."""
    if isinstance(value, bytes):
        try:
            value = value.decode()
        except UnicodeDecodeError as exc:
            raise KeyRejected("the key is neither a JWK nor a PEM public key") from exc
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("-----BEGIN"):
            return _from_pem(text.encode())
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise KeyRejected("the key is neither a JWK nor a PEM public key") from exc
        if isinstance(value, dict) and "keys" in value:
            keys = public_jwks(value)
            if len(keys) != 1:
                raise KeyRejected("the JWK Set must hold exactly one key here")
            return keys[0]
    if not isinstance(value, dict):
        raise KeyRejected("a JWK must be a JSON object")
    return _from_jwk(value)


def public_jwks(document: Any) -> list[dict[str, Any]]:
    """Every key of a JWK Set (RFC 7517 §5), each checked as :func:`public_jwk`; ``kid``\\ s unique."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list) or not document["keys"]:
        raise KeyRejected('jwks must be a JWK Set: {"keys": [...]} with at least one key')
    if len(document["keys"]) > MAX_KEYS:
        raise KeyRejected(f"jwks holds more than {MAX_KEYS} keys")
    keys = [_from_jwk(k) if isinstance(k, dict) else _reject("every member of keys must be a JWK object")
            for k in document["keys"]]
    if len({k["kid"] for k in keys}) != len(keys):
        raise KeyRejected("two keys of the JWK Set share one kid")
    return keys


def algorithms(key: dict[str, Any]) -> tuple[str, ...]:
    """The JWS algorithms this registered key verifies: its ``alg`` if it named one, else every
    algorithm of its type."""
    if key.get("alg"):
        return (key["alg"],)
    return ALGS_BY_KTY[key["kty"]]


def thumbprint(key: dict[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint, base64url (joserfc)."""
    return jwk.thumbprint({m: key[m] for m in _PUBLIC_MEMBERS[key["kty"]]})


def _bits(n: str) -> int:
    try:
        return int.from_bytes(base64.urlsafe_b64decode(n + "=" * (-len(n) % 4)), "big").bit_length()
    except ValueError:
        return 0


def _reject(reason: str) -> Any:
    raise KeyRejected(reason)


def _from_pem(pem: bytes) -> dict[str, Any]:
    if b"PRIVATE KEY" in pem:
        raise KeyRejected("a private key was given: register the public key only")
    try:
        loaded = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise KeyRejected("the PEM is not a public key") from exc
    if isinstance(loaded, ec.EllipticCurvePublicKey):
        kty = "EC"
    elif isinstance(loaded, ed25519.Ed25519PublicKey):
        kty = "OKP"
    elif isinstance(loaded, rsa.RSAPublicKey):
        kty = "RSA"
    else:
        raise KeyRejected("only EC P-256, Ed25519 and RSA (2048 bits or more) keys are accepted")
    if isinstance(loaded, rsa.RSAPublicKey) and loaded.key_size < MIN_RSA_BITS:
        raise KeyRejected(f"an RSA key must have at least {MIN_RSA_BITS} bits")
    pem = loaded.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return _from_jwk(jwk.import_key(pem, kty).as_dict(private=False))  # type: ignore[arg-type]


def _from_jwk(value: dict[str, Any]) -> dict[str, Any]:
    kty = value.get("kty")
    if kty == "oct":
        raise KeyRejected("a symmetric (oct) key cannot be registered: client_secret_jwt is keyed with cks")
    if kty not in _PUBLIC_MEMBERS:
        raise KeyRejected("kty must be EC, OKP or RSA")
    if any(m in value for m in _PRIVATE):
        raise KeyRejected("the JWK holds private members: register the public key only")
    if kty == "EC" and value.get("crv") != "P-256":
        raise KeyRejected("an EC key must be on P-256 (ES256)")
    if kty == "OKP" and value.get("crv") != "Ed25519":
        raise KeyRejected("an OKP key must be Ed25519 (EdDSA)")
    members = {m: value.get(m) for m in _PUBLIC_MEMBERS[kty]}
    if not all(isinstance(v, str) and is_text(v, max_len=2048) for v in members.values()):
        raise KeyRejected(f"the {kty} JWK lacks one of {', '.join(_PUBLIC_MEMBERS[kty][1:])}")
    if kty == "RSA" and _bits(members["n"]) < MIN_RSA_BITS:
        raise KeyRejected(f"an RSA key must have at least {MIN_RSA_BITS} bits")
    try:
        jwk.import_key(members, kty)  # type: ignore[arg-type]  # validates the point / modulus
    except Exception as exc:  # joserfc raises ValueError and its own errors on a malformed key
        raise KeyRejected(f"the {kty} JWK is not a valid public key") from exc
    kept: dict[str, Any] = dict(members)
    if "use" in value and value["use"] != "sig":
        raise KeyRejected('use must be "sig"')
    if "alg" in value:
        if value["alg"] not in ALGS_BY_KTY[kty]:
            raise KeyRejected(f"alg {value['alg']!r} does not fit a {kty} key ({', '.join(ALGS_BY_KTY[kty])})")
        kept["alg"] = value["alg"]
    if "kid" in value:
        kid = value["kid"]
        if not isinstance(kid, str) or not kid or not kid.isprintable() or not kid.isascii() or len(kid) > MAX_KID:
            raise KeyRejected(f"kid must be 1-{MAX_KID} printable ASCII characters")
        kept["kid"] = kid
    else:
        kept["kid"] = thumbprint(kept)
    return kept
