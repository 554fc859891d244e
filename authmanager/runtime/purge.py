"""Lifecycle hygiene: purge what can no longer matter, so the database stays bounded.

* access tokens past their expiry (a revoked token's feed event outlives it until its ``exp``);
* spent nonces past their freshness window;
* feed events whose tokens have all expired;
* consumer keys never used to obtain a token within ``unused_consumer_ttl``, and expired
  grasshopper sub-keys;
* requests put to the owner whose ticket has expired (answered or not);
* authorization codes a day past their expiry (kept that long so that a replay still revokes
  what the first redemption issued, RFC 6749 §4.1.2), and refresh tokens past their family's
  absolute lifetime (used and revoked ones are kept until then: reuse detection needs them).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from sqlalchemy import and_, delete, or_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..storage import access_requests as request_repo
from ..storage import events as event_repo
from ..storage import nonces as nonce_repo
from ..storage.models import AccessToken, AuthorizationCode, Consumer, RefreshToken

log = logging.getLogger("authmanager.runtime.purge")


@dataclass(frozen=True, slots=True)
class PurgeReport:
    tokens: int
    nonces: int
    events: int
    consumers: int
    requests: int = 0
    codes: int = 0
    refresh_tokens: int = 0


#: Seconds a used or expired authorization code is kept past its expiry.
CODE_KEPT = 24 * 3600


async def purge(sessions: async_sessionmaker[AsyncSession], *, now: int, unused_consumer_ttl: int) -> PurgeReport:
    async with sessions.begin() as session:
        tokens = (await session.execute(delete(AccessToken).where(AccessToken.expires_at <= now))).rowcount or 0
        nonces = await nonce_repo.purge_expired(session, now=now)
        events = await event_repo.purge_expired(session, now=now)
        unused = and_(Consumer.last_used_at.is_(None), Consumer.issued_at < now - unused_consumer_ttl)
        expired_subkey = and_(Consumer.expires_at.is_not(None), Consumer.expires_at <= now)
        consumers = (await session.execute(delete(Consumer).where(or_(unused, expired_subkey)))).rowcount or 0
        requests = await request_repo.purge_expired(session, now=now)
        codes = (await session.execute(
            delete(AuthorizationCode).where(AuthorizationCode.expires_at <= now - CODE_KEPT))).rowcount or 0
        refresh = (await session.execute(
            delete(RefreshToken).where(RefreshToken.absolute_expires_at <= now))).rowcount or 0
    return PurgeReport(tokens=tokens, nonces=nonces, events=events, consumers=consumers, requests=requests,
                       codes=codes, refresh_tokens=refresh)


async def run_forever(sessions: async_sessionmaker[AsyncSession], *, interval: float, now, unused_consumer_ttl: int
                      ) -> None:  # type: ignore[no-untyped-def]
    while True:
        await asyncio.sleep(interval)
        try:
            report = await purge(sessions, now=int(now()), unused_consumer_ttl=unused_consumer_ttl)
            if any((report.tokens, report.nonces, report.events, report.consumers, report.requests, report.codes,
                    report.refresh_tokens)):
                log.info("purged %s", report)
        except Exception:
            log.exception("purge failed")
