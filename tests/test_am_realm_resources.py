"""One realm per resource (issue 11, item 8).

Tokens name their resource by ``aud`` only, so a second realm on a resource would get tokens the
first realm's SP accepts. Creation refuses it — from the operation, the CLI, the console and the
admin API alike, nothing stored — under a normalisation of "the same resource"
(``authmanager.operations.resources``), with a unique index as the backstop against races; the
migration that adds the index refuses a database that already has such realms, and says so."""

import asyncio
import html

import aiohttp
import pytest
from click.testing import CliRunner
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker

from adminkit import Browser, api, jar, make_admin, make_token
from authmanager.cli import main
from authmanager.operations import realms as realm_ops
from authmanager.operations.realms import AdminError, create_realm
from authmanager.operations.resources import resource_key
from authmanager.storage.db import make_engine
from authmanager.storage.migrate import MigrationRefused, current, upgrade
from authmanager.storage.models import AuditEvent, Base, Realm

RESOURCE = "http://127.0.0.1:9/photos/"


async def _counts(am):
    async with am.ctx.sessions() as session:
        return {t.name: await session.scalar(select(func.count()).select_from(t)) for t in Base.metadata.sorted_tables}


def test_what_counts_as_the_same_resource():
    same = ["http://127.0.0.1:9/photos/", "HTTP://127.0.0.1:9/photos/", "http://127.0.0.1:9/a/../photos/",
            "http://127.0.0.1:9/%70hotos/", "http://127.0.0.1:9/./photos/"]
    assert {resource_key(u) for u in same} == {"http://127.0.0.1:9/photos/"}
    assert {resource_key(u) for u in ("http://Photos.Example", "http://photos.example:80/",
                                      "http://photos.example:080")} == {"http://photos.example/"}
    assert resource_key("https://photos.example:443") == resource_key("https://PHOTOS.example/")
    assert resource_key("http://[::ABCD]:80/") == "http://[::abcd]/"
    assert resource_key("http://bücher.example/") == "http://xn--bcher-kva.example/"
    different = ["http://photos.example/", "https://photos.example/", "http://photos.example:8080/",
                 "http://photos.example/photos", "http://photos.example/photos/", "http://photos.example./"]
    assert len({resource_key(u) for u in different}) == len(different)
    for bad in ("ftp://photos.example/", "http:///x", "http://photos.example/?q=1", "http://photos.example/#f",
                "http://user:pw@photos.example/", "http://photos.example:99999/", "http://photos.example:x/",
                "http://photos.example/\n", "/relative", "http://photos.example/" + "a" * 2000, ""):
        with pytest.raises(ValueError, match="absolute http"):
            resource_key(bad)


async def test_a_second_realm_on_a_resource_is_refused_and_nothing_stored(am):
    await am.create_realm("photos", resource=RESOURCE, scopes=["read"])
    before = await _counts(am)
    for variant in (RESOURCE, "HTTP://127.0.0.1:9/photos/", "http://127.0.0.1:9/x/../photos/"):
        with pytest.raises(AdminError, match=r"realm 'photos' already protects http://127\.0\.0\.1:9/photos/"):
            await am.create_realm("albums", resource=variant, scopes=["read"])
    with pytest.raises(AdminError, match="already exists"):  # the name is still checked first
        await am.create_realm("photos", resource="http://127.0.0.1:9/other/", scopes=["read"])
    assert await _counts(am) == before
    # Another path, port or scheme is another resource.
    await am.create_realm("albums", resource="http://127.0.0.1:9/albums/", scopes=["read"])
    await am.create_realm("photos-tls", resource="https://127.0.0.1:9/photos/", scopes=["read"])


async def test_the_database_decides_a_race(am, monkeypatch):
    """The loser of two concurrent creations saw no realm on the resource when it looked (held
    here deterministically: its look is skipped); the unique index refuses its row, and it says why."""
    await am.create_realm("photos", resource=RESOURCE, scopes=["read"])
    before = await _counts(am)
    real, looks = realm_ops._refuse_taken, []

    async def racing(session, name, resource, key):
        looks.append(name)
        if len(looks) > 1:  # the look after the refused insert is the real one
            await real(session, name, resource, key)

    monkeypatch.setattr(realm_ops, "_refuse_taken", racing)
    with pytest.raises(AdminError, match="realm 'photos' already protects"):
        await am.create_realm("albums", resource="http://127.0.0.1:9/photos/", scopes=["read"])
    assert looks == ["albums", "albums"] and await _counts(am) == before
    async with am.ctx.sessions() as session:  # and the index holds on its own
        session.add(Realm(name="raw", sph="raw-sph", sph_secret_hash="h", resource=RESOURCE,
                          resource_key=resource_key(RESOURCE), resource_name="raw", created_at=1))
        with pytest.raises(IntegrityError):
            await session.commit()


async def test_cli_console_and_api_refuse_with_the_reason(am):
    await am.create_realm("photos", resource=RESOURCE, scopes=["read"])
    await make_admin(am)
    before = await _counts(am)
    result = await asyncio.to_thread(CliRunner().invoke, main, [
        "--database", am.settings.database_url, "realm", "create", "albums", "--resource",
        "http://127.0.0.1:9/photos/", "--scope", "read"])
    assert result.exit_code == 1 and "realm 'photos' already protects" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    async with aiohttp.ClientSession(cookie_jar=jar()) as http:
        status, body = await api(http, am, "POST", "/realms", await make_token(am),
                                 {"name": "albums", "resource": "HTTP://127.0.0.1:9/photos/", "scopes": ["read"]})
        assert status == 400 and body["error"] == "invalid_request"
        assert "realm 'photos' already protects" in body["error_description"]
        browser = Browser(http, am)
        assert (await browser.login()).status == 303
        await browser.get("/admin/")
        page = await browser.follow(await browser.post("/admin/realms", {
            "name": "albums", "resource": "http://127.0.0.1:9/photos/", "scopes": "read"}))
        assert "realm 'photos' already protects" in html.unescape(page)
    after = await _counts(am)
    assert {k: v for k, v in after.items() if k not in ("admin_tokens", "admin_sessions", "audit_events")} == \
        {k: v for k, v in before.items() if k not in ("admin_tokens", "admin_sessions", "audit_events")}
    async with am.ctx.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(AuditEvent)
                                    .where(AuditEvent.action == "realm.create")) == 1


async def _legacy_realms(engine, *resources):
    async with engine.begin() as conn:
        for i, resource in enumerate(resources):
            await conn.execute(text(
                "INSERT INTO realms (name, sph, sph_secret_hash, resource, resource_name, created_at, allow_subkeys) "
                "VALUES (:name, :sph, 'h', :resource, :name, 1, true)"),
                {"name": f"r{i}", "sph": f"sph{i}", "resource": resource})
            await conn.execute(text("INSERT INTO policies (realm_id, position, effect, scopes, consumer, created_at) "
                                    "VALUES (:id, 1, 'permit', '[\"read\"]', '*', 1)"), {"id": i + 1})


async def test_migration_0006_refuses_existing_duplicates_and_keys_the_rest(database_url):
    engine = make_engine(database_url)
    try:
        await upgrade(engine, "0005")
        await _legacy_realms(engine, "http://127.0.0.1:9/", "HTTP://127.0.0.1:9", "http://127.0.0.1:8/")
        with pytest.raises(MigrationRefused) as refused:
            await upgrade(engine)
        message = str(refused.value)
        assert "http://127.0.0.1:9/: realms r0 (http://127.0.0.1:9/), r1 (HTTP://127.0.0.1:9)" in message
        assert "Nothing was changed" in message and "r2" not in message
        assert await current(engine) == "0005"
        async with engine.connect() as conn:
            columns = [c["name"] for c in await conn.run_sync(lambda c: inspect(c).get_columns("realms"))]
        assert "resource_key" not in columns
        result = await asyncio.to_thread(CliRunner().invoke, main, ["--database", database_url, "db", "upgrade"])
        assert result.exit_code == 1 and "cannot upgrade to 0006" in result.output
        assert "Traceback" not in result.output
        # The operator gives r1 its own resource; then the upgrade keys every realm, data intact.
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE realms SET resource = 'http://127.0.0.1:7/' WHERE name = 'r1'"))
        await upgrade(engine)
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT name, resource, resource_key FROM realms ORDER BY id"))).all()
            policies = await conn.scalar(text("SELECT count(*) FROM policies"))
        assert [tuple(r) for r in rows] == [("r0", "http://127.0.0.1:9/", "http://127.0.0.1:9/"),
                                            ("r1", "http://127.0.0.1:7/", "http://127.0.0.1:7/"),
                                            ("r2", "http://127.0.0.1:8/", "http://127.0.0.1:8/")]
        assert policies == 3  # SQLite: no table rebuild cascading into the realms' rows
        with pytest.raises(AdminError, match="realm 'r0' already protects"):
            await create_realm(async_sessionmaker(engine), name="again", resource="http://127.0.0.1:9", scopes=["read"], now=1)
    finally:
        await engine.dispose()
