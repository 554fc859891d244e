"""The plain values exchanged between the pure handshake (``flow``) and its driver.

No I/O lives here: a driver (the aiohttp middleware, or a test) turns each
``HttpRequest`` into a real exchange and answers with an ``HttpResponse``, and each ``Wait``
into a pause (answering ``None``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any


class Headers(Mapping[str, str]):
    """Case-insensitive, read-only header mapping (RFC 9110 §5.1: field names are case-insensitive).

    Repeated field lines are combined with ", " (RFC 9110 §5.3), which is how a
    list-valued field such as ``WWW-Authenticate`` is meant to be read.
    """

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        self._fields: dict[str, tuple[str, str]] = {}
        for name, value in pairs:
            key = name.lower()
            if key in self._fields:
                original, previous = self._fields[key]
                self._fields[key] = (original, f"{previous}, {value}")
            else:
                self._fields[key] = (name, value)

    def __getitem__(self, name: str) -> str:
        return self._fields[name.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (original for original, _ in self._fields.values())

    def __len__(self) -> int:
        return len(self._fields)

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"


@dataclass(frozen=True)
class HttpRequest:
    """One request the handshake wants performed. ``headers`` are sent exactly as given."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes = b""


@dataclass(frozen=True)
class HttpResponse:
    """The answer to an ``HttpRequest`` (or the original 401/403 that started the handshake)."""

    status: int
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""


@dataclass(frozen=True)
class Wait:
    """A pause the flow asks of its driver while the realm owner decides (UMA 2.0 Grant §3.3.6
    ``interval``). The driver sleeps ``seconds`` (its sleep is injectable), then sends ``None``."""

    seconds: float


@dataclass(frozen=True)
class Step:
    """One exchange of the handshake, reported through ``on_step`` (e.g. for the demo's trace).

    ``name`` is one of ``request``, ``challenge``, ``resource_metadata``, ``am_metadata``,
    ``register``, ``token``, ``poll`` (polling a request put to the realm owner), ``retry``; for a
    login (``consumer_sdk.login``) also ``authorize`` and ``redirect`` (the browser's part: status
    0, no exchange of ours) and ``refresh``.
    ``detail`` holds public values only (realm, issuer, client_id, scopes, OAuth error codes),
    never a client secret, a token or a ticket.
    """

    name: str
    method: str
    url: str
    status: int
    detail: Mapping[str, Any] = field(default_factory=dict)
