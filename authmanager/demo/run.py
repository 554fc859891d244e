"""``authmanager demo``: the AM, the example service and a consumer in one process.

Everything runs on free loopback ports over real sockets, with a temporary SQLite database.
Each step of the handshake is printed as it happens; the exit status is 0 only if the
protected resource was served — to the handshaking consumer, to the second (introspection-mode)
service, to Bob after the owner shared the realm with him by ticket (``ticket_leg``), and to a
native app a person approved in the authorization dialog (``dialog_leg``).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Callable

import aiohttp
from joserfc import jwt
from joserfc.jwk import KeySet

from consumer_sdk import MemoryStore, ProtectServeAuth, Step
from rs_middleware.example import create_example_app

from ..app import create_app
from ..context import CONTEXT
from ..operations.policies import add_policy
from ..operations.realms import create_realm
from ..serving import base_url, bound_socket, serve
from ..settings import Settings
from .dialog_leg import dialog_leg
from .ticket_leg import ticket_leg
from .trace import Tracer


class Printer:
    def __init__(self, out: Callable[[str], None]):
        self.out, self.n = out, 0

    def step(self, step: Step) -> None:
        self.n += 1
        detail = ", ".join(f"{k}={v}" for k, v in step.detail.items() if v not in (None, "", [], {}))
        outcome = f"-> {step.status}" if step.status else "(in the browser)"  # 0: no HTTP status of ours
        self.out(f"  {self.n:2}. {step.name:17} {step.method} {step.url} {outcome}"
                 + (f"\n      {detail}" if detail else ""))

    def say(self, text: str) -> None:
        self.out(text)


async def run_demo(*, trace_file: Path | None = None, signature: str = "rfc9421",
                   out: Callable[[str], None] = print) -> int:
    printer, tracer = Printer(out), Tracer()
    with tempfile.TemporaryDirectory(prefix="protectserve-demo-") as tmp:
        am_sock, sp_sock, sp2_sock, bob_sock, sp3_sock = (bound_socket() for _ in range(5))
        # Everything runs on loopback, so the SSRF guard of the ticket leg must allow private targets.
        settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp}/demo.db", issuer=base_url(am_sock),
                            key_file=Path(tmp) / "demo.key", allow_private_targets=True)
        am_app = create_app(settings)
        tracer.install(am_app, "AM")
        async with serve(am_app, am_sock) as issuer:
            ctx = am_app[CONTEXT]
            printer.say(f"authorization manager  {issuer}  (SQLite in {tmp})")
            resource = base_url(sp_sock) + "/"
            realm = await create_realm(ctx.sessions, name="photos", resource=resource, scopes=["read", "write"],
                                       now=int(time.time()), resource_name="Example photo service")
            await add_policy(ctx.sessions, realm="photos", effect="permit", scopes=["read"], now=int(time.time()))
            printer.say(f"realm 'photos'         {resource}  sph={realm.sph}; policy: permit read to any consumer")

            tracer.phase = "validation"
            sp_app = create_example_app(realm="photos", resource=resource, authorization_manager=issuer,
                                        sph=realm.sph, sph_secret=realm.sph_secret)
            tracer.install(sp_app, "SP")
            async with serve(sp_app, sp_sock):
                printer.say(f"service provider       {resource}  (rs_middleware, offline JWKS validation)\n")
                store = MemoryStore()
                auth = ProtectServeAuth(store=store, client_name="demo consumer", scopes=["read"],
                                        signature_method=signature, on_step=printer.step)  # type: ignore[arg-type]
                async with aiohttp.ClientSession(middlewares=[auth]) as http:
                    tracer.phase = "handshake"
                    printer.say(f"consumer: GET {resource}photos/  (no consumer key, no token; {signature})")
                    async with http.get(resource + "photos/") as r:
                        served = r.status == 200
                        body = await r.text()
                    printer.say(f"\nprotected resource served: HTTP {r.status}\n  {body[:200]}\n")
                    token = next(iter(store.tokens()), None)
                    if token is not None:
                        claims = jwt.decode(token.access_token, KeySet.import_key_set(ctx.keyring.jwks(int(time.time()))),
                                            algorithms=["ES256"]).claims
                        printer.say("access token claims (RFC 9068):\n  " + json.dumps(claims, indent=2)
                                    .replace("\n", "\n  ") + "\n")

                    tracer.phase = "validation"
                    tracer.note("SP", "verifies ES256 signature, typ, iss, aud, exp offline")
                    printer.say(f"consumer: GET {resource}photos/1  (token reused; SP verifies offline)")
                    async with http.get(resource + "photos/1") as r:
                        printer.say(f"  -> HTTP {r.status}, no call to the AM\n")
                        served = served and r.status == 200

                    tracer.phase = "introspection"
                    served = await _introspection_leg(ctx, tracer, printer, http, issuer, sp2_sock) and served

                tracer.phase = "ticket"
                served = await ticket_leg(ctx, tracer, printer, resource, bob_sock) and served

                tracer.phase = "dialog"
                served = await dialog_leg(ctx, tracer, printer, issuer, sp3_sock) and served
        if trace_file is not None:
            tracer.dump(trace_file)
            printer.say(f"trace written to {trace_file}")
    printer.say("DEMO OK: the protected resource was served" if served else "DEMO FAILED")
    return 0 if served else 1


async def _introspection_leg(ctx, tracer, printer, http, issuer, sock) -> bool:  # type: ignore[no-untyped-def]
    """A second service in introspection mode (opaque-token deployments, RFC 7662)."""
    resource = base_url(sock) + "/"
    realm = await create_realm(ctx.sessions, name="albums", resource=resource, scopes=["read", "write"],
                               now=int(time.time()), resource_name="Example service, introspection mode")
    await add_policy(ctx.sessions, realm="albums", effect="permit", scopes=["read"], now=int(time.time()))
    app = create_example_app(realm="albums", resource=resource, authorization_manager=issuer, sph=realm.sph,
                             sph_secret=realm.sph_secret, mode="introspection")
    tracer.install(app, "SP")
    async with serve(app, sock):
        printer.say(f"consumer: GET {resource}photos/  (second realm 'albums', SP in introspection mode;"
                    " the consumer key is reused)")
        async with http.get(resource + "photos/") as r:
            printer.say(f"  -> HTTP {r.status}\n")
            return r.status == 200
