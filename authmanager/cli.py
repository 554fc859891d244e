"""The ``authmanager`` command line (click).

Global options: ``--config FILE`` (env ``AUTHMANAGER_CONFIG``, TOML), ``--database URL`` (env
``AUTHMANAGER_DATABASE_URL``, default a SQLite file ``./authmanager.db``) and ``--key-file PATH``
(env ``AUTHMANAGER_KEY_FILE``; default beside the SQLite file). Precedence: flag > environment >
config file > default (see ``settings.py``). Sub-commands live in ``commands/``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import multiprocessing
import signal
from pathlib import Path

import click

from .app import create_app
from .commands.admin import admin
from .commands.approvals import grants, requests
from .commands.db import db
from .commands.keys import consumer, keys, purge
from .commands.policies import policy
from .commands.realms import realm, scope
from .commands.share import share
from .serving import run
from .settings import (
    DEFAULT_DATABASE_URL,
    ENV_CONFIG,
    ENV_DATABASE_URL,
    ENV_KEY_FILE,
    ConfigError,
    Settings,
)
from .storage.db import make_engine
from .storage.migrate import SchemaOutOfDate
from .storage.migrate import prepare as prepare_schema


@click.group()
@click.option("--config", "config_file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              default=None, help=f"TOML settings file (env {ENV_CONFIG}).")
@click.option("--database", default=None,
              help=f"SQLAlchemy async URL: sqlite+aiosqlite:///FILE or postgresql+asyncpg://... "
                   f"(env {ENV_DATABASE_URL}; default {DEFAULT_DATABASE_URL})")
@click.option("--key-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help=f"Server key file sealing consumer secrets (env {ENV_KEY_FILE}; default beside the SQLite file).")
@click.pass_context
def main(ctx: click.Context, config_file: Path | None, database: str | None, key_file: Path | None) -> None:
    """ProtectServe authorization manager."""
    try:
        ctx.obj = Settings.load(config_file=config_file, flags={"database_url": database, "key_file": key_file})
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8400, show_default=True, type=int)
@click.option("--issuer", default=None, help="Public issuer URL (default http://HOST:PORT).")
@click.option("--token-ttl", type=click.IntRange(min=1), default=None, help="Default/maximum token lifetime, s.")
@click.option("--signature-window", type=click.IntRange(min=1), default=None,
              help="Accepted clock skew of signed requests, s.")
@click.option("--grasshopper-max-ttl", type=click.IntRange(min=1), default=None, help="Sub-key lifetime cap, s.")
@click.option("--key-activation-delay", type=click.IntRange(min=0), default=None,
              help="Default delay before a rotated key signs, s.")
@click.option("--purge-interval", type=click.FloatRange(min=1), default=None, help="Background purge period, s.")
@click.option("--unused-consumer-ttl", type=click.IntRange(min=1), default=None,
              help="Purge consumer keys never used within this time, s.")
@click.option("--feed-keepalive", type=click.FloatRange(min=0.1), default=None,
              help="SSE keepalive period of the revocation feed, s.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes sharing the port (SO_REUSEPORT); the AM keeps no state between requests.")
@click.pass_obj
def serve(settings: Settings, host: str, port: int, issuer: str | None, workers: int, **tuning: float | None) -> None:
    """Run the AM; creates the schema on first start, refuses an out-of-date one."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = dataclasses.replace(settings, issuer=issuer or f"http://{host}:{port}",
                                   **{k: v for k, v in tuning.items() if v is not None})
    try:
        asyncio.run(_prepare(settings))
    except SchemaOutOfDate as exc:
        raise click.ClickException(str(exc)) from None
    if workers == 1:
        _run_worker(settings, host, port, reuse_port=False)
        return
    # SIGTERM (a service manager stopping us) must stop the workers too, as Ctrl+C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_run_worker, args=(settings, host, port, True), daemon=False) for _ in range(workers)]
    for proc in procs:
        proc.start()
    click.echo(f"======== {workers} workers; Running on http://{host}:{port} ========", err=True)
    try:
        for proc in procs:
            proc.join()
    except KeyboardInterrupt:
        pass
    finally:
        for proc in procs:
            proc.terminate()
            proc.join()


async def _prepare(settings: Settings) -> None:
    engine = make_engine(settings.database_url, timeout=settings.db_timeout)
    try:
        await prepare_schema(engine)
    finally:
        await engine.dispose()


def _run_worker(settings: Settings, host: str, port: int, reuse_port: bool) -> None:
    if reuse_port:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s")
    run(create_app(settings, migrate=False), host=host, port=port, reuse_port=reuse_port,
        access_log=settings.access_log, print=(lambda s: click.echo(s, err=True)) if not reuse_port else None)


@main.command()
@click.option("--trace", "trace_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the traced exchanges as JSON lines (input to docs/sequence/).")
@click.option("--signature", type=click.Choice(["rfc9421", "rfc5849"]), default="rfc9421", show_default=True)
def demo(trace_file: Path | None, signature: str) -> None:
    """Run the AM, the example service and a consumer in one process and walk the handshake."""
    from .demo.run import run_demo

    raise SystemExit(asyncio.run(run_demo(trace_file=trace_file, signature=signature)))


for command in (realm, scope, policy, requests, grants, keys, consumer, purge, db):
    main.add_command(command)
main.add_command(share)
main.add_command(admin)

if __name__ == "__main__":
    main()
