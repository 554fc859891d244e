"""``share``: the owner offers a realm to a subject (IndieAuth Ticket Auth, steps 2 and 3).

1. Check the input (realm, scopes, ``max_ttl``, the subject URL); nothing is stored if it is bad.
2. Discover the subject's ticket endpoint (``discovery``). If that fails — unreachable, refused by
   the SSRF guard, nothing advertised — nothing is stored and ``ShareFailed`` says why.
3. One transaction: save the grant (realm, subject, scopes, ``max_ttl``) and a ticket (256
   random bits, only its SHA-256 kept, single use, 60 s) marked ``pending``. It is committed
   before delivery, because the subject may redeem it before its endpoint has even answered.
4. Deliver (``delivery``) and record the outcome on the ticket: ``delivered`` with the HTTP
   status, or ``failed`` with the reason. The ticket value then goes out of scope: never stored,
   never logged.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .. import audit
from ..errors import OutboundError
from ..grants.ticket import TICKET_TTL
from ..identifiers import is_row_id, is_url_text
from ..operations.realms import AdminError
from ..outbound.fetch import outbound_session
from ..outbound.guard import Policy, plain_socket
from ..secretbox import digest, random_secret
from ..storage import realms as realm_repo
from ..storage import shares as share_repo
from ..storage.models import Ticket
from .delivery import deliver_ticket
from .discovery import discover_ticket_endpoint

MAX_SUBJECT = 512


class ShareFailed(AdminError):
    """The ticket endpoint could not be discovered; nothing was stored."""


@dataclass(frozen=True, slots=True)
class ShareResult:
    ticket_id: int
    realm: str
    subject: str
    scopes: list[str]
    max_ttl: int | None
    endpoint: str
    delivered: bool
    status: int | None
    error: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_subject(subject: str, option: str = "--with") -> str:
    """An IndieAuth profile URL (IndieAuth §3.2): http(s), no userinfo, no fragment, no dot
    segments, path at least ``/``. Ports and IP literals are accepted (loopback deployments);
    where the AM may actually connect is the SSRF guard's decision. ``option`` names the flag in
    the messages."""
    if not is_url_text(subject, max_len=MAX_SUBJECT):
        raise AdminError(f"{option} must be an ASCII URL of at most {MAX_SUBJECT} characters")
    try:
        parts = urlsplit(subject)
        parts.port  # noqa: B018 (validates the port)
    except ValueError:
        raise AdminError(f"{option} must be an http(s) URL") from None
    if (parts.scheme not in ("http", "https") or not parts.hostname or parts.username is not None
            or parts.password is not None or parts.fragment or "#" in subject):
        raise AdminError(f"{option} must be an absolute http(s) URL without credentials or fragment (IndieAuth §3.2)")
    if any(segment in (".", "..") for segment in parts.path.split("/")):
        raise AdminError(f"{option} must not contain . or .. path segments (IndieAuth §3.2)")
    subject = subject if parts.path else subject.replace(parts.netloc, parts.netloc + "/", 1)
    if len(subject) > MAX_SUBJECT:
        raise AdminError(f"{option} must be an ASCII URL of at most {MAX_SUBJECT} characters")
    return subject


async def share(
    sessions: async_sessionmaker[AsyncSession], *, realm: str, subject: str, scopes: Sequence[str],
    max_ttl: int | None, policy: Policy, now: Callable[[], float], ticket_ttl: int = TICKET_TTL,
    timeout: float = 10.0, make_socket: Callable[[Any], socket.socket] = plain_socket, actor: str = "cli",
) -> ShareResult:
    subject = check_subject(subject)
    if max_ttl is not None and not is_row_id(max_ttl):
        raise AdminError("--max-ttl must be a positive number of seconds")
    async with sessions() as session:
        row = await realm_repo.by_name(session, realm)
        if row is None:
            raise AdminError(f"no realm named {realm!r}")
        known = {s.name for s in await realm_repo.scopes(session, row.id)}
    wanted = sorted(set(scopes))
    if not wanted or not set(wanted) <= known:
        raise AdminError(f"--scope must be among the realm's: {' '.join(sorted(known))}")
    realm_id, resource = row.id, row.resource

    async with outbound_session(policy, timeout=timeout, make_socket=make_socket) as http:
        try:
            endpoint = await discover_ticket_endpoint(http, subject)
        except OutboundError as exc:
            raise ShareFailed(f"no ticket endpoint for {subject}: {exc}; nothing was stored") from None
        value, created = random_secret(32), int(now())
        async with sessions.begin() as session:
            grant = await share_repo.save_grant(session, realm_id=realm_id, subject=subject, scopes=wanted,
                                                max_ttl=max_ttl, now=created)
            ticket = await share_repo.add_ticket(session, Ticket(
                ticket_hash=digest(value), grant_id=grant.id, realm_id=realm_id, subject=subject, scopes=wanted,
                max_ttl=max_ttl, created_at=created, expires_at=created + ticket_ttl, endpoint=endpoint,
                delivery="pending"))
            ticket_id = ticket.id
            await audit.record(session, action="share.create", actor=actor, now=created, realm_id=realm_id,
                               target=subject, detail={"scopes": wanted, "max_ttl": max_ttl, "grant_id": grant.id,
                                                       "ticket_id": ticket_id, "endpoint": endpoint})
        status, error = None, None
        try:
            status = await deliver_ticket(http, endpoint, ticket=value, resource=resource, subject=subject)
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except OutboundError as exc:
            error = str(exc)
        del value
    async with sessions.begin() as session:
        await share_repo.record_delivery(session, ticket_id, endpoint=endpoint, delivered=error is None,
                                         status=status, error=error, now=int(now()))
    return ShareResult(ticket_id=ticket_id, realm=realm, subject=subject, scopes=wanted, max_ttl=max_ttl,
                       endpoint=endpoint, delivered=error is None, status=status, error=error)


async def list_shares(sessions: async_sessionmaker[AsyncSession]) -> list[dict[str, Any]]:
    """Every ticket sent, newest first, with its delivery outcome and whether it was redeemed."""
    async with sessions() as session:
        return [{"id": t.id, "realm": name, "subject": t.subject, "scopes": t.scopes, "max_ttl": t.max_ttl,
                 "created_at": t.created_at, "expires_at": t.expires_at, "endpoint": t.endpoint,
                 "delivery": t.delivery, "http_status": t.delivery_status, "error": t.delivery_error,
                 "redeemed_at": t.used_at}
                for t, name in await share_repo.list_all(session)]
