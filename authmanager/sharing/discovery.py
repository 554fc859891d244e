"""Discovering a subject's ticket endpoint (IndieAuth Ticket Auth, "Discover ticket endpoint").

``GET`` the subject URL (through the guard, at most 3 redirects, 256 KiB) and take, in order:

1. an HTTP ``Link: <…>; rel="ticket_endpoint"`` header (RFC 8288 §3; ``rel`` is a space-separated
   list of relation types, compared case-insensitively, §2.1.1);
2. the first HTML ``<link rel="ticket_endpoint" href="…">`` (HTML Living Standard §4.2.4, §4.6.7).

Relative URLs are resolved against the final URL, after redirects (RFC 3986 §5). The endpoint
must be an absolute http(s) URL; whether it may be connected to is decided at delivery time.
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import aiohttp

from ..errors import OutboundError
from ..outbound.fetch import fetch

REL = "ticket_endpoint"
MAX_DISCOVERY_BYTES = 256 * 1024


class _LinkFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.href is not None or tag != "link":
            return
        values = dict(attrs)
        rels = (values.get("rel") or "").lower().split()
        if REL in rels and values.get("href") is not None:
            self.href = (values["href"] or "").strip()

    handle_startendtag = handle_starttag


def find_in_html(html: str) -> str | None:
    finder = _LinkFinder()
    finder.feed(html)
    finder.close()
    return finder.href


async def discover_ticket_endpoint(session: aiohttp.ClientSession, subject: str) -> str:
    """The subject's ticket endpoint, absolute. Raises ``OutboundError`` / ``TargetRefused``."""
    got = await fetch(session, "GET", subject, headers={"Accept": "text/html, */*;q=0.5"},
                      max_bytes=MAX_DISCOVERY_BYTES)
    if got.status != 200:
        raise OutboundError(f"GET {subject} answered HTTP {got.status}")
    endpoint = next((url for rel, url in got.links if REL in rel.lower().split()), None)
    if endpoint is None and got.content_type in ("text/html", "application/xhtml+xml"):
        try:
            text = got.body.decode(got.charset or "utf-8", errors="replace")
        except LookupError:  # an unknown charset label
            text = got.body.decode("utf-8", errors="replace")
        href = find_in_html(text)
        endpoint = urljoin(got.url, href) if href is not None else None
    if endpoint is None:
        raise OutboundError(f"{subject} advertises no {REL} (Link header or HTML <link>)")
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OutboundError(f"{subject} advertises a {REL} that is not an http(s) URL")
    return endpoint.split("#", 1)[0]
