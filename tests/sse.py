"""A minimal test-side SSE reader (independent of rs_middleware's parser)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp


class SSE:
    def __init__(self, response: aiohttp.ClientResponse):
        self.response = response
        self.comments = 0

    async def next(self, timeout: float = 5.0) -> dict[str, Any]:
        """The next dispatched event as {"id", "event", "data"} within ``timeout`` seconds in all;
        comments are counted."""
        return await asyncio.wait_for(self._next(), timeout)

    async def _next(self) -> dict[str, Any]:
        event: dict[str, Any] = {}
        while True:
            line = (await self.response.content.readline()).decode()
            if line == "":
                raise EOFError("stream closed")
            line = line.rstrip("\r\n")
            if line == "":
                if event:
                    event["data"] = json.loads(event.get("data", "null"))
                    return event
                continue
            if line.startswith(":"):
                self.comments += 1
                continue
            name, _, value = line.partition(":")
            event[name] = value[1:] if value.startswith(" ") else value

    async def until(self, kind: str, timeout: float = 5.0) -> dict[str, Any]:
        async def wait() -> dict[str, Any]:
            while True:
                event = await self._next()
                if event.get("event") == kind:
                    return event

        return await asyncio.wait_for(wait(), timeout)
