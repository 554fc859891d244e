"""The demo's last leg: owner-initiated sharing by IndieAuth Ticket Auth (docs/protocol.md §12).

Bob's site (a homepage advertising ``rel="ticket_endpoint"`` and consumer_sdk's
``TicketEndpoint``) runs on loopback beside the AM and the example service. The owner shares
the ``photos`` realm with Bob; the AM discovers Bob's ticket endpoint and pushes a ticket; Bob's
endpoint redeems it; Bob's reader, sharing its credential store, is served with no handshake.
The AM's SSRF guard allows private targets here only because everything runs on loopback.
"""

from __future__ import annotations

import aiohttp
from aiohttp import web

from consumer_sdk import MemoryStore, ProtectServeAuth, TicketEndpoint, ticket_link_header

from ..outbound.guard import policy_for
from ..serving import base_url, serve
from ..sharing.share import share


async def ticket_leg(ctx, tracer, printer, resource, sock) -> bool:  # type: ignore[no-untyped-def]
    bob = base_url(sock) + "/"
    store = MemoryStore()
    endpoint = TicketEndpoint(subject=bob, store=store, on_step=printer.step)

    async def homepage(request: web.Request) -> web.Response:
        return web.Response(text="<!doctype html><title>Bob</title>", content_type="text/html",
                            headers={"Link": ticket_link_header(bob + "ticket")})

    app = web.Application()
    app.router.add_get("/", homepage)
    endpoint.install(app, "/ticket")
    tracer.install(app, "Bob")
    async with serve(app, sock):
        allowed = ctx.settings.allow_private_targets
        printer.say(f"owner: authmanager share photos --with {bob} --scope read\n"
                    f"  (SSRF guard: private targets {'allowed' if allowed else 'refused'}; everything here "
                    f"is on loopback)")
        tracer.note("AM", "the owner runs: authmanager share photos --with (Bob's homepage) --scope read")
        result = await share(ctx.sessions, realm="photos", subject=bob, scopes=["read"], max_ttl=None,
                             policy=policy_for(allowed), now=ctx.settings.now)
        outcome = f"delivered, HTTP {result.status}" if result.delivered else f"FAILED: {result.error}"
        printer.say(f"  ticket endpoint {result.endpoint} (discovered from Bob's Link header): {outcome}")
        outcomes = await endpoint.join()
        if not outcomes or outcomes[0].token is None:
            printer.say(f"  Bob's ticket endpoint could not redeem the ticket: {outcomes and outcomes[0].error}")
            return False
        printer.say(f"Bob: GET {resource}photos/  (token from the ticket; no consumer key, no handshake)")
        async with aiohttp.ClientSession(middlewares=[ProtectServeAuth(store=store, on_step=printer.step)]) as http:
            async with http.get(resource + "photos/") as r:
                printer.say(f"  -> HTTP {r.status}\n")
                return r.status == 200 and result.delivered
