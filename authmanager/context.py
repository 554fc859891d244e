"""Typed application state shared by the endpoints (one ``web.AppKey``)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from .clients.cimd import MetadataDocuments
from .clients.registry import ClientRegistry
from .grants.group_commit import IssuanceQueue
from .runtime.consumer_keys import ConsumerKeys
from .runtime.feed import FeedHub
from .runtime.keyring import KeyRing
from .runtime.known_tokens import KnownTokens
from .runtime.ratelimit import RateLimiter
from .secretbox import SecretBox
from .settings import Settings
from .storage.transact import Transactor


@dataclass(slots=True)
class Context:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    box: SecretBox
    keyring: KeyRing
    feed: FeedHub
    limiter: RateLimiter
    consumer_keys: ConsumerKeys
    #: Runs the token endpoint's group commit (see storage/transact.py).
    transact: Transactor
    issuance: IssuanceQueue
    #: Realm credentials and live tokens already looked up (introspection, IndieAuth verification).
    known: KnownTokens
    #: Client ID metadata documents this process has fetched (issue 12, §6).
    documents: MetadataDocuments
    #: Every client the authorization and token endpoints meet: registered keys and documents.
    clients: ClientRegistry

    def now(self) -> int:
        return int(self.settings.now())


CONTEXT: web.AppKey[Context] = web.AppKey("protectserve_context", Context)


def context(request: web.Request) -> Context:
    return request.app[CONTEXT]
