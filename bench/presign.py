"""Pre-signed token requests, made before the clock starts, on every core.

Each token request carries its own RFC 9421 signature and nonce (a replay is refused), signed with
:func:`consumer_sdk.signing.sign_token_request` exactly as a consumer would. That costs about
0.2–0.3 ms a request in Python, so a pool of processes signs in parallel. The AM accepts a
signature for ``signature_window`` (300 s by default) after its ``created`` time: sign each round's
requests just before the round.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.pool
import os
import secrets
import time
from dataclasses import dataclass
from urllib.parse import quote, urlencode, urlsplit

from consumer_sdk.signing import FORM_CONTENT_TYPE, sign_token_request

from .wrk import Request, request_line

CHUNK = 1000


@dataclass(frozen=True)
class TokenRequestSpec:
    url: str  # the AM's published token endpoint (what the signature covers)
    client_id: str
    client_secret: str
    sph: str
    scope: str = "read"

    @property
    def body(self) -> str:
        return urlencode([("grant_type", "client_credentials"), ("sph", self.sph), ("scope", self.scope)],
                         quote_via=quote)


def sign_lines(spec: TokenRequestSpec, count: int, created: int) -> list[str]:
    """``count`` request-file lines, each a token request with a fresh nonce, signed at ``created``."""
    body = spec.body.encode()
    path = urlsplit(spec.url).path or "/"
    lines = []
    for _ in range(count):
        headers = sign_token_request("rfc9421", method="POST", url=spec.url,
                                     headers={"Content-Type": FORM_CONTENT_TYPE}, body=body,
                                     client_id=spec.client_id, client_secret=spec.client_secret, created=created,
                                     nonce=secrets.token_urlsafe(16))
        lines.append(request_line(Request("POST", path, headers, spec.body)))
    return lines


def _chunk(args: tuple[TokenRequestSpec, int, int]) -> list[str]:
    return sign_lines(*args)


class Signer:
    """A process pool signing token requests; use as a context manager (the pool is closed after)."""

    def __init__(self, processes: int | None = None) -> None:
        self.processes = processes or os.cpu_count() or 1
        self._pool: multiprocessing.pool.Pool | None = None
        self.signed = 0
        self.seconds = 0.0

    def __enter__(self) -> "Signer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None

    def _get_pool(self) -> multiprocessing.pool.Pool:
        if self._pool is None:
            self._pool = multiprocessing.get_context("spawn").Pool(self.processes)
        return self._pool

    def sign(self, spec: TokenRequestSpec, count: int) -> list[str]:
        started = time.perf_counter()
        created = int(time.time())
        if count <= CHUNK or self.processes == 1:
            lines = sign_lines(spec, count, created)
        else:
            sizes = [CHUNK] * (count // CHUNK) + ([count % CHUNK] if count % CHUNK else [])
            lines = [line for part in self._get_pool().imap(_chunk, [(spec, n, created) for n in sizes])
                     for line in part]
        self.signed += len(lines)
        self.seconds += time.perf_counter() - started
        return lines

    async def sign_async(self, spec: TokenRequestSpec, count: int) -> list[str]:
        return await asyncio.to_thread(self.sign, spec, count)

    def warm(self) -> None:
        """Start the pool's processes now (their imports take a moment)."""
        if self.processes > 1:
            self._get_pool().map(abs, range(self.processes))
