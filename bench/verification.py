"""First-sight verification cost vs a bare ES256 verify with ``cryptography``, and the
memory of the verified-token cache at 100,000 tokens. In-process, one core."""

from __future__ import annotations

import asyncio
import base64
import gc
import secrets
import time
import tracemalloc

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from joserfc import jwt
from joserfc.jwk import ECKey

from rs_middleware.cache import TokenCache
from rs_middleware.verifier import JWKSVerifier

ISSUER, AUDIENCE = "http://127.0.0.1:8400", "http://127.0.0.1:8080/"


def _claims(now: int) -> dict:
    return {"iss": ISSUER, "sub": secrets.token_urlsafe(16), "aud": AUDIENCE, "client_id": secrets.token_urlsafe(16),
            "scope": "read write", "realm": "photos", "iat": now, "exp": now + 900,
            "jti": secrets.token_urlsafe(16)}


def _b64d(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def first_sight(n: int = 3000) -> dict[str, float]:
    key = ECKey.generate_key("P-256", parameters={"kid": "k1", "alg": "ES256"}, private=True)
    now = int(time.time())
    tokens = [jwt.encode({"alg": "ES256", "typ": "at+jwt", "kid": "k1"}, _claims(now), key) for _ in range(n)]
    verifier = JWKSVerifier(issuer=ISSUER, audience=AUDIENCE, realm="photos", jwks_uri=ISSUER + "/jwks.json", session=None)
    verifier.load_jwks({"keys": [key.as_dict(private=False)]})
    public: ec.EllipticCurvePublicKey = key.get_op_key("verify")  # type: ignore[assignment]
    bare_inputs = []
    for token in tokens:  # prepared outside the timed loop: the bare figure is the crypto alone
        head, body, sig = token.split(".")
        raw = _b64d(sig)
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        bare_inputs.append((der, f"{head}.{body}".encode()))

    def bare() -> float:
        start = time.perf_counter()
        for der, data in bare_inputs:
            public.verify(der, data, ec.ECDSA(hashes.SHA256()))
        return time.perf_counter() - start

    async def ours() -> float:
        start = time.perf_counter()
        for token in tokens:
            await verifier.verify(token)
        return time.perf_counter() - start

    bare_s, ours_s = [], []
    for _ in range(3):  # interleaved rounds; best of each
        bare_s.append(bare())
        ours_s.append(asyncio.run(ours()))
    b, o = min(bare_s) / n, min(ours_s) / n
    return {"bare_us": b * 1e6, "ours_us": o * 1e6, "ratio": o / b}


def cache_memory(entries: int = 100_000) -> dict[str, float]:
    now = int(time.time())
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    cache = TokenCache(max_entries=entries)
    for i in range(entries):
        cache.put(secrets.token_urlsafe(40) + str(i), _claims(now))
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    started = time.perf_counter()
    token = secrets.token_urlsafe(40)
    cache.put(token, _claims(now))
    for _ in range(100_000):
        cache.get(token)
    hit_us = (time.perf_counter() - started) / 100_000 * 1e6
    return {"entries": float(len(cache)), "mib": used / 2**20, "hit_us": hit_us}
