"""The ``authmanager`` command line (click).

Global options: ``--config FILE`` (env ``AUTHMANAGER_CONFIG``, TOML), ``--database URL`` (env
``AUTHMANAGER_DATABASE_URL``, default a SQLite file ``./authmanager.db``) and ``--key-file PATH``
(env ``AUTHMANAGER_KEY_FILE``; default beside the SQLite file). Precedence: flag > environment >
config file > default (see ``settings.py``). Sub-commands live in ``commands/``.

What configuration or input can get wrong (a database that cannot be used, a bad key file, a port
in use, …) ends any command with one line ``Error: …`` and exit status 1: ``_Main.invoke`` maps
it through ``commands.failures.one_line``; ``serve --workers N`` reports its workers' start-up
failures the same way, from the parent.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import multiprocessing
import signal
from multiprocessing.connection import Connection
from pathlib import Path

import click

from .app import create_app
from .commands.admin import admin
from .commands.common import engine_for
from .commands.approvals import grants, requests
from .commands.consents import consents
from .commands.db import db
from .commands.failures import one_line
from .commands.keys import consumer, keys, purge
from .commands.policies import policy
from .commands.realms import realm, scope
from .commands.share import share
from .runtime.keyring import KeyRing
from .secretbox import SecretBox
from .serving import run
from .settings import (
    DEFAULT_DATABASE_URL,
    ENV_CONFIG,
    ENV_DATABASE_URL,
    ENV_KEY_FILE,
    Settings,
)
from .storage.db import make_sessionmaker, shown
from .storage.migrate import prepare as prepare_schema

LOG_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"


class _Main(click.Group):
    """The command group; an error that configuration or input caused becomes one line, exit 1."""

    def invoke(self, ctx: click.Context):  # type: ignore[no-untyped-def]
        try:
            return super().invoke(ctx)
        except click.ClickException:
            raise
        except Exception as exc:
            line = one_line(exc, ctx.obj if isinstance(ctx.obj, Settings) else None)
            if line is None:
                raise  # a defect: keep the traceback
            raise click.ClickException(line) from None


@click.group(cls=_Main)
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
    ctx.obj = Settings.load(config_file=config_file, flags={"database_url": database, "key_file": key_file})


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8400, show_default=True, type=click.IntRange(1, 65535))
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
@click.option("--refresh-idle-ttl", type=click.IntRange(min=1), default=None,
              help="A refresh token unused this long expires, s (default 14 days).")
@click.option("--refresh-absolute-ttl", type=click.IntRange(min=1), default=None,
              help="No refresh token outlives its grant by more than this, s (default 90 days).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes sharing the port (SO_REUSEPORT); the AM keeps no state between requests.")
@click.pass_obj
def serve(settings: Settings, host: str, port: int, issuer: str | None, workers: int, **tuning: float | None) -> None:
    """Run the AM; creates the schema on first start, refuses an out-of-date one."""
    settings = dataclasses.replace(settings, issuer=issuer or f"http://{host}:{port}",
                                   **{k: v for k, v in tuning.items() if v is not None})
    if asyncio.run(_prepare(settings)):
        click.echo(f"created the schema in {shown(settings.database_url)}", err=True)
    if workers == 1:
        logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
        run(create_app(settings, migrate=False), host=host, port=port, access_log=settings.access_log,
            on_listening=lambda url: click.echo(f"======== Running on {url} ========\n(Press CTRL+C to quit)",
                                                err=True))
        return
    _serve_workers(settings, host, port, workers)


async def _prepare(settings: Settings) -> bool:
    """What every serving process needs, checked once before any starts: the schema (created if the
    database is empty; True then), the server key (created if absent) and the signing keys it opens."""
    engine = engine_for(settings)
    try:
        created = await prepare_schema(engine)
        box = SecretBox.from_settings(secret_key=settings.secret_key, key_file=settings.resolved_key_file)
        await KeyRing.load(make_sessionmaker(engine), box, now=int(settings.now()))
        return created
    finally:
        await engine.dispose()


def _serve_workers(settings: Settings, host: str, port: int, workers: int) -> None:
    """Start ``workers`` processes on one port (SO_REUSEPORT) and wait for each to say it listens;
    if one cannot start, stop them all and fail with its one line."""
    # SIGTERM (a service manager stopping us) must stop the workers too, as Ctrl+C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    ctx = multiprocessing.get_context("spawn")
    procs: list[tuple[multiprocessing.process.BaseProcess, Connection]] = []
    try:
        for _ in range(workers):
            reader, writer = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_run_worker, args=(settings, host, port, writer), daemon=False)
            proc.start()
            writer.close()  # the worker holds the only writing end: its exit is our EOF
            procs.append((proc, reader))
        for proc, reader in procs:
            try:
                failure = reader.recv()  # "" once it listens, else why it could not start
            except EOFError:
                proc.join()
                failure = f"worker process {proc.pid} exited during start-up (status {proc.exitcode})"
            if failure:
                raise click.ClickException(failure)
        click.echo(f"======== {workers} workers; Running on http://{host}:{port} ========", err=True)
        for proc, _ in procs:
            proc.join()
    except KeyboardInterrupt:
        pass
    finally:
        for proc, _ in procs:
            proc.terminate()
            proc.join()


def _run_worker(settings: Settings, host: str, port: int, report: Connection) -> None:
    """One process of ``serve --workers``. It tells the parent through ``report`` that it listens
    (``""``) or, in one line, why it cannot start (then exits 1, printing nothing itself)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s")
    listening = False

    def on_listening(_url: str) -> None:
        nonlocal listening
        listening = True
        report.send("")

    try:
        run(create_app(settings, migrate=False), host=host, port=port, reuse_port=True,
            access_log=settings.access_log, on_listening=on_listening)
    except Exception as exc:
        line = None if listening else one_line(exc, settings)
        if line is None:
            raise
        report.send(line)
        raise SystemExit(1) from None


@main.command()
@click.option("--trace", "trace_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the traced exchanges as JSON lines (input to docs/sequence/).")
@click.option("--signature", type=click.Choice(["rfc9421", "rfc5849"]), default="rfc9421", show_default=True)
def demo(trace_file: Path | None, signature: str) -> None:
    """Run the AM, the example service and a consumer in one process and walk the handshake."""
    from .demo.run import run_demo

    if trace_file is not None:
        trace_file.touch()  # a trace that cannot be written fails now, not after the walk
    raise SystemExit(asyncio.run(run_demo(trace_file=trace_file, signature=signature)))


for command in (realm, scope, policy, requests, grants, consents, keys, consumer, purge, db):
    main.add_command(command)
main.add_command(share)
main.add_command(admin)

if __name__ == "__main__":
    main()
