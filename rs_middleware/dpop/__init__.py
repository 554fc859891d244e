"""DPoP (RFC 9449): the one proof check the AM's token endpoint and the middleware share.

* ``proof`` — ``check_proof`` (§4.3), ``Proof``, the errors, ``thumbprint`` (RFC 7638),
  ``access_token_hash`` (``ath``), ``SUPPORTED_ALGORITHMS``.
* ``nonces`` — ``DPoPNonces``: server nonces (§8, §9) without shared state.
* ``replay`` — ``ReplayCache``: a resource server's per-process memory of spent ``jti`` (§11.1).

Pure: no I/O, no aiohttp.
"""

from .nonces import DPoPNonces
from .proof import (
    DEFAULT_MAX_AGE,
    DEFAULT_MAX_AHEAD,
    MAX_PROOF_LENGTH,
    SUPPORTED_ALGORITHMS,
    DPoPError,
    InvalidDPoPProof,
    Proof,
    UseDPoPNonce,
    access_token_hash,
    check_proof,
    normalized_htu,
    thumbprint,
)
from .replay import ReplayCache, ReplayCacheFull

__all__ = [
    "DEFAULT_MAX_AGE",
    "DEFAULT_MAX_AHEAD",
    "MAX_PROOF_LENGTH",
    "SUPPORTED_ALGORITHMS",
    "DPoPError",
    "DPoPNonces",
    "InvalidDPoPProof",
    "Proof",
    "ReplayCache",
    "ReplayCacheFull",
    "UseDPoPNonce",
    "access_token_hash",
    "check_proof",
    "normalized_htu",
    "thumbprint",
]
