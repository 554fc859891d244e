"""Server-provided DPoP nonces (RFC 9449 §8 at the AM, §9 at a resource server).

A nonce is ``base64url(HMAC-SHA256(key, context || time step))``: every process holding the same
key (all processes of one AM; the AM derives it from its server key) issues and accepts the same
values with no shared state and nothing stored.  The nonce of the current step and of the
previous one are accepted, so a nonce lives between one and two ``step`` s.  §8.2: send
``DPoP-Nonce: issue(now)`` on every response of an endpoint that requires nonces, so that
clients move to the new value before theirs ages out.

The value is 43 base64url characters, within §8.1's ``NQCHAR`` syntax.  Pure: no I/O.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

DEFAULT_STEP = 300  # seconds; a nonce is accepted for 300 to 600 s
MIN_KEY_BYTES = 32


class DPoPNonces:
    """``issue(now)`` the current nonce; ``accepts(nonce, now)`` it or the previous step's."""

    __slots__ = ("_context", "_key", "_memo", "step")

    def __init__(self, key: bytes, *, step: int = DEFAULT_STEP, context: str = "dpop-nonce") -> None:
        if not isinstance(key, bytes) or len(key) < MIN_KEY_BYTES:
            raise ValueError(f"a DPoP nonce key has at least {MIN_KEY_BYTES} bytes")
        if step < 1:
            raise ValueError("step must be at least 1 second")
        self._key, self._context, self.step = key, context.encode(), int(step)
        self._memo: dict[int, str] = {}

    def __repr__(self) -> str:
        return f"DPoPNonces(step={self.step})"

    def _value(self, index: int) -> str:
        value = self._memo.get(index)
        if value is None:
            mac = hmac.new(self._key, self._context + b"\x00" + index.to_bytes(8, "big", signed=True),
                           hashlib.sha256).digest()
            value = base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")
            if len(self._memo) >= 4:
                self._memo.clear()
            self._memo[index] = value
        return value

    def _index(self, now: float) -> int:
        return int(now // self.step)

    def issue(self, now: float) -> str:
        """The nonce of the time step ``now`` falls in."""
        return self._value(self._index(now))

    def accepts(self, nonce: object, now: float) -> bool:
        """True for the nonce of the current or the previous step (constant-time comparison)."""
        if not isinstance(nonce, str) or not nonce.isascii():
            return False
        index, given = self._index(now), nonce.encode("ascii")
        current = hmac.compare_digest(given, self._value(index).encode("ascii"))
        previous = hmac.compare_digest(given, self._value(index - 1).encode("ascii"))
        return current | previous
