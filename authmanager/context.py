"""Typed application state shared by the endpoints (one ``web.AppKey``)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from .feed import FeedHub
from .keyring import KeyRing
from .ratelimit import RateLimiter
from .secretbox import SecretBox
from .settings import Settings


@dataclass(slots=True)
class Context:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    box: SecretBox
    keyring: KeyRing
    feed: FeedHub
    limiter: RateLimiter

    def now(self) -> int:
        return int(self.settings.now())


CONTEXT: web.AppKey[Context] = web.AppKey("protectserve_context", Context)


def context(request: web.Request) -> Context:
    return request.app[CONTEXT]
