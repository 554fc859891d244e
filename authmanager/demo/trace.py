"""Tracing real exchanges for ``authmanager demo --trace FILE`` and the docs/sequence/ diagrams.

Each traced app records every request as it arrives and every response as its headers are
sent, so nested calls (the SP fetching the JWKS while serving a consumer)
appear in the order they really happened. The caller is recognised by the ``User-Agent`` that
consumer_sdk, rs_middleware, the AM's outbound pushes and a ticket endpoint send. Only shapes are
recorded (method, path, status, error codes, parameter *names* — of a ``grant_type`` its value),
never tokens, tickets, secrets or random identifiers.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from aiohttp import web

_CALLER = web.RequestKey("protectserve_trace_caller", str)
CALLERS = {"protectserve-consumer_sdk": "Consumer", "protectserve-rs_middleware": "SP",
           "protectserve-authmanager": "AM", "protectserve-ticket_endpoint": "Bob", "protectserve-person": "Person"}
_FORM = "application/x-www-form-urlencoded"
_AUTH_HEADERS = ("Authorization", "Signature-Input")


@dataclass
class Event:
    phase: str
    kind: str  # "request" | "response" | "note"
    src: str
    dst: str
    text: str


@dataclass
class Tracer:
    phase: str = "setup"
    events: list[Event] = field(default_factory=list)

    def note(self, party: str, text: str) -> None:
        self.events.append(Event(self.phase, "note", party, party, text))

    def message(self, src: str, dst: str, text: str, kind: str = "request") -> None:
        """An exchange no traced app sees (the browser's redirect to the app's loopback receiver)."""
        self.events.append(Event(self.phase, kind, src, dst, text))

    def install(self, app: web.Application, party: str) -> None:
        """Trace ``app`` as ``party``: requests as they arrive (an outermost middleware), responses
        as their headers are sent (``on_response_prepare``), so a held-open stream such as the
        revocation feed appears when it starts, not when it ends."""

        @web.middleware
        async def trace(request: web.Request, handler):  # type: ignore[no-untyped-def]
            agent = request.headers.get("User-Agent", "")
            caller = next((name for prefix, name in CALLERS.items() if agent.startswith(prefix)), "Other")
            request[_CALLER] = caller
            event = Event(self.phase, "request", caller, party, _describe_request(request))
            self.events.append(event)
            if (request.method == "POST" and request.content_type == _FORM
                    and not any(h in request.headers for h in _AUTH_HEADERS)):
                try:
                    event.text += _describe_form(await request.post())  # the body stays readable
                except (web.HTTPException, ValueError):
                    pass
            return await handler(request)

        async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
            caller = request.get(_CALLER)
            if caller is not None:
                self.events.append(Event(self.phase, "response", party, caller, _describe_response(response)))

        app.middlewares.insert(0, trace)
        app.on_response_prepare.append(on_prepare)

    def dump(self, path: Path) -> None:
        path.write_text("".join(json.dumps(asdict(e)) + "\n" for e in self.events))

    @staticmethod
    def load(path: Path) -> list[Event]:
        return [Event(**json.loads(line)) for line in path.read_text().splitlines() if line.strip()]


def _describe_request(request: web.Request) -> str:
    text = f"{request.method} {request.path}"
    if request.method == "GET" and request.query:
        text += " (" + ", ".join(dict.fromkeys(request.query)) + ")"  # parameter names only
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        text += " (Bearer token)"
    elif auth.lower().startswith("basic "):
        text += " (Basic sph:sph_secret)"
    elif auth.lower().startswith("oauth "):
        text += " (OAuth 1.0a HMAC-SHA256)"
    if "Signature-Input" in request.headers:
        text += " (RFC 9421 hmac-sha256)"
    return text


def _describe_form(form: Any) -> str:
    """An unauthenticated form's parameter names (the value of ``grant_type`` only)."""
    names = [f"{name}={form[name]}" if name == "grant_type" else name for name in dict.fromkeys(form)]
    return f" ({', '.join(names)})" if names else ""


def _describe_response(response: web.StreamResponse) -> str:
    text = str(response.status)
    location = response.headers.get("Location")
    if location is not None and 300 <= response.status < 400:
        target = urlsplit(location)
        names = ", ".join(dict.fromkeys(name for name, _ in parse_qsl(target.query)))
        where = "redirect_uri" if target.netloc and target.path == "/callback" else target.path
        return f"{text} Location: {where}" + (f" ({names})" if names else "")
    if 'rel="ticket_endpoint"' in response.headers.get("Link", ""):
        text += ' Link: rel="ticket_endpoint"'
    challenge = response.headers.get("WWW-Authenticate", "")
    if challenge.startswith("Bearer"):
        params = [part.split("=", 1)[0].strip() for part in challenge[len("Bearer"):].split(",") if "=" in part]
        text += " WWW-Authenticate: Bearer " + ", ".join(params)
        if 'error="' in challenge:
            text += " (" + challenge.split('error="', 1)[1].split('"', 1)[0] + ")"
    if response.content_type == "text/event-stream":
        return text + " text/event-stream (held open)"
    body = getattr(response, "body", None)
    if isinstance(body, bytes):
        body = body.decode(errors="replace")
    if isinstance(body, str) and body.startswith("{"):
        try:
            keys: Any = json.loads(body)
        except ValueError:
            keys = None
        if isinstance(keys, dict):
            if "error" in keys:
                text += f" error={keys['error']}"
            else:
                text += " " + _summarise(keys)
    return text


#: Fields worth showing in a diagram, in this order; others are elided.
SHOWN = ("issuer", "token_endpoint", "registration_endpoint", "jwks_uri", "introspection_endpoint", "resource",
         "authorization_servers", "realm", "sph", "client_id", "client_secret", "access_token", "token_type",
         "expires_in", "scope", "active", "client_id", "aud", "keys")


def _summarise(doc: dict[str, Any]) -> str:
    shown = [key for key in dict.fromkeys(SHOWN) if key in doc]
    if not shown:
        shown = sorted(doc)[:4]
    return "{" + ", ".join(shown) + (", …" if len(shown) < len(doc) else "") + "}"
