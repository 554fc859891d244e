"""RFC 7662 introspection rate of one AM process under wrk: the realm's service provider POSTs
``token=…`` with HTTP Basic ``sph:sph_secret``; every answer must be 200 ``{"active": true, …}``.

Two runs: one token repeated (as Hydra's published figure is measured), and many distinct real
tokens in turn (all those the AM issued during its issuance runs), so that a cache keyed by
token does not make the figure alone; the row says how often each token comes back per round.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import aiohttp

from .issuance import basic
from .services import AM
from .wrk import Request, WrkResult, request_line, write_requests

ACTIVE = '"active"%s*:%s*true'


def introspection_request(am: AM, token: str) -> Request:
    return Request("POST", "/introspect", {"Authorization": basic(am.realm["sph"], am.realm["sph_secret"]),
                                           "Content-Type": "application/x-www-form-urlencoded"},
                   "token=" + quote(token, safe=""))


async def check_active(am: AM, tokens: list[str]) -> None:
    """Introspect a sample with an ordinary client: the AM must say active."""
    auth = aiohttp.BasicAuth(am.realm["sph"], am.realm["sph_secret"])
    async with aiohttp.ClientSession() as http:
        for token in tokens:
            async with http.post(am.issuer + "/introspect", data={"token": token}, auth=auth) as r:
                body = await r.json(content_type=None)
                if r.status != 200 or body.get("active") is not True:
                    raise RuntimeError(f"introspection of an issued token answered {r.status} {body}")


@dataclass
class Introspection:
    """A wrk target cycling through introspection requests for ``tokens``."""

    name: str
    am: AM
    tokens: list[str]
    workdir: Path
    mode: str = "cycle"
    expect: str = ACTIVE
    #: Where the next run starts in ``tokens``: each run goes on where the last one stopped, so
    #: a later round does not replay the tokens (and hit the caches) of an earlier one.
    offset: int = 0

    @property
    def base_url(self) -> str:
        return self.am.issuer

    async def request_file(self, count: int) -> Path:
        path = self.workdir / f"{self.name}.requests"
        order = self.tokens[self.offset:] + self.tokens[:self.offset]
        write_requests(path, (request_line(introspection_request(self.am, t)) for t in order))
        return path

    def after(self, result: WrkResult) -> None:
        self.offset = (self.offset + result.sent) % len(self.tokens)
