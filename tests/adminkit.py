"""Helpers for the admin console and API tests: admins, a browser-like client (cookie jar,
CSRF token scraped from the page), API calls with a Bearer token."""

from __future__ import annotations

import re
from typing import Any

import aiohttp

from authmanager.admin.auth import create_admin, create_token

PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def make_admin(am: Any, name: str = "alice", *, realms: tuple[str, ...] = (), password: str = PASSWORD) -> None:
    await create_admin(am.ctx.sessions, name=name, password=password, realms=realms, now=int(am.clock()))


async def make_token(am: Any, name: str = "alice") -> str:
    return (await create_token(am.ctx.sessions, name=name, now=int(am.clock())))["token"]


def jar() -> aiohttp.CookieJar:
    return aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1 (an IP address) too


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


class Browser:
    """A cookie-keeping client that reads the CSRF token of the last page it fetched."""

    def __init__(self, http: aiohttp.ClientSession, am: Any):
        self.http, self.am, self.csrf = http, am, ""

    async def get(self, path: str) -> tuple[int, str]:
        async with self.http.get(self.am.url(path), allow_redirects=False) as r:
            text = await r.text()
            if r.status == 200 and CSRF.search(text):
                self.csrf = csrf_of(text)
            return r.status, text

    async def post(self, path: str, data: dict[str, Any] | list[tuple[str, str]] | None = None, *,
                   csrf: bool = True, headers: dict[str, str] | None = None) -> aiohttp.ClientResponse:
        fields = list(data.items()) if isinstance(data, dict) else list(data or [])
        if csrf:
            fields.append(("csrf_token", self.csrf))
        async with self.http.post(self.am.url(path), data=fields, allow_redirects=False, headers=headers) as r:
            await r.read()
            return r

    async def login(self, name: str = "alice", password: str = PASSWORD) -> aiohttp.ClientResponse:
        """Sign in as a person would; on success the session's new CSRF token is picked up."""
        await self.get("/admin/login")
        response = await self.post("/admin/login", {"name": name, "password": password})
        if response.status == 303:
            await self.get(response.headers["Location"])
        return response

    async def follow(self, response: aiohttp.ClientResponse) -> str:
        assert response.status == 303, response.status
        status, text = await self.get(response.headers["Location"])
        assert status == 200, (status, text[:300])
        return text


async def api(http: aiohttp.ClientSession, am: Any, method: str, path: str, token: str | None,
              body: Any = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with http.request(method, am.url("/admin/api" + path), json=body, headers=headers) as r:
        return r.status, await r.json()
