"""The demo's browser leg (issue 12): a native application logs in for a person (RFC 8252) and a
person approves it in the authorization dialog.

The consumer has no key: ``consumer_sdk.log_in`` discovers the realm like the handshake does,
registers as a public client (RFC 7591, ``token_endpoint_auth_method: none``), opens "the
browser" at the authorization endpoint with PKCE S256, ``state`` and ``resource``, and waits on
a loopback redirect receiver. The browser here is :mod:`.person`, driving the pages over HTTP:
Alice signs in (an account that administers no realm), the dialog offers the scopes the realm's
policies permit, she approves ``read`` of ``read`` and ``write``, and the AM redirects to the
receiver with ``code``, ``state`` and ``iss`` (RFC 9207). The SDK exchanges the code with the
verifier for an access token (``sub``: Alice's account) and a refresh token, then gets the
resource with the access token.
"""

from __future__ import annotations

import time

import aiohttp

from consumer_sdk import MemoryStore, ProtectServeAuth, log_in

from ..accounts import create_account
from ..operations.policies import add_policy
from ..operations.realms import create_realm
from ..serving import base_url, serve
from .person import approve

PERSON_AGENT = "protectserve-person/0.1 (the demo's browser)"
NAME, PASSWORD = "alice", "demo password for alice"


async def dialog_leg(ctx, tracer, printer, issuer: str, sock) -> bool:  # type: ignore[no-untyped-def]
    from rs_middleware.example import create_example_app

    resource = base_url(sock) + "/"
    now = int(time.time())
    realm = await create_realm(ctx.sessions, name="prints", resource=resource, scopes=["read", "write"],
                               now=now, resource_name="Example print shop")
    await add_policy(ctx.sessions, realm="prints", effect="permit", scopes=["read", "write"], now=now)
    await create_account(ctx.sessions, name=NAME, password=PASSWORD, administers=False, now=now)
    app = create_example_app(realm="prints", resource=resource, authorization_manager=issuer, sph=realm.sph,
                             sph_secret=realm.sph_secret)
    tracer.install(app, "SP")
    printer.say(f"realm 'prints'         {resource}  policy: permit read, write; account '{NAME}' "
                "(administers no realm)")
    phase, tracer.phase = tracer.phase, "setup"  # the SP's start-up fetches are in the validation diagram
    async with serve(app, sock):
        tracer.phase = phase
        store = MemoryStore()
        printer.say(f"native app: log in for {resource}photos/  (no key: registers as a public client; "
                    "PKCE S256; loopback redirect)")
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                         headers={"User-Agent": PERSON_AGENT}) as browser:

            async def open_browser(url: str) -> None:
                printer.say("  the app opens the browser at the authorization endpoint")
                location = await approve(browser, url, name=NAME, password=PASSWORD, scopes=["read"],
                                         say=lambda text: printer.say("  " + text))
                printer.say("  the AM redirects the browser to the app's loopback receiver (code, state, iss)")
                tracer.message("Person", "Consumer", "GET /callback (code, state, iss) on 127.0.0.1:<port>",
                               "request")
                async with browser.get(location, allow_redirects=False) as r:
                    tracer.message("Consumer", "Person", f"{r.status} you may close this window", "response")

            token = await log_in(resource + "photos/", store=store, open_browser=open_browser,
                                 client_name="demo native app", scopes=["read", "write"],
                                 on_step=printer.step)
        printer.say(f"  token for {token.client_id[:6]}…: scope {' '.join(sorted(token.scope))}, "
                    f"refresh token {'kept' if token.refresh_token else 'missing'}")
        async with aiohttp.ClientSession(middlewares=[ProtectServeAuth(store=store)]) as http:
            async with http.get(resource + "photos/") as r:
                served = r.status == 200
                printer.say(f"native app: GET {resource}photos/  -> HTTP {r.status} (sub: Alice's account)\n")
    return served
