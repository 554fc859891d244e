"""The ``authmanager`` command line (click).

Global options: ``--database URL`` (env ``AUTHMANAGER_DATABASE_URL``, default a SQLite file
``./authmanager.db``) and ``--key-file PATH`` (env ``AUTHMANAGER_KEY_FILE``; default beside the
SQLite file). Precedence: flag > environment > default.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, TypeVar

import click
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .app import create_app
from .realm_admin import AdminError, add_policy, create_realm
from .settings import DEFAULT_DATABASE_URL, ENV_DATABASE_URL, ENV_KEY_FILE, Settings
from .storage import realms as realm_repo
from .storage.db import create_schema, make_engine, make_sessionmaker

T = TypeVar("T")


@asynccontextmanager
async def open_db(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(settings.database_url)
    try:
        await create_schema(engine)
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


def run_admin(settings: Settings, action: Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]]) -> T:
    async def main() -> T:
        async with open_db(settings) as sessions:
            return await action(sessions)

    try:
        return asyncio.run(main())
    except AdminError as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
@click.option("--database", envvar=ENV_DATABASE_URL, default=DEFAULT_DATABASE_URL, show_default=True,
              help="SQLAlchemy async URL: sqlite+aiosqlite:///FILE or postgresql+asyncpg://...")
@click.option("--key-file", envvar=ENV_KEY_FILE, type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Server key file sealing consumer secrets (default: beside the SQLite file).")
@click.pass_context
def main(ctx: click.Context, database: str, key_file: Path | None) -> None:
    """ProtectServe authorization manager."""
    ctx.obj = Settings.from_env(database_url=database, key_file=key_file)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8400, show_default=True, type=int)
@click.option("--issuer", default=None, help="Public issuer URL (default http://HOST:PORT).")
@click.pass_obj
def serve(settings: Settings, host: str, port: int, issuer: str | None) -> None:
    """Run the AM; creates the schema on first start."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = Settings(**{**_fields(settings), "issuer": issuer or f"http://{host}:{port}"})
    web.run_app(create_app(settings), host=host, port=port, print=lambda s: click.echo(s, err=True))


def _fields(settings: Settings) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in Settings.__dataclass_fields__}


@main.group()
def realm() -> None:
    """Protection realms."""


@realm.command("create")
@click.argument("name")
@click.option("--resource", required=True, help="The resource identifier (RFC 9728) the realm protects.")
@click.option("--scope", "scopes", multiple=True, required=True, help="A scope of the realm (repeatable).")
@click.option("--resource-name", default=None, help="Human-readable name.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def realm_create(settings: Settings, name: str, resource: str, scopes: tuple[str, ...], resource_name: str | None,
                 as_json: bool) -> None:
    """Create a realm and print its sph and sph_secret (shown once)."""
    new = run_admin(settings, lambda s: create_realm(s, name=name, resource=resource, scopes=scopes,
                                                     resource_name=resource_name, now=int(time.time())))
    if as_json:
        click.echo(json.dumps(new.as_dict()))
    else:
        click.echo(f"realm {new.realm} protects {new.resource}\nsph:        {new.sph}\n"
                   f"sph_secret: {new.sph_secret}   (shown once; only its hash is stored)")


@realm.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def realm_list(settings: Settings, as_json: bool) -> None:
    """List realms."""

    async def action(sessions: async_sessionmaker[AsyncSession]) -> list[dict[str, Any]]:
        async with sessions() as session:
            out = []
            for row in await realm_repo.list_all(session):
                scopes = [s.name for s in await realm_repo.scopes(session, row.id)]
                out.append({"realm": row.name, "sph": row.sph, "resource": row.resource, "scopes": scopes})
            return out

    rows = run_admin(settings, action)
    if as_json:
        click.echo(json.dumps(rows))
    for row in [] if as_json else rows:
        click.echo(f"{row['realm']:20} {row['resource']:40} {' '.join(row['scopes'])}")


@main.group()
def policy() -> None:
    """Realm policies."""


@policy.command("add")
@click.argument("realm_name", metavar="REALM")
@click.option("--effect", type=click.Choice(["permit", "deny"]), required=True)
@click.option("--scope", "scopes", multiple=True, required=True)
@click.option("--consumer", default="*", show_default=True, help="A consumer key, or * for any consumer.")
@click.option("--max-ttl", type=click.IntRange(min=1), default=None, help="Maximum token lifetime, seconds.")
@click.pass_obj
def policy_add(settings: Settings, realm_name: str, effect: str, scopes: tuple[str, ...], consumer: str,
               max_ttl: int | None) -> None:
    """Append a policy to REALM."""
    pid = run_admin(settings, lambda s: add_policy(s, realm=realm_name, effect=effect, scopes=scopes,
                                                   consumer=consumer, max_ttl=max_ttl, now=int(time.time())))
    click.echo(f"policy {pid} added to {realm_name}")


@policy.command("list")
@click.argument("realm_name", metavar="REALM")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def policy_list(settings: Settings, realm_name: str, as_json: bool) -> None:
    """List REALM's policies in evaluation order."""

    async def action(sessions: async_sessionmaker[AsyncSession]) -> list[dict[str, Any]]:
        async with sessions() as session:
            row = await realm_repo.by_name(session, realm_name)
            if row is None:
                raise AdminError(f"no realm named {realm_name!r}")
            return [{"id": p.id, "effect": p.effect, "scopes": p.scopes, "consumer": p.consumer,
                     "max_ttl": p.max_ttl} for p in await realm_repo.policies(session, row.id)]

    rows = run_admin(settings, action)
    if as_json:
        click.echo(json.dumps(rows))
    for p in [] if as_json else rows:
        click.echo(f"{p['id']:4} {p['effect']:7} {' '.join(p['scopes']):20} consumer={p['consumer']} "
                   f"max_ttl={p['max_ttl'] or '-'}")


@main.command()
@click.option("--trace", "trace_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the traced exchanges as JSON lines (input to docs/sequence/).")
@click.option("--signature", type=click.Choice(["rfc9421", "rfc5849"]), default="rfc9421", show_default=True)
def demo(trace_file: Path | None, signature: str) -> None:
    """Run the AM, the example service and a consumer in one process and walk the handshake."""
    from .demo import run_demo

    raise SystemExit(asyncio.run(run_demo(trace_file=trace_file, signature=signature)))


if __name__ == "__main__":
    main()
