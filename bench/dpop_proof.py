"""The cost of one DPoP proof check (``rs_middleware.dpop.check_proof``) against one bare ES256
verify with ``cryptography``, measured side by side in one run, and the memory of the replay
cache.  In-process, one core.

* ``proof_check`` — ``ratio``: a client's proofs after its first (the steady state: one key per
  credential store, so the embedded key is imported and thumbprinted once per process);
  ``cold_ratio``: every proof from a key never seen before (import + thumbprint each time).
  The bare figure verifies the same signatures over the same signing inputs with the public key
  and the DER signatures prepared outside the timed loop: the crypto alone.
* ``replay_cache_memory`` — tracemalloc over ``ReplayCache`` filled with ``entries`` jti values.
"""

from __future__ import annotations

import base64
import gc
import secrets
import time
import tracemalloc
from collections.abc import Callable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from consumer_sdk.dpop import DPoPKey
from rs_middleware.dpop import ReplayCache, check_proof

URL = "https://rs.example:8443/photos/album/1"
TOKEN = secrets.token_urlsafe(200)


def _b64d(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _bare_input(proof: str, key: DPoPKey) -> tuple[ec.EllipticCurvePublicKey, bytes, bytes]:
    head, body, sig = proof.split(".")
    raw = _b64d(sig)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public = key._key.get_op_key("verify")
    return public, der, f"{head}.{body}".encode()  # type: ignore[return-value]


def _best(run: Callable[[], None], best: float) -> float:
    start = time.perf_counter()
    run()
    return min(best, time.perf_counter() - start)


def proof_check(samples: int = 200, chunk: int = 20) -> dict[str, float]:
    """Per-proof µs of the bare verify, of our warm check and of our cold check, and the ratios.

    The three are timed in turn on chunks of ``chunk`` proofs, ``samples`` times, and the best
    chunk of each counts: on a shared machine short interleaved samples keep other processes'
    bursts out of both figures alike.
    """
    now = time.time()
    client = DPoPKey.generate()
    warm = [client.proof("GET", URL, access_token=TOKEN, now=now) for _ in range(chunk)]
    bare_inputs = [_bare_input(p, client) for p in warm]
    check_proof(warm[0], method="GET", url=URL, now=now, access_token=TOKEN)  # the client's first
    # Cold: each proof from a key this process has never seen (imported and thumbprinted anew).
    cold = [[k.proof("GET", URL, access_token=TOKEN, now=now) for k in (DPoPKey.generate() for _ in range(chunk))]
            for _ in range(samples)]
    algorithm = ec.ECDSA(hashes.SHA256())

    def bare() -> None:
        for public, der, data in bare_inputs:
            public.verify(der, data, algorithm)

    def ours(proofs: list[str]) -> Callable[[], None]:
        def run() -> None:
            for proof in proofs:
                check_proof(proof, method="GET", url=URL, now=now, access_token=TOKEN)
        return run

    b = w = c = float("inf")
    for i in range(samples):
        b = _best(bare, b)
        w = _best(ours(warm), w)
        c = _best(ours(cold[i]), c)
    b, w, c = b / chunk, w / chunk, c / chunk
    return {"bare_us": b * 1e6, "ours_us": w * 1e6, "ratio": w / b, "cold_us": c * 1e6, "cold_ratio": c / b}


def replay_cache_memory(entries: int = 100_000) -> dict[str, float]:
    """Everything an entry keeps alive, its jti string (22 characters, as clients send) included."""
    now = time.time()
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    cache = ReplayCache(max_entries=entries, now=lambda: now)
    jtis = [secrets.token_urlsafe(16) for _ in range(entries)]
    started = time.perf_counter()
    for jti in jtis:
        cache.claim(jti, now + 60)
    claim_us = (time.perf_counter() - started) / entries * 1e6
    del jtis  # the cache alone holds them now
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return {"entries": float(len(cache)), "mib": used / 2**20, "bytes_per_entry": used / entries,
            "claim_us": claim_us}
