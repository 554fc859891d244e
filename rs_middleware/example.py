"""Example service provider: an in-memory photo store protected by ProtectServe.

Routes: ``GET /health`` (open), ``GET /photos/`` and ``GET /photos/{id}`` (scope ``read``),
``POST /photos/`` (scope ``write``), plus the RFC 9728 metadata document.

Run it with::

    python -m rs_middleware.example --port 8080 --authorization-manager http://127.0.0.1:8400 \\
        --realm photos --sph <sph> --sph-secret <secret> --resource http://127.0.0.1:8080/

``--sph-secret`` may also come from the ``PROTECTSERVE_SPH_SECRET`` environment variable; it
is only needed with ``--introspection``.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web

from .config import Mode
from .install import protect
from .middleware import requires, token_claims

PROG = "python -m rs_middleware.example"
PHOTOS_KEY = web.AppKey("example_photos", dict)
SEED_PHOTOS: tuple[dict[str, Any], ...] = (
    {"id": "1", "title": "Harbour at dawn", "url": "/img/harbour.jpg"},
    {"id": "2", "title": "Mountain hut", "url": "/img/hut.jpg"},
)


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@requires("read")
async def list_photos(request: web.Request) -> web.Response:
    return web.json_response({"photos": list(request.app[PHOTOS_KEY].values())})


@requires("read")
async def get_photo(request: web.Request) -> web.Response:
    photo = request.app[PHOTOS_KEY].get(request.match_info["id"])
    if photo is None:
        raise web.HTTPNotFound(text='{"error": "not_found"}', content_type="application/json")
    return web.json_response(photo)


@requires("write")
async def add_photo(request: web.Request) -> web.Response:
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("title"), str) or not body["title"]:
        raise web.HTTPBadRequest(
            text='{"error": "invalid_request", "error_description": "JSON body with a title"}',
            content_type="application/json",
        )
    photos = request.app[PHOTOS_KEY]
    photo_id = str(max((int(k) for k in photos), default=0) + 1)
    photo = {
        "id": photo_id,
        "title": body["title"],
        "url": body.get("url") if isinstance(body.get("url"), str) else f"/img/{photo_id}.jpg",
        "uploaded_by": token_claims(request).get("client_id"),
    }
    photos[photo_id] = photo
    return web.json_response(photo, status=201)


def create_example_app(
    *,
    realm: str,
    resource: str,
    authorization_manager: str,
    sph: str,
    sph_secret: str | None,
    mode: Mode = "jwks",
    now: Callable[[], float] = time.time,
) -> web.Application:
    """The photo service, protected with ``protect()``; scopes_supported ``["read", "write"]``.

    ``now`` is the clock used for token expiry (injectable for tests)."""
    app = web.Application()
    app[PHOTOS_KEY] = {p["id"]: dict(p) for p in SEED_PHOTOS}
    protect(
        app, realm=realm, resource=resource, authorization_manager=authorization_manager,
        sph=sph, sph_secret=sph_secret, scopes=("read", "write"), mode=mode,
        resource_name=f"ProtectServe example ({realm})", now=now,
    )
    app.router.add_get("/health", health)
    app.router.add_get("/photos/", list_photos)
    app.router.add_get("/photos/{id}", get_photo)
    app.router.add_post("/photos/", add_photo)
    return app


def _port(text: str) -> int:
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= 65535):
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port (1-65535)")
    return int(text)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=_port, required=True)
    parser.add_argument("--authorization-manager", required=True, help="AM issuer URL")
    parser.add_argument("--realm", required=True)
    parser.add_argument("--sph", required=True, help="service-provider handle at the AM")
    parser.add_argument("--sph-secret", default=os.environ.get("PROTECTSERVE_SPH_SECRET"))
    parser.add_argument("--resource", required=True, help="resource identifier (token aud)")
    parser.add_argument("--introspection", action="store_true", help="RFC 7662 instead of JWKS")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the example; a bad argument is a usage error (status 2), an address that cannot be
    served on one ``error: …`` line (status 1)."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        app = create_example_app(
            realm=args.realm, resource=args.resource, authorization_manager=args.authorization_manager,
            sph=args.sph, sph_secret=args.sph_secret, mode="introspection" if args.introspection else "jwks",
        )
    except ValueError as exc:  # the middleware's checks of the arguments, as argparse words its own
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    try:  # bound before the app starts (and looks for its AM), so that a bad address is all we say
        family, _, _, _, address = socket.getaddrinfo(args.host, args.port, type=socket.SOCK_STREAM)[0]
        sock = socket.create_server(address, family=family)
    except OSError as exc:
        why = exc.strerror if isinstance(exc, socket.gaierror) else os.strerror(exc.errno) if exc.errno else exc
        print(f"error: cannot listen on {args.host}:{args.port}: {why}", file=sys.stderr)
        raise SystemExit(1) from None
    web.run_app(app, sock=sock)


if __name__ == "__main__":
    main()
