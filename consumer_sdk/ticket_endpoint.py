"""A ticket endpoint for the subject (Bob), as an aiohttp handler (IndieAuth Ticket Auth).

    endpoint = TicketEndpoint(subject="https://bob.example/", store=store)
    endpoint.install(app, "/ticket")                       # POST /ticket
    # Bob's homepage:  Link: <https://bob.example/ticket>; rel="ticket_endpoint"
    headers = {"Link": ticket_link_header("https://bob.example/ticket")}

* ``POST`` form ``ticket``, ``resource``, ``subject`` (each exactly once): ``202 Accepted`` at
  once; ``400 invalid_request`` if a field is missing, repeated or malformed, or if ``subject``
  is not the subject this endpoint serves (a ticket for someone else is never redeemed).
* The redemption (``ticket_flow.redeem_ticket``: resource → metadata → AM → ``grant_type=ticket``)
  runs in a background task after the 202; ``await endpoint.join()`` waits for every pending
  one and returns the outcomes. The token lands in ``store`` keyed by its resource, so the next
  request through ``ProtectServeAuth(store=store)`` carries it with no handshake.
* The same ticket delivered twice is redeemed once (a second redemption would make the AM
  revoke the first token). The ticket is never logged.
* ``accept_resource`` may restrict which resources are fetched (the resource URL comes from
  whoever posted the ticket: fetching it is an outbound request on their say-so); pass a
  ``session`` whose connector enforces your own outbound policy if the endpoint is public.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from aiohttp import web

from .flow import FlowConfig
from .messages import Step
from .middleware import drive
from .store import CredentialStore, MemoryStore, Token
from .ticket_flow import TICKET_USER_AGENT, redeem_ticket
from .urls import is_http_url, same_url

log = logging.getLogger("consumer_sdk.ticket_endpoint")
MAX_TICKET = 512
_SEEN = 1024


def ticket_link_header(url: str) -> str:
    """The ``Link`` header value advertising ``url`` as the ticket endpoint (RFC 8288 §3)."""
    if not is_http_url(url) or any(c in url for c in '<>" \r\n'):
        raise ValueError("the ticket endpoint must be an absolute http(s) URL")
    return f'<{url}>; rel="ticket_endpoint"'


@dataclass(frozen=True)
class Redemption:
    """The outcome of one redemption: the token, or why there is none (never the ticket)."""

    resource: str
    token: Token | None
    error: str | None = None


def _profile(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path or "/"))


def _refuse(description: str) -> web.Response:
    return web.json_response({"error": "invalid_request", "error_description": description}, status=400)


class TicketEndpoint:
    def __init__(
        self,
        *,
        subject: str,
        store: CredentialStore | None = None,
        session: aiohttp.ClientSession | None = None,
        accept_resource: Callable[[str], bool] | None = None,
        on_step: Callable[[Step], None] | None = None,
        config: FlowConfig = FlowConfig(user_agent=TICKET_USER_AGENT),
        timeout: float = 30.0,
    ) -> None:
        if not is_http_url(subject):
            raise ValueError("subject must be an absolute http(s) URL")
        self.subject = _profile(subject)
        self.store: CredentialStore = store if store is not None else MemoryStore()
        self.accept_resource = accept_resource
        self.on_step = on_step
        self.config = config
        self.timeout = timeout
        self.results: list[Redemption] = []
        self._session, self._own_session = session, session is None
        self._tasks: set[asyncio.Task[Redemption]] = set()
        self._seen: OrderedDict[str, None] = OrderedDict()

    def install(self, app: web.Application, path: str = "/ticket") -> None:
        app.router.add_post(path, self.handle)
        app.on_cleanup.append(lambda _app: self.close())

    async def handle(self, request: web.Request) -> web.Response:
        if request.content_type != "application/x-www-form-urlencoded":
            return _refuse("the body must be application/x-www-form-urlencoded")
        form = await request.post()
        fields: dict[str, str] = {}
        for name in ("ticket", "resource", "subject"):
            values = form.getall(name, [])
            if len(values) != 1 or not isinstance(values[0], str) or not values[0]:
                return _refuse(f"{name} is required, once")
            fields[name] = values[0]
        ticket, resource = fields["ticket"], fields["resource"]
        if len(ticket) > MAX_TICKET or not is_http_url(resource):
            return _refuse("malformed ticket or resource")
        if not same_url(_profile(fields["subject"]), self.subject):
            return _refuse(f"this endpoint accepts tickets for {self.subject} only")
        if self.accept_resource is not None and not self.accept_resource(resource):
            return _refuse("tickets for this resource are not accepted here")
        seen = hashlib.sha256(ticket.encode()).hexdigest()
        if seen not in self._seen:
            self._seen[seen] = None
            while len(self._seen) > _SEEN:
                self._seen.popitem(last=False)
            task = asyncio.create_task(self._redeem(ticket, resource), name="protectserve-ticket-redemption")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return web.Response(status=202, text="Accepted")

    async def redeem(self, ticket: str, resource: str) -> Token:
        """Redeem ``ticket`` at the AM of ``resource`` now; store and return the token."""
        if self._session is None:
            self._session = aiohttp.ClientSession(headers={"User-Agent": self.config.user_agent})
        flow = redeem_ticket(ticket=ticket, resource=resource, store=self.store, config=self.config,
                             on_step=self.on_step)
        async with asyncio.timeout(self.timeout):
            return await drive(flow, self._session)

    async def _redeem(self, ticket: str, resource: str) -> Redemption:
        try:
            outcome = Redemption(resource, await self.redeem(ticket, resource))
        except Exception as exc:  # a background task: every failure is recorded, none escapes
            outcome = Redemption(resource, None, f"{type(exc).__name__}: {exc}")
            log.warning("ticket for %s not redeemed: %s", resource, outcome.error)
        self.results.append(outcome)
        return outcome

    async def join(self) -> list[Redemption]:
        """Wait for every redemption under way (including ones started meanwhile); all outcomes so far."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks))
        return list(self.results)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._own_session and self._session is not None:
            await self._session.close()
        self._session = None


__all__ = ["Redemption", "TicketEndpoint", "ticket_link_header"]
