"""Alembic migrations: the migrated schema is exactly the models' schema, on SQLite and
PostgreSQL; serve refuses an out-of-date schema with a clear message; db upgrade brings it current."""

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner

from authmanager.cli import main
from authmanager.storage.db import make_engine
from authmanager.storage.migrate import SchemaOutOfDate, current, head, prepare, upgrade
from authmanager.storage.models import Base


async def test_migrations_produce_exactly_the_models_schema(database_url):
    engine = make_engine(database_url)
    try:
        await upgrade(engine)
        assert await current(engine) == head()
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata))
        assert diff == []
    finally:
        await engine.dispose()


async def test_out_of_date_schema_is_refused_until_upgraded(database_url):
    engine = make_engine(database_url)
    try:
        await prepare(engine)  # empty database: created at head
        async with engine.begin() as conn:
            await conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'older'")
        try:
            await prepare(engine)
        except SchemaOutOfDate as exc:
            assert "authmanager db upgrade" in str(exc) and head() in str(exc)
        else:
            raise AssertionError("an out-of-date schema was accepted")
    finally:
        await engine.dispose()


def test_cli_serve_refuses_and_db_upgrade_reports(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'am.db'}"
    runner = CliRunner()
    result = runner.invoke(main, ["--database", url, "db", "upgrade"])
    assert result.exit_code == 0 and f"schema at {head()} (was empty)" in result.output
    assert "already current" in runner.invoke(main, ["--database", url, "db", "upgrade"]).output

    async def make_stale() -> None:
        engine = make_engine(url)
        async with engine.begin() as conn:
            await conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'older'")
        await engine.dispose()

    asyncio.run(make_stale())
    result = runner.invoke(main, ["--database", url, "serve", "--port", "1"])
    assert result.exit_code == 1 and "run `authmanager db upgrade`" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(main, ["--database", url, "realm", "list"])
    assert result.exit_code == 1 and "db upgrade" in result.output  # admin commands refuse too


async def test_upgrade_from_the_first_revision_keeps_data(database_url):
    engine = make_engine(database_url)
    try:
        await upgrade(engine, "0001")
        async with engine.begin() as conn:
            await conn.exec_driver_sql(
                "INSERT INTO consumers (client_id, client_name, secret_sealed, client_metadata, issued_at) "
                "VALUES ('ck1', 'old consumer', 'sealed', '{}', 1)")
        try:
            await prepare(engine)
        except SchemaOutOfDate:
            pass
        else:
            raise AssertionError("serve would have started on revision 0001")
        await upgrade(engine)
        assert await current(engine) == head() != "0001"
        async with engine.connect() as conn:
            row = (await conn.exec_driver_sql("SELECT client_name FROM consumers WHERE client_id = 'ck1'")).one()
            diff = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata))
        assert row[0] == "old consumer" and diff == []
    finally:
        await engine.dispose()


async def test_upgrade_from_0002_keeps_shares_and_their_tickets(database_url):
    """0003 rebuilds ``grants`` on SQLite (batch mode); the tickets referencing it must survive."""
    engine = make_engine(database_url)
    try:
        await upgrade(engine, "0002")
        async with engine.begin() as conn:
            for statement in (
                "INSERT INTO realms (name, sph, sph_secret_hash, resource, resource_name, created_at, allow_subkeys) "
                "VALUES ('photos', 'sph', 'h', 'http://127.0.0.1:9/', 'photos', 1, true)",
                "INSERT INTO grants (realm_id, subject, scopes, created_at) "
                "VALUES (1, 'https://bob.example/', '[\"read\"]', 1)",
                "INSERT INTO tickets (ticket_hash, grant_id, realm_id, subject, scopes, created_at, expires_at, "
                "delivery) VALUES ('digest', 1, 1, 'https://bob.example/', '[\"read\"]', 1, 61, 'delivered')",
                "INSERT INTO policies (realm_id, position, effect, scopes, consumer, created_at) "
                "VALUES (1, 1, 'permit', '[\"read\"]', '*', 1)",
            ):
                await conn.exec_driver_sql(statement)
        await upgrade(engine)
        async with engine.connect() as conn:
            grant = (await conn.exec_driver_sql("SELECT subject, client_id, revoked_at FROM grants")).one()
            ticket = (await conn.exec_driver_sql("SELECT ticket_hash, grant_id FROM tickets")).one()
            policy = (await conn.exec_driver_sql("SELECT consumer, not_before, not_after FROM policies")).one()
        assert tuple(grant) == ("https://bob.example/", None, None)
        assert tuple(ticket) == ("digest", 1) and tuple(policy) == ("*", None, None)
    finally:
        await engine.dispose()
