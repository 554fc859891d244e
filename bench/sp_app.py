"""The example photo handler served twice: under ``/open/`` unprotected and under ``/photos/``
protected by rs_middleware, so a throughput ratio compares exactly the middleware's cost."""

from __future__ import annotations

import argparse
import logging

from aiohttp import web

from rs_middleware import protect, requires

PHOTO = {"id": "1", "title": "Harbour at dawn", "url": "/img/harbour.jpg"}


async def open_photo(request: web.Request) -> web.Response:
    return web.json_response(PHOTO)


@requires("read")  # marks it (behind a guard that sees the verified scopes); otherwise the two are identical
async def protected_photo(request: web.Request) -> web.Response:
    return web.json_response(PHOTO)


def main() -> None:
    parser = argparse.ArgumentParser()
    for flag in ("--port", "--authorization-manager", "--realm", "--sph", "--sph-secret", "--resource"):
        parser.add_argument(flag, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    app = web.Application()
    protect(app, realm=args.realm, resource=args.resource, authorization_manager=args.authorization_manager,
            sph=args.sph, sph_secret=args.sph_secret, scopes=("read", "write"))
    app.router.add_get("/open/{id}", open_photo)
    app.router.add_get("/photos/{id}", protected_photo)
    web.run_app(app, host="127.0.0.1", port=int(args.port), access_log=None)


if __name__ == "__main__":
    main()
