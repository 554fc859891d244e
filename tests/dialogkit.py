"""Driving the authorization dialog over plain HTTP, as a browser would (cookie jar, forms, no
JavaScript), plus the helpers the dialog's tests share: a registered public client (a Consumer
row as RFC 7591 registration stores it), PKCE values and reading redirect Locations.

``approve`` is used by other tests and by the demo: keep its signature."""

from __future__ import annotations

import base64
import hashlib
import html
import re
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp

from authmanager.demo import person
from authmanager.secretbox import random_secret
from authmanager.storage.models import Consumer

_INPUT = re.compile(r"<input\b[^>]*>", re.I)
_ATTR = re.compile(r'(\w[\w-]*)(?:="([^"]*)")?')
_FORM = re.compile(r'<form\b[^>]*\baction="([^"]*)"[^>]*>(.*?)</form>', re.S | re.I)


def _inputs(form_html: str) -> list[dict[str, str]]:
    out = []
    for tag in _INPUT.findall(form_html):
        attrs = {k.lower(): html.unescape(v or "") for k, v in _ATTR.findall(tag[len("<input"):-1])}
        out.append(attrs)
    return out


def dialog_form(page: str) -> tuple[str, list[dict[str, str]]]:
    """The form whose action is an authorization request (the dialog's, or the sign-in page's)."""
    for action, body in _FORM.findall(page):
        action = html.unescape(action)
        if action.startswith("/authorize") or action == "/admin/login":
            return action, _inputs(body)
    raise AssertionError(f"no dialog or sign-in form on the page: {page[:400]}")


async def approve(http: aiohttp.ClientSession, authorize_url: str, *, name: str, password: str,
                  scopes: list[str] | None = None, deny: bool = False) -> str:
    """GET ``authorize_url``; sign in as ``name`` if the AM asks; submit the dialog approving
    ``scopes`` (None: every offered one, and every owner question ticked by default) or denying;
    return the final redirect's Location (not followed). A redirect straight from the GET (an
    error response) is returned as it is. The demo's person (:mod:`authmanager.demo.person`)."""
    return await person.approve(http, authorize_url, name=name, password=password, scopes=scopes, deny=deny)


def pkce() -> tuple[str, str]:
    """A code verifier and its S256 challenge (RFC 7636 §4.1, §4.2)."""
    verifier = random_secret(32)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def public_client(am: Any, name: str = "Photo Printer", *, redirect_uris: list[str] | None = None,
                        grant_types: list[str] | None = None, logo_uri: str | None = None) -> str:
    """A registered public client (as RFC 7591 registration stores it); returns its client_id."""
    client_id = random_secret(16)
    metadata: dict[str, Any] = {
        "client_name": name, "redirect_uris": redirect_uris or ["https://printer.example/cb"],
        "token_endpoint_auth_method": "none",
        "grant_types": grant_types or ["authorization_code", "refresh_token"], "response_types": ["code"]}
    if logo_uri:
        metadata["logo_uri"] = logo_uri
    async with am.ctx.sessions.begin() as session:
        session.add(Consumer(client_id=client_id, client_name=name, secret_sealed=am.ctx.box.seal(b"", aad=client_id),
                             client_metadata=metadata, issued_at=int(am.clock())))
    return client_id


def authorize_url(am: Any, client_id: str, *, redirect_uri: str = "https://printer.example/cb",
                  scope: str = "view print", resource: str = "http://127.0.0.1:1/photos/", state: str = "st-1",
                  challenge: str | None = None, **extra: str) -> str:
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": scope,
              "resource": resource, "state": state, "code_challenge": challenge or pkce()[1],
              "code_challenge_method": "S256", **extra}
    return am.url("/authorize?" + urlencode({k: v for k, v in params.items() if v is not None}))
