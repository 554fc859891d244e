"""Delivering a ticket to the subject's ticket endpoint (IndieAuth Ticket Auth, "Post ticket").

``POST <ticket_endpoint>``, ``application/x-www-form-urlencoded``: ``ticket`` (the single-use
value), ``resource`` (the realm's resource URL: where the token will work) and ``subject`` (the
URL the token acts for). Any 2xx is a delivery (the extension's endpoint answers ``202 Accepted``).
Through the SSRF guard like discovery; only 307/308 redirects are followed. The form is never
logged and never appears in an error message.
"""

from __future__ import annotations

from urllib.parse import urlencode

import aiohttp

from ..outbound.fetch import fetch

MAX_DELIVERY_RESPONSE = 64 * 1024


async def deliver_ticket(session: aiohttp.ClientSession, endpoint: str, *, ticket: str, resource: str,
                         subject: str) -> int:
    """POST the ticket; returns the endpoint's HTTP status. Raises ``OutboundError`` / ``TargetRefused``."""
    body = urlencode({"ticket": ticket, "resource": resource, "subject": subject}).encode()
    got = await fetch(session, "POST", endpoint, data=body, max_bytes=MAX_DELIVERY_RESPONSE,
                      headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "*/*"})
    return got.status
