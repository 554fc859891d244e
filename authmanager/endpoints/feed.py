"""The revocation feed (docs/protocol.md §11): Server-Sent Events for a realm's SPs.

Authenticated like introspection (HTTP Basic ``sph:sph_secret``). Resumes from the standard
``Last-Event-ID`` header (HTML Living Standard §9.2 "Server-sent events") or ``?after=``.
"""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from ..context import context
from ..errors import InvalidRequest
from ..runtime.feed import FeedEvent
from ..storage import events as event_repo
from .introspection import authenticate_realm

PATH = "/feed"


def _cursor(request: web.Request) -> int | None:
    raw = request.headers.get("Last-Event-ID") or request.query.get("after")
    if raw is None or raw == "":
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise InvalidRequest("Last-Event-ID must be a non-negative integer")
    return int(raw)


def _frame(event: FeedEvent) -> bytes:
    return f"id: {event.id}\nevent: {event.kind}\ndata: {json.dumps(event.data, separators=(',', ':'))}\n\n".encode()


async def handle(request: web.Request) -> web.StreamResponse:
    ctx = context(request)
    realm = await authenticate_realm(ctx, request)
    cursor = _cursor(request)
    sub = ctx.feed.subscribe(realm.id)  # before the replay: nothing can fall in between
    try:
        async with ctx.sessions() as session:
            latest = await event_repo.latest_id(session)
            if cursor is None:
                rows = await event_repo.still_relevant(session, realm_id=realm.id, now=ctx.now())
            else:
                rows, page = [], await event_repo.after(session, cursor=cursor, realm_id=realm.id)
                while page:
                    rows += page
                    page = await event_repo.after(session, cursor=page[-1].id, realm_id=realm.id)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                               "X-Accel-Buffering": "no"})
        await response.prepare(request)
        try:
            sent = max(cursor or 0, latest)
            for row in rows:
                await response.write(_frame(FeedEvent.from_row(row)))
                sent = max(sent, row.id)
            await response.write(f"event: ready\ndata: {json.dumps({'cursor': sent})}\n\n".encode())
            while True:
                try:
                    event = await asyncio.wait_for(sub.queue.get(), ctx.settings.feed_keepalive)
                except asyncio.TimeoutError:
                    await response.write(b": keepalive\n\n")
                    continue
                if event is None:
                    break
                if event.id > sent:
                    await response.write(_frame(event))
                    sent = event.id
        except ConnectionResetError:  # the subscriber went away; it resumes from its cursor
            pass
        return response
    finally:
        ctx.feed.unsubscribe(sub)
