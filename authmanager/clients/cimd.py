"""Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document; section numbers are
those of -01, whose titles later revisions keep): a ``client_id`` that is an https URL names a JSON
document in which the client describes itself, so it needs no registration. IndieAuth's client
model; the MCP specification prefers it to dynamic registration.

* :func:`is_client_id_url` — §3 "Client Identifier": which ``client_id`` values name a document
  (in :mod:`.metadata_document`, with the reading of a document, §4.1; no aiohttp there).
* :class:`MetadataDocuments` — §4 "Client Information Discovery": fetch through the SSRF guard
  (§6.5), 200 only, no redirects, at most 5 KiB (§6.6), read into a :class:`ClientInfo`, and
  remember; every failure is one :class:`~authmanager.errors.ClientMetadataDocumentError`.

What one process remembers, and why that is safe:

* **A validated document**, as the ``ClientInfo`` read from it (never its body), under the exact
  ``client_id`` string, for the response's HTTP freshness lifetime (RFC 9111 §4.2.1 and §4.2.3:
  ``Cache-Control: max-age`` less ``Age``, else ``Expires`` less ``Date``; ``no-store``,
  ``no-cache`` or invalid values count as 0; no header at all gives ``default_ttl``), clamped
  into ``[min_ttl, max_ttl]``. §4.4: "SHOULD respect HTTP cache headers ... but MAY define its
  own upper and/or lower bounds". The floor keeps one authorization (dialog, approval, token
  request) from fetching the document three times.
* If a client changes its document, the AM goes on using the old one until the entry expires:
  **at most ``max_ttl``** (default one hour). A redirect URI the client removed (say, on a domain
  it lost) is still accepted until then, and a new name, logo or redirect URI waits as long.
  Nothing is stored in the database, so a restart forgets everything; grants already made are
  not re-examined when a document changes (§6.3 leaves that to the AS; this module does not
  compare versions).
* **A failure**, as its reason only, for ``failure_ttl`` (default 10 s): during that time gets of
  that URL fail again with the same reason and fetch nothing, so one client (or someone pasting
  its URL into many authorization requests) cannot make the AM hammer a host. §4.4 says the AS
  "MUST NOT cache error responses" and "MUST NOT cache documents which are invalid": a failure is
  never used as a document nor kept past the short back-off, and ``failure_ttl=0`` turns the
  back-off off for a deployment that wants the letter of the draft.
* Bounded: at most ``max_entries`` entries, successes and failures together, the least recently
  used dropped first; concurrent gets of one URL share one fetch (single-flight). Each process
  keeps its own: with N workers a client's host sees up to N fetches per lifetime.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Self

import aiohttp

from ..errors import ClientMetadataDocumentError, OutboundError
from ..outbound.fetch import fetch, new_session
from ..outbound.guard import Policy, plain_socket, policy_for
from . import ClientInfo
from .metadata_document import is_client_id_url, parse, read_document, url_problem

__all__ = ["MetadataDocuments", "is_client_id_url", "lifetime", "read_document"]


def _seconds(value: str | None) -> int | None:
    return int(value) if value is not None and value.isascii() and value.isdigit() else None


def lifetime(headers: Mapping[str, str], now: float, *, default: float) -> float:
    """Seconds the response stays fresh (RFC 9111 §4.2.1: ``max-age``, else ``Expires`` less
    ``Date``; §4.2.3: less ``Age``). ``no-store``/``no-cache``, a ``max-age`` given twice with
    different values, or an unparseable value give 0 (§4.2.1: "invalid freshness information" is
    stale). No freshness information at all: ``default`` (a heuristic lifetime, §4.2.2)."""
    getall = getattr(headers, "getall", None)
    values = getall("Cache-Control", []) if getall else [headers.get("Cache-Control", "")]
    directives: dict[str, set[str | None]] = {}
    for part in ",".join(values).split(","):
        name, eq, arg = part.strip().partition("=")
        if name.strip():
            directives.setdefault(name.strip().lower(), set()).add(arg.strip().strip('"') if eq else None)
    if "no-store" in directives or "no-cache" in directives:
        return 0.0
    age = _seconds(headers.get("Age")) or 0
    if "max-age" in directives:
        given = directives["max-age"]
        seconds = _seconds(next(iter(given))) if len(given) == 1 else None
        return 0.0 if seconds is None else float(seconds - age)
    if "Expires" in headers:
        try:
            expires = parsedate_to_datetime(headers["Expires"]).timestamp()
            date = parsedate_to_datetime(headers["Date"]).timestamp() if "Date" in headers else now
        except (TypeError, ValueError, IndexError):
            return 0.0
        return expires - date - age
    return default


@dataclass(frozen=True, slots=True)
class _Entry:
    expires: float
    client: ClientInfo | None
    reason: str = ""


class MetadataDocuments:
    """The client metadata documents one process knows; see the module docstring for what is
    remembered. ``get`` fetches through the outbound fetcher: every connection through the SSRF
    guard (§6.5: "MUST validate that the Client ID Metadata Document URL does not resolve to
    special-use IP addresses"), ``Accept: application/json``, one request and no redirects (§4:
    "MUST NOT automatically follow HTTP redirects"; "MUST treat all other HTTP status codes [than
    200] as an error"), ``max_bytes`` decompressed (§6.6: "The recommended maximum response size
    ... is 5 kilobytes") and ``timeout`` seconds in all. The media type must be
    ``application/json`` or ``application/*+json`` (§4.1)."""

    def __init__(self, *, allow_private_targets: bool = False, policy: Policy | None = None,
                 now: Callable[[], float] = time.time, max_bytes: int = 5 * 1024, timeout: float = 5.0,
                 min_ttl: float = 60.0, default_ttl: float = 300.0, max_ttl: float = 3600.0,
                 failure_ttl: float = 10.0, max_entries: int = 1000,
                 make_socket: Callable[[Any], socket.socket] = plain_socket) -> None:
        if not (0 <= min_ttl <= default_ttl <= max_ttl and failure_ttl >= 0 and max_entries >= 1
                and max_bytes >= 1 and timeout > 0):
            raise ValueError("need 0 <= min_ttl <= default_ttl <= max_ttl, failure_ttl >= 0, max_entries >= 1, "
                             "max_bytes >= 1, timeout > 0")
        self._allow_private = allow_private_targets
        self._policy = policy if policy is not None else policy_for(allow_private_targets)
        self._now, self._max_bytes, self._timeout = now, max_bytes, timeout
        self._min_ttl, self._default_ttl, self._max_ttl, self._failure_ttl = min_ttl, default_ttl, max_ttl, failure_ttl
        self._max_entries, self._make_socket = max_entries, make_socket
        self._cache: OrderedDict[str, _Entry] = OrderedDict()
        self._inflight: dict[str, asyncio.Task[ClientInfo]] = {}
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    async def get(self, client_id: str) -> ClientInfo:
        """The client ``client_id`` names, from the cache or fetched now; else
        ``ClientMetadataDocumentError`` (also for a ``client_id`` that is no such URL)."""
        if self._closed:
            raise RuntimeError("MetadataDocuments is closed")
        problem = url_problem(client_id, self._allow_private)
        if problem is not None:
            raise ClientMetadataDocumentError(client_id if isinstance(client_id, str) else repr(client_id), problem)
        entry = self._cache.get(client_id)
        if entry is not None:
            if self._now() < entry.expires:
                self._cache.move_to_end(client_id)
                if entry.client is None:
                    raise ClientMetadataDocumentError(client_id, entry.reason)
                return entry.client
            del self._cache[client_id]
        task = self._inflight.get(client_id)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._load(client_id))
            self._inflight[client_id] = task
            task.add_done_callback(lambda done: self._landed(client_id, done))
        return await asyncio.shield(task)  # a waiter that gives up does not cancel the others' fetch

    def _landed(self, client_id: str, task: asyncio.Task[ClientInfo]) -> None:
        if self._inflight.get(client_id) is task:
            del self._inflight[client_id]
        if not task.cancelled():
            task.exception()  # retrieved, even if every waiter has gone

    async def _load(self, client_id: str) -> ClientInfo:
        try:
            client, fresh_for = await self._fetch(client_id)
        except ClientMetadataDocumentError as exc:
            if self._failure_ttl > 0:
                self._remember(client_id, _Entry(self._now() + self._failure_ttl, None, exc.reason))
            raise
        self._remember(client_id, _Entry(self._now() + fresh_for, client))
        return client

    async def _fetch(self, client_id: str) -> tuple[ClientInfo, float]:
        if self._session is None:
            # ``fetch`` enforces ``timeout`` over the whole exchange; the session's own is a backstop.
            self._session = new_session(self._policy, timeout=self._timeout + 1, make_socket=self._make_socket)
        try:
            got = await fetch(self._session, "GET", client_id, headers={"Accept": "application/json"},
                              max_bytes=self._max_bytes, timeout=self._timeout, follow_redirects=False)
        except OutboundError as exc:
            detail = str(exc).removeprefix(f"GET {client_id}: ").removeprefix(f"{client_id}: ")
            raise ClientMetadataDocumentError(client_id, f"could not be fetched: {detail}") from None
        if got.status != 200:
            why = " (redirects are not followed)" if 300 <= got.status < 400 else ""
            raise ClientMetadataDocumentError(client_id, f"answered HTTP {got.status}, not 200{why}")
        media = got.content_type.lower()
        if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
            raise ClientMetadataDocumentError(client_id, f"is served as {media[:60]}, not application/json")
        client = read_document(client_id, parse(client_id, got.body), allow_private_targets=self._allow_private)
        fresh_for = lifetime(got.headers, self._now(), default=self._default_ttl)
        return client, min(max(fresh_for, self._min_ttl), self._max_ttl)

    def _remember(self, client_id: str, entry: _Entry) -> None:
        self._cache[client_id] = entry
        self._cache.move_to_end(client_id)
        while len(self._cache) > self._max_entries:
            self._cache.popitem(last=False)

    async def close(self) -> None:
        """Stop fetches under way, forget every entry and close the HTTP session."""
        self._closed = True
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._cache.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
