"""Token issuance rates under wrk: the AM (SQLite, PostgreSQL, empty or with 1,000,000 tokens)
and the Authlib reference, measured the same way in interleaved rounds.

Every token request to the AM carries its own RFC 9421 signature and nonce (a replay would be
refused), pre-signed before the clock starts (:mod:`bench.presign`) and sent once each by
``requests.lua``. How many a round gets: its seconds times a generous rate — at least
:data:`MIN_RATE` and three times what the target managed in its warm-up — plus one per
connection; those a round did not send are kept for the next (still unused, and fresh for
:data:`MAX_AGE` seconds), so only what is sent is ever signed, plus one round's margin. A round
that runs out anyway is discarded and repeated with twice as many. The Authlib reference
authenticates with a client secret, so one request is sent over and over.

Each side gets a warm-up run, then the rounds alternate between the sides, so that a noisy
neighbour hurts all of them alike; the figure per side is its best round (noise on a shared
machine only ever slows a round down).
"""

from __future__ import annotations

import base64
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

from .presign import Signer, TokenRequestSpec
from .services import AM
from .wrk import Load, Request, RequestsExhausted, WrkResult, request_line, run, unsent, write_requests

#: Pre-sign for at least this rate (requests per second), whatever the warm-up showed.
MIN_RATE = 2000.0
#: ... and for this multiple of the warm-up's rate.
HEADROOM = 3.0
#: The warm-up's own pre-signed requests (it has no estimate yet); running out is fine there.
WARMUP_RATE = 2000.0
#: Pre-signed requests older than this are not used (the AM accepts 300 s by default).
MAX_AGE = 200.0
TOKEN_BODY = '"access_token"'


class Target(Protocol):
    name: str
    base_url: str
    mode: str  # "once" (single-use requests) or "cycle"
    expect: str  # Lua pattern every answer's body must match

    async def request_file(self, count: int) -> Path: ...

    def after(self, result: WrkResult) -> None: ...


@dataclass
class OurTokenEndpoint:
    """The AM's token endpoint: client-credentials requests signed RFC 9421, each used once."""

    name: str
    am: AM
    client: dict[str, str]
    signer: Signer
    workdir: Path
    mode: str = "once"
    expect: str = TOKEN_BODY

    @property
    def base_url(self) -> str:
        return self.am.issuer

    @property
    def spec(self) -> TokenRequestSpec:
        return TokenRequestSpec(url=self.am.issuer + "/token", client_id=self.client["client_id"],
                                client_secret=self.client["client_secret"], sph=self.am.realm["sph"])

    #: Requests signed for an earlier run and never sent, with the time they were signed.
    spare: list[tuple[float, str]] = field(default_factory=list)
    _written: list[tuple[float, str]] = field(default_factory=list)

    async def request_file(self, count: int) -> Path:
        now = time.time()
        fresh = [item for item in self.spare if now - item[0] < MAX_AGE]
        self.spare = []
        if len(fresh) < count:
            signed_at = time.time()
            fresh += [(signed_at, line) for line in await self.signer.sign_async(self.spec, count - len(fresh))]
        self._written = fresh[:count]
        self.spare = fresh[count:]
        path = self.workdir / f"{self.name}.requests"
        write_requests(path, (line for _, line in self._written))
        return path

    def after(self, result: WrkResult) -> None:
        """Keep what the run did not send (each request is still unused) for the next run."""
        self.spare = unsent(self._written, result.sent_by_thread) + self.spare  # type: ignore[arg-type]
        self._written = []


@dataclass
class AuthlibTokenEndpoint:
    """The Authlib reference: client_secret_basic, so one request can be repeated."""

    name: str
    base_url: str
    client: dict[str, str]
    workdir: Path
    scope: str = "read"
    mode: str = "cycle"
    expect: str = TOKEN_BODY

    async def request_file(self, count: int) -> Path:
        path = self.workdir / f"{self.name}.requests"
        write_requests(path, [request_line(token_request_basic("/oauth/token", self.client, self.scope))])
        return path

    def after(self, result: WrkResult) -> None:
        pass


def basic(user: str, password: str) -> str:
    """RFC 6749 §2.3.1: form-urlencode each part, then HTTP Basic."""
    raw = f"{quote(user, safe='')}:{quote(password, safe='')}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def token_request_basic(path: str, client: dict[str, str], scope: str) -> Request:
    return Request("POST", path, {"Authorization": basic(client["client_id"], client["client_secret"]),
                                  "Content-Type": "application/x-www-form-urlencoded"},
                   f"grant_type=client_credentials&scope={quote(scope)}")


@dataclass
class Series:
    """One target's runs: the warm-up and the measured rounds."""

    target: Target
    warmup: WrkResult | None = None
    rounds: list[WrkResult] = field(default_factory=list)

    @property
    def best(self) -> float:
        return max(r.rps for r in self.rounds)

    @property
    def rates(self) -> list[float]:
        return [r.rps for r in self.rounds]

    def estimate(self) -> float:
        if self.rounds:
            return self.best
        if self.warmup is not None:
            return max(self.warmup.rps, self.warmup.sent / max(self.warmup.seconds, 1e-3))
        return WARMUP_RATE


def requests_needed(seconds: float, rate: float, connections: int) -> int:
    return int(math.ceil(seconds * max(MIN_RATE, HEADROOM * rate))) + connections


async def one_run(series: Series, load: Load, *, warmup: bool = False, capture: Path | None = None) -> WrkResult:
    target = series.target
    count = int(load.seconds * WARMUP_RATE) if warmup else requests_needed(load.seconds, series.estimate(),
                                                                            load.connections)
    for attempt in range(3):
        path = await target.request_file(count)
        result = await run(target.base_url, path, mode=target.mode, expect=target.expect, load=load, capture=capture)
        path.unlink(missing_ok=True)
        target.after(result)
        if warmup:  # an estimate is all a warm-up gives; if it ran out, its rate is a lower bound
            result.check(target.name + " (warm-up)", allow_exhausted=True)
            return result
        try:
            result.check(target.name)
        except RequestsExhausted as exc:
            print(f"  {exc}; again with {2 * count}", file=sys.stderr)
            count *= 2
            continue
        if result.warning:
            print(f"  warning: {target.name}: {result.warning}", file=sys.stderr)
        return result
    raise RequestsExhausted(f"{target.name}: requests ran out three times (last {count})")


async def compare(targets: list[Target], load: Load, *, rounds: int, warmup: Load,
                  capture: dict[str, Path] | None = None, warm_first_only: bool = False) -> dict[str, Series]:
    """Warm every target up (or only the first, when they are one server), then measure them in
    ``rounds`` interleaved rounds. ``capture`` (target name → path) keeps the tokens a target
    answered in every run (see :func:`bench.wrk.run`); give it to every side of a comparison, so
    that wrk does the same work for each."""
    series = {t.name: Series(t) for t in targets}
    capture = capture or {}
    for s in list(series.values())[:1] if warm_first_only else series.values():
        s.warmup = await one_run(s, warmup, warmup=True, capture=capture.get(s.target.name))
        print(f"  warm-up {s.target.name}: {s.warmup.rps:.0f}/s", file=sys.stderr)
    for i in range(rounds):
        for s in series.values():
            s.rounds.append(await one_run(s, load, capture=capture.get(s.target.name)))
            print(f"  round {i + 1} {s.target.name}: {s.rounds[-1].rps:.0f}/s", file=sys.stderr)
    for s in series.values():
        if s.best == 0:
            raise RuntimeError(f"{s.target.name} answered nothing in any round: stalled?")
    return series
